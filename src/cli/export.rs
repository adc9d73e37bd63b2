//! `sutra-cache export`: a server or a data directory → the JSON Lines dump (see dump.rs
//! and docs/tools.md), or its NPY+names form (npydir.rs).

use std::io::Write;
use std::process::ExitCode;

use super::dump::Entry;
use super::dump::{connect, databases_with_keys, scan_step, select, url_db};
use super::local::{spinner, Endpoint};
use super::npydir::DirWriter;

/// The dump's form.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line (strings, hashes, vector sets and their elements).
    Jsonl,
    /// A directory: each vector set as a float32 `.npy` matrix and its element names,
    /// attributes and TTLs as JSON Lines in row order; other keys as JSON Lines; a manifest.
    Npy,
}

/// Where the entries go.
enum Sink {
    Lines(Box<dyn Write>),
    Npy(Box<DirWriter>),
}

impl Sink {
    fn push(&mut self, e: &Entry, output: &str) -> Result<(), String> {
        match self {
            Sink::Lines(out) => {
                let line = serde_json::to_string(e).map_err(|e| e.to_string())?;
                writeln!(out, "{line}").map_err(|e| format!("writing {output}: {e}"))
            }
            Sink::Npy(w) => w.push(e),
        }
    }

    fn finish(self, output: &str) -> Result<(), String> {
        match self {
            Sink::Lines(mut out) => out.flush().map_err(|e| format!("writing {output}: {e}")),
            Sink::Npy(w) => w.finish(),
        }
    }
}

/// Arguments of `export`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub from: Endpoint,
    /// Only keys matching this glob (SCAN MATCH).
    #[arg(long, default_value = "*")]
    pub pattern: String,
    /// The dump file (`-`: stdout); with `--format npy`, a new or empty directory.
    #[arg(short, long, default_value = "-")]
    pub output: String,
    /// `jsonl` (one JSON object per line) or `npy` (a directory of `.npy` matrices with
    /// their names; see docs/tools.md).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Only this database (Redis's SELECT number; also `--url redis://host:port/N`). Default:
    /// every database that holds keys (INFO keyspace), each line naming its `db`.
    #[arg(long)]
    pub db: Option<u32>,
}

/// Exit 0 when every key was written; 1 on an error (the message says where).
pub fn run(a: Args) -> ExitCode {
    match export(&a) {
        Ok((n, skipped)) => {
            eprintln!("exported {n} entries; {skipped} key(s) of other types skipped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sutra-cache export: {e}");
            ExitCode::FAILURE
        }
    }
}

fn export(a: &Args) -> Result<(u64, u64), String> {
    let mut out = match (a.format, a.output.as_str()) {
        (Format::Npy, "-") => {
            return Err("--format npy writes a directory: give it with --output DIR".into())
        }
        (Format::Npy, dir) => Sink::Npy(Box::new(DirWriter::create(std::path::Path::new(dir))?)),
        (Format::Jsonl, "-") => {
            Sink::Lines(Box::new(std::io::BufWriter::new(std::io::stdout().lock())))
        }
        (Format::Jsonl, file) => {
            let f = std::fs::File::create(file).map_err(|e| format!("--output {file}: {e}"))?;
            Sink::Lines(Box::new(std::io::BufWriter::new(f)))
        }
    };
    let (url, local) = a.from.resolve()?;
    let mut con = connect(&url)?;
    let dbs = match (a.db, url_db(&url)?) {
        (Some(db), _) => vec![db],
        (None, 0) => databases_with_keys(&mut con),
        (None, db) => vec![db],
    };
    let pb = spinner("export");
    let (mut n, mut skipped) = (0u64, 0u64);
    for db in dbs {
        select(&mut con, db, "database")?;
        let (en, es) = export_db(&mut con, db, a, &mut out, &pb)?;
        n += en;
        skipped += es;
    }
    out.finish(&a.output)?;
    pb.finish_and_clear();
    drop(con);
    if let Some(l) = local {
        l.close()?;
    }
    Ok((n, skipped))
}

/// Writes database `db` (selected on `con`); the entries written and the keys skipped.
fn export_db(
    con: &mut redis::Connection,
    db: u32,
    a: &Args,
    out: &mut Sink,
    pb: &indicatif::ProgressBar,
) -> Result<(u64, u64), String> {
    let (mut n, mut skipped, mut cursor) = (0u64, 0u64, 0u64);
    loop {
        let batch = scan_step(con, cursor, &a.pattern, 1000, db)?;
        for e in &batch.entries {
            out.push(e, &a.output)?;
        }
        for (k, t) in &batch.skipped {
            pb.suspend(|| {
                eprintln!(
                    "skipped {:?}: type {t} is not exported",
                    String::from_utf8_lossy(k)
                )
            });
        }
        n += batch.entries.len() as u64;
        skipped += batch.skipped.len() as u64;
        pb.inc(batch.entries.len() as u64);
        cursor = batch.cursor;
        if cursor == 0 {
            return Ok((n, skipped));
        }
    }
}
