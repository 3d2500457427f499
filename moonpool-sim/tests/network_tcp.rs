//! TCP semantics of simulated streams: order, back-pressure, half-close,
//! closes and resets, addresses and ports.

mod network_common;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Listener, NetStream, NetworkProvider, Ratio, TaskProvider, TimeProvider};
use moonpool_sim::{NetworkConfig, SimContext, SimulationBuilder};
use network_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One client process with nothing else: the case does everything.
fn solo<F, Fut>(config: NetworkConfig, case: F) -> moonpool_sim::Simulation
where
    F: Fn(SimContext) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = moonpool_sim::WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .chaos(false)
        .network(config)
        .workload("solo", 1, move |_| Run(case.clone()))
        .build()
        .expect("valid")
}

#[test]
fn bytes_arrive_in_order_even_when_later_writes_draw_smaller_latencies() {
    // Wide jitter and a frequent slow tail: sampled arrival times are
    // often out of order, delivery must not be.
    let config = NetworkConfig {
        latency_jitter_us: 5_000,
        faults: moonpool_sim::NetworkFaults {
            latency_tail: Ratio::new(1, 5),
            ..moonpool_sim::NetworkFaults::NONE
        },
        ..NetworkConfig::default()
    };
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        let p2 = p.clone();
        let (mut r, mut w) = tokio::io::split(s);
        let writer = p.spawn("writer", async move {
            for i in 0..2_000u32 {
                w.write_all(&i.to_le_bytes()).await?;
                if i % 7 == 0 {
                    p2.sleep(Duration::from_micros(30)).await;
                }
            }
            io::Result::Ok(w)
        });
        for i in 0..2_000u32 {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).await?;
            assert_eq!(u32::from_le_bytes(b), i, "reordered");
        }
        let w = writer.await??;
        s = r.unsplit(w);
        drop(s);
        Ok(())
    });
    run_and_replay(&sim, 11);
}

#[test]
fn a_full_buffer_blocks_the_writer_until_the_reader_reads() {
    let config = NetworkConfig {
        send_buffer_bytes_max: 1_000,
        ..NetworkConfig::default()
    };
    let sim = solo(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = p.bind(SocketAddr::new(p.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        let mut c = p.connect(addr).await?;
        let (mut s, _) = listener.accept().await?;
        // 1,000 bytes fit; the next write waits.
        assert_eq!(c.write(&[1u8; 1_500]).await?, 1_000);
        let blocked = p.timeout(Duration::from_secs(1), c.write(&[2u8; 10])).await;
        assert!(blocked.is_err(), "a write beyond the buffer completed");
        let p2 = p.clone();
        let reader = p.spawn("reader", async move {
            p2.sleep(Duration::from_millis(10)).await;
            let mut buf = vec![0u8; 1_010];
            s.read_exact(&mut buf).await?;
            io::Result::Ok(buf)
        });
        let start = p.now();
        c.write_all(&[2u8; 10]).await?;
        assert!(
            p.now() - start >= Duration::from_millis(10),
            "the writer did not wait"
        );
        let buf = reader.await??;
        assert!(buf[..1_000].iter().all(|&b| b == 1) && buf[1_000..].iter().all(|&b| b == 2));
        Ok(())
    });
    run_and_replay(&sim, 1);
}

#[test]
fn half_close_lets_the_other_direction_go_on() {
    let sim = solo(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = p.bind(SocketAddr::new(p.ip(), 0)).await?;
        let mut c = p.connect(listener.local_addr()?).await?;
        let (mut s, _) = listener.accept().await?;
        c.write_all(b"request").await?;
        c.shutdown().await?;
        assert_eq!(
            c.write(b"x").await.err().map(|e| e.kind()),
            Some(io::ErrorKind::BrokenPipe),
            "write after shutdown"
        );
        let mut req = Vec::new();
        s.read_to_end(&mut req).await?;
        assert_eq!(req, b"request", "server saw the data, then EOF");
        // The server's direction is still open.
        s.write_all(b"response").await?;
        drop(s);
        let mut resp = Vec::new();
        c.read_to_end(&mut resp).await?;
        assert_eq!(resp, b"response");
        Ok(())
    });
    run_and_replay(&sim, 1);
}

#[test]
fn writing_to_a_closed_peer_is_reset_a_round_trip_later() {
    let sim = solo(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = p.bind(SocketAddr::new(p.ip(), 0)).await?;
        let mut c = p.connect(listener.local_addr()?).await?;
        let (s, _) = listener.accept().await?;
        drop(s);
        let mut b = [0u8; 4];
        assert_eq!(c.read(&mut b).await?, 0, "EOF after the peer closed");
        c.write_all(b"anyone?").await?;
        p.sleep(Duration::from_millis(1)).await;
        let err = c
            .write_all(b"hello?")
            .await
            .err()
            .ok_or("write succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        Ok(())
    });
    run_and_replay(&sim, 1);
}

