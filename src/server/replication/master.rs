//! The master's side of one replica's connection, after its `SUTRA.PSYNC replid offset`.
//!
//! The reply is `+CONTINUE <replid> <offset>` when the replica's history is this master's
//! (same replication id) or the former one it continues (`master_replid2`, up to its end)
//! and the backlog still holds the records after its offset (translated to this master's
//! LSNs for the former history: the offset in the reply); otherwise
//! `+FULLRESYNC <replid> <offset>`, then the full copy as `IMG kind payload` frames, then
//! `IMGEND offset`. From then on every record of the log as `REC lsn kind payload`, and
//! `PING` once a second when there is nothing to send. Frames are RESP arrays of bulk
//! strings. The replica sends `REPLCONF ACK offset` on the same connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::ReplicaLink;
use crate::server::frame::{self, FrameLimits};
use crate::server::shared::Shared;
use crate::wal::TailRead;
use crate::ImageCursor;

/// Bytes of records read from the backlog per write.
const STREAM_BYTES: usize = 1 << 20;
/// Bytes of a full copy's piece (read under one shard's read lock).
const IMAGE_PIECE_BYTES: usize = 4 << 20;
/// A heartbeat when nothing was sent for this long.
const PING_EVERY: Duration = Duration::from_secs(1);

/// Appends one frame (a RESP array of bulk strings) to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, parts: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", parts.len()).as_bytes());
    for p in parts {
        out.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
}

/// Removes the replica from the master's list when its connection ends.
struct Listed<'a> {
    shared: &'a Shared,
    link: Arc<ReplicaLink>,
}

impl Drop for Listed<'_> {
    fn drop(&mut self) {
        self.shared
            .repl
            .replicas
            .lock()
            .retain(|r| !Arc::ptr_eq(r, &self.link));
        self.shared.repl.acked.notify_waiters();
    }
}

/// Serves a replica on `stream` until it leaves or falls behind the backlog. `buf` holds
/// what the connection read past the PSYNC request.
pub(crate) async fn serve(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    shared: &Arc<Shared>,
    client: &crate::server::cmd::Client,
    buf: &mut BytesMut,
    replid: String,
    offset: i64,
) {
    let repl = &shared.repl;
    let engine = shared.engine.clone();
    let backlog = match engine.replication_backlog(repl.backlog_bytes) {
        Ok(b) => b,
        Err(e) => {
            let _ = stream.write_all(format!("-ERR {e}\r\n").as_bytes()).await;
            return;
        }
    };
    let ip = client
        .info
        .addr
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']').to_string())
        .unwrap_or_default();
    let link = Arc::new(ReplicaLink {
        ip,
        port: client.repl_listening_port,
        ack: std::sync::atomic::AtomicU64::new(0),
        online: std::sync::atomic::AtomicBool::new(false),
        last_ack_ms: std::sync::atomic::AtomicU64::new(shared.since_start_ms()),
    });
    repl.replicas.lock().push(link.clone());
    let _listed = Listed {
        shared,
        link: link.clone(),
    };
    repl.serving_replicas();
    let my_replid = repl.replid();
    let mut next;
    if let Some(own) = repl.continuation(&replid, offset, &backlog) {
        repl.partial_syncs_ok.fetch_add(1, Ordering::Relaxed);
        // The offset is this node's: the replica's own when it followed this history, the
        // matching LSN when it followed the former one (it continues in this one).
        if stream
            .write_all(format!("+CONTINUE {my_replid} {own}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
        next = own + 1;
        link.ack.store(own, Ordering::SeqCst);
        tracing::info!(replica = %client.info.addr, asked = offset, from = next, "partial resync");
    } else {
        if replid != "?" {
            repl.partial_syncs_err.fetch_add(1, Ordering::Relaxed);
        }
        repl.full_syncs.fetch_add(1, Ordering::Relaxed);
        // Every record from `start` on is in the backlog; the copy starts after this, so
        // the copy plus those records is the master's state.
        let start = backlog.next_lsn();
        let base = start - 1;
        tracing::info!(replica = %client.info.addr, offset = base, "full resync");
        if stream
            .write_all(format!("+FULLRESYNC {my_replid} {base}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
        let mut cursor = ImageCursor::default();
        let mut out = Vec::new();
        while !cursor.done() {
            let e = engine.clone();
            let Ok((piece, c)) = tokio::task::spawn_blocking(move || {
                let piece = e.image_piece(&mut cursor, IMAGE_PIECE_BYTES);
                (piece, cursor)
            })
            .await
            else {
                return;
            };
            cursor = c;
            out.clear();
            for (kind, payload) in &piece {
                frame(&mut out, &[b"IMG", kind.to_string().as_bytes(), payload]);
            }
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
        out.clear();
        frame(&mut out, &[b"IMGEND", base.to_string().as_bytes()]);
        if stream.write_all(&out).await.is_err() {
            return;
        }
        next = start;
    }
    link.online.store(true, Ordering::Relaxed);
    let limits = FrameLimits::default();
    // The check of a request arriving in pieces resumes where the last read left it.
    let mut scratch = frame::Scratch::default();
    let mut out = Vec::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let closed = repl.closed.notified();
        if repl.closing.load(Ordering::SeqCst) {
            return;
        }
        tokio::select! {
            () = closed => return,
            read = stream.read_buf(buf) => {
                match read {
                    Ok(n) if n > 0 => {}
                    _ => return,
                }
                loop {
                    match frame::parse_into(buf, &limits, true, &mut scratch) {
                        Ok(Some(())) if scratch.args.is_empty() => continue,
                        Ok(Some(())) => {
                            let args = &scratch.args;
                            if args.len() == 3
                                && args[0].eq_ignore_ascii_case(b"replconf")
                                && args[1].eq_ignore_ascii_case(b"ack")
                            {
                                if let Some(n) = frame::parse_i64(&args[2]).filter(|&n| n >= 0) {
                                    link.ack.fetch_max(n as u64, Ordering::SeqCst);
                                    link.last_ack_ms.store(shared.since_start_ms(), Ordering::Relaxed);
                                    repl.acked.notify_waiters();
                                }
                            }
                        }
                        Ok(None) => break,
                        Err(_) => return,
                    }
                }
            }
            () = backlog.changed(next) => {
                match backlog.read_from(next, STREAM_BYTES) {
                    TailRead::Records(records) => {
                        out.clear();
                        for r in &records {
                            frame(&mut out, &[
                                b"REC",
                                r.lsn.to_string().as_bytes(),
                                r.kind.to_string().as_bytes(),
                                &r.payload,
                            ]);
                            next = r.lsn + 1;
                        }
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                    TailRead::Gone { first_kept } => {
                        tracing::warn!(
                            replica = %client.info.addr,
                            needed = next,
                            first_kept,
                            "replica fell behind the backlog (repl-backlog-size): dropping it; \
                             it will copy everything again"
                        );
                        return;
                    }
                }
                ping.reset();
            }
            _ = ping.tick() => {
                out.clear();
                frame(&mut out, &[b"PING"]);
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
    }
}
