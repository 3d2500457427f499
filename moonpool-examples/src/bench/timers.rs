//! W3: one process spawns 1,000 tasks; each sleeps 100 times for a seeded
//! 1..=100 ms. Measures timer events per wall second.
//!
//! `spawn-1m`: one process spawns 1,000,000 tasks, each sleeping once for a
//! seeded 1..=100 ms, and awaits them all. Measures what a task costs from
//! spawn to completion (tasks per wall second).

use std::time::{Duration, Instant};

use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{SimContext, SimulationBuilder, Workload, WorkloadResult};

use super::{BenchResult, SplitMix64};

/// Tasks spawned.
pub const TASKS: u64 = 1_000;
/// Sleeps per task.
pub const SLEEPS: u64 = 100;
/// The peer benchmarks' seed.
pub const SEED: u64 = 42;

/// Tasks of `spawn-1m`.
pub const SPAWN_TASKS: u64 = 1_000_000;

/// The generator of task `task`'s sleeps.
fn schedule_rng(seed: u64, task: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ task.wrapping_mul(0xA24B_AED4_963E_E407))
}

/// The next sleep of a schedule: 1..=100 ms.
fn next_sleep(rng: &mut SplitMix64) -> Duration {
    Duration::from_millis(1 + rng.next_u64() % 100)
}

/// The sleep schedule of task `task`, as in the peer benchmarks.
pub fn durations(seed: u64, task: u64, sleeps: u64) -> Vec<Duration> {
    let mut rng = schedule_rng(seed, task);
    (0..sleeps).map(|_| next_sleep(&mut rng)).collect()
}

struct Timers {
    tasks: u64,
}

impl Workload for Timers {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let handles: Vec<_> = (0..self.tasks)
            .map(|t| {
                let p2 = p.clone();
                let schedule = durations(SEED, t, SLEEPS);
                p.spawn("sleeper", async move {
                    for d in schedule {
                        p2.sleep(d).await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await?;
        }
        Ok(())
    }
}

/// Runs W3 with `tasks` tasks.
pub fn run(tasks: u64) -> BenchResult {
    one_seed("W3", "timers", tasks * SLEEPS, move |_| Timers { tasks })
}

/// Runs one seed of a simulation of the single workload `name` (made by
/// `make`) and reports it as bench line `workload`, `ops` operations.
fn one_seed<W, F>(workload: &'static str, name: &str, ops: u64, make: F) -> BenchResult
where
    W: Workload,
    F: Fn(usize) -> W + 'static,
{
    let start = Instant::now();
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload(name, 1, make)
        .build()
        .expect("valid simulation");
    let report = sim.run_seed(SEED);
    let wall = start.elapsed();
    assert!(
        report.outcome.is_pass(),
        "{workload} failed: {:?}",
        report.outcome
    );
    BenchResult {
        workload,
        wall,
        sim: report.sim_time,
        ops,
        extra: format!(
            "events={} fingerprint={:#018x}",
            report.events, report.fingerprint
        ),
    }
}

/// `spawn-1m`'s workload: `tasks` tasks, each sleeping once.
struct Spawner {
    tasks: u64,
}

impl Workload for Spawner {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let handles: Vec<_> = (0..self.tasks)
            .map(|t| {
                let p2 = p.clone();
                let d = next_sleep(&mut schedule_rng(SEED, t));
                p.spawn("sleeper", async move { p2.sleep(d).await })
            })
            .collect();
        for h in handles {
            h.await?;
        }
        Ok(())
    }
}

/// Runs `spawn-1m` with `tasks` tasks.
pub fn spawn(tasks: u64) -> BenchResult {
    one_seed("spawn-1m", "spawner", tasks, move |_| Spawner { tasks })
}
