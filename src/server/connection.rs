//! One client connection: buffered reads, every complete request executed in order,
//! replies flushed once per batch (pipelining), limits enforced, HTTP handed off.
//!
//! A client that does not read its replies is read on, as Redis reads it: while the socket
//! takes no more of the pending replies, what the client sends is still read and executed,
//! and its replies queue behind; when the queued replies pass `client-output-buffer-limit`
//! the connection is closed (INFO's `client_output_buffer_limit_disconnections`). A client
//! that reads is paced by the socket: a flush waits for it unless new input arrives.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::clients::ClientInfo;
use super::cmd::{self, Client};
use super::frame;
use super::http;
use super::reply::Out;
use super::shared::Shared;
use super::stream::ClientStream;
use super::tracking::{Push, INVALIDATE_CHANNEL, PUSH_QUEUE};

mod batch;
use batch::{run_batch, Batch, Unacked};

/// Replies are written out mid-batch once this many bytes are pending.
const FLUSH_BYTES: usize = 64 << 10;
/// Reads taken without waiting, while writes await their acknowledgement, before it is
/// awaited (bounds how long a streaming client's replies are held back).
const MORE_READS: usize = 16;
/// Initial read buffer, and the size of the fresh buffer that replaces one given back.
const READ_BUF_BYTES: usize = 16 << 10;
/// The most a drained read or reply buffer keeps between requests: one that grew past it (a
/// request or reply larger than a pipeline's batch) is given back for a fresh
/// [`READ_BUF_BYTES`] one. Up to it, the buffer is kept: a pipelined client's batches (whose
/// replies are written out at [`FLUSH_BYTES`]) reuse it instead of growing a fresh buffer by
/// copying at every batch (giving back everything past 16 KiB doubled a GET's instructions at
/// 16 requests a batch).
const KEEP_BUF_BYTES: usize = FLUSH_BYTES;

/// The answer to a TLS handshake on the plain port.
const TLS_ON_PLAIN_PORT: &str =
    "ERR Protocol error: a TLS handshake on the plain port (use the TLS port, --tls-port)";

/// Whether buffered input starts a TLS record: a handshake (content type 0x16) of TLS 1.0 to
/// 1.3 (version 3.x). `None` while only its first byte arrived. No RESP request or inline
/// command starts with byte 0x16.
fn looks_like_tls(buf: &[u8]) -> Option<bool> {
    match buf {
        [0x16] => None,
        [0x16, 0x03, ..] => Some(true),
        _ => Some(false),
    }
}

enum Flow {
    Continue,
    Close,
}

/// Serves one client until it leaves, breaks the protocol, idles out or the server stops.
/// `stream`: a TCP stream (the caller has set TCP_NODELAY) or a TLS session over one.
pub async fn serve<S: ClientStream>(
    stream: S,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let now = shared.since_start_ms();
    let addr =
        |a: std::io::Result<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let (push_tx, mut pushes) = mpsc::channel(PUSH_QUEUE);
    let info = Arc::new(ClientInfo {
        id: shared.stats.next_client_id.fetch_add(1, Relaxed) + 1,
        addr: addr(stream.peer_addr()),
        laddr: addr(stream.local_addr()),
        created_ms: now,
        active_ms: now.into(),
        resp: 2.into(),
        push: Some(push_tx),
        ..ClientInfo::default()
    });
    let _listed = shared.clients.register(info.clone());
    tracing::debug!(client = info.id, addr = %info.addr, "client connected");
    let mut client = Client {
        info,
        authenticated: shared.acl.open_by_default(),
        ..Client::default()
    };
    serve_client(stream, &shared, shutdown, &mut client, &mut pushes).await;
    cmd::unwatch_all(&shared, &mut client);
    cmd::leave(&shared, &mut client);
    tracing::debug!(client = client.info.id, "client left");
}

