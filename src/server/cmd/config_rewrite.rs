//! CONFIG REWRITE: the `--config` TOML file made to hold the settings CONFIG SET changed,
//! with the least change to it (comments, order and the other keys kept), as Redis rewrites
//! its redis.conf.

use std::io::Write;
use std::path::Path;

use super::{CmdError, CmdResult, Ctx};

/// How a parameter is written to the file.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Bool,
    Text,
}

/// The CONFIG SET parameters a restart can read back: (CONFIG name, the file's key, which
/// is the flag's name, kind). `loglevel` is written as the `log` filter it set;
/// `vset-force-single-threaded-execution` changes nothing here and has no flag, so it is not
/// kept.
const REWRITABLE: &[(&str, &str, Kind)] = &[
    ("maxmemory", "maxmemory", Kind::Int),
    ("maxmemory-policy", "eviction-policy", Kind::Text),
    ("maxclients", "maxclients", Kind::Int),
    ("timeout", "timeout", Kind::Int),
    ("max-concepts", "max-concepts", Kind::Int),
    ("default-ttl-seconds", "default-ttl-seconds", Kind::Int),
    ("log", "log", Kind::Text),
    (
        "slowlog-log-slower-than",
        "slowlog-log-slower-than",
        Kind::Int,
    ),
    ("slowlog-max-len", "slowlog-max-len", Kind::Int),
    ("latency-tracking", "latency-tracking", Kind::Bool),
    (
        "replica-ignore-maxmemory",
        "replica-ignore-maxmemory",
        Kind::Bool,
    ),
    (
        "latency-tracking-info-percentiles",
        "latency-tracking-info-percentiles",
        Kind::Text,
    ),
];

/// The file key a CONFIG SET of `name` changes, if a restart can read it back.
pub(super) fn file_key(name: &str) -> Option<&'static str> {
    let name = if name == "loglevel" { "log" } else { name };
    REWRITABLE
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, key, _)| key)
}

/// CONFIG REWRITE.
pub(super) fn rewrite(ctx: &mut Ctx<'_>, params: &[(&'static str, String)]) -> CmdResult {
    let Some(path) = ctx.shared.config.config.clone() else {
        return Err(CmdError::err("The server is running without a config file"));
    };
    let changed = ctx.shared.live.changed.lock().clone();
    rewrite_file(&path, params, |key| changed.contains(key))
        .map_err(|e| CmdError::err(format!("Rewriting config file: {e}")))?;
    tracing::info!(file = %path.display(), "CONFIG REWRITE executed with success");
    ctx.out.ok();
    Ok(())
}

/// Sets, in the TOML file at `path`, every rewritable parameter that is already in it or
/// that `changed` says CONFIG SET changed, to its value in `params`; writes the file
/// atomically (a temporary file renamed over it, both synced).
fn rewrite_file(
    path: &Path,
    params: &[(&'static str, String)],
    changed: impl Fn(&str) -> bool,
) -> std::io::Result<()> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let text = std::fs::read_to_string(path)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| invalid(format!("{} is not valid TOML: {e}", path.display())))?;
    for &(name, key, kind) in REWRITABLE {
        if !doc.contains_key(key) && !changed(key) {
            continue;
        }
        let Some((_, now)) = params.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        let mut value = match kind {
            Kind::Int => match now.parse::<i64>() {
                Ok(n) => toml_edit::Value::from(n),
                Err(_) => toml_edit::Value::from(now.as_str()),
            },
            Kind::Bool => toml_edit::Value::from(now == "yes"),
            Kind::Text => toml_edit::Value::from(file_text(name, now)),
        };
        // Keep a trailing comment on the line.
        if let Some(old) = doc.get(key).and_then(|i| i.as_value()) {
            *value.decor_mut() = old.decor().clone();
        }
        doc[key] = toml_edit::Item::Value(value);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.rewrite-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(doc.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A text parameter as its flag reads it: the eviction policy by the flag's own names.
fn file_text(name: &str, now: &str) -> String {
    match (name, now) {
        ("maxmemory-policy", "allkeys-lru") => "lru".into(),
        ("maxmemory-policy", "allkeys-lfu") => "lfu".into(),
        _ => now.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_the_file_and_changed_ones_are_written_and_comments_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sutra.toml");
        std::fs::write(
            &path,
            "# my settings\nport = 6380 # the port\n\n# memory\nmaxmemory = \"1gb\" # cap\ntimeout = 5\n",
        )
        .unwrap();
        let params = vec![
            ("maxmemory", "2147483648".to_string()),
            ("timeout", "5".to_string()),
            ("maxmemory-policy", "allkeys-lfu".to_string()),
            ("maxclients", "10000".to_string()),
            ("latency-tracking", "no".to_string()),
        ];
        rewrite_file(&path, &params, |k| {
            k == "eviction-policy" || k == "latency-tracking"
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# my settings\nport = 6380 # the port\n\n# memory\nmaxmemory = 2147483648 # cap\n\
             timeout = 5\neviction-policy = \"lfu\"\nlatency-tracking = false\n"
        );
        assert!(!dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("rewrite")));
    }

    #[test]
    fn a_file_that_is_not_toml_is_left_alone_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "port = = 1\n").unwrap();
        let e = rewrite_file(&path, &[], |_| true).unwrap_err();
        assert!(e.to_string().contains("not valid TOML"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "port = = 1\n");
    }
}
