//! Plain TCP clients over io_uring (`--io-uring-sockets`): [`UringTcp`], a
//! [`ClientStream`] whose receives and sends are io_uring operations on one ring the server
//! shares ([`Ring`]).
//!
//! Why: with epoll every request costs a `recvfrom` and a `sendto` of its own. Here the
//! connection tasks only queue their operations; a worker thread about to park (tokio's
//! `on_thread_park`, [`park_hook`]) submits everything queued since the last submission in
//! one `io_uring_enter`, for all connections at once. Completions are reaped by one task,
//! woken through an eventfd registered with the ring (readiness from tokio's own epoll), which
//! wakes the connection tasks. A runtime built without the hook (tests build their own) gets
//! the same from that task: the first operation queued after a submission asks it to submit
//! once the runnable tasks have had their turn.
//!
//! Memory: an operation owns its buffer from submission to completion (it lives in the ring's
//! table of operations, not in the future or the stream). A receive is copied out of its
//! buffer into the reader's; a send is a copy of what the writer gave, so `poll_write`
//! returns as soon as the bytes are copied (as a kernel socket buffer would take them) and
//! `poll_flush` waits until the kernel has sent them. A stream dropped with operations in
//! flight cancels them (`ASYNC_CANCEL`); their buffers, and the socket (so that its
//! descriptor number cannot be reused by a new client while an operation still names it),
//! are released at their completions. A send still in flight at the drop is given
//! [`LINGER`] to finish (a reply written just before the connection ends still reaches the
//! client, as with a closed kernel socket), then cancelled.
//!
//! The plain port only: TLS sessions stay on tokio's epoll streams.
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use io_uring::{opcode, squeue, types, IoUring, Probe};
use parking_lot::Mutex;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::stream::ClientStream;

/// Submission queue entries; the completion queue has four times as many (and the kernel
/// keeps completions past it: `IORING_FEAT_NODROP`).
const ENTRIES: u32 = 1024;
/// A receive's buffer.
const RECV_BYTES: usize = 16 << 10;
/// The most one send copies (a larger write is taken in pieces).
const SEND_MAX: usize = 256 << 10;
/// A send buffer larger than this is not kept for the next send.
const KEEP_SEND_BYTES: usize = 64 << 10;
/// How long a send in flight when its stream is dropped may still take.
pub const LINGER: Duration = Duration::from_secs(5);
/// `user_data` of cancellations (their completions are not looked at).
const CANCEL: u64 = u64::MAX;

/// The operation table's entry.
enum State {
    /// In flight; the task to wake at completion.
    Waiting(Option<Waker>),
    /// Completed with this result, not yet collected.
    Done(i32),
    /// Its stream is gone: freed at completion.
    Orphan,
}

struct Slot {
    state: State,
    /// The operation's buffer: the kernel reads or writes it until the completion.
    buf: Vec<u8>,
    /// The socket of an orphan, closed at its completion (not before: its descriptor number
    /// would be free for another client while the operation still names it).
    keep: Option<Arc<std::net::TcpStream>>,
}

struct Inner {
    ring: IoUring,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    /// Operations in flight (slots in use).
    live: usize,
    /// Wakers collected by a reap, woken outside the lock.
    wake: Vec<Waker>,
}

/// One io_uring shared by a server's client connections.
pub struct Ring {
    inner: Mutex<Inner>,
    /// Entries queued and not yet submitted.
    dirty: AtomicBool,
    /// The park hook has submitted for this ring: the driver task need not be asked.
    hooked: AtomicBool,
    /// Asks the driver task to submit (runtimes without the park hook).
    kick: Notify,
    eventfd: OwnedFd,
}

/// Rings the park hook submits for.
static RINGS: Mutex<Vec<Weak<Ring>>> = Mutex::new(Vec::new());

/// For `tokio::runtime::Builder::on_thread_park`: submits what every registered ring has
/// queued, in one `io_uring_enter` each.
pub fn park_hook() {
    let rings = RINGS.lock();
    for r in rings.iter() {
        if let Some(r) = r.upgrade() {
            r.hooked.store(true, Ordering::Relaxed);
            if r.dirty.load(Ordering::Acquire) {
                // Submission only: waking tasks here, with the worker's core put away, would
                // send them to the shared queue; the completions arrive through the eventfd
                // the worker is about to wait on.
                r.inner.lock().submit(&r.dirty);
            }
        }
    }
}

