//! `sutra-cache import FILE`: the JSON Lines dump → a server or a data directory.

use std::io::BufRead;
use std::process::ExitCode;

use super::dump::{connect, Entry, Writer};
use super::local::{spinner, Endpoint};

/// Arguments of `import`.
#[derive(clap::Args)]
pub struct Args {
    /// The dump file (`export`'s format); `-` reads stdin.
    pub file: String,
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
