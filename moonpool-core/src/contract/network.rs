//! Contract cases for [`NetworkProvider`].

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Listener, NetStream, NetworkProvider, Providers, TaskProvider, TimeProvider};

/// Awaits `future` with a generous deadline, so a broken provider fails the
/// case instead of hanging it.
async fn bounded<P: Providers, T>(
    p: &P,
    what: &str,
    future: impl std::future::Future<Output = T>,
) -> T {
    match p.time().timeout(Duration::from_secs(30), future).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not complete within 30s"),
    }
}

/// Connecting where nothing listens fails with `ConnectionRefused`.
pub async fn connect_to_a_closed_port_is_refused<P: Providers>(p: P, listen: SocketAddr) {
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    let err = bounded(&p, "connect", p.network().connect(addr))
        .await
        .err()
        .expect("connect to a closed port succeeded");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

/// Bytes written on one end are read, unchanged, on the other, both ways.
pub async fn echo_round_trip<P: Providers>(p: P, listen: SocketAddr) {
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = p.task().spawn("echo", async move {
        let (mut s, _) = listener.accept().await?;
        let mut buf = [0u8; 11];
        s.read_exact(&mut buf).await?;
        s.write_all(&buf).await?;
        s.flush().await?;
        io::Result::Ok(())
    });
    let mut c = bounded(&p, "connect", p.network().connect(addr))
        .await
        .expect("connect");
    c.write_all(b"ping-pong!!").await.expect("write");
    c.flush().await.expect("flush");
    let mut reply = [0u8; 11];
    bounded(&p, "read", c.read_exact(&mut reply))
        .await
        .expect("read");
    assert_eq!(&reply, b"ping-pong!!");
    server.await.expect("server task").expect("server io");
}

/// A reader gets every byte, in order, however the writes were split.
pub async fn partial_reads_are_reassembled<P: Providers>(p: P, listen: SocketAddr) {
    const TOTAL: usize = 64 * 1024;
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let p2 = p.clone();
    let server = p.task().spawn("writer", async move {
        let (mut s, _) = listener.accept().await?;
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        let mut size = 1;
        while sent < TOTAL {
            let end = (sent + size).min(TOTAL);
            s.write_all(&data[sent..end]).await?;
            s.flush().await?;
            sent = end;
            size = size * 3 % 4099 + 1;
            p2.task().yield_now().await;
        }
        io::Result::Ok(())
    });
    let mut c = bounded(&p, "connect", p.network().connect(addr))
        .await
        .expect("connect");
    let mut got = Vec::with_capacity(TOTAL);
    let mut buf = [0u8; 1000];
    while got.len() < TOTAL {
        let n = bounded(&p, "read", c.read(&mut buf)).await.expect("read");
        assert!(n > 0, "EOF after {} of {TOTAL} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    server.await.expect("server task").expect("server io");
}

/// After the peer shuts down its write side, reads drain the data then see EOF.
pub async fn reader_sees_eof_after_peer_closes<P: Providers>(p: P, listen: SocketAddr) {
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = p.task().spawn("closer", async move {
        let (mut s, _) = listener.accept().await?;
        s.write_all(b"last words").await?;
        s.shutdown().await?;
        io::Result::Ok(())
    });
    let mut c = bounded(&p, "connect", p.network().connect(addr))
        .await
        .expect("connect");
    let mut all = Vec::new();
    bounded(&p, "read_to_end", c.read_to_end(&mut all))
        .await
        .expect("read to end");
    assert_eq!(all, b"last words");
    server.await.expect("server task").expect("server io");
}

/// Several connections made before `accept` is called are all accepted.
pub async fn pending_connections_are_all_accepted<P: Providers>(p: P, listen: SocketAddr) {
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut clients = Vec::new();
    for i in 0..3u8 {
        let mut c = bounded(&p, "connect", p.network().connect(addr))
            .await
            .expect("connect");
        c.write_all(&[i]).await.expect("write");
        c.flush().await.expect("flush");
        clients.push(c);
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (mut s, _) = bounded(&p, "accept", listener.accept())
            .await
            .expect("accept");
        let mut b = [0u8; 1];
        bounded(&p, "read", s.read_exact(&mut b))
            .await
            .expect("read");
        seen.push(b[0]);
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![0, 1, 2], "a pending connection was lost");
}

/// Binding an address that is already bound fails with `AddrInUse`.
pub async fn binding_a_bound_address_fails<P: Providers>(p: P, listen: SocketAddr) {
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let err = p
        .network()
        .bind(addr)
        .await
        .err()
        .expect("second bind succeeded");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
}

/// Each end's local address is the other end's peer address.
pub async fn addresses_match_on_both_ends<P: Providers>(p: P, listen: SocketAddr) {
    let listener = p.network().bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    assert_ne!(addr.port(), 0, "port 0 was not replaced by a real port");
    let c = bounded(&p, "connect", p.network().connect(addr))
        .await
        .expect("connect");
    let (s, from) = bounded(&p, "accept", listener.accept())
        .await
        .expect("accept");
    assert_eq!(c.peer_addr().expect("peer"), addr);
    assert_eq!(s.local_addr().expect("local"), addr);
    assert_eq!(s.peer_addr().expect("peer"), c.local_addr().expect("local"));
    assert_eq!(from, c.local_addr().expect("local"));
}
