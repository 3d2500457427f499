//! Scenarios that speak raw bytes to a transport: bad handshakes, corrupted
//! and truncated frames, a silent peer.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{
    Codec, Listener, NetworkProvider, PostcardCodec, Providers, RandomProvider, TaskProvider,
    TimeProvider,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Harness;
use super::support::*;
use crate::Token;
use crate::wire::{HANDSHAKE_LEN, Handshake, encode_frame};

type Stream<P> = <<P as Providers>::Network as NetworkProvider>::Stream;

/// Connects to `addr` and sends `handshake` bytes.
pub(super) async fn raw_connect<P: Providers>(
    p: &P,
    addr: SocketAddr,
    handshake: &[u8],
) -> Stream<P> {
    let mut s = within(p, SOON, "raw connect", p.network().connect(addr))
        .await
        .expect("connect");
    s.write_all(handshake).await.expect("write handshake");
    s.flush().await.expect("flush");
    s
}

/// A valid handshake from a client without a listener.
fn client_handshake<P: Providers>(p: &P) -> [u8; HANDSHAKE_LEN] {
    Handshake::new(p.random().next_u64(), None).encode()
}

/// Connects, exchanges valid handshakes, and returns the stream.
async fn raw_session<P: Providers>(p: &P, addr: SocketAddr) -> Stream<P> {
    let mut s = raw_connect(p, addr, &client_handshake(p)).await;
    let mut theirs = [0u8; HANDSHAKE_LEN];
    within(p, SOON, "server handshake", s.read_exact(&mut theirs))
        .await
        .expect("read handshake");
    Handshake::decode(&theirs).expect("server handshake valid");
    s
}

/// Reads until EOF or an error, and returns what was read; fails the
/// scenario if the connection stays open.
pub(super) async fn expect_closed<P: Providers>(p: &P, s: &mut Stream<P>, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    within(p, SOON, what, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    got
}

/// A one-way echo request frame for the echo method (no reply wanted).
fn echo_frame(id: u64) -> Vec<u8> {
    let payload = PostcardCodec
        .to_vec(&(None::<Token>, echo(id, EchoMode::Echo)))
        .expect("encode");
    let mut out = Vec::new();
    encode_frame(Token::well_known(ECHO_INDEX), &payload, u32::MAX, &mut out).expect("frame");
    out
}

/// A handshake with another protocol version is rejected: the connection
/// is closed and counted, nothing else happens.
pub async fn incompatible_version_handshake_is_rejected<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let mut hs = Handshake::new(p.random().next_u64(), None);
    hs.version += 1;
    let mut s = raw_connect(&p, server.addr(), &hs.encode()).await;
    let got = expect_closed(&p, &mut s, "close after a bad version").await;
    assert!(
        got.len() <= HANDSHAKE_LEN,
        "server sent frames to a bad peer"
    );
    let t = server.transport.clone();
    eventually(&p, SOON, "rejection counted", || {
        t.metrics().handshakes_rejected == 1
    })
    .await;
    let m = server.transport.metrics();
    assert_eq!((m.decode_errors, m.checksum_failures), (1, 0), "{m:?}");
    assert!(server.transport.peer_metrics_all().is_empty());
}

/// Bytes that are not a moonpool handshake are rejected.
pub async fn bad_magic_handshake_is_rejected<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let mut junk = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n".to_vec();
    junk.resize(HANDSHAKE_LEN, 0);
    let mut s = raw_connect(&p, server.addr(), &junk).await;
    expect_closed(&p, &mut s, "close after bad magic").await;
    let t = server.transport.clone();
    eventually(&p, SOON, "rejection counted", || {
        t.metrics().handshakes_rejected == 1
    })
    .await;
    assert_eq!(server.transport.metrics().decode_errors, 1);
}

/// A frame with a flipped bit closes the connection with a checksum
/// failure; neither it nor any frame after it is delivered.
pub async fn corrupted_frame_closes_the_connection_without_delivery<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let mut s = raw_session(&p, server.addr()).await;
    // A valid frame first: the raw path works.
    s.write_all(&echo_frame(1)).await.expect("write");
    let received = server.received.clone();
    eventually(&p, SOON, "valid frame delivered", || received.get() == 1).await;
    let mut bad = echo_frame(2);
    // Anywhere: length word, checksum, token or payload.
    let bit = p.random().random_range(0..bad.len() * 8);
    bad[bit / 8] ^= 1 << (bit % 8);
    bad.extend(echo_frame(3));
    s.write_all(&bad).await.expect("write");
    expect_closed(&p, &mut s, "close after a corrupted frame").await;
    let t = server.transport.clone();
    eventually(&p, SOON, "checksum failure counted", || {
        t.metrics().checksum_failures == 1
    })
    .await;
    p.time().sleep(Duration::from_millis(20)).await;
    assert_eq!(
        received.get(),
        1,
        "a corrupted or later frame was delivered"
    );
}

