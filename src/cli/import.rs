//! `sutra-cache import FILE`: the JSON Lines dump, an NPY+names dump directory, or a bare
//! `.npy` matrix with its names → a server or a data directory.

use std::io::BufRead;
use std::process::ExitCode;

use std::path::Path;

use super::dump::{connect, Entry, Writer};
use super::local::{spinner, Endpoint};
use super::npydir;

/// Arguments of `import`.
#[derive(clap::Args)]
pub struct Args {
    /// The dump: `export`'s JSON Lines file (`-`: stdin), its `--format npy` directory, or a
    /// bare `.npy` matrix (with `--names` and `--set`).
    pub file: String,
    /// With a bare `.npy` matrix: its element names in row order, one per line (a `.jsonl`
    /// file: `{"element":…,"attributes":…,"pttl":…}` lines, or JSON strings).
    #[arg(long)]
    pub names: Option<String>,
    /// With a bare `.npy` matrix: the vector set its rows are added to (made when missing).
    #[arg(long)]
    pub set: Option<String>,
    /// With a bare `.npy` matrix: the set's storage when it is made (exact, int8, f32, bin).
    #[arg(long, default_value = "exact")]
    pub quant: String,
    /// With a bare `.npy` matrix: the set's HNSW M when it is made.
    #[arg(long, default_value_t = 16)]
    pub m: u32,
    #[command(flatten)]
    pub to: Endpoint,
    /// Commands per pipelined round trip.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Every entry into this database, whatever its `db`. Default: each into its own `db`
    /// (0 when the line names none).
    #[arg(long)]
    pub db: Option<u32>,
}

/// Exit 0 when every line was written; 1 at the first bad line or refused write (the
/// message names the line); lines before it are written.
pub fn run(a: Args) -> ExitCode {
    match import(&a) {
        Ok(n) => {
            eprintln!("imported {n} entries");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sutra-cache import: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import(a: &Args) -> Result<u64, String> {
    let path = Path::new(&a.file);
    let bare = path.extension().is_some_and(|e| e == "npy");
    match (bare, &a.names, &a.set) {
        (true, Some(_), Some(_)) | (false, None, None) => {}
        (true, _, _) => {
            return Err(format!(
                "{}: a bare .npy matrix needs --names FILE (its element names) and --set KEY",
                a.file
            ))
        }
        (false, _, _) => {
            return Err("--names and --set go with a bare .npy matrix as FILE".into());
        }
    }
    if bare || path.is_dir() {
        let (url, local) = a.to.resolve()?;
        let mut con = connect(&url)?;
        let pb = spinner("import");
        let mut w = Writer::new(&mut con, a.batch);
        if let (Some(names), Some(set)) = (&a.names, &a.set) {
            let db = a.db.unwrap_or(0);
            w.declare(db, set.as_bytes(), &a.quant, a.m)?;
            npydir::read_matrix(path, Path::new(names), set, db, &mut |e| {
                w.push(e)?;
                pb.set_position(w.written);
                Ok(())
            })?;
        } else {
            npydir::read_dir(path, &mut |e| {
                let mut e = e.clone();
                if let Some(db) = a.db {
                    e.set_db(db);
                }
                w.push(&e)?;
                pb.set_position(w.written);
                Ok(())
            })?;
        }
        let n = w.finish()?;
        pb.finish_and_clear();
        drop(con);
        if let Some(l) = local {
            l.close()?;
        }
        return Ok(n);
    }
    let input: Box<dyn BufRead> = if a.file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin().lock()))
    } else {
        let f = std::fs::File::open(&a.file).map_err(|e| format!("{}: {e}", a.file))?;
        Box::new(std::io::BufReader::new(f))
    };
    let (url, local) = a.to.resolve()?;
    let mut con = connect(&url)?;
    let pb = spinner("import");
    let mut w = Writer::new(&mut con, a.batch);
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("{} line {}: {e}", a.file, i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut e: Entry = serde_json::from_str(&line)
            .map_err(|e| format!("{} line {}: not a dump entry: {e}", a.file, i + 1))?;
        if let Some(db) = a.db {
            e.set_db(db);
        }
        w.push(&e)
            .map_err(|e| format!("{} line {}: {e}", a.file, i + 1))?;
        pb.set_position(w.written);
    }
    let n = w.finish()?;
    pb.finish_and_clear();
    drop(con);
    if let Some(l) = local {
        l.close()?;
    }
    Ok(n)
}
