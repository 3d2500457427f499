//! What a peer observes when a process dies or drops its stream: the
//! bytes sent before the reset arrive before it, in every seed, and a
//! writer towards a peer that is gone fails instead of writing into the
//! void.

mod network_common;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Listener, NetworkProvider, TaskProvider, TimeProvider};
use moonpool_sim::{NetworkConfig, SimContext, SimProviders, Simulation, SimulationBuilder};
use network_common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WRITTEN_BYTES: usize = 4_096;

/// A process that accepts one connection, writes `WRITTEN_BYTES` to it (or
/// nothing), raises `wrote`, and then holds the stream without reading
/// until `wrote` is lowered again, when it drops the stream.
fn talker(
    config: NetworkConfig,
    writes: bool,
    wrote: Rc<Cell<bool>>,
    case: impl Fn(
        SimContext,
        Rc<Cell<bool>>,
    ) -> std::pin::Pin<Box<dyn Future<Output = moonpool_sim::WorkloadResult>>>
    + Clone
    + 'static,
) -> Simulation {
    let raised = Rc::clone(&wrote);
    SimulationBuilder::new()
        .chaos(false)
        .network(config)
        .process("talker", SERVER_IP, move |p: SimProviders| {
            let wrote = Rc::clone(&raised);
            async move {
                let listener = p.bind(server_addr()).await?;
                let (mut s, _) = listener.accept().await?;
                if writes {
                    s.write_all(&[7u8; WRITTEN_BYTES]).await?;
                }
                wrote.set(true);
                until(&p, &wrote, false).await;
                drop(s);
                std::future::pending::<()>().await;
                io::Result::Ok(())
            }
        })
        .workload("client", 1, move |_| {
            let (case, wrote) = (case.clone(), Rc::clone(&wrote));
            moonpool_sim::FnWorkload::new(move |ctx: SimContext| case(ctx, Rc::clone(&wrote)))
        })
        .build()
        .expect("valid")
}

/// Waits (in 10 µs steps) until `flag` is `value`.
async fn until(p: &SimProviders, flag: &Cell<bool>, value: bool) {
    while flag.get() != value {
        p.sleep(Duration::from_micros(10)).await;
    }
}

#[test]
fn bytes_a_killed_process_wrote_arrive_before_its_reset_in_every_seed() {
    // Wide jitter: the reset's latency draw is often smaller than the
    // data's, which must not let the reset overtake the data.
    let config = NetworkConfig {
        latency_jitter_us: 5_000,
        ..NetworkConfig::default()
    };
    let sim = talker(config, true, Rc::default(), |ctx, wrote| {
        Box::pin(async move {
            let p = ctx.providers();
            let mut s = connect(p).await?;
            until(p, &wrote, true).await;
            let talker = ctx.control().process_by_name("talker").ok_or("no talker")?;
            ctx.control().kill(talker)?;
            let mut got = 0;
            let mut buf = [0u8; 512];
            let err = loop {
                match s.read(&mut buf).await {
                    Ok(0) => return Err("EOF instead of a reset".into()),
                    Ok(n) => got += n,
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
            assert_eq!(
                got, WRITTEN_BYTES,
                "bytes written before the kill were lost"
            );
            Ok(())
        })
    });
    for seed in 0..100 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
    }
    run_and_replay(&sim, 3);
}

/// Fills the talker's 1,000-byte buffer, starts a write that blocks, then
/// makes the peer go away with `end_peer`; the blocked write and the next
/// one must fail.
fn blocked_writer_sim(end_peer: fn(&SimContext, &Cell<bool>)) -> Simulation {
    let config = NetworkConfig {
        send_buffer_bytes_max: 1_000,
        ..NetworkConfig::default()
    };
    talker(config, false, Rc::default(), move |ctx, accepted| {
        Box::pin(async move {
            let p = ctx.providers();
            let mut s = connect(p).await?;
            until(p, &accepted, true).await;
            assert_eq!(s.write(&[1u8; 1_500]).await?, 1_000);
            let (r, mut w) = tokio::io::split(s);
            let blocked = p.spawn("blocked-writer", async move {
                let first = w.write(&[2u8; 500]).await;
                let next = w.write(&[3u8; 10]).await;
                (first, next)
            });
            p.sleep(Duration::from_millis(1)).await;
            assert!(
                !blocked.is_finished(),
                "a write beyond the buffer completed"
            );
            end_peer(&ctx, &accepted);
            let (first, next) = within(p, Duration::from_secs(1), blocked).await??;
            for (which, result) in [("blocked", first), ("next", next)] {
                let kind = result.err().map(|e| e.kind());
                assert!(
                    matches!(
                        kind,
                        Some(io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)
                    ),
                    "the {which} write to a peer that is gone gave {kind:?}"
                );
            }
            drop(r);
            Ok(())
        })
    })
}

#[test]
fn a_writer_blocked_on_a_killed_peer_fails_instead_of_writing_into_the_void() {
    let sim = blocked_writer_sim(|ctx, _| {
        let talker = ctx.control().process_by_name("talker");
        ctx.control().kill(talker.expect("talker")).expect("alive");
    });
    for seed in 0..20 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
    }
}

#[test]
fn a_writer_blocked_on_a_peer_that_drops_its_stream_unread_fails() {
    // The talker drops its end with 1,000 bytes unread (an RST, as a close
    // with unread data sends).
    let sim = blocked_writer_sim(|_, hold| hold.set(false));
    for seed in 0..20 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
    }
}
