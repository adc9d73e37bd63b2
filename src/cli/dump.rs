//! The portable dump (JSON Lines) and the two ends every tool shares: reading entries from
//! a running server (SCAN), writing them into one (pipelined commands).
//!
//! One JSON object per line, `"type"` first:
//! - `{"type":"string","key":K,"value":V,"pttl":ms?}`
//! - `{"type":"hash","key":K,"fields":[[F,V],…],"pttl":ms?}`
//! - `{"type":"vectorset","key":K,"quant":"exact|int8|f32|bin","m":16,"dim":D,"pttl":ms?}`,
//!   followed by its elements:
//!   `{"type":"element","key":K,"element":E,"vector":[f32…],"attributes":S?,"pttl":ms?}`
//!
//! `K`, `V` and `E` are a JSON string when the bytes are UTF-8, else `{"b64":"…"}`
//! (standard base64). `pttl` is the time left in milliseconds when the entry was read
//! (absent: no expiry); an import sets it again from the time it writes. `db` is the
//! entry's database (Redis's SELECT number), last on the line and absent for database 0.

use std::collections::HashMap;

use base64::Engine as _;
use redis::{Connection, Value};
use serde::{Deserialize, Serialize};

/// Bytes in the dump: UTF-8 text as itself, anything else as base64.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    /// UTF-8.
    Utf8(String),
    /// Other bytes.
    B64 {
        /// Standard base64 with padding.
        b64: String,
    },
}

impl Text {
    /// The dump form of `bytes`.
    pub fn of(bytes: &[u8]) -> Text {
        match std::str::from_utf8(bytes) {
            Ok(s) => Text::Utf8(s.to_string()),
            Err(_) => Text::B64 {
                b64: base64::engine::general_purpose::STANDARD.encode(bytes),
            },
        }
    }

    /// The bytes as text for messages (invalid UTF-8 replaced).
    pub fn lossy(&self) -> String {
        match self.bytes() {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => e,
        }
    }

    /// The bytes, or why the base64 is bad.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match self {
            Text::Utf8(s) => Ok(s.as_bytes().to_vec()),
            Text::B64 { b64 } => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bad base64 {b64:?}: {e}")),
        }
    }
}

/// One line of the dump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Entry {
    /// A string (blob) key.
    String {
        key: Text,
        value: Text,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pttl: Option<u64>,
        #[serde(default, skip_serializing_if = "is_zero")]
        db: u32,
    },
    /// A hash key with its fields, in the order HGETALL gave them.
    Hash {
        key: Text,
        fields: Vec<(Text, Text)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pttl: Option<u64>,
        #[serde(default, skip_serializing_if = "is_zero")]
        db: u32,
    },
    /// A vector set's parameters; its elements follow.
    Vectorset {
        key: Text,
        quant: String,
        m: u32,
        dim: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pttl: Option<u64>,
        #[serde(default, skip_serializing_if = "is_zero")]
        db: u32,
    },
    /// One element of the vector set named before it.
    Element {
        key: Text,
        element: Text,
        vector: Vec<f32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attributes: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pttl: Option<u64>,
        #[serde(default, skip_serializing_if = "is_zero")]
        db: u32,
    },
}

/// serde's test for leaving `db` 0 out of a line.
pub fn is_zero(db: &u32) -> bool {
    *db == 0
}

impl Entry {
    /// The entry's database.
    pub fn db(&self) -> u32 {
        match self {
            Entry::String { db, .. }
            | Entry::Hash { db, .. }
            | Entry::Vectorset { db, .. }
            | Entry::Element { db, .. } => *db,
        }
    }

    /// Moves the entry to database `to`.
    pub fn set_db(&mut self, to: u32) {
        match self {
            Entry::String { db, .. }
            | Entry::Hash { db, .. }
            | Entry::Vectorset { db, .. }
            | Entry::Element { db, .. } => *db = to,
        }
    }
}

