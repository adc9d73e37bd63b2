//! Moving a slot's keys from one node to another for the manager (`super::manager`): each
//! key is dumped from the source as the commands that rebuild it (blobs and hashes with their TTLs,
//! vector sets with mode, M, exact vectors, attributes and element TTLs) and written on the
//! target only where absent, then deleted from the source.

use super::manager::Manager;
use std::collections::BTreeMap;

use super::resp::{Conn, Reply};
use super::{key_slot, NodeAddr};

/// Copies every key of `slots` from `src` to `dst` and deletes it from `src`, while the
/// nodes run the configuration that marks those slots migrating: the source serves reads
/// of the keys it still has, asks (`-ASK`) clients to the target for the others, and
/// answers writes to its existing keys `-TRYAGAIN` (all but this connection's, marked
/// `SUTRA.CLUSTER MIGRATOR`), so no write lands on a key between its copy and its
/// deletion. A key is written on the target only when absent there (WATCH + EXISTS +
/// MULTI/EXEC under ASKING): a re-run after a crash skips what was copied, and a key a
/// client wrote on the target meanwhile is kept. Repeats passes over the source's keyspace
/// until none of the slots' keys is left. Returns the keys copied.
pub(super) fn migrate(
    m: &Manager,
    src: &NodeAddr,
    dst: &NodeAddr,
    slots: &std::collections::BTreeSet<u16>,
) -> Result<usize, String> {
    let mut s = m.conn_to(src)?;
    s.cmd(&["SUTRA.CLUSTER", "MIGRATOR"])?.ok()?;
    let mut t = m.conn_to(dst)?;
    let mut copied = 0;
    for _pass in 0..100 {
        let mut found = 0;
        let mut cursor = "0".to_string();
        loop {
            let page = s.cmd(&["SCAN", &cursor, "COUNT", "1000"])?.ok()?;
            let Reply::Array(Some(parts)) = page else {
                return Err(format!("{}: SCAN answered {page:?}", src.endpoint()));
            };
            let [next, Reply::Array(Some(keys))] = &parts[..] else {
                return Err(format!("{}: SCAN answered {parts:?}", src.endpoint()));
            };
            cursor = next.text()?;
            for k in keys {
                let Reply::Bulk(Some(key)) = k else { continue };
                if !slots.contains(&key_slot(key)) {
                    continue;
                }
                found += 1;
                if copy_key(&mut s, &mut t, key)? {
                    copied += 1;
                }
            }
            if cursor == "0" {
                break;
            }
        }
        if found == 0 {
            return Ok(copied);
        }
    }
    Err(format!(
        "{}: keys of the migrating slots keep appearing after 100 passes",
        src.endpoint()
    ))
}

