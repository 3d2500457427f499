//! One test per network fault: it happens (counted), code above sees its
//! effect (an error, a delay, a corrupted byte), and replaying the seed
//! gives the same execution and the same counts.

mod network_common;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Listener, NetworkProvider, Ratio, TimeProvider};
use moonpool_sim::{ClogDirection, KillMode, NetworkConfig, SimContext, SimulationBuilder};
use network_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn payload(i: u64) -> [u8; 64] {
    let mut p = [0u8; 64];
    for (k, b) in p.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7).wrapping_add(k as u8);
    }
    p
}

#[test]
fn quiet_latency_is_50_to_100_us_one_way_and_counts_nothing() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        for i in 0..100 {
            let start = p.now();
            let back = echo(&mut s, &payload(i)).await?;
            let rtt = p.now() - start;
            assert_eq!(back, payload(i));
            assert!(
                (Duration::from_micros(100)..=Duration::from_micros(200)).contains(&rtt),
                "round trip {rtt:?}"
            );
        }
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert!(
        r.counters.keys().all(|k| !k.starts_with("net.")),
        "{:?}",
        r.counters
    );
    assert!(r.fault_families.is_empty());
}

#[test]
fn latency_tail_makes_rare_deliveries_slow() {
    let config = with_faults(|f| {
        f.latency_tail = Ratio::new(1, 10);
        f.latency_tail_ms_max = 100;
    });
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        let mut slow = 0;
        for i in 0..200 {
            let start = p.now();
            assert_eq!(echo(&mut s, &payload(i)).await?, payload(i));
            if p.now() - start > Duration::from_millis(1) {
                slow += 1;
            }
        }
        assert!(slow > 0, "no slow round trip");
        Ok(())
    });
    let r = run_and_replay(&sim, 3);
    assert!(count(&r, "net.latency_tail") > 0);
    assert_eq!(r.fault_families.get("net.latency_tail"), Some(&true));
}

#[test]
fn pair_latency_is_drawn_once_per_pair_and_applies_to_every_message() {
    let config = with_faults(|f| f.pair_latency_ms_max = 50);
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        let (mut lo, mut hi) = (Duration::MAX, Duration::ZERO);
        for i in 0..50 {
            let start = p.now();
            assert_eq!(echo(&mut s, &payload(i)).await?, payload(i));
            let rtt = p.now() - start;
            lo = lo.min(rtt);
            hi = hi.max(rtt);
        }
        assert!(lo > Duration::from_micros(300), "no extra latency: {lo:?}");
        assert!(
            hi - lo <= Duration::from_micros(100),
            "extra latency varies: {lo:?}..{hi:?}"
        );
        Ok(())
    });
    let r = run_and_replay(&sim, 5);
    assert_eq!(count(&r, "net.pair_latency"), 1, "one pair talked");
}

#[test]
fn connect_refusal_fault_refuses_a_live_listener() {
    let config = with_faults(|f| f.connect_refuse = Ratio::ONE);
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        p.sleep(Duration::from_millis(1)).await;
        let err = p
            .connect(server_addr())
            .await
            .err()
            .ok_or("connect succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.connect_refused"), 1);
}

#[test]
fn connect_hang_fault_never_completes() {
    let config = with_faults(|f| f.connect_hang = Ratio::ONE);
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let r = p
            .timeout(Duration::from_secs(30), p.connect(server_addr()))
            .await;
        assert!(r.is_err(), "connect completed");
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.connect_hang"), 1);
}

#[test]
fn connecting_to_an_address_without_a_host_is_refused_or_hangs_by_mode() {
    let nowhere = SocketAddr::from(([10, 0, 0, 99], 80));
    let refused = echo_sim(
        NetworkConfig::default(),
        move |ctx: SimContext| async move {
            let err = ctx
                .providers()
                .connect(nowhere)
                .await
                .err()
                .ok_or("connected")?;
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
            Ok(())
        },
    );
    let r = run_and_replay(&refused, 1);
    assert_eq!(count(&r, "net.connect_hang"), 0, "a refusal is not a fault");
    let config = with_faults(|f| f.unreachable_connect_hangs = true);
    let hangs = echo_sim(config, move |ctx: SimContext| async move {
        let p = ctx.providers();
        assert!(
            p.timeout(Duration::from_secs(60), p.connect(nowhere))
                .await
                .is_err()
        );
        Ok(())
    });
    let r = run_and_replay(&hangs, 1);
    assert_eq!(count(&r, "net.connect_hang"), 1);
}

