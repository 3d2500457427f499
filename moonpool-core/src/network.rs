//! Network: TCP-like listeners and byte streams.
//!
//! Streams implement tokio's [`AsyncRead`] and [`AsyncWrite`], so ecosystem
//! code (hyper, codecs, `tokio::io::copy`) runs unchanged over simulated
//! connections. Errors are [`std::io::Error`]s with the [`io::ErrorKind`] a
//! real socket would give (`ConnectionRefused`, `ConnectionReset`,
//! `BrokenPipe`, `UnexpectedEof`, `AddrInUse`, `TimedOut`...), because that
//! is the error type those traits and that ecosystem speak.
//!
//! A stream is ordered and reliable until it breaks: bytes are never
//! silently dropped or reordered, but a read may return fewer bytes than
//! were written at once (short reads), and a write may accept fewer bytes
//! than offered (short writes). Code must handle both, as with real TCP.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A connected, bidirectional byte stream.
pub trait NetStream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// The address of the remote end.
    fn peer_addr(&self) -> io::Result<SocketAddr>;

    /// The address of this end.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A bound listening socket.
pub trait Listener: 'static {
    /// The stream type of accepted connections.
    type Stream: NetStream;

    /// Waits for the next incoming connection. Connections that arrive while
    /// nobody is accepting wait in a backlog; none is silently replaced.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;

    /// The address this listener is bound to (with the real port if bound
    /// to port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Binding and connecting.
pub trait NetworkProvider: Clone + 'static {
    /// Connected streams, from `connect` and `accept`.
    type Stream: NetStream;
    /// Listening sockets, from `bind`.
    type Listener: Listener<Stream = Self::Stream>;

    /// Binds a listener. Port 0 picks a free ephemeral port.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>>;

    /// Opens a connection. Fails with `ConnectionRefused` when nothing
    /// listens at `addr`. It may also never complete (a peer that is down
    /// can swallow SYNs), so callers that care wrap it in a timeout.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>>;
}
