//! Killing and rebooting processes.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{FnWorkload, ProcessError, SimContext, SimProviders, SimulationBuilder};

#[test]
fn a_killed_process_never_runs_again_and_a_reboot_restarts_main() {
    let ticks = Rc::new(Cell::new(0u32));
    let starts = Rc::new(Cell::new(0u32));
    let (t, s) = (Rc::clone(&ticks), Rc::clone(&starts));
    let (t2, s2) = (Rc::clone(&ticks), Rc::clone(&starts));
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("ticker", [10, 0, 0, 1], move |p: SimProviders| {
            let (t, s) = (Rc::clone(&t), Rc::clone(&s));
            async move {
                s.set(s.get() + 1);
                let p2 = p.clone();
                let t2 = Rc::clone(&t);
                // A background task too: it must die with the process.
                p.spawn("background", async move {
                    loop {
                        p2.sleep(Duration::from_millis(10)).await;
                        t2.set(t2.get() + 1);
                    }
                })
                .detach();
                loop {
                    p.sleep(Duration::from_millis(10)).await;
                    t.set(t.get() + 1);
                }
            }
        })
        .workload("nemesis", 1, move |_| {
            let (ticks, starts) = (Rc::clone(&t2), Rc::clone(&s2));
            FnWorkload::new(move |ctx: SimContext| {
                let (ticks, starts) = (Rc::clone(&ticks), Rc::clone(&starts));
                async move {
                    let p = ctx.providers();
                    let control = ctx.control();
                    let ticker = control.process_by_name("ticker").ok_or("no ticker")?;
                    p.sleep(Duration::from_millis(105)).await;
                    assert_eq!(ticks.get(), 20, "two tasks ticked 10 times each");
                    control.kill(ticker)?;
                    assert_eq!(control.kill(ticker), Err(ProcessError::AlreadyDead(ticker)));
                    let at_kill = ticks.get();
                    p.sleep(Duration::from_secs(1)).await;
                    assert_eq!(ticks.get(), at_kill, "a killed process's task ran");
                    control.reboot(ticker)?;
                    p.sleep(Duration::from_millis(55)).await;
                    assert_eq!(starts.get(), 2, "main did not run again");
                    assert_eq!(
                        ticks.get(),
                        at_kill + 10,
                        "the rebooted process is not ticking"
                    );
                    Ok(())
                }
            })
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(1);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(report.counters.get("process.kill"), Some(&1));
    assert_eq!(report.counters.get("process.reboot"), Some(&1));
}

#[test]
fn peers_of_a_killed_process_see_connection_errors() {
    use moonpool_core::{Listener, NetworkProvider};
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server: SocketAddr = ([10, 0, 0, 1], 7000).into();
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", [10, 0, 0, 1], move |p: SimProviders| async move {
            let listener = p.bind(server).await?;
            loop {
                let (mut s, _) = listener.accept().await?;
                p.spawn("conn", async move {
                    let mut buf = [0u8; 1];
                    while s.read_exact(&mut buf).await.is_ok() {
                        if s.write_all(&buf).await.is_err() {
                            break;
                        }
                    }
                })
                .detach();
            }
            #[allow(unreachable_code)]
            std::io::Result::Ok(())
        })
        .workload("client", 1, move |_| {
            FnWorkload::new(move |ctx: SimContext| async move {
                let p = ctx.providers();
                p.sleep(Duration::from_millis(1)).await;
                let mut c = p.connect(server).await?;
                c.write_all(b"x").await?;
                let mut b = [0u8; 1];
                c.read_exact(&mut b).await?;
                let control = ctx.control();
                control.kill(control.process_by_name("server").ok_or("no server")?)?;
                // The next read (blocked, then woken by the reset) fails:
                // the peer learns its connection died with the process.
                let read = p.timeout(Duration::from_secs(5), c.read(&mut b)).await;
                match read {
                    Ok(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
                    other => panic!("expected a reset, got {other:?}"),
                }
                // And a new connection is refused: nobody listens any more.
                let again = p
                    .connect(server)
                    .await
                    .err()
                    .ok_or("connected to a dead process")?;
                assert_eq!(again.kind(), std::io::ErrorKind::ConnectionRefused);
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(3);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(report.counters.get("process.kill"), Some(&1));
}

#[test]
fn providers_of_another_process_run_code_as_that_process() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", [10, 0, 0, 9], |p: SimProviders| async move {
            p.sleep(Duration::from_secs(3600)).await;
        })
        .workload("driver", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let control = ctx.control();
                let server = control.process_by_name("server").ok_or("no server")?;
                let p = control.providers_of(server).ok_or("server is dead")?;
                assert_eq!(p.ip(), std::net::IpAddr::from([10, 0, 0, 9]));
                // Holding only providers, a harness reaches the same world.
                let via = moonpool_sim::SimControl::of(&p);
                assert_eq!(via.process_by_name("server"), Some(server));
                assert_eq!(
                    via.process_by_name("driver#0"),
                    Some(ctx.providers().process_id())
                );
                let ran = Rc::new(Cell::new(0u32));
                let r = Rc::clone(&ran);
                let p2 = p.clone();
                p.spawn("on-server", async move {
                    loop {
                        p2.sleep(Duration::from_millis(10)).await;
                        r.set(r.get() + 1);
                    }
                })
                .detach();
                ctx.providers().sleep(Duration::from_millis(55)).await;
                assert_eq!(ran.get(), 5);
                control.kill(server)?;
                assert!(
                    control.providers_of(server).is_none(),
                    "a dead process has no providers"
                );
                ctx.providers().sleep(Duration::from_millis(100)).await;
                assert_eq!(ran.get(), 5, "the task spawned as the server died with it");
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(4);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
}
