//! The simulated network. (Placeholder until the simulated TCP lands:
//! every operation fails with `Unsupported`.)

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use moonpool_core::{Listener, NetStream, NetworkProvider};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::process::ProcessId;
use crate::providers::SimProviders;
use crate::world::World;

/// The simulated network's configuration. (Placeholder.)
#[derive(Clone, Debug, Default)]
pub struct NetworkConfig {}

/// The simulated network's per-seed state, owned by the world.
#[derive(Default)]
pub(crate) struct NetState {}

/// Samples this seed's network parameters (called once per seed, before
/// any process starts).
pub(crate) fn init_seed(_world: &World) {}

/// Resets the connections of a killed process, so its peers see errors.
pub(crate) fn process_killed(_world: &World, _process: ProcessId) {}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "simulated network not available yet",
    )
}

/// A simulated TCP stream.
#[derive(Debug)]
pub struct SimTcpStream {
    _private: (),
}

/// A simulated listener.
#[derive(Debug)]
pub struct SimListener {
    _private: (),
}

impl AsyncRead for SimTcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(unsupported()))
    }
}

impl AsyncWrite for SimTcpStream {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(unsupported()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(unsupported()))
    }
}

impl NetStream for SimTcpStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Err(unsupported())
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(unsupported())
    }
}

impl Listener for SimListener {
    type Stream = SimTcpStream;
    async fn accept(&self) -> io::Result<(SimTcpStream, SocketAddr)> {
        Err(unsupported())
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(unsupported())
    }
}

impl NetworkProvider for SimProviders {
    type Stream = SimTcpStream;
    type Listener = SimListener;
    async fn bind(&self, _: SocketAddr) -> io::Result<SimListener> {
        Err(unsupported())
    }
    async fn connect(&self, _: SocketAddr) -> io::Result<SimTcpStream> {
        Err(unsupported())
    }
}