/// The database a `redis://host:port/N` URL names (0 when it names none).
pub fn url_db(url: &str) -> Result<u32, String> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()
        .map_err(|e| format!("{url:?}: {e}"))?;
    u32::try_from(info.redis.db)
        .map_err(|_| format!("{url:?}: database {} out of range", info.redis.db))
}

/// Makes database `db` the connection's (SELECT), naming `what` (the option) on refusal.
pub fn select(con: &mut Connection, db: u32, what: &str) -> Result<(), String> {
    redis::cmd("SELECT")
        .arg(db)
        .query::<()>(con)
        .map_err(|e| format!("{what} {db}: {e}"))
}

/// The databases holding keys, from INFO keyspace (`db3:keys=…` lines), in order; `[0]` when
/// the server does not answer it.
pub fn databases_with_keys(con: &mut Connection) -> Vec<u32> {
    let Ok(info) = redis::cmd("INFO").arg("keyspace").query::<String>(con) else {
        return vec![0];
    };
    let mut dbs: Vec<u32> = info
        .lines()
        .filter_map(|l| l.strip_prefix("db")?.split(':').next()?.parse().ok())
        .collect();
    dbs.sort_unstable();
    dbs.dedup();
    dbs
}

/// Connects to `url` (`redis://[user:password@]host:port[/db]`).
pub fn connect(url: &str) -> Result<Connection, String> {
    let client = redis::Client::open(url).map_err(|e| format!("--url {url:?}: {e}"))?;
    client
        .get_connection_with_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| format!("cannot connect to {url}: {e}"))
}

fn err(what: &str, e: redis::RedisError) -> String {
    format!("{what}: {e}")
}

/// A PTTL reply as the dump's `pttl`: `None` without expiry (or missing).
fn pttl_of(v: i64) -> Option<u64> {
    (v >= 0).then_some(v as u64)
}

/// Keys found by one SCAN step, by type.
pub struct Batch {
    /// The cursor to continue from (0: done).
    pub cursor: u64,
    /// The entries read (vector sets as a header and their elements).
    pub entries: Vec<Entry>,
    /// Keys of other types, with the type, not read.
    pub skipped: Vec<(Vec<u8>, String)>,
    /// Keys that vanished or changed type between SCAN and the read.
    pub vanished: u64,
}

/// Reads one SCAN step of `pattern` from `cursor`: strings with GET/PTTL, hashes with
/// HGETALL/PTTL, vector sets with VINFO, PTTL and each element's VEMB, VGETATTR and (on this
/// server) VPTTL.
/// The entries are tagged with database `db` (the one the connection has selected).
pub fn scan_step(
    con: &mut Connection,
    cursor: u64,
    pattern: &str,
    count: usize,
    db: u32,
) -> Result<Batch, String> {
    let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(count)
        .query(con)
        .map_err(|e| err("SCAN", e))?;
    let mut batch = Batch {
        cursor: next,
        entries: Vec::new(),
        skipped: Vec::new(),
        vanished: 0,
    };
    if keys.is_empty() {
        return Ok(batch);
    }
    let mut p = redis::pipe();
    for k in &keys {
        p.cmd("TYPE").arg(k);
    }
    let types: Vec<String> = p.query(con).map_err(|e| err("TYPE", e))?;
    let strings: Vec<&Vec<u8>> = keys
        .iter()
        .zip(&types)
        .filter(|(_, t)| t.as_str() == "string")
        .map(|(k, _)| k)
        .collect();
    if !strings.is_empty() {
        let mut p = redis::pipe();
        for k in &strings {
            p.cmd("GET").arg(*k).cmd("PTTL").arg(*k);
        }
        let replies: Vec<Value> = p.query(con).map_err(|e| err("GET/PTTL", e))?;
        for (k, pair) in strings.iter().zip(replies.chunks(2)) {
            match (&pair[0], &pair[1]) {
                (Value::BulkString(v), Value::Int(t)) => batch.entries.push(Entry::String {
                    key: Text::of(k),
                    value: Text::of(v),
                    pttl: pttl_of(*t),
                    db,
                }),
                _ => batch.vanished += 1,
            }
        }
    }
    let hashes: Vec<&Vec<u8>> = keys
        .iter()
        .zip(&types)
        .filter(|(_, t)| t.as_str() == "hash")
        .map(|(k, _)| k)
        .collect();
    for chunk in hashes.chunks(100) {
        let mut p = redis::pipe();
        for k in chunk {
            p.cmd("HGETALL").arg(*k).cmd("PTTL").arg(*k);
        }
        let replies: Vec<Value> = p.query(con).map_err(|e| err("HGETALL/PTTL", e))?;
        for (k, pair) in chunk.iter().zip(replies.chunks(2)) {
            let fields: Vec<(Text, Text)> = match &pair[0] {
                Value::Map(kv) => kv
                    .iter()
                    .filter_map(|(f, v)| Some((bulk(f)?, bulk(v)?)))
                    .collect(),
                Value::Array(items) => items
                    .chunks_exact(2)
                    .filter_map(|fv| Some((bulk(&fv[0])?, bulk(&fv[1])?)))
                    .collect(),
                _ => Vec::new(),
            };
            match (&pair[1], fields.is_empty()) {
                (Value::Int(t), false) => batch.entries.push(Entry::Hash {
                    key: Text::of(k),
                    fields,
                    pttl: pttl_of(*t),
                    db,
                }),
                _ => batch.vanished += 1, // deleted (or emptied) since SCAN
            }
        }
    }
    for (k, t) in keys.iter().zip(&types) {
        match t.as_str() {
            "string" | "hash" => {}
            "none" => batch.vanished += 1,
            "vectorset" => match read_vset(con, k, db)? {
                Some(mut es) => batch.entries.append(&mut es),
                None => batch.vanished += 1,
            },
            other => batch.skipped.push((k.clone(), other.to_string())),
        }
    }
    Ok(batch)
}

