//! Simulated storage: what files do when nothing goes wrong, and what a
//! kill does to them when the crash model is forced to one outcome.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{
    OpenMode, Ratio, StorageError, StorageFile, StorageProvider, TaskProvider, TimeProvider,
};
use moonpool_sim::storage::{CrashModel, DiskLatency, SimFile, StorageConfig};
use moonpool_sim::{
    ConfigError, FnWorkload, SimContext, SimProviders, Simulation, SimulationBuilder,
    WorkloadResult,
};

fn one_workload<F, Fut>(storage: StorageConfig, f: F) -> Simulation
where
    F: Fn(SimContext) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .chaos(false)
        .storage(storage)
        .workload("w", 1, move |_| FnWorkload::new(f.clone()))
        .build()
        .expect("valid")
}

fn pass(sim: &Simulation, seed: u64) -> moonpool_sim::SeedReport {
    let report = sim.run_seed(seed);
    assert!(
        report.outcome.is_pass(),
        "seed {seed}: {:?}",
        report.outcome
    );
    report
}

async fn read_all(f: &SimFile) -> Result<Vec<u8>, StorageError> {
    let len = f.len().await? as usize;
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, 0).await?;
    buf.truncate(n);
    Ok(buf)
}

/// Every unsynced operation is dropped at a crash.
fn drop_everything() -> CrashModel {
    CrashModel {
        intact: Ratio::ZERO,
        page_keep: Ratio::ZERO,
        page_tear: Ratio::ZERO,
        sector_keep: Ratio::ZERO,
    }
}

#[test]
fn reads_see_unsynced_writes() {
    let sim = one_workload(StorageConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let f = p.open("log", OpenMode::CreateNew).await?;
        f.write_at(b"abc", 0).await?;
        assert_eq!(read_all(&f).await?, b"abc");
        f.write_at(b"Z", 1).await?;
        assert_eq!(read_all(&f).await?, b"aZc");
        assert_eq!(f.len().await?, 3);
        Ok(())
    });
    pass(&sim, 1);
}

#[test]
fn operations_take_the_documented_virtual_time() {
    let sim = one_workload(StorageConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let l = DiskLatency::default();
        let us = |d: Duration| d.as_micros() as u64;
        for _ in 0..50 {
            let t = p.now();
            let f = p.open("f", OpenMode::OpenOrCreate).await?;
            let open_us = us(p.now() - t);
            assert!(
                (l.metadata_us_min..=l.metadata_us_max).contains(&open_us),
                "open {open_us}"
            );

            let t = p.now();
            f.write_at(&[1u8; 64 << 10], 0).await?;
            let write_us = us(p.now() - t);
            // 64 KiB at 1000 ns/KiB adds 64 µs of transfer.
            assert!(
                (l.write_us_min + 64..=l.write_us_max + 64).contains(&write_us),
                "write {write_us}"
            );

            let t = p.now();
            let mut buf = [0u8; 100];
            f.read_at(&mut buf, 0).await?;
            let read_us = us(p.now() - t);
            assert!(
                (l.read_us_min..=l.read_us_max).contains(&read_us),
                "read {read_us}"
            );

            let t = p.now();
            f.sync().await?;
            let sync_us = us(p.now() - t);
            assert!(
                (l.sync_us_min..=l.sync_us_max).contains(&sync_us),
                "sync {sync_us}"
            );

            let t = p.now();
            f.len().await?;
            assert_eq!(p.now(), t, "len is answered from memory");
        }
        Ok(())
    });
    pass(&sim, 2);
}

#[test]
fn an_instant_disk_takes_no_virtual_time() {
    let sim = one_workload(StorageConfig::instant(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let t = p.now();
        let f = p.open("f", OpenMode::CreateNew).await?;
        f.write_at(&[7u8; 100_000], 0).await?;
        f.sync().await?;
        assert_eq!(p.now(), t);
        Ok(())
    });
    pass(&sim, 3);
}

#[test]
fn a_deleted_file_stays_usable_through_an_open_handle() {
    let sim = one_workload(StorageConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let f = p.open("doomed", OpenMode::CreateNew).await?;
        f.write_at(b"still here", 0).await?;
        p.delete("doomed").await?;
        assert!(!p.exists("doomed").await?);
        assert_eq!(read_all(&f).await?, b"still here");
        f.write_at(b"S", 0).await?;
        f.sync().await?;
        assert_eq!(read_all(&f).await?, b"Still here");
        // A new file of the same name is a different file.
        let g = p.open("doomed", OpenMode::CreateNew).await?;
        assert_eq!(g.len().await?, 0);
        Ok(())
    });
    pass(&sim, 4);
}

