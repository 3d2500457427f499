//! Injected disk faults: each kind happens, is counted, replays exactly,
//! and is seen by the code above (a typed error, a flipped bit, a delay).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{OpenMode, Ratio, StorageError, StorageFile, StorageProvider, TimeProvider};
use moonpool_sim::storage::{DiskFaults, SlowDisk, StorageConfig};
use moonpool_sim::{
    FnWorkload, SeedReport, SimContext, Simulation, SimulationBuilder, WorkloadResult,
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

fn sim_with<F, Fut>(faults: DiskFaults, run: F) -> Simulation
where
    F: Fn(SimContext) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .chaos(false)
        .storage(StorageConfig {
            faults,
            ..StorageConfig::default()
        })
        .workload("w", 1, move |_| phases(run.clone(), nothing))
        .build()
        .expect("valid")
}

fn pass(sim: &Simulation, seed: u64) -> SeedReport {
    let report = sim.run_seed(seed);
    assert!(
        report.outcome.is_pass(),
        "seed {seed}: {:?}",
        report.outcome
    );
    report
}

fn count(report: &SeedReport, kind: &str) -> u64 {
    report.counters.get(kind).copied().unwrap_or(0)
}

fn is_injected_io_error(e: &StorageError) -> bool {
    matches!(e, StorageError::Io(io) if io.kind() == std::io::ErrorKind::Other
        && io.to_string().contains("simulated I/O error"))
}

