//! The book's chapters "Why deterministic simulation" and "Providers and
//! the determinism rules" (`docs/src/why.md`, `docs/src/providers.md`):
//! code written against the providers, run in simulation and on tokio, and
//! the mistakes that break determinism with what the simulator says about
//! each.
//!
//! `cargo run -p moonpool-examples --example book_providers` prints the
//! simulator's diagnosis of each mistake; the tests check them.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool_core::{Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_sim::{
    FnWorkload, SeedReport, SimContext, SimProviders, Simulation, SimulationBuilder, WorkloadResult,
};

// ANCHOR: generic
/// Calls `op` until it succeeds, at most `attempts` times, sleeping an
/// exponentially growing, jittered delay between attempts. Generic over the
/// providers: the same function runs in simulation and on tokio.
pub async fn retry<P, T, E, F, Fut>(p: &P, attempts: u32, mut op: F) -> Result<T, E>
where
    P: Providers,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay_ms = 10u64;
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= attempts => return Err(e),
            Err(_) => {
                // Jitter from the random provider, sleep from the time provider.
                let jitter_ms = p.random().random_range(0..=delay_ms / 2);
                p.time()
                    .sleep(Duration::from_millis(delay_ms + jitter_ms))
                    .await;
                delay_ms = (delay_ms * 2).min(1_000);
                attempt += 1;
            }
        }
    }
}
// ANCHOR_END: generic

// ANCHOR: in_simulation
/// A simulation whose one workload retries an operation that fails its
/// first `failures` calls, and records when it finally succeeded.
fn retry_simulation(failures: u32, succeeded_at: Rc<Cell<Option<Duration>>>) -> Simulation {
    SimulationBuilder::new()
        .chaos(false)
        .workload("retrier", 1, move |_| {
            let succeeded_at = Rc::clone(&succeeded_at);
            FnWorkload::new(move |ctx: SimContext| {
                let succeeded_at = Rc::clone(&succeeded_at);
                async move {
                    let p = ctx.providers().clone();
                    let calls = Cell::new(0u32);
                    retry(&p, 10, || {
                        calls.set(calls.get() + 1);
                        let ok = calls.get() > failures;
                        async move { if ok { Ok(()) } else { Err("not yet") } }
                    })
                    .await?;
                    succeeded_at.set(Some(p.now().since_epoch()));
                    Ok(())
                }
            })
        })
        .build()
        .expect("a valid simulation")
}
// ANCHOR_END: in_simulation

