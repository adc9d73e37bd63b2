//! What a client connection is served over: [`ClientStream`], a byte stream with the few
//! things the connection loop asks of it beyond reading and writing (its addresses, a read
//! that never waits). A plain TCP stream is one; a TLS session over TCP is another
//! (`server/tls.rs`); the connection loop, HTTP and a replica's stream are generic over it.

use std::io;
use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A client connection's byte stream.
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
