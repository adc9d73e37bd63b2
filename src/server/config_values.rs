//! The values the server's configuration reads, each with its parser (the seed's
//! CACHE_MODE, sizes, storage modes, the WAL's I/O path), and the memory cap derived from
//! the cgroup's limit. `server::config` re-exports them.

use std::path::{Path, PathBuf};

use crate::{IoChoice, SnapshotRecovery, StorageMode, WalRecovery};

/// DEFAULT_TTL_SECONDS in the cache role when not given: the seed's 24 hours.
pub const CACHE_ROLE_TTL_SECONDS: u64 = 86_400;

/// The seed's CACHE_MODE, a boolean (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`). A
/// storage mode there (CACHE_MODE once named it) is refused, pointing at VECTOR_STORAGE.
pub fn parse_cache_mode(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" | "" => Ok(false),
        mode @ ("exact" | "q8" | "int8" | "noquant" | "f32") => Err(format!(
            "CACHE_MODE is a boolean (true selects the cache role's defaults); the storage \
             mode of new vector sets is now VECTOR_STORAGE (--vector-storage): set \
             VECTOR_STORAGE={mode} instead"
        )),
        _ => Err(format!("expected true or false; got '{s}'")),
    }
}

/// The byte cap under a cgroup memory limit: 30% of it. The accounted bytes (entries, sets,
/// their index) are not the process's memory: with the seed's 768-dimension entries its
/// anonymous memory measured 1.4 times them while filling and up to 2.7 times under
/// eviction churn (freed slots, graph and allocator slack; docs/commands.md), plus client
/// buffers and WAL batches. 30% keeps 2.7 times the cap (81%) under the limit, so the
/// process evicts before the kernel's OOM killer stops it.
pub fn memory_cap_for_limit(limit: u64) -> u64 {
    limit / 10 * 3
}

/// The memory limit that applies to this process, from the cgroup filesystem mounted at
/// `root` and the process's `/proc/self/cgroup` text (`self_cgroup`): the smallest limit
/// among the process's own cgroup and its ancestors (cgroup v2 `memory.max`, v1
/// `memory.limit_in_bytes` under the `memory` controller), and the files at the mount's top
/// (a container sees its own cgroup there: v2 `memory.max`, v1
/// `memory/memory.limit_in_bytes`). `None` when no limit is set: no file, `max`, or v1's
/// "unlimited" (anything at or over 2^60 bytes).
pub fn cgroup_memory_limit(root: &Path, self_cgroup: &str) -> Option<u64> {
    let read = |p: &Path| -> Option<u64> {
        std::fs::read_to_string(p)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&b| b > 0 && b < 1 << 60)
    };
    // The cgroup directory `path` (from /proc/self/cgroup) under `base`, and its ancestors
    // up to `base`.
    let chain = |base: &Path, path: &str| -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if Path::new(path)
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return dirs; // the kernel writes none; never read outside the mount
        }
        let mut dir = base.join(path.trim_start_matches('/'));
        while dir.starts_with(base) {
            dirs.push(dir.clone());
            if !dir.pop() {
                break;
            }
        }
        dirs
    };
    let mut files = vec![
        root.join("memory.max"),
        root.join("memory").join("memory.limit_in_bytes"),
        root.join("memory.limit_in_bytes"),
    ];
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            files.extend(chain(root, path).into_iter().map(|d| d.join("memory.max")));
        } else if controllers.split(',').any(|c| c == "memory") {
            let base = root.join("memory");
            files.extend(
                chain(&base, path)
                    .into_iter()
                    .map(|d| d.join("memory.limit_in_bytes")),
            );
        }
    }
    files.iter().filter_map(|p| read(p)).min()
}

/// `auto`, `uring` or `sync`.
pub fn parse_wal_io(s: &str) -> Result<IoChoice, String> {
    s.parse::<IoChoice>().map_err(|e| e.to_string())
}

/// `refuse` or `truncate-at-damage`.
pub fn parse_wal_recovery(s: &str) -> Result<WalRecovery, String> {
    s.parse::<WalRecovery>().map_err(|e| e.to_string())
}

/// `refuse` or `use-older`.
pub fn parse_snapshot_recovery(s: &str) -> Result<SnapshotRecovery, String> {
    s.parse::<SnapshotRecovery>().map_err(|e| e.to_string())
}

/// `exact`, `q8` or `noquant` (Redis's `int8` and `f32` too): [`StorageMode`]'s parser.
pub fn parse_storage_mode(s: &str) -> Result<StorageMode, String> {
    s.parse::<StorageMode>().map_err(|e| e.to_string())
}

/// A byte count with an optional unit as Redis's config accepts: `1024`, `64kb`, `1mb`,
/// `2gb` (powers of 1024; `k`, `m`, `g` too).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a byte count such as 1024, 64kb or 2gb; got '{s}'"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{s}' (use b, kb, mb or gb)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("'{s}' does not fit in 64 bits"))
}