#[test]
fn bind_failure_fault_fails_bind_with_addr_in_use() {
    let config = with_faults(|f| f.bind_fail = Ratio::new(1, 2));
    let sim = SimulationBuilder::new()
        .chaos(false)
        .network(config)
        .workload("binder", 1, |_| {
            Run(|ctx: SimContext| async move {
                let p = ctx.providers();
                let (mut failed, mut bound) = (0, 0);
                for _ in 0..40 {
                    match p.bind(SocketAddr::new(p.ip(), 0)).await {
                        Ok(l) => {
                            assert_ne!(l.local_addr()?.port(), 0);
                            bound += 1;
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
                            failed += 1;
                        }
                    }
                }
                assert!(failed > 0 && bound > 0, "failed {failed}, bound {bound}");
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let r = run_and_replay(&sim, 2);
    let failed = count(&r, "net.bind_fail");
    assert!((1..40).contains(&failed), "{failed}");
}

#[test]
fn clogging_a_pair_delays_delivery_but_drops_nothing() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let control = ctx.control();
        let mut s = connect(p).await?;
        control.clog_pair(p.ip(), server_ip(), Duration::from_millis(500));
        let start = p.now();
        assert_eq!(echo(&mut s, &payload(1)).await?, payload(1));
        let rtt = p.now() - start;
        assert!(rtt >= Duration::from_millis(500), "clog ignored: {rtt:?}");
        assert!(rtt < Duration::from_millis(501));
        // The reverse direction was never clogged.
        control.clog_pair(server_ip(), p.ip(), Duration::from_millis(300));
        let start = p.now();
        assert_eq!(echo(&mut s, &payload(2)).await?, payload(2));
        assert!(p.now() - start >= Duration::from_millis(300));
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.clog"), 2);
}

#[test]
fn clogging_an_interface_delays_what_it_receives() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        ctx.control().clog_interface(
            server_ip(),
            ClogDirection::Receive,
            Duration::from_millis(250),
        );
        let start = p.now();
        assert_eq!(echo(&mut s, &payload(3)).await?, payload(3));
        assert!(p.now() - start >= Duration::from_millis(250));
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.clog"), 1);
}

#[test]
fn a_partition_holds_traffic_and_connects_until_healed() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let control = ctx.control();
        let mut s = connect(p).await?;
        let id = control.partition(&[p.ip()], &[server_ip()]);
        s.write_all(&payload(9)).await?;
        let mut back = [0u8; 64];
        let r = p
            .timeout(Duration::from_secs(2), s.read_exact(&mut back))
            .await;
        assert!(r.is_err(), "a byte crossed the partition");
        // New connections do not get through either (they hang or fail).
        match p
            .timeout(Duration::from_secs(2), p.connect(server_addr()))
            .await
        {
            Err(_) => {}
            Ok(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::HostUnreachable),
            Ok(Ok(_)) => return Err("connected across a partition".into()),
        }
        assert!(control.heal(id));
        let healed = p.now();
        within(p, Duration::from_millis(1), s.read_exact(&mut back)).await??;
        assert_eq!(back, payload(9), "held bytes arrived intact");
        assert!(
            p.now() - healed >= Duration::from_micros(100),
            "held bytes left before the heal"
        );
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.partition"), 1);
    assert_eq!(count(&r, "net.heal"), 1);
}

#[test]
fn a_one_way_partition_cuts_only_one_direction() {
    // Fixed 1 ms one-way latency, so the timing tells which direction was held.
    let config = NetworkConfig {
        latency_base_us: 1_000,
        latency_jitter_us: 0,
        ..NetworkConfig::default()
    };
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let control = ctx.control();
        let mut s = connect(p).await?;
        // Server -> client is cut: the request gets through, the echo is held.
        let id = control.partition_one_way(&[server_ip()], &[p.ip()]);
        s.write_all(&payload(4)).await?;
        let mut back = [0u8; 64];
        assert!(
            p.timeout(Duration::from_secs(1), s.read_exact(&mut back))
                .await
                .is_err()
        );
        control.heal(id);
        let healed = p.now();
        s.read_exact(&mut back).await?;
        assert_eq!(back, payload(4));
        assert_eq!(
            p.now() - healed,
            Duration::from_millis(1),
            "only the echo was held"
        );
        // Client -> server cut: the request itself is held.
        let id = control.partition_one_way(&[p.ip()], &[server_ip()]);
        s.write_all(&payload(5)).await?;
        assert!(
            p.timeout(Duration::from_secs(1), s.read_exact(&mut back))
                .await
                .is_err()
        );
        control.heal(id);
        let healed = p.now();
        s.read_exact(&mut back).await?;
        assert_eq!(back, payload(5));
        assert_eq!(
            p.now() - healed,
            Duration::from_millis(2),
            "request then echo"
        );
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.partition"), 2);
}

#[test]
fn killing_a_connection_resets_both_ends() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let control = ctx.control();
        let mut s = connect(p).await?;
        assert_eq!(echo(&mut s, &payload(1)).await?, payload(1));
        let conns = control.connections();
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].client, moonpool_core::NetStream::local_addr(&s)?);
        assert!(control.kill_connection(conns[0].id, KillMode::Both));
        let mut b = [0u8; 1];
        let err = s
            .read(&mut b)
            .await
            .err()
            .ok_or("read after reset succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        let err = s
            .write(&b)
            .await
            .err()
            .ok_or("write after reset succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        p.sleep(Duration::from_millis(1)).await;
        assert!(
            control.connections().is_empty(),
            "the server end was not reset"
        );
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.connection_kill"), 1);
}

#[test]
fn a_half_open_connection_is_discovered_by_writing() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let control = ctx.control();
        let mut s = connect(p).await?;
        assert_eq!(echo(&mut s, &payload(1)).await?, payload(1));
        let id = control.connections()[0].id;
        // The server end is reset; the client is not told.
        assert!(control.kill_connection(id, KillMode::ServerOnly));
        let mut b = [0u8; 64];
        assert!(
            p.timeout(Duration::from_secs(5), s.read(&mut b))
                .await
                .is_err(),
            "a half-open end saw something without writing"
        );
        // Writing is accepted; the peer's RST comes back a round trip later.
        s.write_all(&payload(2)).await?;
        let err = within(p, Duration::from_millis(1), s.read(&mut b))
            .await?
            .err()
            .ok_or("read succeeded")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "net.connection_kill"), 1);
}