#[test]
fn connecting_to_the_own_ip_and_loopback_works_with_distinct_ephemeral_ports() {
    let sim = solo(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = p.bind(SocketAddr::from(([0, 0, 0, 0], 8080))).await?;
        assert_eq!(listener.local_addr()?, SocketAddr::new(p.ip(), 8080));
        let a = p.connect(SocketAddr::new(p.ip(), 8080)).await?;
        let b = p.connect(SocketAddr::from(([127, 0, 0, 1], 8080))).await?;
        let (pa, pb) = (a.local_addr()?, b.local_addr()?);
        assert_eq!(pa.ip(), p.ip());
        assert_ne!(pa.port(), pb.port());
        assert!(pa.port() >= 49152 && pb.port() >= 49152);
        let (s1, from1) = listener.accept().await?;
        let (_s2, from2) = listener.accept().await?;
        assert_eq!((from1, from2), (pa, pb), "accepted in arrival order");
        assert_eq!(s1.peer_addr()?, pa);
        // Binding another process's address is refused.
        let err = p
            .bind(SocketAddr::from(([10, 9, 9, 9], 1)))
            .await
            .err()
            .ok_or("bound a foreign address")?;
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
        PORTS.with(|c| c.set((pa.port(), pb.port())));
        Ok(())
    });
    let first = {
        run_and_replay(&sim, 1);
        PORTS.with(|c| c.get())
    };
    sim.run_seed(2);
    assert_eq!(
        PORTS.with(|c| c.get()),
        first,
        "ephemeral ports depend on the seed"
    );
}

thread_local! {
    static PORTS: std::cell::Cell<(u16, u16)> = const { std::cell::Cell::new((0, 0)) };
}

#[test]
fn clients_have_addresses_that_partitions_apply_to() {
    // Two workload clients: the listener's view of each peer is that
    // client's own IP, and cutting one client leaves the other alone.
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", SERVER_IP, echo_server)
        .workload("client", 2, |_| {
            Run(|ctx: SimContext| async move {
                let p = ctx.providers();
                let mut s = connect(p).await?;
                assert_eq!(s.local_addr()?.ip(), p.ip());
                assert!(matches!(p.ip(), IpAddr::V4(v4) if v4.octets()[..2] == [10, 254]));
                if ctx.client_id() == 0 {
                    ctx.control().partition(&[p.ip()], &[server_ip()]);
                    s.write_all(&[1; 8]).await?;
                    let mut b = [0u8; 8];
                    assert!(
                        p.timeout(Duration::from_secs(1), s.read_exact(&mut b))
                            .await
                            .is_err()
                    );
                } else {
                    p.sleep(Duration::from_millis(10)).await;
                    assert_eq!(echo(&mut s, &[2; 8]).await?, [2; 8]);
                }
                Ok(())
            })
        })
        .build()
        .expect("valid");
    run_and_replay(&sim, 3);
}

#[test]
fn a_dropped_listener_refuses_and_resets_unaccepted_connections() {
    let sim = solo(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = p.bind(SocketAddr::new(p.ip(), 0)).await?;
        let addr = listener.local_addr()?;
        let mut waiting = p.connect(addr).await?;
        drop(listener);
        let mut b = [0u8; 1];
        let err = waiting.read(&mut b).await.err().ok_or("read succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        let err = p.connect(addr).await.err().ok_or("connected")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // The port is free again.
        let again = p.bind(addr).await?;
        assert_eq!(again.local_addr()?, addr);
        Ok(())
    });
    run_and_replay(&sim, 1);
}

#[test]
fn streams_work_with_generic_tokio_io_code() {
    let sim = solo(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = Rc::new(p.bind(SocketAddr::new(p.ip(), 0)).await?);
        let addr = listener.local_addr()?;
        let l2 = Rc::clone(&listener);
        let server = p.spawn("copy", async move {
            let (s, _) = l2.accept().await?;
            let (mut r, mut w) = tokio::io::split(s);
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await?;
            io::Result::Ok(())
        });
        let c = p.connect(addr).await?;
        let (mut r, mut w) = tokio::io::split(c);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let d2 = data.clone();
        let writer = p.spawn("send", async move {
            w.write_all(&d2).await?;
            w.shutdown().await?;
            io::Result::Ok(())
        });
        let mut back = Vec::new();
        r.read_to_end(&mut back).await?;
        assert_eq!(back, data);
        writer.await??;
        server.await??;
        Ok(())
    });
    run_and_replay(&sim, 1);
}

#[test]
fn a_writer_blocked_on_a_full_buffer_learns_when_its_reader_is_reset() {
    let config = NetworkConfig {
        send_buffer_bytes_max: 1_000,
        ..NetworkConfig::default()
    };
    let sim = solo(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let listener = p.bind(SocketAddr::new(p.ip(), 0)).await?;
        let mut c = p.connect(listener.local_addr()?).await?;
        let (_s, _) = listener.accept().await?;
        c.write_all(&[1u8; 1_000]).await?;
        let control = ctx.control();
        let id = control.connections()[0].id;
        let p2 = p.clone();
        let killer = p.spawn("killer", async move {
            p2.sleep(Duration::from_millis(5)).await;
            control.kill_connection(id, moonpool_sim::KillMode::ServerOnly)
        });
        // Blocked until the reader's end is reset, and then until the RST
        // answering its unacknowledged bytes comes back a round trip later,
        // which fails it (it is never accepted into the void).
        let start = p.now();
        let blocked = within(p, Duration::from_secs(1), c.write_all(&[2u8; 10])).await?;
        assert_eq!(
            blocked.err().map(|e| e.kind()),
            Some(io::ErrorKind::BrokenPipe)
        );
        assert!(
            p.now() - start > Duration::from_millis(5),
            "failed before the reset"
        );
        assert!(killer.await?);
        let err = c
            .write_all(&[3u8; 10])
            .await
            .err()
            .ok_or("write succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        Ok(())
    });
    run_and_replay(&sim, 1);
}