// ANCHOR: on_tokio
/// The same `retry`, on real tokio: real time, an OS-seeded generator.
fn retry_on_tokio(failures: u32, attempts: u32) -> Result<u32, String> {
    moonpool_core::tokio_providers::run(|p| async move {
        let calls = Cell::new(0u32);
        let outcome = retry(&p, attempts, || {
            calls.set(calls.get() + 1);
            let ok = calls.get() > failures;
            async move { if ok { Ok(()) } else { Err("not yet") } }
        })
        .await;
        outcome.map(|()| calls.get())
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}
// ANCHOR_END: on_tokio

// ANCHOR: virtual_time
/// A process that wakes up once a minute for a simulated day.
fn a_day_of_heartbeats(beats: Rc<Cell<u32>>) -> Simulation {
    SimulationBuilder::new()
        .chaos(false)
        .time_limit(Duration::from_secs(2 * 24 * 3600))
        .workload("clock", 1, move |_| {
            let beats = Rc::clone(&beats);
            FnWorkload::new(move |ctx: SimContext| {
                let beats = Rc::clone(&beats);
                async move {
                    beats.set(0);
                    for _ in 0..24 * 60 {
                        ctx.providers().sleep(Duration::from_secs(60)).await;
                        beats.set(beats.get() + 1);
                    }
                    Ok(())
                }
            })
        })
        .build()
        .expect("a valid simulation")
}
// ANCHOR_END: virtual_time

/// A simulation of one workload whose `run` phase is `f`, chaos off.
fn sim_of<F, Fut>(f: F) -> Simulation
where
    F: Fn(SimProviders) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .chaos(false)
        .workload("w", 1, move |_| {
            let f = f.clone();
            FnWorkload::new(move |ctx: SimContext| f(ctx.providers().clone()))
        })
        .build()
        .expect("a valid simulation")
}

// ANCHOR: global_leak
/// A counter kept in a `static`: it survives from one seed to the next.
static RUNS: AtomicU64 = AtomicU64::new(0);

fn leaky_global() -> Simulation {
    sim_of(|p: SimProviders| async move {
        // Every other run in this OS process takes the slow path: the same
        // seed no longer means the same run.
        let slow = RUNS.fetch_add(1, Ordering::Relaxed).is_multiple_of(2);
        let ms = if slow { 50 } else { 5 };
        p.sleep(Duration::from_millis(ms)).await;
        Ok(())
    })
}
// ANCHOR_END: global_leak

// ANCHOR: hashmap_order
/// Visits peers in the order of a `std` `HashMap`: a random order, drawn
/// from OS entropy, different in every run.
fn hashmap_order() -> Simulation {
    sim_of(|p: SimProviders| async move {
        let rtt_ms: HashMap<String, u64> = (1..=16).map(|i| (format!("peer-{i}"), i)).collect();
        for ms in rtt_ms.values() {
            // One round trip per peer, in iteration order.
            p.sleep(Duration::from_millis(*ms)).await;
        }
        Ok(())
    })
}

/// The fix: an ordered map (or a hasher with a fixed seed).
fn btreemap_order() -> Simulation {
    sim_of(|p: SimProviders| async move {
        let rtt_ms: BTreeMap<String, u64> = (1..=16).map(|i| (format!("peer-{i}"), i)).collect();
        for ms in rtt_ms.values() {
            p.sleep(Duration::from_millis(*ms)).await;
        }
        Ok(())
    })
}
// ANCHOR_END: hashmap_order

// ANCHOR: tokio_timer
/// tokio's own timer inside a simulation: there is no tokio runtime.
fn tokio_timer() -> Simulation {
    sim_of(|_p: SimProviders| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(())
    })
}
// ANCHOR_END: tokio_timer

// ANCHOR: foreign_wake
/// Work handed to an OS thread, which wakes the task when done.
fn thread_wakes_task() -> Simulation {
    sim_of(|p: SimProviders| async move {
        let worker = p.spawn("waits-on-a-thread", async {
            let mut asked = false;
            std::future::poll_fn(|cx| {
                if asked {
                    return std::task::Poll::Ready(());
                }
                asked = true;
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake())
                    .join()
                    .expect("the thread");
                std::task::Poll::Pending
            })
            .await;
        });
        worker.await?;
        Ok(())
    })
}
// ANCHOR_END: foreign_wake

/// The one-line diagnosis of a report.
fn diagnosis(report: &SeedReport) -> String {
    match report.outcome.failure() {
        Some(f) => f.to_string(),
        None => "passed".to_string(),
    }
}

