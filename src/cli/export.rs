//! `sutra-cache export`: a server or a data directory → the JSON Lines dump (see dump.rs
//! and docs/tools.md).

use std::io::Write;
use std::process::ExitCode;

use super::dump::{connect, databases_with_keys, scan_step, select, url_db};
use super::local::{spinner, Endpoint};

/// Arguments of `export`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub from: Endpoint,
    /// Only keys matching this glob (SCAN MATCH).
    #[arg(long, default_value = "*")]
    pub pattern: String,
    /// The dump file; `-` writes to stdout.
    #[arg(short, long, default_value = "-")]
    pub output: String,
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
    let mut out: Box<dyn Write> = if a.output == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        let f =
            std::fs::File::create(&a.output).map_err(|e| format!("--output {}: {e}", a.output))?;
        Box::new(std::io::BufWriter::new(f))
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
    out.flush()
        .map_err(|e| format!("writing {}: {e}", a.output))?;
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
    out: &mut dyn Write,
    pb: &indicatif::ProgressBar,
) -> Result<(u64, u64), String> {
    let (mut n, mut skipped, mut cursor) = (0u64, 0u64, 0u64);
    loop {
        let batch = scan_step(con, cursor, &a.pattern, 1000, db)?;
        for e in &batch.entries {
            let line = serde_json::to_string(e).map_err(|e| e.to_string())?;
            writeln!(out, "{line}").map_err(|e| format!("writing {}: {e}", a.output))?;
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
