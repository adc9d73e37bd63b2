//! `sutra-cache migrate`: every key of a running Redis (or sutra-cache) into this server.
//!
//! Default: strings are copied byte for byte with their TTLs, vector sets (Redis 8) with
//! their vectors, attributes, storage and TTL; other types are skipped and counted by type.
//! With `--embeddings`, string values are decoded as embeddings (a Python pickle of a float
//! list, a JSON list, or raw little-endian float32, tried in that order) and each key is
//! mapped by `--key-rule` to (model, text): the entry is written as the cache client's
//! entry (docs/bindings.md): element `text` of the set `<namespace><model>`, its attributes
//! and TTL. Resumable: `--resume FILE` keeps the SCAN cursor after each batch written.

use std::process::ExitCode;

use sha2::Digest;

use super::dump::{connect, scan_step, select, url_db, Entry, Text, Writer};
use super::local::spinner;

/// Arguments of `migrate`.
#[derive(clap::Args)]
pub struct Args {
    /// The source: redis://[user:password@]host:port[/db] (its database: --db, else the
    /// URL's, else 0).
    #[arg(long)]
    pub from: String,
    /// The target server (its database: --to-db, else the source's number).
    #[arg(long, default_value = "redis://127.0.0.1:50051")]
    pub to: String,
    /// The source's database (Redis's SELECT number), instead of the one --from names.
    #[arg(long)]
    pub db: Option<u32>,
    /// The target's database; default the source's (database N is copied into N).
    #[arg(long)]
    pub to_db: Option<u32>,
    /// Only keys matching this glob (SCAN MATCH).
    #[arg(long, default_value = "*")]
    pub pattern: String,
    /// Keeps the SCAN cursor here after each batch; a later run with the same file goes on
    /// from it (removed when the migration completes).
    #[arg(long)]
    pub resume: Option<std::path::PathBuf>,
    /// Decode string values as embeddings and write cache-client entries (needs --key-rule).
    #[arg(long, requires = "key_rule")]
    pub embeddings: bool,
    /// With --embeddings: a regular expression with named groups `model` and `text` matched
    /// against each key, e.g. '^emb:(?P<model>[^:]+):(?P<text>.*)$'. Keys it does not match
    /// are skipped.
    #[arg(long)]
    pub key_rule: Option<String>,
    /// With --embeddings: the sets' key prefix (the cache client's namespace).
    #[arg(long, default_value = "emb:")]
    pub namespace: String,
    /// Keys per SCAN step.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
}

