//! [`SweepReport`]: what a sweep did, accumulated seed by seed.

use std::collections::BTreeMap;
use std::time::Duration;

use super::plan::SweepPlan;
use super::{FAILURES_KEPT_MAX, RESULTS_KEPT_MAX};
use crate::runner::coverage::Coverage;
use crate::runner::report::SeedReport;

/// Why a sweep stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Every seed of the plan ran.
    Completed,
    /// The wall-time budget ran out before the plan did.
    TimeBudget(Duration),
    /// The stop condition was met; its description.
    Condition(String),
    /// This many seeds failed (`--fail-fast`: 1, `--max-failures N`).
    MaxFailures(u64),
}

/// One seed's result, as kept by a [`SweepReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Its fingerprint.
    pub fingerprint: u64,
    /// Whether it passed.
    pub passed: bool,
}

/// How often a fault kind fired over a sweep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultTally {
    /// Times it fired, summed over seeds.
    pub total: u64,
    /// Seeds in which it fired at least once.
    pub seeds: u64,
    /// Of `total`, the faults whose every target was a process of the
    /// system under test ([`SeedReport::faults_on_system`]).
    #[serde(default)]
    pub on_system: u64,
}

/// What a sweep did.
#[derive(Clone, Debug)]
pub struct SweepReport {
    /// The plan that was run.
    pub plan: SweepPlan,
    /// Whether chaos was on.
    pub chaos: bool,
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed.
    pub failed: u64,
    /// The reports of the first [`FAILURES_KEPT_MAX`] failed seeds.
    pub failures: Vec<SeedReport>,
    /// Seed, fingerprint and outcome of the first [`RESULTS_KEPT_MAX`] seeds.
    pub results: Vec<SeedResult>,
    /// Simulated time, summed over seeds.
    pub sim_time: Duration,
    /// Wall time of the whole sweep.
    pub wall_time: Duration,
    /// Executor steps, summed over seeds.
    pub events: u64,
    /// Fault and process events by kind (`net.*`, `disk.*`, `process.*`,
    /// `clock.*`).
    pub faults: BTreeMap<&'static str, FaultTally>,
    /// Every other counter (library metrics reported through core's
    /// `sim_hook::metric`, buggify firings...), summed over seeds.
    pub metrics: BTreeMap<&'static str, u64>,
    /// Fault families, and in how many seeds each was on.
    pub fault_families: BTreeMap<&'static str, u64>,
    /// Why the sweep stopped.
    pub stopped: StopReason,
    /// Assertion and buggify coverage over the seeds run, within the
    /// simulation's assertion scope.
    pub coverage: Coverage,
}

/// Whether a counter kind is an injected fault or process event (reported
/// under `faults`), as opposed to the simulator's own bookkeeping.
pub fn is_fault_kind(kind: &str) -> bool {
    ["net.", "disk.", "process.", "clock."]
        .iter()
        .any(|prefix| kind.starts_with(prefix))
}

impl SweepReport {
    pub(super) fn new(plan: &SweepPlan, chaos: bool, coverage: Coverage) -> SweepReport {
        SweepReport {
            coverage,
            plan: plan.clone(),
            chaos,
            seeds_run: 0,
            passed: 0,
            failed: 0,
            failures: Vec::new(),
            results: Vec::new(),
            sim_time: Duration::ZERO,
            wall_time: Duration::ZERO,
            events: 0,
            faults: BTreeMap::new(),
            metrics: BTreeMap::new(),
            fault_families: BTreeMap::new(),
            stopped: StopReason::Completed,
        }
    }

    #[cfg(test)]
    pub(crate) fn empty_for_tests(plan: &SweepPlan) -> SweepReport {
        SweepReport::new(plan, false, Coverage::new())
    }

    pub(super) fn add(&mut self, report: &SeedReport) {
        self.seeds_run += 1;
        self.coverage.observe(report);
        let passed = report.outcome.is_pass();
        if passed {
            self.passed += 1;
        } else {
            self.failed += 1;
            if self.failures.len() < FAILURES_KEPT_MAX {
                self.failures.push(report.clone());
            }
        }
        if self.results.len() < RESULTS_KEPT_MAX {
            self.results.push(SeedResult {
                seed: report.seed,
                fingerprint: report.fingerprint,
                passed,
            });
        }
        self.sim_time = self.sim_time.saturating_add(report.sim_time);
        self.events = self.events.saturating_add(report.events);
        for (&kind, &n) in &report.counters {
            if n == 0 {
                continue;
            }
            if is_fault_kind(kind) {
                let tally = self.faults.entry(kind).or_default();
                tally.total = tally.total.saturating_add(n);
                tally.seeds += 1;
            } else {
                let total = self.metrics.entry(kind).or_insert(0);
                *total = total.saturating_add(n);
            }
        }
        for (&kind, &n) in &report.faults_on_system {
            if n > 0 && is_fault_kind(kind) {
                let tally = self.faults.entry(kind).or_default();
                tally.on_system = tally.on_system.saturating_add(n);
            }
        }
        for (&family, &on) in &report.fault_families {
            *self.fault_families.entry(family).or_insert(0) += u64::from(on);
        }
    }

    /// Whether every seed run passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    /// The first failed seed, if any.
    pub fn first_failure(&self) -> Option<&SeedReport> {
        self.failures.first()
    }

    /// The command line that replays `seed` exactly.
    pub fn replay_line(&self, seed: u64) -> String {
        self.plan.replay.line_with_faults(
            seed,
            self.chaos,
            self.plan.check_determinism,
            &self.plan.faults,
        )
    }

    /// Executor steps per wall-clock second.
    pub fn events_per_sec(&self) -> f64 {
        per_sec(self.events, self.wall_time)
    }

    /// Simulated time per wall-clock time.
    pub fn sim_wall_ratio(&self) -> f64 {
        let wall = self.wall_time.as_secs_f64();
        if wall > 0.0 {
            self.sim_time.as_secs_f64() / wall
        } else {
            0.0
        }
    }

    /// Panics, listing every kept failure with its message and replay
    /// line, if any seed failed. Meant as the last line of a `cargo test`.
    #[track_caller]
    pub fn assert_all_passed(&self) {
        if self.all_passed() {
            return;
        }
        let mut text = format!(
            "{} of {} seed(s) failed (first seed {:#x}, chaos {}):",
            self.failed,
            self.seeds_run,
            self.plan.seeds.first(),
            if self.chaos { "on" } else { "off" }
        );
        for f in &self.failures {
            let message = f
                .outcome
                .failure()
                .map(ToString::to_string)
                .unwrap_or_default();
            text.push_str(&format!(
                "\n  seed {:#x} (fingerprint {:#018x}): {message}\n    replay: {}",
                f.seed,
                f.fingerprint,
                self.replay_line(f.seed)
            ));
        }
        let unlisted = self.failed.saturating_sub(self.failures.len() as u64);
        if unlisted > 0 {
            text.push_str(&format!("\n  ... and {unlisted} more"));
        }
        panic!("{text}");
    }
}

/// `n` per second of `wall` (0 when no time passed).
pub(crate) fn per_sec(n: u64, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}