#[test]
fn io_errors_fail_operations_without_effect_and_are_counted() {
    let seen = Rc::new(RefCell::new(0u64));
    let s = Rc::clone(&seen);
    let faults = DiskFaults {
        io_error: Ratio::new(1, 5),
        ..DiskFaults::default()
    };
    let sim = sim_with(faults, move |ctx: SimContext| {
        let seen = Rc::clone(&s);
        async move {
            let p = ctx.providers();
            *seen.borrow_mut() = 0;
            let f = p.open("f", OpenMode::CreateNew).await?;
            let mut model = [0u8; 64];
            let mut file_len = 0usize;
            for i in 0..300u64 {
                let offset = (i * 7) % 60;
                let byte = [i as u8 | 1];
                match f.write_at(&byte, offset).await {
                    Ok(()) => {
                        model[offset as usize] = byte[0];
                        file_len = file_len.max(offset as usize + 1);
                    }
                    Err(e) if is_injected_io_error(&e) => *seen.borrow_mut() += 1,
                    Err(e) => return Err(e.into()),
                }
                match f.sync().await {
                    Ok(()) => {}
                    Err(e) if is_injected_io_error(&e) => *seen.borrow_mut() += 1,
                    Err(e) => return Err(e.into()),
                }
                let mut buf = [0u8; 64];
                match f.read_at(&mut buf, 0).await {
                    Ok(n) => {
                        assert_eq!(n, file_len, "a failed write changed the length");
                        assert_eq!(&buf[..n], &model[..n], "a failed write had an effect");
                    }
                    Err(e) if is_injected_io_error(&e) => *seen.borrow_mut() += 1,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        }
    });
    let mut sim = sim;
    sim.set_record_timeline(true);
    let report = pass(&sim, 1);
    let injected = count(&report, "disk.io_error");
    // Each is on the chaos timeline, with its process and what failed.
    let on_timeline: Vec<_> = report
        .timeline
        .iter()
        .filter(|e| e.kind == "disk.io_error")
        .collect();
    assert_eq!(on_timeline.len() as u64, injected);
    assert!(
        on_timeline
            .iter()
            .all(|e| e.process == "w#0" && e.detail.contains("of f at"))
    );
    assert_eq!(
        injected,
        *seen.borrow(),
        "every injected error reached the code"
    );
    // 900 operations at 1/5.
    assert!((120..=240).contains(&injected), "{injected}");
    let again = pass(&sim, 1);
    assert_eq!(again.counters, report.counters);
    assert_eq!(again.fingerprint, report.fingerprint);
}

#[test]
fn bit_rot_flips_one_bit_of_a_read_and_never_the_stored_data() {
    let flips = Rc::new(RefCell::new(0u64));
    let fl = Rc::clone(&flips);
    let faults = DiskFaults {
        bit_rot: Ratio::new(1, 4),
        ..DiskFaults::default()
    };
    let sim = sim_with(faults, move |ctx: SimContext| {
        let flips = Rc::clone(&fl);
        async move {
            let p = ctx.providers();
            *flips.borrow_mut() = 0;
            let data: Vec<u8> = (0..4096u32).map(|i| (i * 31) as u8).collect();
            let f = p.open("f", OpenMode::CreateNew).await?;
            f.write_at(&data, 0).await?;
            f.sync().await?;
            let mut clean = 0;
            for _ in 0..400 {
                let mut buf = vec![0u8; 4096];
                let n = f.read_at(&mut buf, 0).await?;
                assert_eq!(n, 4096);
                let flipped: u32 = buf
                    .iter()
                    .zip(&data)
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum();
                match flipped {
                    0 => clean += 1,
                    1 => *flips.borrow_mut() += 1,
                    more => panic!("{more} bits flipped in one read"),
                }
            }
            assert!(clean > 200, "rot is per read, the data itself is intact");
            Ok(())
        }
    });
    let report = pass(&sim, 2);
    assert_eq!(count(&report, "disk.bit_rot"), *flips.borrow());
    assert!((60..=140).contains(&*flips.borrow()), "{}", flips.borrow());
}

#[test]
fn a_full_disk_refuses_growth_with_a_typed_error_and_no_partial_write() {
    let faults = DiskFaults {
        capacity_bytes: Some(10_000),
        ..DiskFaults::default()
    };
    let sim = sim_with(faults, |ctx: SimContext| async move {
        let p = ctx.providers();
        let a = p.open("a", OpenMode::CreateNew).await?;
        let b = p.open("b", OpenMode::CreateNew).await?;
        a.write_at(&[1u8; 6_000], 0).await?;
        b.write_at(&[2u8; 3_000], 0).await?;
        assert!(matches!(
            b.write_at(&[3u8; 3_000], 2_000).await,
            Err(StorageError::DiskFull)
        ));
        assert_eq!(
            b.len().await?,
            3_000,
            "a refused write must not grow the file"
        );
        let mut buf = [0u8; 3_000];
        b.read_at(&mut buf, 0).await?;
        assert_eq!(
            buf, [2u8; 3_000],
            "a refused write must not change the file"
        );
        assert!(matches!(
            a.truncate(8_000).await,
            Err(StorageError::DiskFull)
        ));
        // Overwrites in place and shrinking need no space.
        b.write_at(&[4u8; 3_000], 0).await?;
        a.truncate(1_000).await?;
        b.write_at(&[5u8; 5_000], 3_000).await?;
        // Deleting frees space.
        p.delete("b").await?;
        a.write_at(&[6u8; 8_000], 1_000).await?;
        Ok(())
    });
    let report = pass(&sim, 3);
    assert_eq!(count(&report, "disk.full"), 2);
}

#[test]
fn a_slow_disk_episode_multiplies_latency_for_a_while() {
    let faults = DiskFaults {
        slow: Some(SlowDisk {
            gap_ms_min: 20,
            gap_ms_max: 20,
            duration_ms_min: 30,
            duration_ms_max: 30,
            factor_min: 40,
            factor_max: 40,
        }),
        ..DiskFaults::default()
    };
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let l = Rc::clone(&latencies);
    let sim = sim_with(faults, move |ctx: SimContext| {
        let latencies = Rc::clone(&l);
        async move {
            let p = ctx.providers();
            latencies.borrow_mut().clear();
            let f = p.open("f", OpenMode::CreateNew).await?;
            let start = p.now();
            while p.now() - start < Duration::from_millis(100) {
                let t = p.now();
                f.write_at(b"x", 0).await?;
                latencies.borrow_mut().push((t - start, p.now() - t));
            }
            Ok(())
        }
    });
    let report = pass(&sim, 4);
    let latencies = latencies.borrow();
    // Healthy writes take 50-200 µs; during an episode, 40 times that.
    let slow: Vec<_> = latencies
        .iter()
        .filter(|(_, d)| *d >= Duration::from_millis(2))
        .collect();
    let fast = latencies
        .iter()
        .filter(|(_, d)| *d <= Duration::from_micros(201))
        .count();
    assert_eq!(slow.len() + fast, latencies.len(), "{latencies:?}");
    assert!(
        !slow.is_empty() && fast > 50,
        "{} slow, {fast} fast",
        slow.len()
    );
    // The first episode starts at the first write after 20 ms.
    let first = slow[0].0;
    assert!(
        first >= Duration::from_millis(20) && first < Duration::from_millis(21),
        "{first:?}"
    );
    assert!(count(&report, "disk.slow") >= 1);
}

#[test]
fn no_fault_is_injected_once_the_checks_begin() {
    let faults = DiskFaults {
        io_error: Ratio::ONE,
        bit_rot: Ratio::ONE,
        capacity_bytes: Some(0),
        slow: None,
    };
    let sim = SimulationBuilder::new()
        .chaos(false)
        .storage(StorageConfig {
            faults,
            ..StorageConfig::default()
        })
        .workload("w", 1, |_| {
            phases(
                |ctx: SimContext| async move {
                    let f = ctx.providers().open("f", OpenMode::CreateNew).await?;
                    assert!(
                        f.write_at(b"x", 0).await.is_err(),
                        "every write fails while chaos is on"
                    );
                    Ok(())
                },
                |ctx: SimContext| async move {
                    let f = ctx.providers().open("f", OpenMode::Open).await?;
                    f.write_at(b"healthy", 0).await?;
                    f.sync().await?;
                    let mut buf = [0u8; 7];
                    f.read_at(&mut buf, 0).await?;
                    assert_eq!(&buf, b"healthy");
                    Ok(())
                },
            )
        })
        .build()
        .expect("valid");
    pass(&sim, 5);
}

/// A workload that exercises the disk enough for every family to show.
async fn busy_disk(ctx: SimContext) -> WorkloadResult {
    let p = ctx.providers();
    let f = p.open("f", OpenMode::CreateNew).await?;
    let mut offset = 0u64;
    for i in 0..1_000u64 {
        // Errors are expected here: the counters tell what happened.
        let _ = f.write_at(&[i as u8; 4096], offset).await;
        offset += 4096;
        let mut buf = [0u8; 512];
        let _ = f.read_at(&mut buf, i * 512).await;
        if i % 10 == 0 {
            let _ = f.sync().await;
        }
        p.sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[test]
fn chaos_switches_each_disk_family_on_in_some_seeds_and_off_in_others() {
    let sim = SimulationBuilder::new()
        .chaos(true)
        .workload("w", 1, |_| phases(busy_disk, nothing))
        .build()
        .expect("valid");
    let families = ["disk.io_error", "disk.bit_rot", "disk.full", "disk.slow"];
    let mut on_seeds: BTreeMap<&str, u32> = BTreeMap::new();
    let mut fired: BTreeMap<&str, u64> = BTreeMap::new();
    for seed in 0..40 {
        let report = pass(&sim, seed);
        for family in families {
            let on = report.fault_families.get(family).copied();
            assert!(on.is_some(), "seed {seed}: family {family} not reported");
            if on == Some(true) {
                *on_seeds.entry(family).or_insert(0) += 1;
                *fired.entry(family).or_insert(0) += count(&report, family);
            } else {
                assert_eq!(
                    count(&report, family),
                    0,
                    "seed {seed}: {family} is off but fired"
                );
            }
        }
        if seed < 5 {
            let again = sim.run_seed(seed);
            assert_eq!(again.fingerprint, report.fingerprint);
            assert_eq!(again.counters, report.counters);
        }
    }
    for family in families {
        let on = on_seeds.get(family).copied().unwrap_or(0);
        assert!((5..=35).contains(&on), "{family} on in {on} of 40 seeds");
        assert!(
            fired.get(family).copied().unwrap_or(0) > 0,
            "{family} never fired: {fired:?}"
        );
    }
}