/// The writes that recreate one key on another node.
fn dump_key(s: &mut Conn, key: &[u8]) -> Result<Option<Vec<Vec<Vec<u8>>>>, String> {
    let kind = match s.call(&[b"TYPE", key])? {
        Reply::Simple(k) => k,
        Reply::Error(e) if e.starts_with("ASK") => return Ok(None),
        other => return Err(format!("TYPE answered {other:?}")),
    };
    let pttl = |s: &mut Conn, args: &[&[u8]]| -> Result<i64, String> {
        match s.call(args)? {
            Reply::Int(n) => Ok(n),
            // The key left the source meanwhile (expired, evicted).
            Reply::Error(e) if e.starts_with("ASK") => Ok(-2),
            other => Err(format!("{args:?} answered {other:?}")),
        }
    };
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let v = |a: &[&[u8]]| a.iter().map(|x| x.to_vec()).collect::<Vec<_>>();
    match kind.as_str() {
        "none" => return Ok(None),
        "string" => {
            let value = match s.call(&[b"GET", key])? {
                Reply::Bulk(Some(b)) => b,
                _ => return Ok(None),
            };
            let ttl = pttl(s, &[b"PTTL", key])?;
            if ttl == -2 {
                return Ok(None);
            }
            let mut c = v(&[b"SET", key, &value]);
            if ttl > 0 {
                c.push(b"PX".to_vec());
                c.push(ttl.to_string().into_bytes());
            }
            cmds.push(c);
        }
        "hash" => {
            let all = match s.call(&[b"HGETALL", key])? {
                Reply::Array(Some(a)) if !a.is_empty() => a,
                _ => return Ok(None),
            };
            let mut c = v(&[b"HSET", key]);
            for item in all {
                match item {
                    Reply::Bulk(Some(b)) => c.push(b),
                    other => return Err(format!("HGETALL answered {other:?}")),
                }
            }
            let ttl = pttl(s, &[b"PTTL", key])?;
            if ttl == -2 {
                return Ok(None);
            }
            cmds.push(c);
            if ttl > 0 {
                cmds.push(v(&[b"PEXPIRE", key, ttl.to_string().as_bytes()]));
            }
        }
        "vectorset" => {
            let info = match s.call(&[b"VINFO", key])? {
                Reply::Array(Some(a)) => a,
                _ => return Ok(None),
            };
            let mut fields = BTreeMap::new();
            for pair in info.chunks(2) {
                if let [k, val] = pair {
                    let val = match val {
                        Reply::Int(n) => n.to_string(),
                        other => other.text().unwrap_or_default(),
                    };
                    fields.insert(k.text().unwrap_or_default(), val);
                }
            }
            let mut opts: Vec<Vec<u8>> = Vec::new();
            match fields.get("quant-type").map(String::as_str) {
                Some("int8") => opts.push(b"Q8".to_vec()),
                Some("f32") => opts.push(b"NOQUANT".to_vec()),
                Some("bin") => opts.push(b"BIN".to_vec()),
                _ => {}
            }
            if let Some(mm) = fields.get("hnsw-m") {
                opts.push(b"M".to_vec());
                opts.push(mm.clone().into_bytes());
            }
            let mut start = b"-".to_vec();
            while let Reply::Array(Some(page)) = s.call(&[b"VRANGE", key, &start, b"+", b"500"])? {
                if page.is_empty() {
                    break;
                }
                let names: Vec<Vec<u8>> = page
                    .into_iter()
                    .filter_map(|r| match r {
                        Reply::Bulk(Some(b)) => Some(b),
                        _ => None,
                    })
                    .collect();
                let mut add = v(&[b"VADDM", key]);
                add.extend(opts.iter().cloned());
                add.push(b"FP32".to_vec());
                let mut extra = Vec::new();
                // One round trip for the page's vectors, one for attributes and TTLs.
                let mut get = v(&[b"VMGETF32", key]);
                get.extend(names.iter().cloned());
                let vecs = match s.call(&get.iter().map(Vec::as_slice).collect::<Vec<_>>())? {
                    Reply::Array(Some(a)) => a,
                    _ => break,
                };
                let mut asks = Vec::new();
                for e in &names {
                    asks.push(v(&[b"VGETATTR", key, e]));
                    asks.push(v(&[b"VPTTL", key, e]));
                }
                let meta = s.pipeline(&asks)?;
                for ((e, vec), m) in names.iter().zip(vecs).zip(meta.chunks(2)) {
                    let Reply::Bulk(Some(vec)) = vec else {
                        continue;
                    };
                    add.push(e.clone());
                    add.push(vec);
                    if let Reply::Bulk(Some(attr)) = &m[0] {
                        extra.push(v(&[b"VSETATTR", key, e, attr]));
                    }
                    if let Reply::Int(ttl) = m[1] {
                        if ttl > 0 {
                            extra.push(v(&[b"VPEXPIRE", key, e, ttl.to_string().as_bytes()]));
                        }
                    }
                }
                if add.len() > 3 + opts.len() {
                    cmds.push(add);
                }
                cmds.extend(extra);
                let last = names.last().cloned().unwrap_or_default();
                start = [b"(".as_slice(), &last].concat();
            }
            let ttl = pttl(s, &[b"PTTL", key])?;
            if ttl > 0 {
                cmds.push(v(&[b"PEXPIRE", key, ttl.to_string().as_bytes()]));
            }
            if cmds.is_empty() {
                return Ok(None);
            }
        }
        other => return Err(format!("TYPE answered {other:?}")),
    }
    Ok(Some(cmds))
}

/// Moves one key (see [`migrate`]); whether it was written on the target.
fn copy_key(s: &mut Conn, t: &mut Conn, key: &[u8]) -> Result<bool, String> {
    let Some(cmds) = dump_key(s, key)? else {
        return Ok(false);
    };
    let asking = |t: &mut Conn| t.call(&[b"ASKING"])?.ok().map(|_| ());
    asking(t)?;
    t.call(&[b"WATCH", key])?.ok()?;
    asking(t)?;
    let present = t.call(&[b"EXISTS", key])?.ok()?.int()? > 0;
    let mut wrote = false;
    if present {
        t.call(&[b"UNWATCH"])?.ok()?;
    } else {
        // ASKING, MULTI, the writes, EXEC: one round trip.
        let mut batch = vec![vec![b"ASKING".to_vec()], vec![b"MULTI".to_vec()]];
        batch.extend(cmds);
        batch.push(vec![b"EXEC".to_vec()]);
        let mut replies = t.pipeline(&batch)?;
        let exec = replies.pop().unwrap_or(Reply::Array(None));
        if let Some(Reply::Error(e)) = replies.iter().find(|r| matches!(r, Reply::Error(_))) {
            return Err(format!("{}: copying a key failed: {e}", t.addr));
        }
        match exec {
            Reply::Array(Some(results)) => {
                if let Some(Reply::Error(e)) = results.iter().find(|r| matches!(r, Reply::Error(_)))
                {
                    return Err(format!("{}: copying a key failed: {e}", t.addr));
                }
                wrote = true;
            }
            // A client wrote the key on the target meanwhile: its write is newer.
            Reply::Array(None) => {}
            other => return Err(format!("{}: EXEC answered {other:?}", t.addr)),
        }
    }
    match s.call(&[b"DEL", key])? {
        Reply::Int(_) => {}
        Reply::Error(e) if e.starts_with("ASK") => {}
        other => return Err(format!("{}: DEL answered {other:?}", s.addr)),
    }
    Ok(wrote)
}
