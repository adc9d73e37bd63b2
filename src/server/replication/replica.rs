//! A replica's link to its master: connect, authenticate, `REPLCONF listening-port`,
//! `SUTRA.PSYNC replid offset`, then apply what comes (a full copy, then the log) through
//! the engine, acknowledging each batch once it is durable here. On any failure the link
//! waits a second and connects again, asking to continue from its offset.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::master::frame;
use super::{LinkState, Replication};
use crate::server::frame::{self as resp, FrameLimits, Request};
use crate::Engine;

/// No byte from the master for this long (it pings every second): the link is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait between two attempts.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Records applied per batch at most (one durability wait and one ACK per batch).
const BATCH_RECORDS: usize = 4096;
/// Keep the offset in the data directory at most this often while streaming.
const SAVE_EVERY: Duration = Duration::from_millis(200);

fn since(start: std::time::Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Follows `host:port` until aborted (REPLICAOF again, or shutdown).
pub(crate) async fn follow(
    repl: Arc<Replication>,
    engine: Arc<Engine>,
    host: String,
    port: u16,
    generation: u64,
) {
    let started = std::time::Instant::now();
    loop {
        repl.set_state(generation, LinkState::Connecting, since(started));
        match session(&repl, &engine, &host, port, generation, started).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(master = %format!("{host}:{port}"), error = %e, "replication link down");
            }
        }
        repl.set_state(generation, LinkState::Connect, since(started));
        if *repl.apply_gate.lock() != generation {
            return;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Reads one frame (an array of bulk strings, or a simple line for the handshake).
async fn next_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Vec<Bytes>, String> {
    let limits = FrameLimits {
        max_bulk_len: usize::MAX >> 1,
        max_array_len: 16,
        max_inline_len: 1 << 16,
    };
    loop {
        match resp::parse(buf, &limits, true) {
            Ok(Some(Request::Command(args))) => return Ok(args),
            Ok(Some(Request::Empty)) => continue,
            Ok(None) => {}
            Err(e) => return Err(format!("bad frame from the master: {}", e.0)),
        }
        match tokio::time::timeout(READ_TIMEOUT, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => return Err("the master closed the connection".into()),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no data from the master for 30 s".into()),
        }
    }
}

/// Reads one reply line (`+…` or `-…`) of the handshake.
async fn reply_line(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<String, String> {
    loop {
        if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(at + 2);
            return Ok(String::from_utf8_lossy(&line[..at]).into_owned());
        }
        match tokio::time::timeout(READ_TIMEOUT, stream.read_buf(buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => return Err("the master closed the connection".into()),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no reply from the master for 30 s".into()),
        }
    }
}

async fn command(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    parts: &[&[u8]],
) -> Result<String, String> {
    let mut out = Vec::new();
    frame(&mut out, parts);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let line = reply_line(stream, buf).await?;
    if let Some(err) = line.strip_prefix('-') {
        return Err(format!(
            "the master refused {}: {err}",
            String::from_utf8_lossy(parts[0])
        ));
    }
    Ok(line)
}

/// Applies `records` (kind, payload) under the apply gate of `generation`, waits until they
/// are durable here. `Ok(None)`: REPLICAOF changed meanwhile, nothing was applied; else
/// for each record the LSN of this node's log that holds it ([`crate::ReplicatedBatch`]'s
/// `logged`).
async fn apply(
    repl: &Arc<Replication>,
    engine: &Arc<Engine>,
    generation: u64,
    records: Vec<(u8, Bytes)>,
    reset_first: bool,
) -> Result<Option<Vec<u64>>, String> {
    let (repl2, engine2) = (repl.clone(), engine.clone());
    let durability = tokio::task::spawn_blocking(move || {
        let gate = repl2.apply_gate.lock();
        if *gate != generation {
            return Ok(None);
        }
        let mut wait = None;
        if reset_first {
            wait = Some(engine2.replica_reset()?);
        }
        let batch = engine2.apply_replicated(records.iter().map(|(k, p)| (*k, &p[..])))?;
        drop(gate);
        let durability = match wait {
            Some(w) => w.join(batch.durability),
            None => batch.durability,
        };
        Ok::<_, crate::Error>(Some((durability, batch.logged)))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("applying the master's records failed: {e}"))?;
    match durability {
        None => Ok(None),
        Some((d, logged)) => {
            d.await
                .map_err(|e| format!("this replica's log failed: {e}"))?;
            Ok(Some(logged))
        }
    }
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// One connection to the master: handshake, then apply until it fails. `Ok(())` when
/// REPLICAOF changed (stop following).
async fn session(
    repl: &Arc<Replication>,
    engine: &Arc<Engine>,
    host: &str,
    port: u16,
    generation: u64,
    started: std::time::Instant,
) -> Result<(), String> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect((host, port)))
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(64 << 10);
    if let Some(pass) = &repl.masterauth {
        command(&mut stream, &mut buf, &[b"AUTH", pass.as_bytes()]).await?;
    }
    let my_port = repl.listening_port.load(Ordering::Relaxed).to_string();
    command(
        &mut stream,
        &mut buf,
        &[b"REPLCONF", b"listening-port", my_port.as_bytes()],
    )
    .await?;
    // Continue from what this node applied of that master's history, if it knows it.
    let (replid, offset) = {
        let known = repl.master_replid.lock().clone();
        if !known.is_empty() {
            (known, repl.offset.load(Ordering::SeqCst).to_string())
        } else {
            match repl.load_position() {
                Some((id, off)) => (id, off.to_string()),
                None => ("?".to_string(), "-1".to_string()),
            }
        }
    };
    let line = command(
        &mut stream,
        &mut buf,
        &[b"SUTRA.PSYNC", replid.as_bytes(), offset.as_bytes()],
    )
    .await?;
    let words: Vec<&str> = line.trim_start_matches('+').split(' ').collect();
    let mut applied: u64;
    let master_replid: String;
    match words.as_slice() {
        ["CONTINUE", id, rest @ ..] => {
            master_replid = id.to_string();
            let asked: u64 = offset.parse().unwrap_or(0);
            // The master's offset for it: another when it continues this history as its
            // former one (a promoted replica, a master restarted after a crash).
            applied = match rest {
                [] => asked,
                [own] => parse_u64(own.as_bytes()).ok_or("bad CONTINUE offset")?,
                _ => return Err(format!("unexpected reply to SUTRA.PSYNC: {line}")),
            };
            if *id != replid || applied != asked {
                repl.clear_map();
                repl.save_position(&master_replid, applied);
            }
            tracing::info!(master = %format!("{host}:{port}"), asked, offset = applied, "continuing from the offset");
        }
        ["FULLRESYNC", id, base] => {
            let base = parse_u64(base.as_bytes()).ok_or("bad FULLRESYNC offset")?;
            master_replid = id.to_string();
            repl.set_state(generation, LinkState::Sync, since(started));
            tracing::info!(master = %format!("{host}:{port}"), offset = base, "full copy from the master");
            // A crash during the copy must not resume from the old position.
            repl.forget_position();
            repl.master_replid.lock().clear();
            let mut first = true;
            let mut batch: Vec<(u8, Bytes)> = Vec::new();
            loop {
                let f = next_frame(&mut stream, &mut buf).await?;
                let end = f[0].eq_ignore_ascii_case(b"IMGEND");
                if !end {
                    if f.len() != 3 || !f[0].eq_ignore_ascii_case(b"IMG") {
                        return Err("expected IMG or IMGEND during the full copy".into());
                    }
                    let kind = parse_u64(&f[1])
                        .and_then(|k| u8::try_from(k).ok())
                        .ok_or("bad record kind")?;
                    batch.push((kind, f[2].clone()));
                }
                if end || batch.len() >= BATCH_RECORDS || (buf.is_empty() && !batch.is_empty()) {
                    let b = std::mem::take(&mut batch);
                    if apply(repl, engine, generation, b, first).await?.is_none() {
                        return Ok(());
                    }
                    first = false;
                }
                if end {
                    break;
                }
            }
            if first
                && apply(repl, engine, generation, Vec::new(), true)
                    .await?
                    .is_none()
            {
                return Ok(());
            }
            applied = base;
            repl.clear_map();
            repl.save_position(&master_replid, applied);
        }
        _ => return Err(format!("unexpected reply to SUTRA.PSYNC: {line}")),
    }
    *repl.master_replid.lock() = master_replid.clone();
    // Everything applied so far is in this node's log up to its last LSN (records applied
    // again after a restart are logged again, after it).
    repl.map_offset(applied, engine.last_lsn(), engine);
    repl.offset.store(applied, Ordering::SeqCst);
    repl.set_state(generation, LinkState::Connected, since(started));
    let ack = |n: u64| {
        let mut out = Vec::new();
        frame(&mut out, &[b"REPLCONF", b"ACK", n.to_string().as_bytes()]);
        out
    };
    stream
        .write_all(&ack(applied))
        .await
        .map_err(|e| e.to_string())?;
    let mut last_save = std::time::Instant::now();
    let mut saved = applied;
    loop {
        let mut batch: Vec<(u8, Bytes)> = Vec::new();
        let mut lsns: Vec<u64> = Vec::new();
        let mut last = applied;
        loop {
            let f = next_frame(&mut stream, &mut buf).await?;
            if f[0].eq_ignore_ascii_case(b"REC") && f.len() == 4 {
                let lsn = parse_u64(&f[1]).ok_or("bad record LSN")?;
                let kind = parse_u64(&f[2])
                    .and_then(|k| u8::try_from(k).ok())
                    .ok_or("bad record kind")?;
                if lsn <= last {
                    continue; // already applied
                }
                if lsn != last + 1 {
                    return Err(format!("the master skipped from LSN {last} to {lsn}"));
                }
                last = lsn;
                lsns.push(lsn);
                batch.push((kind, f[3].clone()));
            } else if !f[0].eq_ignore_ascii_case(b"PING") {
                return Err(format!(
                    "unexpected frame {}",
                    String::from_utf8_lossy(&f[0])
                ));
            }
            repl.set_state(generation, LinkState::Connected, since(started));
            // Everything already received goes in one batch.
            if batch.len() >= BATCH_RECORDS || buf.is_empty() {
                break;
            }
        }
        if !batch.is_empty() {
            let Some(logged) = apply(repl, engine, generation, batch, false).await? else {
                return Ok(());
            };
            for (&m, &own) in lsns.iter().zip(&logged) {
                repl.map_offset(m, own, engine);
            }
            applied = last;
            repl.offset.store(applied, Ordering::SeqCst);
            stream
                .write_all(&ack(applied))
                .await
                .map_err(|e| e.to_string())?;
        }
        if saved != applied && last_save.elapsed() >= SAVE_EVERY {
            repl.save_position(&master_replid, applied);
            saved = applied;
            last_save = std::time::Instant::now();
        }
    }
}