async fn serve_client<S: ClientStream>(
    mut stream: S,
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    client: &mut Client,
    pushes: &mut mpsc::Receiver<Push>,
) {
    let mut out = Out::default();
    let mut buf = BytesMut::with_capacity(READ_BUF_BYTES);
    let mut decided = false;
    // Where the search for the first line's end (HTTP or RESP?) resumes.
    let mut first_line_scanned = 0;
    // The last interaction (a request read or a push written): `timeout` counts from it.
    let mut last = tokio::time::Instant::now();
    let query_limit =
        usize::try_from(shared.config.client_query_buffer_limit).unwrap_or(usize::MAX);
    let info = client.info.clone();
    // Input read while replies were still pending (see `write_or_read`): run it first.
    let mut have_input = false;
    // Everything that ends or changes the wait for a request wakes this one signal
    // (`ClientInfo::wake`): a shutdown, CLIENT KILL, CONFIG SET timeout, a push queued. It is
    // armed once, not at every read (arming a `Notified` takes its waiter list's lock, and so
    // does dropping it armed), and it is the one future polled beside the socket while the
    // connection waits. What woke it is looked at after: the shutdown and the kill at the
    // loop's top (where a client whose requests never stop coming is stopped too), the
    // pushes by draining their channel, the timeout when the wait starts again.
    let woken = info.wake.notified();
    tokio::pin!(woken);
    let mut batch = Batch {
        out_limit: usize::try_from(shared.config.client_output_buffer_limit).unwrap_or(usize::MAX),
        flush_at: FLUSH_BYTES,
        executed: 0,
        unacked: Unacked::default(),
        multi_thread: tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread),
        scratch: frame::Scratch::default(),
    };
    loop {
        // Only `true` is ever sent; a dropped sender is a server gone too.
        if shutdown.has_changed().unwrap_or(true) {
            // The replies written last are out before the stream is dropped (a stream that
            // buffers them — TLS, io_uring — sends them at the flush).
            let _ = stream.flush().await;
            return;
        }
        if info.killed.load(Relaxed) {
            return;
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_BUF_BYTES);
        }
        let spare = buf.capacity() - buf.len();
        let idle = shared.live.idle_timeout();
        let n = if std::mem::take(&mut have_input) {
            0
        } else {
            let read = async {
                match idle {
                    Some(t) => tokio::time::timeout_at(last + t, stream.read_buf(&mut buf))
                        .await
                        .ok(),
                    None => Some(stream.read_buf(&mut buf).await),
                }
            };
            // The read first: when a request is already there, nothing else is polled.
            let n = tokio::select! {
                biased;
                r = read => match r {
                    Some(Ok(n)) if n > 0 => Some(n),
                    _ => return, // closed, failed or idle
                },
                _ = &mut woken => None,
            };
            let Some(n) = n else {
                woken.set(info.wake.notified());
                // Invalidations and messages for a connection waiting for its next request.
                drain_pushes(pushes, client, &mut out);
                if !out.buf.is_empty() {
                    if stream.write_all(&out.buf).await.is_err() {
                        return;
                    }
                    shared
                        .stats
                        .net_output_bytes
                        .fetch_add(out.buf.len() as u64, Relaxed);
                    out.buf.clear();
                    last = tokio::time::Instant::now();
                }
                // A kill or a shutdown ends it at the top; a new timeout applies from there.
                continue;
            };
            n
        };
        last = tokio::time::Instant::now();
        // One clock read for both (`last` is the same instant as `shared.started`'s clock).
        let active = last.into_std().saturating_duration_since(shared.started);
        info.active_ms.store(active.as_millis() as u64, Relaxed);
        // The first command of what was read is timed from here.
        client.clock = Some(last.into_std());
        shared.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
        if !decided {
            match looks_like_tls(&buf) {
                None => continue,
                Some(true) => {
                    // Its binary bytes would be read as inline commands, waiting for a
                    // newline that may never come: say what is wrong and close.
                    shared.stats.protocol_errors.fetch_add(1, Relaxed);
                    tracing::warn!(
                        client = client.info.id,
                        "TLS handshake on the plain port: closing"
                    );
                    out.error(TLS_ON_PLAIN_PORT);
                    if stream.write_all(&out.buf).await.is_ok() {
                        let _ = stream.flush().await;
                    }
                    return;
                }
                Some(false) => {}
            }
            match http::looks_like_http_resuming(&buf, &mut first_line_scanned) {
                None => continue,
                Some(true) => return http::serve(stream, buf, shared).await,
                Some(false) => decided = true,
            }
        }
        let mut more = 0;
        // The read filled the buffer: more of the pipeline is probably waiting.
        let mut filled = n == spare;
        let flow = loop {
            let flow = run_batch(&mut stream, shared, client, &mut out, &mut buf, &mut batch).await;
            // Writes wait for their acknowledgement: when more of the pipeline has already
            // arrived (the read filled the buffer, or ended inside a request), it runs first
            // and shares it: a pipeline longer than one read costs one group commit, not one
            // per read.
            if !matches!(flow, Flow::Continue)
                || batch.unacked.wait.is_none()
                || (!filled && buf.is_empty())
                || more >= MORE_READS
                || buf.len() > query_limit
            {
                break flow;
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(READ_BUF_BYTES);
            }
            let spare = buf.capacity() - buf.len();
            match stream.try_read_buf(&mut buf) {
                Ok(n) if n > 0 => {
                    shared.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                    filled = n == spare;
                    more += 1;
                }
                _ => break flow, // nothing more yet, or closed (the next read says so)
            }
        };
        batch.unacked.settle(shared, &mut out).await;
        // Pushes queued meanwhile follow the batch's replies (as Redis sends a client's own
        // invalidations after the reply of the command that caused them). Looked for only
        // when one was queued since the last look (`ClientInfo::pushed`; one missed here
        // is drained when the wake it also sent is seen).
        if info.pushed.load(Relaxed) {
            drain_pushes(pushes, client, &mut out);
        }
        if matches!(flow, Flow::Close) {
            // The last replies (QUIT's, a protocol error's) go out, then the connection ends.
            if !out.buf.is_empty() && stream.write_all(&out.buf).await.is_ok() {
                shared
                    .stats
                    .net_output_bytes
                    .fetch_add(out.buf.len() as u64, Relaxed);
                let _ = stream.flush().await;
            }
            return;
        }
        match write_or_read(&mut stream, shared, &mut out.buf, &mut buf).await {
            Flushed::Drained => {}
            // The client sent more while its replies waited: it runs next, its replies queue.
            Flushed::Input => have_input = true,
            Flushed::Failed => return,
        }
        // An idle connection does not keep the memory of its largest request or reply (as
        // Redis trims idle query buffers and frees its reply list once written): each
        // connection's buffers stay within 2 × KEEP_BUF_BYTES while it waits.
        shrink_drained(&mut out.buf);
        shrink_drained(&mut buf);
        if buf.len() > query_limit {
            // Redis closes a client past client-query-buffer-limit without a reply.
            shared.stats.protocol_errors.fetch_add(1, Relaxed);
            shared
                .stats
                .query_buffer_limit_disconnections
                .fetch_add(1, Relaxed);
            tracing::warn!(
                client = client.info.id,
                bytes = buf.len(),
                "closing client over the query buffer limit"
            );
            return;
        }
    }
}

