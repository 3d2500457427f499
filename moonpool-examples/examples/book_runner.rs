//! The code of the book's chapter "The command line and environment"
//! (`docs/src/runner.md`): a simulation built with [`SimulationBuilder`],
//! run from code one seed at a time, as a sweep, on every core, and from a
//! `cargo test`.
//!
//! `cargo run -p moonpool-examples --example book_runner` sweeps 100 chaos
//! seeds of it and prints the summary; `cargo test -p moonpool-examples
//! --example book_runner` checks what the chapter says about it.
//!
//! The system: a `ticker` server process, clients that each add up twenty
//! random values while keeping a log of them, and the built-in
//! [`Attrition`] nemesis killing and rebooting the ticker. The check: a
//! client's total is the sum of its log. The planted bug (`lose_one`)
//! makes one client in four forget to add one value.

use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::{
    Attrition, ConfigError, SimContext, Simulation, SimulationBuilder, SweepPlan, Workload,
    WorkloadResult,
};

/// One client: adds up twenty random values and logs each of them.
struct Adder {
    lose_one: bool,
    log: Vec<u64>,
    total: u64,
}

impl Workload for Adder {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        // Whether this client's bug fires is drawn from the seed.
        let forget_at = (self.lose_one && p.random_range(0..4u64) == 0).then_some(10);
        for round in 0..20 {
            p.sleep(Duration::from_millis(p.random_range(50..=250u64)))
                .await;
            let value = p.random_range(0..1_000u64);
            self.log.push(value);
            if forget_at != Some(round) {
                self.total += value;
            }
        }
        ctx.record_value("total", i64::try_from(self.total)?);
        Ok(())
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        let logged: u64 = self.log.iter().sum();
        if logged != self.total {
            return Err(format!(
                "lost a value: the log sums to {logged}, the total is {}",
                self.total
            )
            .into());
        }
        Ok(())
    }
}

// ANCHOR: builder
/// The simulation: one server process, three clients, one nemesis.
fn simulation(lose_one: bool) -> Result<Simulation, ConfigError> {
    SimulationBuilder::new()
        // A server: a named async `main` at an IP, given its providers.
        .process("ticker", [10, 0, 0, 1], |p| async move {
            for _ in 0..10_000 {
                p.sleep(Duration::from_millis(10)).await;
            }
        })
        // Three clients, each in its own simulated process.
        .workload("adder", 3, move |_client| Adder {
            lose_one,
            log: Vec::new(),
            total: 0,
        })
        // Runs while the clients run; the seed does not wait for it.
        .background_workload("attrition", 1, |_| Attrition::new().max_down(1))
        // Simulated time (the default is one hour).
        .time_limit(Duration::from_secs(600))
        .build()
}
// ANCHOR_END: builder

fn main() -> Result<(), ConfigError> {
    let report = simulation(false)?.sweep(&SweepPlan::range(1, 100));
    println!(
        "{} seeds: {} passed, {} failed",
        report.seeds_run, report.passed, report.failed
    );
    Ok(())
}

// ANCHOR: test_sweep
#[test]
fn adder_survives_chaos() {
    moonpool_sim::test_sweep(|| simulation(false), SweepPlan::range(1, 50));
}
// ANCHOR_END: test_sweep

#[cfg(test)]
mod tests {
    use super::*;
    use moonpool_sim::{SeedFailure, SweepRunner};

    #[test]
    fn seeds_run_from_code_replay_and_sweep_as_the_chapter_says() -> Result<(), ConfigError> {
        let sim = simulation(false)?;
        // ANCHOR: from_code
        let report = sim.run_seed(0x2a); // one seed: a SeedReport
        assert!(report.outcome.is_pass());
        let again = sim.check_determinism(0x2a); // the seed twice, compared
        assert_eq!(again.fingerprint, report.fingerprint);
        let sweep = sim.sweep(&SweepPlan::range(0, 100)); // a SweepReport
        sweep.assert_all_passed(); // panics listing each failure and its replay line
        // ANCHOR_END: from_code
        assert_eq!(sweep.seeds_run, 100);
        Ok(())
    }

    #[test]
    fn attrition_kills_and_reboots_the_server_in_chaos_seeds() -> Result<(), ConfigError> {
        let sim = simulation(false)?;
        let sweep = sim.sweep(&SweepPlan::range(1, 20));
        let kills = sweep.faults.get("process.kill").map_or(0, |t| t.total);
        let reboots = sweep.faults.get("process.reboot").map_or(0, |t| t.total);
        assert!(
            kills > 0 && reboots > 0,
            "no kill or no reboot in 20 chaos seeds"
        );
        Ok(())
    }

    #[test]
    fn the_planted_bug_fails_a_seed_in_check_and_replays_to_the_same_fingerprint()
    -> Result<(), ConfigError> {
        let sim = simulation(true)?;
        let sweep = sim.sweep(&SweepPlan::range(1, 20));
        let failed = sweep
            .first_failure()
            .expect("one client in four loses a value: some seed of 20 fails");
        let failure = failed.outcome.failure().expect("a failure");
        assert!(
            matches!(failure, SeedFailure::WorkloadFailed { .. }),
            "{failure}"
        );
        assert!(failure.to_string().contains("lost a value"), "{failure}");
        let replay = sim.run_seed(failed.seed);
        assert_eq!(replay.fingerprint, failed.fingerprint);
        Ok(())
    }

    #[test]
    fn every_core_reports_what_one_thread_reports() -> Result<(), ConfigError> {
        let plan = SweepPlan::range(1, 40);
        let one = simulation(true)?.sweep(&plan);
        // ANCHOR: sweep_runner
        // Each worker thread builds its own simulation (a simulation is !Send).
        let report = SweepRunner::new(|| simulation(true)).jobs(2).sweep(&plan)?;
        // ANCHOR_END: sweep_runner
        assert_eq!(report.results, one.results);
        assert_eq!(report.failed, one.failed);
        Ok(())
    }

    #[test]
    fn a_plan_from_the_environment_defaults_to_the_given_one() {
        // ANCHOR: from_env
        let plan = SweepPlan::from_env_or(SweepPlan::range(0, 200)).expect("MOONPOOL_* variables");
        // ANCHOR_END: from_env
        // The test runs without MOONPOOL_* variables set, unless a user
        // replays through them.
        if std::env::vars().all(|(k, _)| !k.starts_with("MOONPOOL_")) {
            assert_eq!(plan.seeds_planned(), 200);
        }
    }
}
