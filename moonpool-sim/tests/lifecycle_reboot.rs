//! Reboots, wipes and the fault model (`max_down`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{OpenMode, StorageError, StorageFile, StorageProvider, TimeProvider};
use moonpool_sim::{
    FnWorkload, ProcessError, ProcessState, SimContext, SimProviders, Simulation,
    SimulationBuilder, WorkloadResult,
};

/// A workload running `run`, then `check`.
fn phases<R, RF, C, CF>(run: R, check: C) -> FnWorkload<R, C>
where
    R: FnMut(SimContext) -> RF + 'static,
    RF: std::future::Future<Output = WorkloadResult>,
    C: FnMut(SimContext) -> CF + 'static,
    CF: std::future::Future<Output = WorkloadResult>,
{
    FnWorkload::new(run).with_check(check)
}

async fn nothing(_: SimContext) -> WorkloadResult {
    Ok(())
}

/// One start of a process: when, and what its `boot` file said.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Start {
    at: Duration,
    boots_on_disk: Option<u32>,
}

/// A process that, on each start, reads how many times it booted from its
/// disk, then writes and syncs the count plus one (and one unsynced file).
fn counting_main(
    starts: Rc<RefCell<Vec<Start>>>,
) -> impl Fn(
    SimProviders,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StorageError>>>> {
    move |p: SimProviders| {
        let starts = Rc::clone(&starts);
        Box::pin(async move {
            let at = p.now().since_epoch();
            let boots_on_disk = match p.open("boot", OpenMode::Open).await {
                Ok(f) => {
                    let mut buf = [0u8; 4];
                    f.read_at(&mut buf, 0).await?;
                    Some(u32::from_le_bytes(buf))
                }
                Err(StorageError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            starts.borrow_mut().push(Start { at, boots_on_disk });
            let f = p.open("boot", OpenMode::OpenOrCreate).await?;
            f.write_at(&(boots_on_disk.unwrap_or(0) + 1).to_le_bytes(), 0)
                .await?;
            f.sync().await?;
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

fn sim_of<R, RF, C, CF>(
    servers: usize,
    starts: &[Rc<RefCell<Vec<Start>>>],
    run: R,
    check: C,
) -> Simulation
where
    R: Fn(SimContext) -> RF + Clone + 'static,
    RF: std::future::Future<Output = WorkloadResult> + 'static,
    C: Fn(SimContext) -> CF + Clone + 'static,
    CF: std::future::Future<Output = WorkloadResult> + 'static,
{
    let mut b = SimulationBuilder::new().chaos(false);
    for (i, s) in starts.iter().enumerate().take(servers) {
        b = b.process(
            format!("s{i}"),
            [10, 0, 0, i as u8 + 1],
            counting_main(Rc::clone(s)),
        );
    }
    b.workload("nemesis", 1, move |_| phases(run.clone(), check.clone()))
        .build()
        .expect("valid")
}

fn pid(
    ctx: &SimContext,
    name: &str,
) -> Result<moonpool_sim::ProcessId, Box<dyn std::error::Error>> {
    Ok(ctx
        .control()
        .process_by_name(name)
        .ok_or("no such process")?)
}

#[test]
fn a_reboot_restarts_main_with_the_surviving_files() {
    let starts = Rc::new(RefCell::new(Vec::new()));
    let sim = sim_of(
        1,
        &[Rc::clone(&starts)],
        |ctx: SimContext| async move {
            let s0 = pid(&ctx, "s0")?;
            for _ in 0..3 {
                ctx.providers().sleep(Duration::from_millis(20)).await;
                ctx.control().kill(s0)?;
                ctx.control().reboot(s0)?;
            }
            ctx.providers().sleep(Duration::from_millis(20)).await;
            Ok(())
        },
        nothing,
    );
    let report = sim.run_seed(1);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    let boots: Vec<_> = starts.borrow().iter().map(|s| s.boots_on_disk).collect();
    assert_eq!(boots, vec![None, Some(1), Some(2), Some(3)]);
    assert_eq!(report.counters.get("process.reboot"), Some(&3));
}

#[test]
fn a_wipe_gives_an_empty_disk() {
    let starts = Rc::new(RefCell::new(Vec::new()));
    let sim = sim_of(
        1,
        &[Rc::clone(&starts)],
        |ctx: SimContext| async move {
            let s0 = pid(&ctx, "s0")?;
            let c = ctx.control();
            ctx.providers().sleep(Duration::from_millis(20)).await;
            assert_eq!(c.wipe(s0), Err(ProcessError::NotDead(s0)));
            c.kill(s0)?;
            c.reboot(s0)?;
            ctx.providers().sleep(Duration::from_millis(20)).await;
            assert_eq!(c.disk_files(s0), vec!["boot".to_string()]);
            c.kill_and_reboot(s0, Duration::from_millis(5), true)?;
            assert!(c.disk_files(s0).is_empty(), "the wipe happens at the kill");
            ctx.providers().sleep(Duration::from_millis(20)).await;
            Ok(())
        },
        nothing,
    );
    let report = sim.run_seed(2);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    let boots: Vec<_> = starts.borrow().iter().map(|s| s.boots_on_disk).collect();
    assert_eq!(boots, vec![None, Some(1), None]);
    assert_eq!(report.counters.get("process.wipe"), Some(&1));
}

#[test]
fn reboot_after_restarts_exactly_after_the_delay_unless_rebooted_first() {
    let starts = Rc::new(RefCell::new(Vec::new()));
    let killed_at = Rc::new(Cell::new(Duration::ZERO));
    let k = Rc::clone(&killed_at);
    let sim = sim_of(
        1,
        &[Rc::clone(&starts)],
        move |ctx: SimContext| {
            let killed_at = Rc::clone(&k);
            async move {
                let s0 = pid(&ctx, "s0")?;
                let c = ctx.control();
                let p = ctx.providers();
                p.sleep(Duration::from_millis(20)).await;
                assert_eq!(
                    c.reboot_after(s0, Duration::ZERO),
                    Err(ProcessError::NotDead(s0))
                );
                c.kill(s0)?;
                killed_at.set(p.now().since_epoch());
                c.reboot_after(s0, Duration::from_millis(250))?;
                p.sleep(Duration::from_millis(100)).await;
                assert_eq!(c.down(), vec![s0], "still down before the delay");
                p.sleep(Duration::from_millis(200)).await;
                assert!(c.down().is_empty());
                // A delayed reboot that someone else did first is skipped.
                c.kill(s0)?;
                c.reboot_after(s0, Duration::from_millis(50))?;
                c.reboot(s0)?;
                p.sleep(Duration::from_millis(100)).await;
                Ok(())
            }
        },
        nothing,
    );
    let report = sim.run_seed(3);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    let starts = starts.borrow();
    assert_eq!(starts.len(), 3, "{starts:?}");
    assert_eq!(starts[1].at, killed_at.get() + Duration::from_millis(250));
    assert_eq!(report.counters.get("process.reboot"), Some(&2));
}

#[test]
fn kills_beyond_max_down_are_refused_and_counted() {
    let starts: Vec<_> = (0..3).map(|_| Rc::new(RefCell::new(Vec::new()))).collect();
    let mut sim_builder = SimulationBuilder::new().chaos(false).max_down(1);
    for (i, s) in starts.iter().enumerate() {
        sim_builder = sim_builder.process(
            format!("s{i}"),
            [10, 0, 0, i as u8 + 1],
            counting_main(Rc::clone(s)),
        );
    }
    let sim = sim_builder
        .workload("nemesis", 1, |_| {
            phases(
                |ctx: SimContext| async move {
                    let (s0, s1, s2) = (pid(&ctx, "s0")?, pid(&ctx, "s1")?, pid(&ctx, "s2")?);
                    let c = ctx.control();
                    assert_eq!(c.max_down(), Some(1));
                    c.kill(s0)?;
                    assert_eq!(
                        c.kill(s1),
                        Err(ProcessError::KillRefused {
                            process: s1,
                            down: 1,
                            max_down: 1
                        })
                    );
                    c.reboot(s0)?;
                    c.kill(s1)?;
                    c.set_max_down(Some(2));
                    c.kill(s2)?;
                    assert_eq!(c.down(), vec![s1, s2]);
                    // A nemesis may be stricter than the system's model.
                    c.reboot(s2)?;
                    assert!(matches!(
                        c.kill_within(s2, 1),
                        Err(ProcessError::KillRefused { .. })
                    ));
                    c.set_max_down(None);
                    c.kill(s0)?;
                    c.kill(s2)?;
                    assert_eq!(c.down().len(), 3);
                    Ok(())
                },
                nothing,
            )
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(4);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(report.counters.get("process.kill_refused"), Some(&2));
    assert_eq!(report.counters.get("process.kill"), Some(&5));
}

#[test]
fn dead_processes_are_rebooted_when_the_checks_begin() {
    let starts: Vec<_> = (0..2).map(|_| Rc::new(RefCell::new(Vec::new()))).collect();
    let sim = sim_of(
        2,
        &starts,
        |ctx: SimContext| async move {
            let c = ctx.control();
            ctx.providers().sleep(Duration::from_millis(20)).await;
            c.kill(pid(&ctx, "s0")?)?;
            c.kill(pid(&ctx, "s1")?)?;
            Ok(())
        },
        |ctx: SimContext| async move {
            let c = ctx.control();
            assert!(c.down().is_empty(), "dead at the checks: {:?}", c.down());
            for (_, info) in c.servers() {
                assert_eq!(info.state, ProcessState::Running);
                assert_eq!(info.incarnation, 1);
            }
            // Let the new incarnations read their disks.
            ctx.providers().sleep(Duration::from_millis(20)).await;
            Ok(())
        },
    );
    let report = sim.run_seed(5);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(report.counters.get("process.reboot"), Some(&2));
    for s in &starts {
        assert_eq!(s.borrow().len(), 2);
    }
}

#[test]
fn rebooting_at_the_checks_can_be_turned_off() {
    let starts = Rc::new(RefCell::new(Vec::new()));
    let sim = sim_of(
        1,
        &[Rc::clone(&starts)],
        |ctx: SimContext| async move {
            ctx.control().set_reboot_dead_at_quiesce(false);
            ctx.control().kill(pid(&ctx, "s0")?)?;
            Ok(())
        },
        |ctx: SimContext| async move {
            assert_eq!(ctx.control().down(), vec![pid(&ctx, "s0")?]);
            Ok(())
        },
    );
    let report = sim.run_seed(6);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(report.counters.get("process.reboot"), None);
}

#[test]
fn a_write_in_flight_at_the_kill_never_lands() {
    let lives = Rc::new(Cell::new(0u32));
    let landed = Rc::new(RefCell::new(None));
    let (l, lv) = (Rc::clone(&landed), Rc::clone(&lives));
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("db", [10, 0, 0, 1], move |p: SimProviders| {
            let landed = Rc::clone(&l);
            let lives = Rc::clone(&lv);
            async move {
                lives.set(lives.get() + 1);
                let f = p.open("f", OpenMode::OpenOrCreate).await?;
                if lives.get() > 1 {
                    *landed.borrow_mut() = Some(f.len().await?);
                    std::future::pending::<()>().await;
                }
                f.sync().await?;
                // 4 MiB: over 4 ms of transfer alone.
                f.write_at(&[9u8; 4 << 20], 0).await?;
                f.sync().await?;
                Ok::<(), StorageError>(())
            }
        })
        .workload("nemesis", 1, |_| {
            phases(
                |ctx: SimContext| async move {
                    let db = pid(&ctx, "db")?;
                    // Open and the first sync take at most 2.1 ms; the write
                    // then takes more than 4 ms.
                    ctx.providers().sleep(Duration::from_micros(2_150)).await;
                    ctx.control().kill(db)?;
                    ctx.control().reboot(db)?;
                    ctx.providers().sleep(Duration::from_millis(10)).await;
                    Ok(())
                },
                nothing,
            )
        })
        .build()
        .expect("valid");
    for seed in 0..20 {
        lives.set(0);
        *landed.borrow_mut() = None;
        let report = sim.run_seed(seed);
        assert!(report.outcome.is_pass(), "{:?}", report.outcome);
        assert_eq!(
            *landed.borrow(),
            Some(0),
            "seed {seed}: the in-flight write landed"
        );
        assert_eq!(report.counters.get("disk.crash_kept"), None);
        assert_eq!(report.counters.get("disk.crash_lost"), None);
    }
}

/// Every process but the simulator's own is found by its IP, and only it.
fn assert_found_by_ip(ctx: &SimContext) {
    let c = ctx.control();
    for (id, info) in c.processes() {
        let found = c.process_by_ip(info.ip);
        if info.kind == moonpool_sim::ProcessKind::System {
            assert_eq!(found, None, "the simulator's own process has no address");
        } else {
            assert_eq!(
                found,
                Some(id),
                "{} ({}) in state {:?}",
                info.name,
                info.ip,
                info.state
            );
        }
    }
    assert_eq!(c.process_by_ip([10, 9, 9, 9].into()), None);
}

#[test]
fn every_process_is_found_by_its_ip_through_kill_reboot_and_wipe() {
    let starts: Vec<_> = (0..3).map(|_| Rc::new(RefCell::new(Vec::new()))).collect();
    let sim = sim_of(
        3,
        &starts,
        |ctx: SimContext| async move {
            let s1 = pid(&ctx, "s1")?;
            let c = ctx.control();
            assert_found_by_ip(&ctx);
            c.kill(s1)?;
            assert_found_by_ip(&ctx);
            c.wipe(s1)?;
            assert_found_by_ip(&ctx);
            c.reboot(s1)?;
            assert_found_by_ip(&ctx);
            c.kill_and_reboot(s1, Duration::from_millis(5), true)?;
            ctx.providers().sleep(Duration::from_millis(20)).await;
            assert_found_by_ip(&ctx);
            Ok(())
        },
        nothing,
    );
    let report = sim.run_seed(4);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(report.counters.get("process.reboot"), Some(&2));
}