/// A frame announcing more than the maximum length closes the connection
/// as soon as its header arrives.
pub async fn oversized_frame_length_closes_the_connection<H: Harness>(p: H::P) {
    let config = crate::TransportConfig {
        frame_bytes_max: 1024 * 1024,
        ..H::config()
    };
    let node = H::node(&p, 0);
    let server = EchoServer::start(&node, H::listen_addr(&p, 0), config, false).await;
    let mut s = raw_session(&p, server.addr()).await;
    let mut header = crate::wire::length_word(1024 * 1024 + 1)
        .to_le_bytes()
        .to_vec();
    header.extend_from_slice(&[0u8; 20]);
    s.write_all(&header).await.expect("write");
    expect_closed(&p, &mut s, "close after an oversized length").await;
    let t = server.transport.clone();
    eventually(&p, SOON, "oversize frame counted", || {
        t.metrics().oversize_frames == 1
    })
    .await;
    assert_eq!(server.received.get(), 0);
}

/// A connection closed in the middle of a frame delivers nothing and is
/// counted as a mid-frame close, not as a corruption.
pub async fn connection_closed_mid_frame_delivers_nothing<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let mut s = raw_session(&p, server.addr()).await;
    let frame = echo_frame(1);
    s.write_all(&frame[..frame.len() - 3]).await.expect("write");
    s.shutdown().await.expect("shutdown");
    let t = server.transport.clone();
    eventually(&p, SOON, "mid-frame close counted", || {
        t.metrics().closed_mid_frame == 1
    })
    .await;
    assert_eq!(
        t.metrics().corruptions_detected(),
        0,
        "a cut is not a corruption"
    );
    assert_eq!(server.received.get(), 0);
}

/// A frame that keeps receiving bytes but never completes is closed by
/// the frame stall timeout, even though the bytes keep the connection
/// alive as far as pings are concerned.
pub async fn stalled_frame_closes_the_connection<H: Harness>(p: H::P) {
    let config = crate::TransportConfig {
        frame_stall_timeout_ms: 400,
        ..H::config()
    };
    let node = H::node(&p, 0);
    let server = EchoServer::start(&node, H::listen_addr(&p, 0), config, false).await;
    let mut s = raw_session(&p, server.addr()).await;
    s.write_all(&crate::wire::length_word(100_000).to_le_bytes())
        .await
        .expect("write");
    let t = server.transport.clone();
    let start = p.time().now();
    // One byte every 50 ms: never silent for a ping timeout, never a frame.
    within(&p, SOON, "stall detected", async {
        while t.metrics().frames_stalled == 0 {
            let _ = s.write_all(&[0]).await;
            p.time().sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(p.time().now() - start >= Duration::from_millis(400));
    let m = t.metrics();
    assert_eq!((m.frames_stalled, m.ping_timeouts), (1, 0), "{m:?}");
    assert_eq!(server.received.get(), 0);
}

/// A listener at node 0's address: the address it listens on, its task
/// (dropping it stops the listener), the connections it accepted, and the
/// bytes it read after the handshakes.
pub(super) type RawListener<P> = (
    SocketAddr,
    <<P as Providers>::Task as TaskProvider>::Handle<()>,
    Rc<Cell<u64>>,
    Rc<Cell<usize>>,
);

/// A listener at node 0's address that answers each connection with a
/// handshake announcing `announce(its address)`, then either keeps it open
/// in silence (`read` false) or reads and counts whatever comes (`read`
/// true).
pub(super) async fn raw_listener<H: Harness>(
    p: &H::P,
    announce: impl FnOnce(SocketAddr) -> SocketAddr,
    read: bool,
) -> RawListener<H::P> {
    let node = H::node(p, 0);
    let listener = node
        .network()
        .bind(H::listen_addr(p, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let announced = announce(addr);
    let accepted = Rc::new(Cell::new(0));
    let bytes_read = Rc::new(Cell::new(0));
    let (count, bytes) = (accepted.clone(), bytes_read.clone());
    let n2 = node.clone();
    let task = node.task().spawn("raw-listener", async move {
        let mut keep = Vec::new();
        // Bounded: a scenario makes a handful of connections.
        while keep.len() < 64 {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            count.set(count.get() + 1);
            let hs = Handshake::new(n2.random().next_u64(), Some(announced)).encode();
            let mut theirs = [0u8; HANDSHAKE_LEN];
            if s.write_all(&hs).await.is_err() || s.read_exact(&mut theirs).await.is_err() {
                continue;
            }
            if !read {
                keep.push(s);
                continue;
            }
            let mut buf = [0u8; 256];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                bytes.set(bytes.get() + n);
            }
        }
    });
    (addr, task, accepted, bytes_read)
}

/// A listener at node 0's address that completes handshakes and then never
/// sends or reads anything again. Returns its address, its task (dropping
/// it stops the listener) and the count of accepted connections.
pub async fn silent_listener<H: Harness>(
    p: &H::P,
) -> (
    SocketAddr,
    <<H::P as Providers>::Task as TaskProvider>::Handle<()>,
    Rc<Cell<u64>>,
) {
    let (addr, task, accepted, _) = raw_listener::<H>(p, |a| a, false).await;
    (addr, task, accepted)
}