#[test]
fn oversized_writes_fail_with_a_typed_error_and_no_allocation() {
    let sim = one_workload(StorageConfig::default(), |ctx: SimContext| async move {
        let p = ctx.providers();
        let f = p.open("f", OpenMode::CreateNew).await?;
        for result in [
            f.write_at(b"x", u64::MAX - 1).await,
            f.write_at(b"x", 1 << 40).await,
            f.truncate(1 << 40).await,
        ] {
            match result {
                Err(StorageError::Io(e)) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge)
                }
                other => panic!("expected FileTooLarge, got {other:?}"),
            }
        }
        assert_eq!(f.len().await?, 0);
        Ok(())
    });
    pass(&sim, 5);
}

#[test]
fn each_process_has_its_own_disk() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("w", 2, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let p = ctx.providers();
                let me = ctx.client_id() as u8;
                let f = p.open("shared-name", OpenMode::OpenOrCreate).await?;
                f.write_at(&[me; 10], 0).await?;
                p.sleep(Duration::from_millis(5)).await;
                assert_eq!(read_all(&f).await?, vec![me; 10]);
                Ok(())
            })
        })
        .build()
        .expect("valid");
    pass(&sim, 6);
}

#[test]
fn invalid_storage_configs_are_typed_build_errors() {
    let mut config = StorageConfig::default();
    config.latency.sync_us_min = 10_000;
    let built = SimulationBuilder::new()
        .chaos(false)
        .storage(config)
        .workload("w", 1, |_| {
            FnWorkload::new(|_: SimContext| async { Ok(()) })
        })
        .build();
    assert!(matches!(built, Err(ConfigError::Storage(_))));

    let mut config = StorageConfig::default();
    config.crash.page_keep = Ratio::new(2, 3);
    config.crash.page_tear = Ratio::new(1, 2);
    let built = SimulationBuilder::new()
        .chaos(false)
        .storage(config)
        .workload("w", 1, |_| {
            FnWorkload::new(|_: SimContext| async { Ok(()) })
        })
        .build();
    assert!(matches!(built, Err(ConfigError::Storage(_))));
}

/// What a server process saw, shared with the test.
#[derive(Default)]
struct Seen {
    /// Contents of each file at each start, by incarnation.
    starts: Vec<Vec<(String, Option<Vec<u8>>)>>,
    /// A handle of the first incarnation, kept past its death.
    handle: Option<SimFile>,
}

/// A server whose first incarnation runs `first` and whose every start
/// records the given files.
fn server_sim<F, Fut>(
    storage: StorageConfig,
    files: &'static [&'static str],
    seen: Rc<RefCell<Seen>>,
    first: F,
    nemesis: impl Fn(
        SimContext,
        Rc<RefCell<Seen>>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = WorkloadResult>>>
    + 'static,
) -> Simulation
where
    F: Fn(SimProviders, Rc<RefCell<Seen>>) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<(), StorageError>> + 'static,
{
    let seen2 = Rc::clone(&seen);
    let first = Rc::new(first);
    let nemesis = Rc::new(nemesis);
    SimulationBuilder::new()
        .chaos(false)
        .storage(storage)
        .process("db", [10, 0, 0, 1], move |p: SimProviders| {
            let seen = Rc::clone(&seen2);
            let first = Rc::clone(&first);
            async move {
                let mut snapshot = Vec::new();
                for name in files {
                    let contents = match p.open(name, OpenMode::Open).await {
                        Ok(f) => Some(read_all(&f).await?),
                        Err(StorageError::NotFound { .. }) => None,
                        Err(e) => return Err(e),
                    };
                    snapshot.push((name.to_string(), contents));
                }
                let first_start = seen.borrow().starts.is_empty();
                seen.borrow_mut().starts.push(snapshot);
                if first_start {
                    first(p.clone(), Rc::clone(&seen)).await?;
                }
                std::future::pending::<()>().await;
                Ok::<(), StorageError>(())
            }
        })
        .workload("nemesis", 1, move |_| {
            let nemesis = Rc::clone(&nemesis);
            let seen = Rc::clone(&seen);
            FnWorkload::new(move |ctx: SimContext| nemesis(ctx, Rc::clone(&seen)))
        })
        .build()
        .expect("valid")
}