/// A bulk string reply as dump text.
fn bulk(v: &Value) -> Option<Text> {
    match v {
        Value::BulkString(b) => Some(Text::of(b)),
        Value::SimpleString(s) => Some(Text::of(s.as_bytes())),
        _ => None,
    }
}

/// A map or flat array reply as name → value.
fn pairs(v: Value) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    match v {
        Value::Map(kv) => {
            for (k, v) in kv {
                if let Ok(k) = redis::from_redis_value::<String>(&k) {
                    out.insert(k, v);
                }
            }
        }
        Value::Array(items) => {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let Ok(k) = redis::from_redis_value::<String>(&k) {
                    out.insert(k, v);
                }
            }
        }
        _ => {}
    }
    out
}

/// Element names of a set: VRANGE in pages (this server, Redis 8.4+), else VRANDMEMBER
/// with the set's size (Redis 8.0–8.2; every member, once).
fn members(con: &mut Connection, key: &[u8], size: u64) -> Result<Vec<Vec<u8>>, String> {
    const PAGE: usize = 1000;
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut start = b"-".to_vec();
    loop {
        let page: Result<Vec<Vec<u8>>, _> = redis::cmd("VRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg(PAGE)
            .query(con);
        match page {
            Ok(page) => {
                let done = page.len() < PAGE;
                if let Some(last) = page.last() {
                    start = [b"(".as_slice(), last].concat();
                }
                out.extend(page);
                if done {
                    return Ok(out);
                }
            }
            Err(e) if out.is_empty() && e.kind() == redis::ErrorKind::ResponseError => {
                return redis::cmd("VRANDMEMBER")
                    .arg(key)
                    .arg(size)
                    .query(con)
                    .map_err(|e| err("VRANDMEMBER", e));
            }
            Err(e) => return Err(err("VRANGE", e)),
        }
    }
}

fn read_vset(con: &mut Connection, key: &[u8], db: u32) -> Result<Option<Vec<Entry>>, String> {
    let info: Value = redis::cmd("VINFO")
        .arg(key)
        .query(con)
        .map_err(|e| err("VINFO", e))?;
    if matches!(info, Value::Nil) {
        return Ok(None);
    }
    let info = pairs(info);
    let int = |name: &str| -> Result<i64, String> {
        info.get(name)
            .and_then(|v| redis::from_redis_value::<i64>(v).ok())
            .ok_or_else(|| format!("VINFO of {:?} has no {name}", String::from_utf8_lossy(key)))
    };
    let quant = info
        .get("quant-type")
        .and_then(|v| redis::from_redis_value::<String>(v).ok())
        .unwrap_or_else(|| "int8".into());
    let (m, dim, size) = (int("hnsw-m")?, int("vector-dim")?, int("size")?);
    let pttl: i64 = redis::cmd("PTTL")
        .arg(key)
        .query(con)
        .map_err(|e| err("PTTL", e))?;
    let names = members(con, key, size.max(0) as u64)?;
    let mut out = vec![Entry::Vectorset {
        key: Text::of(key),
        quant,
        m: m.clamp(0, u32::MAX as i64) as u32,
        dim: dim.max(0) as usize,
        pttl: pttl_of(pttl),
        db,
    }];
    // VPTTL is this server's; Redis has no per-element expiry.
    let element_ttls = names.first().is_some_and(|first| {
        redis::cmd("VPTTL")
            .arg(key)
            .arg(first)
            .query::<i64>(con)
            .is_ok()
    });
    for chunk in names.chunks(500) {
        let mut p = redis::pipe();
        for e in chunk {
            p.cmd("VEMB")
                .arg(key)
                .arg(e)
                .cmd("VGETATTR")
                .arg(key)
                .arg(e);
            if element_ttls {
                p.cmd("VPTTL").arg(key).arg(e);
            }
        }
        let replies: Vec<Value> = p.query(con).map_err(|e| err("VEMB/VGETATTR", e))?;
        let per = if element_ttls { 3 } else { 2 };
        for (e, r) in chunk.iter().zip(replies.chunks(per)) {
            let Ok(vector) = redis::from_redis_value::<Vec<f64>>(&r[0]) else {
                continue; // removed since VRANGE
            };
            let attributes = redis::from_redis_value::<Option<String>>(&r[1])
                .ok()
                .flatten();
            let pttl = r
                .get(2)
                .and_then(|v| redis::from_redis_value::<i64>(v).ok())
                .and_then(pttl_of);
            out.push(Entry::Element {
                key: Text::of(key),
                element: Text::of(e),
                vector: vector.into_iter().map(|x| x as f32).collect(),
                attributes,
                pttl,
                db,
            });
        }
    }
    Ok(Some(out))
}

/// A vector set's quantization flag for VADD (`None`: exact) and its M.
type SetParams = (Option<&'static str>, u32);

/// VADD's flag for a dump's `quant` (VINFO's name; `None`: this server's `exact`).
fn quant_flag(quant: &str) -> Result<Option<&'static str>, String> {
    match quant {
        "exact" => Ok(None),
        "int8" | "q8" => Ok(Some("Q8")),
        "f32" | "noquant" => Ok(Some("NOQUANT")),
        "bin" => Ok(Some("BIN")),
        other => Err(format!("unknown quant {other:?} (exact, int8, f32, bin)")),
    }
}

/// Writes entries into a server, pipelined, `batch` commands at a time, each into its
/// database (a SELECT before the first entry and wherever the database changes). A vector
/// set's header deletes the key first (an import replaces what it names); its TTL is set once
/// its elements are in.
pub struct Writer<'a> {
    con: &'a mut Connection,
    pipe: redis::Pipeline,
    queued: usize,
    batch: usize,
    /// The database the queued commands leave selected (`None`: not selected yet).
    db: Option<u32>,
    /// (database, vector set key) → (quantization flag, M) from its header.
    sets: HashMap<(u32, Vec<u8>), SetParams>,
    set_ttls: Vec<(u32, Vec<u8>, u64)>,
    /// Entries written.
    pub written: u64,
}