/// Gives back an empty buffer's memory when it grew past [`KEEP_BUF_BYTES`], for a fresh
/// buffer of [`READ_BUF_BYTES`]. `capacity()` counts only from the buffer's read position on,
/// so it can understate the allocation after the requests read from it; a reclaim without
/// allocating (which moves an empty buffer's position back to the allocation's start)
/// succeeds for more than `KEEP_BUF_BYTES` exactly when the allocation holds more.
fn shrink_drained(buf: &mut BytesMut) {
    if buf.is_empty() && buf.try_reclaim(KEEP_BUF_BYTES + 1) {
        *buf = BytesMut::with_capacity(READ_BUF_BYTES);
    }
}

/// How [`write_or_read`] ended.
enum Flushed {
    /// Every pending reply was written.
    Drained,
    /// The client sent more (appended to the input buffer) while replies were still pending.
    Input,
    /// The connection failed.
    Failed,
}

/// Writes the pending replies `out`, waiting for the socket as long as the client sends
/// nothing; input that arrives meanwhile is read into `buf` and returned at once (`Input`),
/// so the caller executes it and its replies queue behind the pending ones — a client that
/// does not read its replies is not paced into silence but read on, and its queued replies
/// reach the output-buffer limit. At the end of the client's input (it shut its side), the
/// replies are still written.
async fn write_or_read<S: ClientStream>(
    stream: &mut S,
    shared: &Shared,
    out: &mut BytesMut,
    buf: &mut BytesMut,
) -> Flushed {
    /// One step of the wait.
    enum Io {
        Wrote(usize),
        Read(usize),
        End,
        Failed,
    }
    let mut reading = true;
    while !out.is_empty() {
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(READ_BUF_BYTES);
        }
        let step = std::future::poll_fn(|cx| {
            match Pin::new(&mut *stream).poll_write(cx, &out[..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Io::Failed),
                Poll::Ready(Ok(n)) => return Poll::Ready(Io::Wrote(n)),
                Poll::Pending => {}
            }
            if reading {
                // A read that is not ready has taken nothing: dropping it loses nothing.
                let read = std::pin::pin!(stream.read_buf(&mut *buf));
                match read.poll(cx) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Io::End),
                    Poll::Ready(Ok(n)) => return Poll::Ready(Io::Read(n)),
                    Poll::Ready(Err(_)) => return Poll::Ready(Io::Failed),
                    Poll::Pending => {}
                }
            }
            Poll::Pending
        })
        .await;
        match step {
            Io::Wrote(n) => {
                shared.stats.net_output_bytes.fetch_add(n as u64, Relaxed);
                out.advance(n);
            }
            Io::Read(n) => {
                shared.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                return Flushed::Input;
            }
            // The client shut its side: write what it asked for, read no more.
            Io::End => reading = false,
            Io::Failed => return Flushed::Failed,
        }
    }
    out.clear();
    Flushed::Drained
}

/// Appends one push to the replies, as this connection's protocol writes it.
fn encode_push(push: &Push, client: &Client, out: &mut Out) {
    let subscribed = client.subscriptions.contains(INVALIDATE_CHANNEL);
    push.encode(&mut out.buf, out.resp3, subscribed);
}

/// Appends every push already queued.
fn drain_pushes(pushes: &mut mpsc::Receiver<Push>, client: &Client, out: &mut Out) {
    // Cleared before the channel is read: a push queued after the read sets it again.
    client.info.pushed.store(false, Relaxed);
    while let Ok(p) = pushes.try_recv() {
        encode_push(&p, client, out);
    }
}