#[test]
fn random_closes_break_connections_that_code_must_reopen() {
    let config = with_faults(|f| f.random_close = Ratio::new(1, 20));
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let (mut errors, mut done) = (0u32, 0u64);
        let mut stream = None;
        while done < 200 {
            if stream.is_none() {
                stream = Some(connect(p).await?);
            }
            let Some(s) = stream.as_mut() else { continue };
            match p
                .timeout(Duration::from_millis(100), echo(s, &payload(done)))
                .await
            {
                Ok(Ok(back)) => {
                    assert_eq!(back, payload(done));
                    done += 1;
                }
                Ok(Err(e)) => {
                    assert!(
                        matches!(
                            e.kind(),
                            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                        ),
                        "{e}"
                    );
                    errors += 1;
                    stream = None;
                }
                // Half-open: our end was not told; time out and reconnect.
                Err(_) => stream = None,
            }
        }
        assert!(errors > 0, "no connection error seen");
        Ok(())
    });
    let r = run_and_replay(&sim, 4);
    assert!(count(&r, "net.random_close") > 0);
}

#[test]
fn bit_flips_corrupt_delivered_bytes_one_bit_each() {
    let config = with_faults(|f| f.bit_flip = Ratio::new(1, 8));
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        let mut flipped_bits = 0;
        for i in 0..200 {
            let back = echo(&mut s, &payload(i)).await?;
            flipped_bits += back
                .iter()
                .zip(payload(i))
                .map(|(a, b)| (a ^ b).count_ones())
                .sum::<u32>();
        }
        // Shared with the checker through the log of the seed: return it.
        assert!(flipped_bits > 0, "no corrupted byte seen");
        FLIPS_SEEN.with(|c| c.set(flipped_bits as u64));
        Ok(())
    });
    let r = run_and_replay(&sim, 6);
    let injected = count(&r, "net.bit_flip");
    assert!(injected > 0);
    // Every injected flip is visible to the code above (none cancelled out
    // on this seed).
    assert_eq!(FLIPS_SEEN.with(|c| c.get()), injected);
}

thread_local! {
    static FLIPS_SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[test]
fn short_reads_split_what_arrived_and_lose_nothing() {
    let config = with_faults(|f| f.short_read = Ratio::new(1, 2));
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        s.write_all(&data).await?;
        let mut got = Vec::new();
        let mut reads = 0;
        let mut buf = [0u8; 4096];
        while got.len() < data.len() {
            let n = s.read(&mut buf).await?;
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            reads += 1;
        }
        assert_eq!(got, data);
        assert!(reads > 1, "1000 bytes sent at once came in one read");
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert!(count(&r, "net.short_read") > 0);
}

#[test]
fn short_writes_accept_a_prefix() {
    let config = with_faults(|f| f.short_write = Ratio::ONE);
    let sim = echo_sim(config, |ctx: SimContext| async move {
        let p = ctx.providers();
        let mut s = connect(p).await?;
        let data = [7u8; 1000];
        let n = s.write(&data).await?;
        assert!((1..1000).contains(&n), "write took {n} of 1000");
        s.write_all(&data[n..]).await?;
        let mut back = vec![0u8; 1000];
        s.read_exact(&mut back).await?;
        assert_eq!(back, data);
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert!(count(&r, "net.short_write") > 1);
}

#[test]
fn killing_a_process_resets_its_peers_connections() {
    let sim = echo_sim(NetworkConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let control = ctx.control();
        let mut s = connect(p).await?;
        assert_eq!(echo(&mut s, &payload(1)).await?, payload(1));
        let server = control.process_by_name("server").ok_or("no server")?;
        control.kill(server)?;
        let mut b = [0u8; 8];
        let err = within(p, Duration::from_millis(1), s.read(&mut b))
            .await?
            .err()
            .ok_or("read succeeded after the peer died")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
        let err = p
            .connect(server_addr())
            .await
            .err()
            .ok_or("connected to a dead process")?;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // Rebooted, it listens again on the same address.
        control.reboot(server)?;
        let mut s = connect(p).await?;
        assert_eq!(echo(&mut s, &payload(2)).await?, payload(2));
        Ok(())
    });
    let r = run_and_replay(&sim, 1);
    assert_eq!(count(&r, "process.kill"), 1);
}