fn err_of(res: i32) -> io::Error {
    io::Error::from_raw_os_error(-res)
}

impl Ring {
    /// Sets up a ring with an eventfd for its completions; fails where io_uring is missing,
    /// forbidden (seccomp, `kernel.io_uring_disabled`) or lacks RECV, SEND or ASYNC_CANCEL.
    pub fn new() -> io::Result<Arc<Ring>> {
        let ring = IoUring::builder()
            .setup_cqsize(ENTRIES * 4)
            .build(ENTRIES)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::Recv::CODE, "RECV"),
            (opcode::Send::CODE, "SEND"),
            (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
        ] {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("io_uring lacks {name}"),
                ));
            }
        }
        if !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring drops completions on overflow (kernel before 5.5)",
            ));
        }
        // SAFETY: eventfd(2) takes no pointers; a non-negative result is a new descriptor
        // this function owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd(2) and nothing else owns it.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        ring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        let r = Arc::new(Ring {
            inner: Mutex::new(Inner {
                ring,
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
                wake: Vec::new(),
            }),
            dirty: AtomicBool::new(false),
            hooked: AtomicBool::new(false),
            kick: Notify::new(),
            eventfd,
        });
        let mut rings = RINGS.lock();
        rings.retain(|w| w.strong_count() > 0);
        rings.push(Arc::downgrade(&r));
        Ok(r)
    }

    /// Reaps completions until `stop` completes (or the eventfd fails), submitting what was
    /// queued when asked. Run as one task per ring, inside the runtime serving the clients.
    pub async fn drive(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let registered = self.eventfd.try_clone().and_then(|fd| {
            // SAFETY: `fd` is an open descriptor (a duplicate of the ring's eventfd) that the
            // `AsyncFd` owns: it stays open, and the same file, until the `AsyncFd` drops.
            unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                .map_err(io::Error::from)
        });
        let fd = match registered {
            Ok(fd) => fd,
            Err(e) => {
                tracing::error!(error = %e, "io_uring sockets: cannot watch the eventfd");
                return;
            }
        };
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => return,
                ready = fd.readable() => match ready {
                    // The eventfd is never read: tokio's registration is edge-triggered and
                    // every completion posted signals it anew; its counter cannot reach its
                    // limit (2^64 - 2 completions).
                    Ok(mut g) => g.clear_ready(),
                    Err(e) => {
                        tracing::error!(error = %e, "io_uring sockets: eventfd failed");
                        return;
                    }
                },
                _ = self.kick.notified() => {
                    // Let the tasks that are runnable now queue their operations first.
                    tokio::task::yield_now().await;
                }
            }
            self.submit();
        }
    }

    /// Submits what is queued and reaps what completed, waking the tasks it completes.
    fn submit(&self) {
        let mut wake = {
            let mut inner = self.inner.lock();
            inner.submit(&self.dirty);
            inner.reap();
            std::mem::take(&mut inner.wake)
        };
        for w in wake.drain(..) {
            w.wake();
        }
        // Give the vector back for the next reap (its capacity is worth keeping).
        let mut inner = self.inner.lock();
        if inner.wake.is_empty() {
            inner.wake = wake;
        }
    }

    /// Queues an operation whose entry `build` makes from the buffer's address.
    fn start(&self, buf: Vec<u8>, build: impl FnOnce(*mut u8) -> squeue::Entry) -> io::Result<u32> {
        let mut inner = self.inner.lock();
        let id = match inner.free.pop() {
            Some(id) => id,
            None => {
                inner.slots.push(None);
                u32::try_from(inner.slots.len() - 1)
                    .map_err(|_| io::Error::other("too many io_uring operations"))?
            }
        };
        let slot = inner.slots[id as usize].insert(Slot {
            state: State::Waiting(None),
            buf,
            keep: None,
        });
        // The buffer's heap block does not move while the slot holds the vector (moving a
        // `Vec` moves only its pointer), and the slot is freed only at the completion.
        let entry = build(slot.buf.as_mut_ptr()).user_data(u64::from(id));
        if let Err(e) = inner.push(&entry) {
            inner.slots[id as usize] = None;
            inner.free.push(id);
            return Err(e);
        }
        inner.live += 1;
        self.queued();
        Ok(id)
    }

    /// Marks entries queued; asks the driver task to submit unless the park hook does.
    fn queued(&self) {
        if !self.dirty.swap(true, Ordering::AcqRel) && !self.hooked.load(Ordering::Relaxed) {
            self.kick.notify_one();
        }
    }

    /// The result of operation `id` and its buffer back, once completed; `waker` is woken at
    /// the completion otherwise.
    fn poll_op(&self, id: u32, waker: &Waker) -> Poll<(i32, Vec<u8>)> {
        let mut inner = self.inner.lock();
        let Some(slot) = inner.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return Poll::Ready((-libc::EBADF, Vec::new()));
        };
        match &mut slot.state {
            State::Done(res) => {
                let res = *res;
                let buf = std::mem::take(&mut slot.buf);
                inner.slots[id as usize] = None;
                inner.free.push(id);
                inner.live -= 1;
                Poll::Ready((res, buf))
            }
            State::Waiting(w) => {
                match w {
                    Some(w) if w.will_wake(waker) => {}
                    _ => *w = Some(waker.clone()),
                }
                Poll::Pending
            }
            State::Orphan => Poll::Ready((-libc::ECANCELED, Vec::new())),
        }
    }

    /// Gives up operation `id`: cancels it if in flight (its buffer and `keep` are released
    /// at its completion), frees it if completed.
    fn abandon(&self, id: u32, keep: &Arc<std::net::TcpStream>) {
        let mut inner = self.inner.lock();
        let Some(slot) = inner.slots.get_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        match slot.state {
            State::Done(_) => {
                inner.slots[id as usize] = None;
                inner.free.push(id);
                inner.live -= 1;
            }
            State::Waiting(_) => {
                slot.state = State::Orphan;
                slot.keep = Some(keep.clone());
                let cancel = opcode::AsyncCancel::new(u64::from(id))
                    .build()
                    .user_data(CANCEL);
                // A full queue even after a submission: the operation ends on its own
                // (the socket is shut down by the caller), still an orphan.
                let _ = inner.push(&cancel);
                drop(inner);
                self.queued();
            }
            State::Orphan => {}
        }
    }
}

