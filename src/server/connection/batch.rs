//! Running a batch of a connection's buffered requests: the commands that need no await run
//! in one pass under the transaction gate ([`run_ready`]); long commands and durable writes
//! under `--write-offload spawn-blocking` go to the blocking pool ([`offloaded`]); writes
//! whose acknowledgement is deferred are settled together ([`Unacked`]); a command's outcome
//! (close, panic, the output-buffer limit) is acted on in [`after_command`]. The read loop
//! that calls [`run_batch`] is the parent module.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use super::{write_or_read, Flow, Flushed, FLUSH_BYTES};
use crate::server::cmd::{self, After, Client};
use crate::server::config::WriteOffload;
use crate::server::frame;
use crate::server::reply::Out;
use crate::server::shared::Shared;
use crate::server::stream::ClientStream;
use crate::server::tracking;
use crate::{Durability, Writer};

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
pub(super) struct Unacked {
    pub(super) wait: Option<Durability>,
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
    pub(super) async fn settle(&mut self, shared: &Shared, out: &mut Out) {
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
pub(super) async fn run_batch<S: ClientStream>(
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
pub(super) struct Batch {
    pub(super) out_limit: usize,
    /// Pending reply bytes at which the socket is tried (FLUSH_BYTES, or further on when the
    /// client sent more while its replies waited).
    pub(super) flush_at: usize,
    /// Commands run in this batch.
    pub(super) executed: u64,
    /// Replies to writes still awaiting their acknowledgement (settled before any reply
    /// leaves, and so before the next read).
    pub(super) unacked: Unacked,
    /// The connection runs on a multi-thread runtime (`block_in_place` and the blocking
    /// pool's hand-off apply).
    pub(super) multi_thread: bool,
    /// The parser's reused lists.
    pub(super) scratch: frame::Scratch,
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
            crate::server::replication::master::serve(stream, shared, client, buf, replid, offset)
                .await;
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
