//! Simulated clocks: each process reads its own clock, which code can see
//! disagree with the others' (offsets, rates, jumps), timers run on it,
//! `now()` never goes back, every reading stays within the seed's bound,
//! and `SimControl` aims clock faults.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Instant, TaskProvider, TimeProvider};
use moonpool_sim::clock::{ClockChaos, ClockFaults, FAULT_FAMILIES, RATE_PPM_LIMIT};
use moonpool_sim::network::Range;
use moonpool_sim::{
    ClockConfig, ClockError, FnWorkload, ProcessId, SimContext, SimControl, SimProviders,
    Simulation, SimulationBuilder, WorkloadResult,
};

const MS: Duration = Duration::from_millis(1);

/// Servers `a`, `b`, `c` that do nothing, and `run` as the one workload.
fn sim_with<F, Fut>(clocks: ClockConfig, run: F) -> Simulation
where
    F: Fn(SimContext) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = WorkloadResult> + 'static,
{
    let idle = |_p: SimProviders| std::future::pending::<()>();
    SimulationBuilder::new()
        .chaos(false)
        .clocks(clocks)
        .process("a", [10, 0, 0, 1], idle)
        .process("b", [10, 0, 0, 2], idle)
        .process("c", [10, 0, 0, 3], idle)
        .workload("test", 1, move |_| FnWorkload::new(run.clone()))
        .build()
        .expect("valid")
}

/// Perfect clocks that `SimControl` may skew within `bound_ms`.
fn bounded(bound_ms: u64) -> ClockConfig {
    ClockConfig {
        faults: ClockFaults {
            offset_ms_max: bound_ms,
            ..ClockFaults::NONE
        },
        ..ClockConfig::default()
    }
}

fn server(control: &SimControl, name: &str) -> (ProcessId, SimProviders) {
    let id = control.process_by_name(name).expect("a server");
    (id, control.providers_of(id).expect("alive"))
}

fn pass(sim: &Simulation, seed: u64) -> moonpool_sim::SeedReport {
    let r = sim.run_seed(seed);
    assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
    r
}

#[test]
fn without_clock_faults_every_clock_reads_true_time() {
    let sim = sim_with(ClockConfig::default(), |ctx: SimContext| async move {
        let control = ctx.control();
        ctx.providers().sleep(Duration::from_secs(3)).await;
        for name in ["a", "b", "c"] {
            let (_, p) = server(&control, name);
            assert_eq!(p.now(), control.now());
            assert_eq!(p.timer(), control.now());
        }
        Ok(())
    });
    let r = pass(&sim, 1);
    assert!(r.counters.keys().all(|k| !k.starts_with("clock.")));
}