impl Inner {
    /// Submits the entries queued, if any (`dirty`).
    fn submit(&mut self, dirty: &AtomicBool) {
        // Completions kept past a full completion queue come back through a submission.
        if dirty.swap(false, Ordering::AcqRel) || self.ring.submission().cq_overflow() {
            if let Err(e) = self.ring.submit() {
                // EBUSY/EAGAIN: completions to reap first; the entries stay queued for the
                // next submission.
                dirty.store(true, Ordering::Release);
                if !matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) {
                    tracing::warn!(error = %e, "io_uring sockets: submission failed");
                }
            }
        }
    }

    /// Pushes one entry, submitting first when the queue is full.
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: every entry built here points into a buffer owned by its slot in
            // `slots` (or into nothing: a cancellation), which is freed only after the
            // operation's completion has been reaped; the descriptor it names is kept open
            // by its stream, or by the slot's `keep` once the stream is gone.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "io_uring submission queue full",
        ))
    }

    /// Records every completion posted, collecting the wakers to wake.
    fn reap(&mut self) {
        let Inner {
            ring,
            slots,
            free,
            live,
            wake,
        } = self;
        for cqe in ring.completion() {
            let ud = cqe.user_data();
            if ud == CANCEL {
                continue;
            }
            let id = ud as usize;
            let Some(slot) = slots.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            match &mut slot.state {
                State::Waiting(w) => {
                    if let Some(w) = w.take() {
                        wake.push(w);
                    }
                    slot.state = State::Done(cqe.result());
                }
                State::Orphan => {
                    slots[id] = None;
                    free.push(id as u32);
                    *live -= 1;
                }
                State::Done(_) => {}
            }
        }
    }
}

