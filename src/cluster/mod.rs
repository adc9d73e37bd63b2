//! Redis Cluster's model without gossip (as Dragonfly runs it): the 16,384 CRC16 hash
//! slots, a topology written by a manager (`sutra-cache cluster …`) and pushed whole to
//! every node, with an epoch a node never goes back from, kept durably in the node's data
//! directory. The server's side (routing, `CLUSTER …`, `-MOVED`/`-ASK`) is in
//! `server::cluster`; this module has no network code.

mod topology;

pub mod manager;
mod migrate;
mod resp;

pub use topology::{
    ranges_where, Migration, NodeAddr, Routes, Shard, SlotRange, Topology, TopologyError,
};

use std::io::Write;
use std::path::{Path, PathBuf};

/// Number of hash slots.
pub const SLOTS: usize = 16_384;

/// Redis's CRC16 (XMODEM: polynomial 0x1021, initial 0, no reflection).
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// The hash slot of a key, as Redis Cluster computes it: CRC16 of the key modulo 16,384,
/// or of the hash tag only when the key holds `{…}` with at least one byte between the
/// first `{` and the first `}` after it.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    CRC16.checksum(hashed) & (SLOTS as u16 - 1)
}

/// How a server takes part in a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterMode {
    /// Not a cluster: `CLUSTER` is refused, every key is served.
    Off,
    /// One node owning every slot, so Redis Cluster clients work against one server.
    Emulated,
    /// A member of a cluster: serves the slots its pushed configuration gives it.
    Yes,
}

impl ClusterMode {
    /// The name the flag takes.
    pub fn name(self) -> &'static str {
        match self {
            ClusterMode::Off => "off",
            ClusterMode::Emulated => "emulated",
            ClusterMode::Yes => "yes",
        }
    }
}

/// File of the node's id in its data directory.
pub const NODE_ID_FILE: &str = "cluster-node-id";
/// File of the node's last accepted topology in its data directory.
pub const CONFIG_FILE: &str = "cluster-config.json";

/// A new random node id: 40 lower-case hex digits, as Redis's.
pub fn new_node_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether `id` is a node id this server accepts: 1 to 64 bytes of ASCII letters, digits,
/// `-` or `_` (Redis's are 40 hex digits; a manager may name nodes itself).
pub fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes `bytes` to `dir/name` so that a crash leaves the old file or the new one, never
/// a part: a temporary file, fsync, rename, fsync of the directory.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The node id kept in `dir` (made and stored on first use), or `given` when set (then
/// also stored, so a later start without it keeps the same id).
pub fn load_or_make_node_id(dir: Option<&Path>, given: Option<&str>) -> Result<String, String> {
    if let Some(id) = given {
        if !valid_node_id(id) {
            return Err(format!(
                "--cluster-node-id {id:?}: expected 1 to 64 letters, digits, '-' or '_'"
            ));
        }
    }
    let Some(dir) = dir else {
        return Ok(given.map_or_else(new_node_id, str::to_string));
    };
    let path = dir.join(NODE_ID_FILE);
    let stored = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if let Some(s) = &stored {
        if !valid_node_id(s) {
            return Err(format!(
                "{}: {s:?} is not a node id (remove the file to make a new one)",
                path.display()
            ));
        }
    }
    let id = match (given, stored) {
        (Some(g), _) => g.to_string(),
        (None, Some(s)) => return Ok(s),
        (None, None) => new_node_id(),
    };
    write_atomically(dir, NODE_ID_FILE, format!("{id}\n").as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(id)
}

/// The topology last accepted in `dir`, if any.
pub fn load_config(dir: &Path) -> Result<Option<Topology>, String> {
    let path: PathBuf = dir.join(CONFIG_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Topology::parse(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Stores an accepted topology in `dir` (atomically, synced).
pub fn store_config(dir: &Path, topo: &Topology) -> std::io::Result<()> {
    write_atomically(dir, CONFIG_FILE, topo.to_json().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis_cluster() {
        // Values CLUSTER KEYSLOT gives on Redis 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
        assert_eq!(CRC16.checksum(b"123456789"), 0x31c3);
    }

    #[test]
    fn hash_tags_follow_redis_rules() {
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        // An empty tag hashes the whole key.
        assert_eq!(
            key_slot(b"foo{}{bar}"),
            CRC16.checksum(b"foo{}{bar}") % 16384
        );
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar"), CRC16.checksum(b"foo{bar") % 16384);
        assert_eq!(key_slot(b"emb:minilm:{0}"), key_slot(b"0"));
    }

    #[test]
    fn node_ids_are_kept_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_make_node_id(Some(dir.path()), None).unwrap();
        assert_eq!(a.len(), 40);
        assert_eq!(load_or_make_node_id(Some(dir.path()), None).unwrap(), a);
        let b = load_or_make_node_id(Some(dir.path()), Some("node-b")).unwrap();
        assert_eq!(b, "node-b");
        assert_eq!(
            load_or_make_node_id(Some(dir.path()), None).unwrap(),
            "node-b"
        );
        assert!(load_or_make_node_id(None, Some("bad id")).is_err());
    }
}