impl<'a> Writer<'a> {
    /// A writer over `con`.
    pub fn new(con: &'a mut Connection, batch: usize) -> Self {
        Writer {
            con,
            pipe: redis::pipe(),
            queued: 0,
            batch: batch.max(1),
            db: None,
            sets: HashMap::new(),
            set_ttls: Vec::new(),
            written: 0,
        }
    }

    /// Declares vector set `key` of database `db` with storage `quant` and `m`, for elements
    /// pushed without a `vectorset` header before them (added to what the set holds; the set
    /// is made by the first one when missing).
    pub fn declare(&mut self, db: u32, key: &[u8], quant: &str, m: u32) -> Result<(), String> {
        self.sets
            .insert((db, key.to_vec()), (quant_flag(quant)?, m));
        Ok(())
    }

    /// Queues one entry (sent when the batch is full).
    pub fn push(&mut self, e: &Entry) -> Result<(), String> {
        let db = e.db();
        if self.db != Some(db) {
            self.pipe.cmd("SELECT").arg(db).ignore();
            self.db = Some(db);
        }
        match e {
            Entry::String {
                key, value, pttl, ..
            } => {
                let c = self.pipe.cmd("SET").arg(key.bytes()?).arg(value.bytes()?);
                if let Some(ms) = pttl {
                    c.arg("PX").arg((*ms).max(1));
                }
            }
            Entry::Hash {
                key, fields, pttl, ..
            } => {
                // An import replaces the key: the fields are the hash's, not added to it.
                if fields.is_empty() {
                    return Err("a hash with no fields (Redis has no empty hashes)".into());
                }
                let k = key.bytes()?;
                self.pipe.cmd("DEL").arg(&k).ignore();
                let c = self.pipe.cmd("HSET").arg(&k);
                for (f, v) in fields {
                    c.arg(f.bytes()?).arg(v.bytes()?);
                }
                if let Some(ms) = pttl {
                    self.pipe.ignore();
                    self.pipe.cmd("PEXPIRE").arg(&k).arg((*ms).max(1));
                }
            }
            Entry::Vectorset {
                key,
                quant,
                m,
                pttl,
                ..
            } => {
                let flag = quant_flag(quant)?;
                let k = key.bytes()?;
                self.pipe.cmd("DEL").arg(&k);
                self.sets.insert((db, k.clone()), (flag, *m));
                if let Some(ms) = pttl {
                    self.set_ttls.push((db, k, (*ms).max(1)));
                }
            }
            Entry::Element {
                key,
                element,
                vector,
                attributes,
                pttl,
                ..
            } => {
                let k = key.bytes()?;
                let (flag, m) = self
                    .sets
                    .get(&(db, k.clone()))
                    .copied()
                    .unwrap_or((None, 16));
                let blob: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                let c = self
                    .pipe
                    .cmd("VADD")
                    .arg(&k)
                    .arg("FP32")
                    .arg(blob)
                    .arg(element.bytes()?);
                if let Some(f) = flag {
                    c.arg(f);
                }
                c.arg("M").arg(m);
                if let Some(a) = attributes {
                    c.arg("SETATTR").arg(a);
                }
                if let Some(ms) = pttl {
                    c.arg("PX").arg((*ms).max(1));
                }
            }
        }
        self.pipe.ignore();
        self.written += 1;
        self.queued += 1;
        if self.queued >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what is queued; the first error reply fails it.
    pub fn flush(&mut self) -> Result<(), String> {
        if self.queued == 0 {
            return Ok(());
        }
        let p = std::mem::replace(&mut self.pipe, redis::pipe());
        self.queued = 0;
        p.query::<()>(self.con).map_err(|e| err("write", e))
    }

    /// Sends the rest, then the vector sets' TTLs.
    pub fn finish(mut self) -> Result<u64, String> {
        self.flush()?;
        let mut p = redis::pipe();
        for (db, k, ms) in &self.set_ttls {
            if self.db != Some(*db) {
                p.cmd("SELECT").arg(*db).ignore();
                self.db = Some(*db);
            }
            p.cmd("PEXPIRE").arg(k).arg(*ms).ignore();
        }
        p.query::<()>(self.con).map_err(|e| err("PEXPIRE", e))?;
        Ok(self.written)
    }
}