impl Drop for Inner {
    /// Waits for every operation still in flight to be cancelled before their buffers are
    /// freed; one that does not end in time keeps its buffer (leaked, never freed under the
    /// kernel).
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            if let Some(Slot {
                state: State::Done(_),
                ..
            }) = slot
            {
                *slot = None;
                self.live -= 1;
            }
        }
        if self.live == 0 {
            return;
        }
        let in_flight: Vec<u64> = (self.slots.iter().enumerate())
            .filter(|(_, s)| {
                matches!(
                    s,
                    Some(Slot {
                        state: State::Waiting(_) | State::Orphan,
                        ..
                    })
                )
            })
            .map(|(id, _)| id as u64)
            .collect();
        for id in in_flight {
            let cancel = opcode::AsyncCancel::new(id).build().user_data(CANCEL);
            let _ = self.push(&cancel);
        }
        for _ in 0..50 {
            let ts = types::Timespec::new().nsec(20_000_000);
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            for cqe in self.ring.completion() {
                let ud = cqe.user_data();
                if ud == CANCEL {
                    continue;
                }
                if let Some(slot) = self.slots.get_mut(ud as usize) {
                    if slot.take().is_some() {
                        self.live -= 1;
                    }
                }
            }
            if self.live == 0 {
                return;
            }
        }
        for slot in self.slots.iter_mut().filter_map(Option::take) {
            std::mem::forget(slot.buf);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        RINGS.lock().retain(|w| w.strong_count() > 0);
    }
}

/// A plain TCP client served through a [`Ring`].
pub struct UringTcp {
    sock: Arc<std::net::TcpStream>,
    fd: RawFd,
    ring: Arc<Ring>,
    /// The receive in flight.
    reading: Option<u32>,
    /// The receive buffer while none is in flight: `rx[rx_pos..rx_len]` not yet read.
    rx: Vec<u8>,
    rx_pos: usize,
    rx_len: usize,
    /// The peer shut its side (a receive returned 0).
    eof: bool,
    /// A receive failed (reported once, then as the end of the stream).
    rx_err: Option<io::Error>,
    /// The send in flight: `tx_len` bytes of its buffer, `tx_off` of them sent.
    sending: Option<u32>,
    tx: Vec<u8>,
    tx_off: usize,
    tx_len: usize,
    /// A send failed: every later write fails.
    tx_err: Option<io::ErrorKind>,
}

impl UringTcp {
    /// Serves `stream` through `ring` (the stream is made blocking: io_uring returns
    /// `EAGAIN` for a non-blocking socket instead of waiting for it).
    pub fn new(stream: tokio::net::TcpStream, ring: Arc<Ring>) -> io::Result<Self> {
        let sock = stream.into_std()?;
        sock.set_nonblocking(false)?;
        Ok(UringTcp {
            fd: sock.as_raw_fd(),
            sock: Arc::new(sock),
            ring,
            reading: None,
            rx: vec![0; RECV_BYTES],
            rx_pos: 0,
            rx_len: 0,
            eof: false,
            rx_err: None,
            sending: None,
            tx: Vec::new(),
            tx_off: 0,
            tx_len: 0,
            tx_err: None,
        })
    }