fn main() {
    let at = Rc::new(Cell::new(None));
    let report = retry_simulation(3, Rc::clone(&at)).run_seed(1);
    println!(
        "retry in simulation: {} at t={:?}",
        diagnosis(&report),
        at.get()
    );
    println!("retry on tokio: {:?} calls", retry_on_tokio(3, 10));
    let beats = Rc::new(Cell::new(0));
    let sim = a_day_of_heartbeats(Rc::clone(&beats));
    // Wall time, measured outside the simulation, for the book's figure.
    let started = std::time::Instant::now();
    let day = sim.run_seed(1);
    println!(
        "a simulated day: {} beats, simulated time {:?}, wall time {:?}, {}",
        beats.get(),
        day.sim_time,
        started.elapsed(),
        diagnosis(&day)
    );
    println!(
        "global kept across seeds, --check-determinism: {}",
        diagnosis(&leaky_global().check_determinism(1))
    );
    println!(
        "HashMap order, --check-determinism: {}",
        diagnosis(&hashmap_order().check_determinism(1))
    );
    println!(
        "BTreeMap order, --check-determinism: {}",
        diagnosis(&btreemap_order().check_determinism(1))
    );
    println!("tokio timer: {}", diagnosis(&tokio_timer().run_seed(1)));
    println!(
        "wake from an OS thread: {}",
        diagnosis(&thread_wakes_task().run_seed(1))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonpool_sim::SeedFailure;

    #[test]
    fn the_same_retry_runs_in_simulation_in_virtual_time() {
        let at = Rc::new(Cell::new(None));
        let sim = retry_simulation(3, Rc::clone(&at));
        let report = sim.run_seed(7);
        assert!(report.outcome.is_pass(), "{:?}", report.outcome);
        // Three failures: 10 + 20 + 40 ms of backoff, plus at most half again of jitter.
        let t = at.get().expect("the retry succeeded");
        assert!(
            t >= Duration::from_millis(70) && t <= Duration::from_millis(105),
            "{t:?}"
        );
        // One seed, one execution: the same jitter, to the nanosecond.
        sim.run_seed(7);
        assert_eq!(at.get(), Some(t));
    }

    #[test]
    fn the_same_retry_runs_on_tokio() {
        assert_eq!(retry_on_tokio(2, 10), Ok(3));
        assert_eq!(retry_on_tokio(5, 3), Err("not yet".to_string()));
    }

    #[test]
    fn a_simulated_day_passes_in_virtual_time() {
        let beats = Rc::new(Cell::new(0));
        let report = a_day_of_heartbeats(Rc::clone(&beats)).run_seed(1);
        assert!(report.outcome.is_pass(), "{:?}", report.outcome);
        assert_eq!(beats.get(), 24 * 60);
        assert_eq!(report.sim_time, Duration::from_secs(24 * 3600));
    }

    #[test]
    fn a_global_kept_across_seeds_is_named_by_check_determinism() {
        let report = leaky_global().check_determinism(1);
        match report.outcome.failure() {
            Some(SeedFailure::Nondeterminism(m)) => {
                assert!(m.contains("; runs diverge at step"), "{m}");
            }
            other => panic!("expected nondeterminism, got {other:?}"),
        }
    }

    #[test]
    fn hashmap_iteration_order_is_caught_and_btreemap_is_deterministic() {
        // Two random orders of 16 peers coincide with negligible probability;
        // three seeds make a coincidence on all of them vanishingly rare.
        let caught = (1..=3)
            .filter(|&seed| {
                matches!(
                    hashmap_order().check_determinism(seed).outcome.failure(),
                    Some(SeedFailure::Nondeterminism(_))
                )
            })
            .count();
        assert!(caught >= 1, "no run of a HashMap order was caught");
        for seed in 1..=3 {
            let r = btreemap_order().check_determinism(seed);
            assert!(r.outcome.is_pass(), "{:?}", r.outcome);
        }
    }

    #[test]
    fn tokios_timer_fails_the_seed_naming_the_provider_to_use() {
        let report = tokio_timer().run_seed(1);
        let text = diagnosis(&report);
        assert!(
            matches!(report.outcome.failure(), Some(SeedFailure::Panic { .. })),
            "{text}"
        );
        assert!(text.contains("TimeProvider::sleep"), "{text}");
    }

    #[test]
    fn a_wake_from_an_os_thread_fails_the_seed_naming_the_task() {
        let report = thread_wakes_task().run_seed(1);
        match report.outcome.failure() {
            Some(SeedFailure::ForeignWake { task }) => {
                assert_eq!(task, "w#0/waits-on-a-thread");
            }
            other => panic!("expected a foreign wake, got {other:?}"),
        }
    }
}
