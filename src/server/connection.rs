//! One client connection: buffered reads, every complete request executed in order,
//! replies flushed once per batch (pipelining), limits enforced, HTTP handed off.
//!
//! A client that does not read its replies is read on, as Redis reads it: while the socket
//! takes no more of the pending replies, what the client sends is still read and executed,
//! and its replies queue behind; when the queued replies pass `client-output-buffer-limit`
//! the connection is closed (INFO's `client_output_buffer_limit_disconnections`). A client
//! that reads is paced by the socket: a flush waits for it unless new input arrives.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::clients::ClientInfo;
use super::cmd::{self, After, Client};
use super::config::WriteOffload;
use super::frame;
use super::http;
use super::reply::Out;
use super::shared::Shared;
use super::stream::ClientStream;
use super::tracking::{self, Push, INVALIDATE_CHANNEL, PUSH_QUEUE};
use crate::{Durability, Writer};

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
        if shutdown.has_changed().unwrap_or(true) || info.killed.load(Relaxed) {
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
                    let _ = stream.write_all(&out.buf).await;
                    return;
                }
                Some(false) => {}
            }
            match http::looks_like_http(&buf) {
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

/// Runs one command, turning a panic into an `Err`. `gate_held`: the caller holds the
/// transaction gate's shared mode (else the command takes it). `writer`: where its writes'
/// acknowledgement goes (deferred durability); `None`: they are awaited here, blocking,
/// and a write the log refused is answered with the error, as the blocking call would.
fn run_one(
    shared: &Shared,
    client: &mut Client,
    out: &mut Out,
    (args, spec): (&[bytes::Bytes], Option<&'static cmd::Spec>),
    gate_held: bool,
    writer: Option<&Writer<'_>>,
) -> std::thread::Result<After> {
    let Some(w) = writer else {
        let before = out.buf.len();
        let (after, durable) = shared.engine.deferring_durability(|w| {
            run_one(shared, client, out, (args, spec), gate_held, Some(w))
        });
        if let Err(e) = durable.wait() {
            refuse_write(shared, out, before, e);
        }
        return after;
    };
    catch_unwind(AssertUnwindSafe(|| {
        if client.tracking.on {
            // So that a NOLOOP client's own writes are known as its own.
            tracking::as_client(client.info.id, || {
                cmd::execute_found(shared, client, out, args, spec, gate_held, w)
            })
        } else {
            cmd::execute_found(shared, client, out, args, spec, gate_held, w)
        }
    }))
}

/// Replaces the reply written from `before` on by the error of a write the log refused.
fn refuse_write(shared: &Shared, out: &mut Out, before: usize, e: crate::Error) {
    out.buf.truncate(before);
    let msg = cmd::CmdError::from(e).0;
    shared.stats.error_reply(&msg, 1);
    out.error(&msg);
}

/// Whether a command can hold its thread for long (see [`cmd::may_block`]); EXEC when a
/// queued command can.
fn long(spec: Option<&cmd::Spec>, client: &Client) -> bool {
    match spec {
        Some(s) if s.name == "exec" => client.multi.as_ref().is_some_and(|q| q.may_block()),
        Some(s) => cmd::may_block(s) && client.multi.is_none(),
        None => false,
    }
}

/// Runs one command on tokio's blocking pool, lending it the client state and the reply
/// buffer; the connection's task waits without holding a worker. Long commands (a search, a
/// scan of a big set: [`long`]) run so, and so do durable writes under
/// `--write-offload spawn-blocking`.
async fn offloaded(
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Out,
    (args, spec): (Vec<bytes::Bytes>, Option<&'static cmd::Spec>),
) -> std::thread::Result<After> {
    let sh = shared.clone();
    let mut c = std::mem::take(client);
    let mut o = std::mem::take(out);
    let joined = tokio::task::spawn_blocking(move || {
        let r = run_one(&sh, &mut c, &mut o, (&args[..], spec), false, None);
        (r, c, o)
    })
    .await;
    match joined {
        Ok((r, c, o)) => {
            *client = c;
            *out = o;
            r
        }
        // The pool is shutting down (or the task panicked outside `run_one`): the
        // client state is gone, so this connection ends.
        Err(e) => {
            tracing::warn!(error = %e, "an offloaded command did not complete");
            client.close_after_reply = true;
            Ok(After::Close)
        }
    }
}

/// Replies to writes whose durability is still awaited (deferred durability): the batch's
/// writes are covered by one wait, for the highest LSN among them, settled before any reply
/// leaves — a pipeline of N durable writes costs one group commit instead of N.
#[derive(Default)]
struct Unacked {
    wait: Option<Durability>,
    /// Byte ranges in the reply buffer of the replies to the writes `wait` covers.
    spans: Vec<(usize, usize)>,
}

impl Unacked {
    fn add(&mut self, durable: Durability, span: (usize, usize)) {
        self.wait = Some(match self.wait.take() {
            Some(w) => w.join(durable),
            None => durable,
        });
        self.spans.push(span);
    }

    /// Awaits the writes; if they failed, each of their replies becomes the error (as the
    /// blocking call would have answered). Replies to commands that did not write stand.
    async fn settle(&mut self, shared: &Shared, out: &mut Out) {
        let Some(wait) = self.wait.take() else {
            return;
        };
        let spans = std::mem::take(&mut self.spans);
        if let Err(e) = wait.await {
            let mut err = Out {
                resp3: out.resp3,
                ..Out::default()
            };
            let msg = cmd::CmdError::from(e).0;
            err.error(&msg);
            let old = std::mem::take(&mut out.buf);
            let mut new = BytesMut::with_capacity(old.len() + spans.len() * err.buf.len());
            let mut at = 0;
            for &(start, end) in &spans {
                new.extend_from_slice(&old[at..start]);
                new.extend_from_slice(&err.buf);
                at = end;
            }
            new.extend_from_slice(&old[at..]);
            out.buf = new;
            shared.stats.error_reply(&msg, spans.len() as u64);
        }
    }

    fn discard(&mut self) {
        self.wait = None;
        self.spans.clear();
    }
}

/// Executes every complete request in `buf`, leaving replies in `out` (flushing it to the
/// socket whenever it grows past [`FLUSH_BYTES`]). Replies to writes whose acknowledgement is
/// still awaited are recorded in `batch.unacked`: nothing in `out` may be sent before
/// [`Unacked::settle`].
async fn run_batch<S: ClientStream>(
    stream: &mut S,
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Out,
    buf: &mut BytesMut,
    batch: &mut Batch,
) -> Flow {
    batch.flush_at = FLUSH_BYTES.max(out.buf.len() + FLUSH_BYTES / 2);
    batch.executed = 0;
    let flow = run_batch_inner(stream, shared, client, out, buf, batch).await;
    batch.scratch.clear();
    // Counted per batch, not per command: one shared atomic add per read.
    shared
        .stats
        .total_commands
        .fetch_add(batch.executed, Relaxed);
    flow
}

/// What [`run_batch`] works with, kept by the connection from one batch to the next.
struct Batch {
    out_limit: usize,
    /// Pending reply bytes at which the socket is tried (FLUSH_BYTES, or further on when the
    /// client sent more while its replies waited).
    flush_at: usize,
    /// Commands run in this batch.
    executed: u64,
    /// Replies to writes still awaiting their acknowledgement (settled before any reply
    /// leaves, and so before the next read).
    unacked: Unacked,
    /// The connection runs on a multi-thread runtime (`block_in_place` and the blocking
    /// pool's hand-off apply).
    multi_thread: bool,
    /// The parser's reused lists.
    scratch: frame::Scratch,
}

async fn run_batch_inner<S: ClientStream>(
    stream: &mut S,
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Out,
    buf: &mut BytesMut,
    batch: &mut Batch,
) -> Flow {
    loop {
        let after = match run_ready(shared, client, out, buf, batch) {
            Step::Done(flow) => return flow,
            Step::Flush => {
                batch.unacked.settle(shared, out).await;
                match write_or_read(stream, shared, &mut out.buf, buf).await {
                    Flushed::Drained => batch.flush_at = FLUSH_BYTES,
                    // More input while replies wait: go on executing, and try the socket
                    // again after another FLUSH_BYTES of replies (the limit bounds them).
                    Flushed::Input => batch.flush_at = out.buf.len() + FLUSH_BYTES,
                    Flushed::Failed => {
                        out.buf.clear();
                        return Flow::Close;
                    }
                }
                continue;
            }
            Step::Offload(args, spec) => offloaded(shared, client, out, (args, spec)).await,
            Step::Deferred => {
                if let Some(flow) = deferred(stream, shared, client, out, buf, batch).await {
                    return flow;
                }
                continue;
            }
        };
        // Over FLUSH_BYTES, the next `run_ready` asks for the flush first.
        if let Some(flow) = after_command(shared, client, out, batch, after) {
            return flow;
        }
        if client.deferred.is_some() {
            if let Some(flow) = deferred(stream, shared, client, out, buf, batch).await {
                return flow;
            }
        }
    }
}

/// Does what the last command left to its connection ([`cmd::Deferred`]), once the replies
/// before it are acknowledged: WAIT's wait, or the hand-over to a replica's stream. `Some`
/// ends the connection.
async fn deferred<S: ClientStream>(
    stream: &mut S,
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Out,
    buf: &mut BytesMut,
    batch: &mut Batch,
) -> Option<Flow> {
    let what = client.deferred.take()?;
    batch.unacked.settle(shared, out).await;
    match what {
        cmd::Deferred::Wait {
            replicas,
            offset,
            timeout_ms,
        } => {
            let timeout = (timeout_ms > 0).then(|| std::time::Duration::from_millis(timeout_ms));
            let n = shared.repl.wait_for_acks(replicas, offset, timeout).await;
            out.int(n as i64);
            None
        }
        cmd::Deferred::Pause(delay) => {
            // A failed AUTH after several (rate limiting): the reply waits.
            tokio::time::sleep(delay).await;
            None
        }
        cmd::Deferred::Psync { replid, offset } => {
            if !out.buf.is_empty() {
                if stream.write_all(&out.buf).await.is_err() {
                    return Some(Flow::Close);
                }
                out.buf.clear();
            }
            super::replication::master::serve(stream, shared, client, buf, replid, offset).await;
            buf.clear();
            Some(Flow::Close)
        }
    }
}

/// Where [`run_ready`] stopped.
enum Step {
    /// The buffer holds no complete request (`Continue`), or the connection ends.
    Done(Flow),
    /// The pending replies are over [`FLUSH_BYTES`]: write them out, then go on.
    Flush,
    /// This command is to run on the blocking pool (a long one, or a durable write under
    /// `--write-offload spawn-blocking`).
    Offload(Vec<bytes::Bytes>, Option<&'static cmd::Spec>),
    /// The command left work to the connection ([`cmd::Deferred`]).
    Deferred,
}

/// Runs the buffered requests that need no await, holding the transaction gate's shared
/// mode once for the whole run rather than once per command (EXEC, which takes it
/// exclusively, runs with it released).
fn run_ready(
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Out,
    buf: &mut BytesMut,
    batch: &mut Batch,
) -> Step {
    let step = run_ready_inner(shared, client, out, buf, batch);
    // Whatever comes next may wait: the next command's timing starts from a fresh reading.
    client.clock = None;
    step
}

fn run_ready_inner(
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Out,
    buf: &mut BytesMut,
    batch: &mut Batch,
) -> Step {
    let multi_thread = batch.multi_thread;
    let mut gate = None;
    loop {
        if out.buf.len() >= batch.flush_at {
            return Step::Flush;
        }
        match frame::parse_into(
            buf,
            &shared.limits,
            client.authenticated,
            &mut batch.scratch,
        ) {
            Ok(Some(())) if batch.scratch.args.is_empty() => continue, // an empty request
            Ok(Some(())) => {}
            Ok(None) => return Step::Done(Flow::Continue),
            Err(e) => {
                shared.stats.protocol_errors.fetch_add(1, Relaxed);
                let msg = format!("ERR {}", e.0);
                shared.stats.error_reply(&msg, 1);
                out.error(&msg);
                return Step::Done(Flow::Close);
            }
        }
        // Lent to the command, given back after it (the list's memory is reused).
        let mut args = std::mem::take(&mut batch.scratch.args);
        batch.executed += 1;
        let spec = cmd::lookup(&args[0]);
        if spec.is_some_and(cmd::takes_gate_itself) {
            gate = None;
        } else if gate.is_none() {
            gate = Some(shared.tx.gate.shared());
        }
        let held = gate.is_some();
        if multi_thread && long(spec, client) {
            // Not `block_in_place`: it hands this worker's role to a pool thread, so over time
            // every client's task — and what it allocates, blob values among it — runs on
            // every pool thread, and each thread's allocator heap keeps pages of every size
            // class half used: under the soak's mix of searches and 1-64 KiB values that was
            // twice the resident memory (perf-reports/reliability.md section 4). Offloaded,
            // only the search runs on the pool; the tasks stay on the workers.
            return Step::Offload(args, spec);
        }
        let after = if shared.defer_durability {
            // The command runs on this worker without blocking for the WAL; its writes'
            // acknowledgement is awaited once for the batch (the WAL writer wakes this task),
            // before any reply leaves: no thread per write, no hand-off to a blocking pool,
            // one group commit per pipeline. Later commands of the batch see the write, as
            // in Redis.
            let before = out.buf.len();
            let (after, durable) = shared.engine.deferring_durability(|w| {
                run_one(shared, client, out, (&args[..], spec), held, Some(w))
            });
            if durable.is_ready() {
                // Nothing to wait for, or a wait that already failed.
                if let Some(Err(e)) = durable.ready_result() {
                    // As the blocking call would have: the write is reported failed.
                    refuse_write(shared, out, before, e);
                }
            } else {
                batch.unacked.add(durable, (before, out.buf.len()));
            }
            after
        } else {
            // Writes, and EXEC (which may hold writes), outside a transaction's queueing.
            let is_write = spec.is_some_and(|s| {
                s.name == "exec" || (s.flags.contains(&"write") && client.multi.is_none())
            });
            // A durable write waits for the WAL writer (an fdatasync under `always`; group
            // commit batches the writers waiting at once): it must not hold an async worker.
            if multi_thread && shared.offload_writes && is_write {
                match shared.config.write_offload {
                    WriteOffload::SpawnBlocking => return Step::Offload(args, spec),
                    WriteOffload::BlockInPlace | WriteOffload::Inline | WriteOffload::Async => {
                        tokio::task::block_in_place(|| {
                            run_one(shared, client, out, (&args[..], spec), held, None)
                        })
                    }
                }
            } else {
                run_one(shared, client, out, (&args[..], spec), held, None)
            }
        };
        args.clear();
        batch.scratch.args = args;
        if let Some(flow) = after_command(shared, client, out, batch, after) {
            return Step::Done(flow);
        }
        if client.deferred.is_some() {
            return Step::Deferred;
        }
    }
}

/// Acts on what a command asked for; `Some` ends the batch.
fn after_command(
    shared: &Shared,
    client: &Client,
    out: &mut Out,
    batch: &mut Batch,
    after: std::thread::Result<After>,
) -> Option<Flow> {
    match after {
        Ok(After::Continue) => {}
        Ok(After::Close) => return Some(Flow::Close),
        Ok(After::Drop) => {
            tracing::warn!(
                client = client.info.id,
                "HTTP request on the RESP stream: closing"
            );
            // Replies to the commands before it still go out, then the connection closes.
            return Some(Flow::Close);
        }
        Err(_) => {
            tracing::error!(
                client = client.info.id,
                "a command panicked; closing the connection"
            );
            let msg = "ERR internal error: the command failed unexpectedly";
            shared.stats.error_reply(msg, 1);
            out.error(msg);
            return Some(Flow::Close);
        }
    }
    if out.buf.len() > batch.out_limit {
        shared.stats.protocol_errors.fetch_add(1, Relaxed);
        shared
            .stats
            .output_buffer_limit_disconnections
            .fetch_add(1, Relaxed);
        tracing::warn!(
            client = client.info.id,
            bytes = out.buf.len(),
            "closing client over the output buffer limit"
        );
        out.buf.clear();
        batch.unacked.discard();
        return Some(Flow::Close);
    }
    None
}