fn kill_then_reboot_after(
    wait: Duration,
) -> impl Fn(
    SimContext,
    Rc<RefCell<Seen>>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = WorkloadResult>>> {
    move |ctx: SimContext, _| {
        Box::pin(async move {
            let control = ctx.control();
            let db = control.process_by_name("db").ok_or("no db")?;
            ctx.providers().sleep(wait).await;
            control.kill(db)?;
            control.reboot(db)?;
            ctx.providers().sleep(Duration::from_millis(50)).await;
            Ok(())
        })
    }
}

#[test]
fn a_sync_covers_the_writes_completed_before_it_and_no_others() {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let config = StorageConfig {
        crash: drop_everything(),
        ..StorageConfig::default()
    };
    let sim = server_sim(
        config,
        &["f"],
        Rc::clone(&seen),
        |p: SimProviders, _| async move {
            let f = Rc::new(p.open("f", OpenMode::CreateNew).await?);
            f.write_at(b"before", 0).await?;
            // The sync takes 1-2 ms; this write completes during it.
            let (f2, p2) = (Rc::clone(&f), p.clone());
            let late = p.spawn("late-writer", async move {
                p2.sleep(Duration::from_micros(10)).await;
                f2.write_at(b"DURING", 6).await
            });
            f.sync().await?;
            late.await
                .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))??;
            assert_eq!(read_all(&f).await?, b"beforeDURING");
            Ok(())
        },
        kill_then_reboot_after(Duration::from_millis(10)),
    );
    pass(&sim, 7);
    let seen = seen.borrow();
    assert_eq!(seen.starts.len(), 2);
    assert_eq!(seen.starts[1][0].1.as_deref(), Some(&b"before"[..]));
}

#[test]
fn a_file_never_synced_vanishes_at_a_crash_and_truncation_waits_for_sync() {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let config = StorageConfig {
        crash: drop_everything(),
        ..StorageConfig::default()
    };
    let sim = server_sim(
        config,
        &["synced", "unsynced", "reopened"],
        Rc::clone(&seen),
        |p: SimProviders, _| async move {
            let s = p.open("synced", OpenMode::CreateNew).await?;
            s.write_at(b"kept", 0).await?;
            s.sync().await?;
            let u = p.open("unsynced", OpenMode::CreateNew).await?;
            u.write_at(b"gone", 0).await?;
            let r = p.open("reopened", OpenMode::CreateNew).await?;
            r.write_at(b"old contents", 0).await?;
            r.sync().await?;
            // Open with Truncate: cut to zero, but not durably.
            let r = p.open("reopened", OpenMode::Truncate).await?;
            r.write_at(b"new", 0).await?;
            Ok(())
        },
        kill_then_reboot_after(Duration::from_millis(20)),
    );
    let report = pass(&sim, 8);
    let seen = seen.borrow();
    let after = &seen.starts[1];
    assert_eq!(after[0].1.as_deref(), Some(&b"kept"[..]));
    assert_eq!(after[1].1, None, "an unsynced creation survived");
    assert_eq!(after[2].1.as_deref(), Some(&b"old contents"[..]));
    assert_eq!(report.counters.get("disk.crash_file_lost"), Some(&1));
    // The unsynced write to "unsynced" vanished with its file; the truncate
    // and the write of "reopened" were dropped.
    assert_eq!(report.counters.get("disk.crash_lost"), Some(&2));
}

#[test]
fn a_handle_of_a_killed_incarnation_fails_and_cannot_touch_the_new_disk() {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let sim = server_sim(
        StorageConfig::default(),
        &["f"],
        Rc::clone(&seen),
        |p: SimProviders, seen: Rc<RefCell<Seen>>| async move {
            let f = p.open("f", OpenMode::CreateNew).await?;
            f.write_at(b"one", 0).await?;
            f.sync().await?;
            seen.borrow_mut().handle = Some(f);
            Ok(())
        },
        |ctx: SimContext, seen: Rc<RefCell<Seen>>| {
            Box::pin(async move {
                let control = ctx.control();
                let db = control.process_by_name("db").ok_or("no db")?;
                ctx.providers().sleep(Duration::from_millis(10)).await;
                control.kill(db)?;
                control.reboot(db)?;
                let stale = seen.borrow_mut().handle.take().ok_or("no handle")?;
                assert!(matches!(
                    stale.write_at(b"two", 0).await,
                    Err(StorageError::Io(_))
                ));
                let mut buf = [0u8; 3];
                assert!(stale.read_at(&mut buf, 0).await.is_err());
                assert!(stale.sync().await.is_err());
                ctx.providers().sleep(Duration::from_millis(10)).await;
                Ok(())
            })
        },
    );
    pass(&sim, 9);
    let seen = seen.borrow();
    assert_eq!(seen.starts[1][0].1.as_deref(), Some(&b"one"[..]));
}