#[test]
fn timers_fire_by_the_local_clock() {
    let ends: Rc<RefCell<BTreeMap<&'static str, (Instant, Duration)>>> = Rc::default();
    let e = Rc::clone(&ends);
    let sim = sim_with(bounded(1_000), move |ctx: SimContext| {
        let ends = Rc::clone(&e);
        async move {
            let control = ctx.control();
            let mut sleepers = Vec::new();
            for (name, rate) in [("a", 100_000), ("b", 0), ("c", -100_000)] {
                let (id, p) = server(&control, name);
                // Half way up the bound: room to gain and to lose.
                control.set_clock_offset(id, 500 * MS)?;
                control.set_clock_rate(id, rate)?;
                let (ends, control) = (Rc::clone(&ends), control.clone());
                let q = p.clone();
                sleepers.push(p.spawn("sleeper", async move {
                    let local_start = q.now();
                    q.sleep(Duration::from_secs(1)).await;
                    let local = q.now() - local_start;
                    ends.borrow_mut().insert(name, (control.now(), local));
                }));
            }
            for s in sleepers {
                s.await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    });
    pass(&sim, 3);
    let ends = ends.borrow();
    let true_ms = |name| ends[name].0.as_nanos() as f64 / 1e6;
    // One second on a clock 10% fast is 909 ms of true time; 10% slow, 1,111 ms.
    assert!((true_ms("a") - 909.09).abs() < 0.01, "{ends:?}");
    assert!((true_ms("b") - 1_000.0).abs() < 0.01, "{ends:?}");
    assert!((true_ms("c") - 1_111.11).abs() < 0.01, "{ends:?}");
    for (name, (_, local)) in ends.iter() {
        assert!(*local >= Duration::from_secs(1), "{name} slept {local:?}");
        assert!(
            *local < Duration::from_secs(1) + MS,
            "{name} slept {local:?}"
        );
    }
}

#[test]
fn a_lease_computed_on_one_clock_ends_early_on_a_clock_ahead_and_late_on_one_behind() {
    let seen: Rc<RefCell<BTreeMap<&'static str, Instant>>> = Rc::default();
    let s = Rc::clone(&seen);
    let sim = sim_with(bounded(100), move |ctx: SimContext| {
        let seen = Rc::clone(&s);
        async move {
            let control = ctx.control();
            let (leader, l) = server(&control, "a");
            let (ahead, _) = server(&control, "b");
            let (behind, _) = server(&control, "c");
            control.set_clock_offset(leader, 40 * MS)?;
            control.set_clock_offset(ahead, 100 * MS)?;
            control.set_clock_offset(behind, Duration::ZERO)?;
            // The leader's lease: 500 ms from its wall clock's reading now.
            let lease_end = l.timer() + 500 * MS;
            let mut watchers = Vec::new();
            for name in ["a", "b", "c"] {
                let (_, p) = server(&control, name);
                let (seen, control) = (Rc::clone(&seen), control.clone());
                let q = p.clone();
                watchers.push(p.spawn("watch", async move {
                    // Each waits until the lease is over on its own clock.
                    while q.timer() < lease_end {
                        q.sleep(MS / 10).await;
                    }
                    seen.borrow_mut().insert(name, control.now());
                }));
            }
            for w in watchers {
                w.await.map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    });
    pass(&sim, 5);
    let seen = seen.borrow();
    let ms = |name| seen[name].as_nanos() as f64 / 1e6;
    // The leader's own clock ends the lease after 500 ms of true time; the
    // clock 60 ms ahead of it sees the end 60 ms early, the one 40 ms behind
    // 40 ms late.
    assert!((ms("a") - 500.0).abs() < 0.2, "{seen:?}");
    assert!((ms("b") - 440.0).abs() < 0.2, "{seen:?}");
    assert!((ms("c") - 540.0).abs() < 0.2, "{seen:?}");
}

#[test]
fn a_sleep_never_ends_before_its_deadline_when_its_clock_slows_down() {
    let sim = sim_with(bounded(1_000), |ctx: SimContext| async move {
        let control = ctx.control();
        let (id, p) = server(&control, "a");
        control.set_clock_offset(id, Duration::ZERO)?;
        control.set_clock_rate(id, 400_000)?;
        let q = p.clone();
        let sleeper = p.spawn("sleeper", async move {
            let deadline = q.now() + Duration::from_secs(1);
            q.sleep_until(deadline).await;
            (deadline, q.now())
        });
        // The timer was set for the fast clock; slow the clock right down.
        ctx.providers().sleep(100 * MS).await;
        control.set_clock_rate(id, -RATE_PPM_LIMIT)?;
        let (deadline, woke) = sleeper.await.map_err(|e| e.to_string())?;
        assert!(
            woke >= deadline,
            "woke at {woke}, before its deadline {deadline}"
        );
        // 100 ms at +40% made 140 ms (40 ms ahead); at -50% the clock
        // loses those 40 ms in 80 ms (making 40), then keeps true pace
        // (it is never behind true time): the other 820 ms take 820 ms.
        let true_end = control.now().as_nanos() as f64 / 1e6;
        assert!((true_end - 1_000.0).abs() < 1.0, "ended at {true_end} ms");
        Ok(())
    });
    pass(&sim, 7);
}

#[test]
fn clock_setters_refuse_what_the_model_cannot_do() {
    let sim = sim_with(bounded(50), |ctx: SimContext| async move {
        let control = ctx.control();
        let (id, _) = server(&control, "a");
        assert_eq!(control.clock_bound(), 50 * MS);
        assert_eq!(
            control.set_clock_offset(id, 51 * MS),
            Err(ClockError::OffsetBeyondBound {
                offset: 51 * MS,
                bound: 50 * MS
            })
        );
        assert_eq!(
            control.set_clock_rate(id, RATE_PPM_LIMIT + 1),
            Err(ClockError::RateOutOfRange {
                rate_ppm: RATE_PPM_LIMIT + 1
            })
        );
        // Any process's clock can be aimed at, a workload client's too.
        let client = control.process_by_name("test#0").expect("the workload");
        control.set_clock_rate(client, 1)?;
        // The monotonic clock never goes back: lowering the offset moves
        // the wall reading only.
        control.set_clock_offset(id, 30 * MS)?;
        let (_, p) = server(&control, "a");
        let before = p.now();
        control.set_clock_offset(id, 10 * MS)?;
        assert!(p.now() >= before);
        let info = control.clock(id).expect("a clock");
        assert_eq!(info.offset, 30 * MS);
        assert_eq!(info.wall_offset, 10 * MS);
        assert_eq!(p.timer(), control.now() + 10 * MS);
        Ok(())
    });
    let r = pass(&sim, 9);
    assert_eq!(r.counters.get("clock.skew"), Some(&2));
    assert_eq!(r.counters.get("clock.rate"), Some(&1));
}

/// Every clock family on, jumps every 100–300 ms, the clock nemesis busy.
fn stormy() -> ClockConfig {
    ClockConfig {
        chaos: ClockChaos {
            family_off: moonpool_core::Ratio::ZERO,
            offset_ms_max: Range::new(20, 100),
            rate_ppm_max: Range::new(1_000, 1_000),
            jump_interval_ms: Range::new(200, 200),
        },
        ..ClockConfig::default()
    }
}

/// Each server's clock offset and drawn rate error, by process index.
type ServerClocks = BTreeMap<u32, (Duration, i64)>;

#[test]
fn under_every_clock_fault_now_never_goes_back_and_readings_stay_within_the_bound() {
    let offsets: Rc<RefCell<Vec<ServerClocks>>> = Rc::default();
    let o = Rc::clone(&offsets);
    let mut sim = SimulationBuilder::new()
        .clocks(stormy())
        .process("a", [10, 0, 0, 1], watch_own_clock)
        .process("b", [10, 0, 0, 2], watch_own_clock)
        .process("c", [10, 0, 0, 3], watch_own_clock)
        .workload("observer", 1, move |_| {
            let offsets = Rc::clone(&o);
            FnWorkload::new(move |ctx: SimContext| {
                let offsets = Rc::clone(&offsets);
                async move {
                    let control = ctx.control();
                    ctx.providers().sleep(5 * MS).await;
                    let mut seen = BTreeMap::new();
                    for (id, _) in control.servers() {
                        let c = control.clock(id).expect("a clock");
                        seen.insert(id.index(), (c.offset, c.drawn_rate_ppm));
                    }
                    offsets.borrow_mut().push(seen);
                    ctx.providers().sleep(Duration::from_secs(5)).await;
                    Ok(())
                }
            })
        })
        .clock_nemesis()
        .build()
        .expect("valid");
    sim.set_chaos(true);
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..20 {
        let r = pass(&sim, seed);
        for (k, n) in &r.counters {
            *counts.entry(k).or_insert(0) += n;
        }
        for (family, _) in FAULT_FAMILIES {
            assert_eq!(r.fault_families.get(family), Some(&true), "{family}");
        }
    }
    for kind in ["clock.drift", "clock.jump", "clock.skew", "clock.rate"] {
        assert!(
            counts.get(kind).copied().unwrap_or(0) > 0,
            "{kind}: {counts:?}"
        );
    }
    // Offsets and rates differ between processes (drawn per incarnation).
    let offsets = offsets.borrow();
    let distinct = |f: &dyn Fn(&(Duration, i64)) -> i128| {
        offsets
            .iter()
            .filter(|seen| {
                let v: Vec<i128> = seen.values().map(f).collect();
                v.windows(2).all(|w| w[0] != w[1])
            })
            .count()
    };
    assert!(
        distinct(&|(o, _)| o.as_nanos() as i128) >= 19,
        "{offsets:?}"
    );
    assert!(distinct(&|(_, r)| *r as i128) >= 19, "{offsets:?}");
}

/// A server that reads its clocks every millisecond and fails the seed if
/// `now()` goes back or a reading leaves the bound.
async fn watch_own_clock(p: SimProviders) -> Result<(), String> {
    let control = SimControl::of(&p);
    let bound = control.clock_bound();
    let mut last = p.now();
    loop {
        p.sleep(MS).await;
        let (now, wall, true_now) = (p.now(), p.timer(), control.now());
        if now < last {
            return Err(format!("now() went back from {last} to {now}"));
        }
        for reading in [now, wall] {
            if reading < true_now || reading - true_now > bound {
                return Err(format!(
                    "{reading} is not within {bound:?} of true time {true_now}"
                ));
            }
        }
        last = now;
    }
}

#[test]
fn clock_faults_replay_exactly() {
    let sim = {
        let mut s = SimulationBuilder::new()
            .clocks(stormy())
            .process("a", [10, 0, 0, 1], watch_own_clock)
            .process("b", [10, 0, 0, 2], watch_own_clock)
            .workload("w", 1, |_| {
                FnWorkload::new(|ctx: SimContext| async move {
                    ctx.providers().sleep(Duration::from_secs(3)).await;
                    Ok(())
                })
            })
            .clock_nemesis()
            .build()
            .expect("valid");
        s.set_chaos(true);
        s
    };
    for seed in 0..5 {
        let r = sim.check_determinism(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        assert!(r.counters.get("clock.jump").is_some_and(|n| *n > 0));
    }
}

#[test]
fn the_clock_nemesis_skews_only_servers_and_stops_when_the_run_phase_ends() {
    let mut sim = SimulationBuilder::new()
        .clocks(stormy())
        .process("a", [10, 0, 0, 1], watch_own_clock)
        .process("b", [10, 0, 0, 2], watch_own_clock)
        .workload("w", 2, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                ctx.providers().sleep(Duration::from_secs(4)).await;
                Ok(())
            })
        })
        .clock_nemesis()
        .build()
        .expect("valid");
    sim.set_chaos(true);
    sim.set_record_timeline(true);
    let mut struck = 0;
    for seed in 0..10 {
        let r = pass(&sim, seed);
        let quiesce = r
            .timeline
            .iter()
            .find(|e| e.kind == "sim.quiesce")
            .map(|e| e.time)
            .expect("quiesce");
        for e in &r.timeline {
            if e.kind == "clock.skew" || e.kind == "clock.rate" {
                struck += 1;
                assert!(e.time <= quiesce, "seed {seed}: {e:?} after quiesce");
                assert!(e.process == "a" || e.process == "b", "{e:?}");
            }
        }
        for kind in ["clock.skew", "clock.rate"] {
            assert_eq!(
                r.faults_on_system.get(kind),
                r.counters.get(kind),
                "seed {seed}: {kind}"
            );
        }
    }
    assert!(struck > 20, "{struck} clock faults in 10 seeds");
}

#[test]
fn chaos_off_injects_no_clock_fault_even_with_the_nemesis() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .clocks(stormy())
        .process("a", [10, 0, 0, 1], watch_own_clock)
        .workload("w", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                ctx.providers().sleep(Duration::from_secs(2)).await;
                Ok(())
            })
        })
        .clock_nemesis()
        .build()
        .expect("valid");
    for seed in 0..5 {
        let r = pass(&sim, seed);
        assert!(
            r.counters.keys().all(|k| !k.starts_with("clock.")),
            "{:?}",
            r.counters
        );
    }
}
