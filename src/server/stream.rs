//! What a client connection is served over: [`ClientStream`], a byte stream with the few
//! things the connection loop asks of it beyond reading and writing (its addresses, a read
//! that never waits). A plain TCP stream is one; a plain TCP stream served through io_uring
//! is another (`server/uring.rs`, `--io-uring-sockets`); a TLS session over TCP is a third
//! (`server/tls.rs`); the connection loop, HTTP and a replica's stream are generic over it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

/// A client connection's byte stream. Bytes written may wait in the stream (a TLS session's
/// records, an io_uring send in flight) until a flush or shutdown, which the connection
/// awaits before it ends on purpose; a stream dropped without it still tries to send them.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The client's address.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    /// This server's address on the connection.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Reads what has already arrived into `buf`'s spare capacity without waiting:
    /// `Err(WouldBlock)` when nothing has, `Ok(0)` at the end of the stream.
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize>;
}

impl ClientStream for TcpStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::peer_addr(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpStream::local_addr(self)
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        TcpStream::try_read_buf(self, buf)
    }
}

/// [`ClientStream::try_read_buf`] for a stream that has no non-waiting read of its own: one
/// poll of a read with a waker that does nothing (the next real read registers the task's
/// waker; a read that is not ready has taken nothing, so dropping it loses nothing).
pub fn poll_read_once<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
) -> io::Result<usize> {
    let read = std::pin::pin!(stream.read_buf(buf));
    match read.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}