/// Exit 0 when nothing failed (skipped keys are not failures); 1 otherwise.
pub fn run(a: Args) -> ExitCode {
    match migrate(&a) {
        Ok(s) => {
            println!(
                "migrated {} key(s); skipped {} ({}); failed {}",
                s.migrated,
                s.skipped,
                s.skipped_why.join(", "),
                s.failed
            );
            if s.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("sutra-cache migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Summary {
    migrated: u64,
    skipped: u64,
    skipped_why: Vec<String>,
    failed: u64,
}

fn note(s: &mut Summary, why: String) {
    s.skipped += 1;
    if let Some(e) = s.skipped_why.iter_mut().find(|w| w.ends_with(&why)) {
        let n: u64 = e
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        *e = format!("{} {why}", n + 1);
    } else {
        s.skipped_why.push(format!("1 {why}"));
    }
}

/// An embedding from a stored value: pickle of a list of numbers, JSON list, raw f32 LE.
pub fn decode_embedding(v: &[u8]) -> Option<Vec<f32>> {
    if v.first() == Some(&0x80) {
        if let Ok(serde_pickle::Value::List(items) | serde_pickle::Value::Tuple(items)) =
            serde_pickle::value_from_slice(v, serde_pickle::DeOptions::new())
        {
            return items
                .iter()
                .map(|x| match x {
                    serde_pickle::Value::F64(f) => Some(*f as f32),
                    serde_pickle::Value::I64(i) => Some(*i as f32),
                    _ => None,
                })
                .collect::<Option<Vec<f32>>>()
                .filter(|v| !v.is_empty());
        }
    }
    if v.first() == Some(&b'[') {
        if let Ok(list) = serde_json::from_slice::<Vec<f32>>(v) {
            return (!list.is_empty()).then_some(list);
        }
    }
    if !v.is_empty() && v.len().is_multiple_of(4) {
        let f: Vec<f32> = v
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        return f.iter().all(|x| x.is_finite()).then_some(f);
    }
    None
}

/// The cache client's element name and whether it is a hash (docs/bindings.md).
fn element_name(text: &str) -> (String, bool) {
    if text.len() <= 256 && !text.starts_with("sha256:") {
        (text.to_string(), false)
    } else {
        let h = sha2::Sha256::digest(text.as_bytes());
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        (format!("sha256:{hex}"), true)
    }
}

/// The client's attributes, keys in its order, compact.
fn attributes(model: &str, text: &str, hashed: bool, pttl: Option<u64>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let ttl = pttl.map(|ms| ms.div_ceil(1000));
    let j = |v: serde_json::Value| v.to_string();
    let mut s = format!(
        "{{\"concept_type\":\"embedding_cache\",\"source\":\"migration\",\"model\":{},\"cached_at\":{},\"expires_at\":{},\"ttl_seconds\":{}",
        j(model.into()),
        j(now.into()),
        j(ttl.map_or(serde_json::Value::Null, |t| (now + t as f64).into())),
        j(ttl.map_or(serde_json::Value::Null, |t| t.into())),
    );
    if hashed {
        s.push_str(&format!(",\"text\":{}", j(text.into())));
    }
    s.push('}');
    s
}

fn migrate(a: &Args) -> Result<Summary, String> {
    let rule = match &a.key_rule {
        Some(r) => {
            let re = regex::Regex::new(r).map_err(|e| format!("--key-rule: {e}"))?;
            let names: Vec<&str> = re.capture_names().flatten().collect();
            if !names.contains(&"model") || !names.contains(&"text") {
                return Err("--key-rule needs named groups (?P<model>…) and (?P<text>…)".into());
            }
            Some(re)
        }
        None => None,
    };
    let mut cursor: u64 = match &a.resume {
        Some(p) if p.exists() => std::fs::read_to_string(p)
            .map_err(|e| format!("--resume {}: {e}", p.display()))?
            .trim()
            .parse()
            .map_err(|_| format!("--resume {}: not a SCAN cursor", p.display()))?,
        _ => 0,
    };
    let from_db = match a.db {
        Some(db) => db,
        None => url_db(&a.from)?,
    };
    let to_db = a.to_db.unwrap_or(from_db);
    let mut src = connect(&a.from)?;
    select(&mut src, from_db, "source database")?;
    let mut dst = connect(&a.to)?;
    select(&mut dst, to_db, "target database")?;
    let pb = spinner("migrate");
    let mut s = Summary::default();
    loop {
        let batch = scan_step(&mut src, cursor, &a.pattern, a.count, to_db)?;
        let mut w = Writer::new(&mut dst, 500);
        for (_, t) in &batch.skipped {
            note(&mut s, format!("of type {t}"));
        }
        for e in &batch.entries {
            let out = match (e, &rule, a.embeddings) {
                (
                    Entry::String {
                        key, value, pttl, ..
                    },
                    Some(re),
                    true,
                ) => {
                    let k = key.bytes()?;
                    let ks = String::from_utf8_lossy(&k);
                    let Some(c) = re.captures(&ks) else {
                        note(&mut s, "not matching --key-rule".into());
                        continue;
                    };
                    let (model, text) = (&c["model"], &c["text"]);
                    let Some(vector) = decode_embedding(&value.bytes()?) else {
                        s.failed += 1;
                        pb.suspend(|| eprintln!("{ks:?}: the value is not an embedding"));
                        continue;
                    };
                    let (name, hashed) = element_name(text);
                    Entry::Element {
                        key: Text::Utf8(format!("{}{model}", a.namespace)),
                        element: Text::Utf8(name),
                        vector,
                        attributes: Some(attributes(model, text, hashed, *pttl)),
                        pttl: *pttl,
                        db: to_db,
                    }
                }
                (Entry::Vectorset { .. } | Entry::Element { .. }, _, true) => {
                    note(&mut s, "vector sets (--embeddings)".into());
                    continue;
                }
                (e, _, _) => e.clone(),
            };
            if !matches!(out, Entry::Element { .. }) || a.embeddings {
                s.migrated += 1;
            }
            w.push(&out)?;
        }
        w.finish()?;
        s.skipped += batch.vanished;
        cursor = batch.cursor;
        if let Some(p) = &a.resume {
            // Written aside and renamed over the file, so a kill at any moment leaves the
            // previous cursor or the new one, never an empty or half-written file.
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, cursor.to_string())
                .and_then(|()| std::fs::rename(&tmp, p))
                .map_err(|e| format!("--resume {}: {e}", p.display()))?;
        }
        pb.set_position(s.migrated);
        if cursor == 0 {
            break;
        }
    }
    pb.finish_and_clear();
    if let Some(p) = &a.resume {
        let _ = std::fs::remove_file(p);
    }
    Ok(s)
}