    fn start_recv(&mut self) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.rx);
        if buf.len() < RECV_BYTES {
            buf = vec![0; RECV_BYTES];
        }
        let (fd, len) = (self.fd, buf.len() as u32);
        self.reading = Some(
            self.ring
                .start(buf, |p| opcode::Recv::new(types::Fd(fd), p, len).build())?,
        );
        Ok(())
    }

    /// Moves received bytes into the reader, receiving when none are left: `Ready(Ok(n))`
    /// with n > 0 bytes given, `Ready(Ok(0))` at the end of the stream.
    fn poll_recv(
        &mut self,
        waker: &Waker,
        give: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.rx_pos < self.rx_len {
                let n = give(&self.rx[self.rx_pos..self.rx_len]);
                self.rx_pos += n;
                return Poll::Ready(Ok(n));
            }
            if let Some(e) = self.rx_err.take() {
                self.eof = true;
                return Poll::Ready(Err(e));
            }
            if self.eof {
                return Poll::Ready(Ok(0));
            }
            match self.reading {
                None => {
                    if let Err(e) = self.start_recv() {
                        return Poll::Ready(Err(e));
                    }
                }
                Some(id) => {
                    let (res, buf) = std::task::ready!(self.ring.poll_op(id, waker));
                    self.reading = None;
                    self.rx = buf;
                    self.rx_pos = 0;
                    self.rx_len = 0;
                    match res {
                        n if n > 0 => self.rx_len = n as usize,
                        0 => self.eof = true,
                        e if e == -libc::EINTR || e == -libc::EAGAIN => {}
                        e => self.rx_err = Some(err_of(e)),
                    }
                }
            }
        }
    }

    /// Waits for the send in flight, sending the rest of its buffer after a short send.
    fn poll_sent(&mut self, waker: &Waker) -> Poll<io::Result<()>> {
        while let Some(id) = self.sending {
            let (res, buf) = std::task::ready!(self.ring.poll_op(id, waker));
            self.sending = None;
            self.tx = buf;
            match res {
                n if n > 0 => self.tx_off += n as usize,
                e if e == -libc::EINTR || e == -libc::EAGAIN => {}
                0 => self.tx_err = Some(io::ErrorKind::WriteZero),
                e => self.tx_err = Some(err_of(e).kind()),
            }
            if let Some(kind) = self.tx_err {
                return Poll::Ready(Err(kind.into()));
            }
            if self.tx_off < self.tx_len {
                self.start_send()?;
            }
        }
        if self.tx.capacity() > KEEP_SEND_BYTES {
            self.tx = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Whether input has arrived that was not read (in the kernel's queue or ours).
    fn unread(&self) -> bool {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which points to `n`; the
        // descriptor is this stream's open socket.
        let r = unsafe { libc::ioctl(self.fd, libc::FIONREAD, &mut n) };
        self.rx_pos < self.rx_len || (r == 0 && n > 0)
    }

    fn start_send(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut self.tx);
        let (fd, off, len) = (self.fd, self.tx_off, self.tx_len);
        let part = (len - off) as u32;
        self.sending = Some(self.ring.start(buf, |p| {
            // SAFETY: `off < len <= buf.len()`: the pointer stays inside the buffer.
            let p = unsafe { p.add(off) };
            opcode::Send::new(types::Fd(fd), p, part)
                .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                .build()
        })?);
        Ok(())
    }
}

impl AsyncRead for UringTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        this.poll_recv(cx.waker(), |data| {
            let n = data.len().min(out.remaining());
            out.put_slice(&data[..n]);
            n
        })
        .map_ok(|_| ())
    }
}

impl AsyncWrite for UringTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_sent(cx.waker()))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = data.len().min(SEND_MAX);
        this.tx.clear();
        this.tx.extend_from_slice(&data[..n]);
        this.tx_off = 0;
        this.tx_len = n;
        this.start_send()?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_sent(cx.waker())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_sent(cx.waker()))?;
        Poll::Ready(this.sock.shutdown(std::net::Shutdown::Write))
    }
}

impl ClientStream for UringTcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self.poll_recv(Waker::noop(), |data| {
            buf.extend_from_slice(data);
            data.len()
        }) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Drop for UringTcp {
    fn drop(&mut self) {
        let Some(id) = self.sending.take() else {
            if let Some(id) = self.reading.take() {
                // The receive ends at once (and the client sees the close now, not when the
                // cancellation is submitted).
                let _ = self.sock.shutdown(std::net::Shutdown::Both);
                self.ring.abandon(id, &self.sock);
            }
            return;
        };
        if let Some(id) = self.reading.take() {
            self.ring.abandon(id, &self.sock);
        }
        // The last replies may still be on their way: let them go out (bounded), then close
        // — unless the client sent what nobody will read, where a kernel socket's close
        // would reset the connection and drop them (a slow consumer cut at its limit).
        let (ring, sock) = (self.ring.clone(), self.sock.clone());
        let rt = tokio::runtime::Handle::try_current();
        let Some(rt) = rt.ok().filter(|_| !self.unread()) else {
            let _ = sock.shutdown(std::net::Shutdown::Both);
            ring.abandon(id, &sock);
            return;
        };
        let linger = Linger {
            ring,
            sock,
            id: Some(id),
        };
        rt.spawn(linger.run());
    }
}

/// A dropped stream's last send, waited for up to [`LINGER`]; cancelled when it is dropped
/// unfinished (the runtime stops).
struct Linger {
    ring: Arc<Ring>,
    sock: Arc<std::net::TcpStream>,
    id: Option<u32>,
}

impl Linger {
    async fn run(mut self) {
        let Some(id) = self.id else { return };
        let sent = std::future::poll_fn(|cx| self.ring.poll_op(id, cx.waker()).map(|_| ()));
        if tokio::time::timeout(LINGER, sent).await.is_ok() {
            self.id = None;
        }
    }
}

impl Drop for Linger {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
            self.ring.abandon(id, &self.sock);
        }
    }
}

/// Whether io_uring sockets can run here: a ring with the needed operations can be set up.
pub fn available() -> io::Result<()> {
    Ring::new().map(drop)
}
