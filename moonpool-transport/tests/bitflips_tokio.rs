//! End to end on real tokio: a network that flips one bit in some writes.
//! Every request still ends with its own reply, and every flip is caught by
//! the receiving transport as a checksum failure (or a rejected handshake).
//!
//! This is a small preview, on real sockets, of the simulator's chaos tests: the
//! flips are injected by a wrapper around the tokio network provider.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use moonpool_core::tokio_providers::{
    TokioNetwork, TokioProviders, TokioRandom, TokioStorage, TokioTask, TokioTime, run_with,
};
use moonpool_core::{Listener, NetStream, NetworkProvider, Providers};
use moonpool_transport::scenarios::{EchoMode, EchoServer, echo, echo_service};
use moonpool_transport::{Transport, TransportConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Shared flip state: a SplitMix64 and counters.
struct Flipper {
    rng: Cell<u64>,
    /// A write flips a bit with probability 1 / `one_in`.
    one_in: u64,
    /// Flips whose byte reached the socket.
    injected: Cell<u64>,
    enabled: Cell<bool>,
}

impl Flipper {
    fn next(&self) -> u64 {
        let mut z = self.rng.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.rng.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Streams opened by `connect` flip at most one bit of what they write;
/// accepted streams are left alone, so each flip has exactly one reader.
struct FlipStream {
    inner: TcpStream,
    flipper: Option<Rc<Flipper>>,
    flipped: bool,
}

impl AsyncRead for FlipStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FlipStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(f) = this.flipper.clone()
            && !this.flipped
            && !buf.is_empty()
            && f.enabled.get()
            && f.next() % f.one_in == 0
        {
            // Half the flips hit the first 4 bytes: a write starts at a
            // frame boundary, so those land in a length word.
            let bits = buf.len() as u64 * 8;
            let span = if f.next() % 2 == 0 {
                bits.min(32)
            } else {
                bits
            };
            let at = (f.next() % span) as usize;
            let mut copy = buf.to_vec();
            copy[at / 8] ^= 1 << (at % 8);
            let r = Pin::new(&mut this.inner).poll_write(cx, &copy);
            if let Poll::Ready(Ok(n)) = r
                && n > at / 8
            {
                this.flipped = true;
                f.injected.set(f.injected.get() + 1);
            }
            // A short write that stopped before the flipped byte sent only
            // clean bytes: the flip did not happen.
            return r;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl NetStream for FlipStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

struct FlipListener(TcpListener);

impl Listener for FlipListener {
    type Stream = FlipStream;
    async fn accept(&self) -> io::Result<(FlipStream, SocketAddr)> {
        let (s, a) = Listener::accept(&self.0).await?;
        Ok((
            FlipStream {
                inner: s,
                flipper: None,
                flipped: false,
            },
            a,
        ))
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Listener::local_addr(&self.0)
    }
}

#[derive(Clone)]
struct FlipNetwork {
    real: TokioNetwork,
    flipper: Rc<Flipper>,
}

impl NetworkProvider for FlipNetwork {
    type Stream = FlipStream;
    type Listener = FlipListener;
    async fn bind(&self, addr: SocketAddr) -> io::Result<FlipListener> {
        Ok(FlipListener(self.real.bind(addr).await?))
    }
    async fn connect(&self, addr: SocketAddr) -> io::Result<FlipStream> {
        let s = self.real.connect(addr).await?;
        Ok(FlipStream {
            inner: s,
            flipper: Some(self.flipper.clone()),
            flipped: false,
        })
    }
}

#[derive(Clone)]
struct FlipProviders {
    real: TokioProviders,
    net: FlipNetwork,
}

impl Providers for FlipProviders {
    type Time = TokioTime;
    type Task = TokioTask;
    type Network = FlipNetwork;
    type Random = TokioRandom;
    type Storage = TokioStorage;
    fn time(&self) -> &TokioTime {
        self.real.time()
    }
    fn task(&self) -> &TokioTask {
        self.real.task()
    }
    fn network(&self) -> &FlipNetwork {
        &self.net
    }
    fn random(&self) -> &TokioRandom {
        self.real.random()
    }
    fn storage(&self) -> &TokioStorage {
        self.real.storage()
    }
}

#[test]
fn every_bit_flip_is_caught_and_every_request_gets_its_own_reply() {
    let real = TokioProviders::with_seed(0xF11F);
    let flipper = Rc::new(Flipper {
        rng: Cell::new(0xB17F_11B5),
        one_in: 6,
        injected: Cell::new(0),
        enabled: Cell::new(true),
    });
    let p = FlipProviders {
        real: real.clone(),
        net: FlipNetwork {
            real: TokioNetwork,
            flipper: flipper.clone(),
        },
    };
    let f = flipper.clone();
    run_with(real, move |_| async move {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = EchoServer::start(&p, loopback, TransportConfig::fast(), false).await;
        let client_t: Transport<FlipProviders> = Transport::unbound(p.clone(), TransportConfig::fast());
        let c = echo_service::Client::new(&client_t, server.interface);
        for round in 0..120u64 {
            let calls = (0..8u64).map(|i| {
                let c = c.clone();
                let id = round * 100 + i;
                async move {
                    let req = echo(id, EchoMode::Echo);
                    (id, req.body.clone(), c.echo.get_reply(&req, Duration::from_secs(30)).await)
                }
            });
            for (id, body, r) in futures::future::join_all(calls).await {
                let r = r.unwrap_or_else(|e| panic!("request {id}: {e}"));
                assert_eq!((r.id, r.body), (id, body), "a wrong or corrupted reply");
            }
        }
        f.enabled.set(false);
        let injected = f.injected.get();
        assert!(injected >= 5, "too few flips to mean anything: {injected}");
        // Every flipped connection was read by the server up to its flip.
        let t = server.transport.clone();
        for _ in 0..400 {
            if t.metrics().corruptions_detected() >= injected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let m = server.transport.metrics();
        println!(
            "flips injected {injected}, caught: checksum {} oversize {} stalled {} handshake/other {}; reconnects {}",
            m.checksum_failures, m.oversize_frames, m.frames_stalled, m.decode_errors, client_t.metrics().reconnects
        );
        assert_eq!(
            m.corruptions_detected(),
            injected,
            "flips injected vs caught: {m:?}"
        );
        assert!(m.checksum_failures >= 1, "{m:?}");
        assert_eq!(m.frames_stalled, 0, "a flip was only caught by the stall timeout: {m:?}");
        client_t.shutdown();
    })
    .expect("runtime");
}
