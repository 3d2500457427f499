//! [`SweepSummary`]: what a sweep found, as plain data that merges.
//!
//! A sweep's [`SweepReport`] holds live data (seed reports, the binary's
//! assertion sites); its summary holds what is left once a shard's report
//! is written out and read back on another machine: counts, fault
//! tallies, coverage per site, failures with their replay lines. The JSON
//! summary line of `--json` is this type (plus figures derived from it),
//! and the `merge` front end reads it back.
//!
//! # Merging
//! [`SweepSummary::merge`] is associative and commutative (up to the
//! order of two numeric samples with equal margins, see
//! [`CoverageSummary`]), so shards merge in any grouping:
//! - counts, times, fault tallies, metrics and coverage counts add up;
//! - settings every part agrees on are kept (`chaos`, `first_seed`,
//!   `shard`, ...); one that differs becomes `None` (`"mixed"` for
//!   `stopped`);
//! - failures are kept sorted by seed (then replay line), the first
//!   [`FAILURES_KEPT_MAX`] of them.
//!
//! - the shards merged are listed ([`ShardRun`], sorted), so a merge can
//!   name the shards of a plan that are missing or merged twice
//!   ([`SweepSummary::shard_gaps`]): a shard whose job died uploads no
//!   report, and its seeds must not silently count as swept.
//!
//! Times are whole nanoseconds, so sums are exact.

use std::collections::BTreeMap;

use super::FAILURES_KEPT_MAX;
use super::report::{FaultTally, StopReason, SweepReport};
use crate::kernel::failure::SeedFailure;
use crate::runner::coverage::CoverageSummary;

/// A short, stable name for the kind of a failure (`panic`, `deadlock`,
/// ...): the `failure` field of the JSON reports.
pub(crate) fn failure_kind(failure: &SeedFailure) -> &'static str {
    match failure {
        SeedFailure::Panic { .. } => "panic",
        SeedFailure::ProcessFailed { .. } => "process_failed",
        SeedFailure::WorkloadFailed { .. } => "workload_failed",
        SeedFailure::Deadlock { .. } => "deadlock",
        SeedFailure::TimeLimit { .. } => "time_limit",
        SeedFailure::StepLimit { .. } => "step_limit",
        SeedFailure::Assertion { .. } => "assertion",
        SeedFailure::Nondeterminism(_) => "nondeterminism",
        SeedFailure::ForeignWake { .. } => "foreign_wake",
    }
}

/// One failed seed in a [`SweepSummary`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct FailedSeed {
    /// The seed.
    #[serde(with = "hex")]
    pub seed: u64,
    /// The command line that replays it.
    pub replay: String,
    /// Its fingerprint.
    #[serde(with = "hex16")]
    pub fingerprint: u64,
    /// The kind of failure (`panic`, `workload_failed`, ...).
    pub failure: String,
    /// The failure, on one line.
    pub error: String,
}

/// One sharded sweep merged into a [`SweepSummary`]: which plan, which
/// shard of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ShardRun {
    /// The plan's first seed.
    #[serde(with = "hex")]
    pub first_seed: u64,
    /// Seeds of the whole plan, before sharding.
    pub plan_seeds: u64,
    /// `N`, the shard count.
    pub count: u64,
    /// `K`, this shard (1-based).
    pub index: u64,
}

/// The most gaps [`SweepSummary::shard_gaps`] names one by one per plan.
pub(crate) const SHARD_GAPS_NAMED_MAX: usize = 20;

/// What one sweep found, or many merged: see the [module
/// documentation](self).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepSummary {
    /// Sweep reports merged into this one (1 for a sweep).
    pub reports: u64,
    /// Seeds run.
    pub seeds_run: u64,
    /// Seeds the plans would run (after sharding); `None` if one of them
    /// was unbounded.
    pub seeds_planned: Option<u64>,
    /// Seeds that passed.
    pub passed: u64,
    /// Seeds that failed.
    pub failed: u64,
    /// The plan's first seed (`None`: the parts disagree).
    #[serde(with = "hex_option")]
    pub first_seed: Option<u64>,
    /// Whether a first seed was picked fresh (in any part).
    pub first_seed_fresh: bool,
    /// Chaos on or off (`None`: the parts disagree).
    pub chaos: Option<bool>,
    /// Whether each seed ran twice (`None`: the parts disagree).
    pub check_determinism: Option<bool>,
    /// The shard, `K/N` (`None`: no shard, or the parts disagree).
    pub shard: Option<String>,
    /// The wall-time budget in milliseconds, if any (and agreed).
    pub time_budget_ms: Option<u64>,
    /// Why the sweep stopped: `completed`, `time_budget`, `condition`,
    /// `max_failures`, or `mixed` for merged parts that disagree.
    pub stopped: String,
    /// What stopped it early (the goal met, the failure limit), if agreed.
    pub stop_condition: Option<String>,
    /// Simulated time, summed over seeds, in nanoseconds.
    pub sim_time_ns: u64,
    /// Wall time of the sweep (summed over merged parts), in nanoseconds.
    pub wall_time_ns: u64,
    /// Executor steps, summed over seeds.
    pub events: u64,
    /// Fault kind → times it fired and seeds where it did.
    pub faults: BTreeMap<String, FaultTally>,
    /// Fault family → seeds in which it was on.
    pub fault_families: BTreeMap<String, u64>,
    /// Every other counter → total.
    pub metrics: BTreeMap<String, u64>,
    /// Failed seeds, sorted by seed, at most [`FAILURES_KEPT_MAX`].
    pub failures: Vec<FailedSeed>,
    /// The sharded sweeps merged, sorted (one per sharded part; a
    /// report without it counts as none).
    #[serde(default)]
    pub shards_run: Vec<ShardRun>,
    /// Assertion and buggify coverage.
    pub assertions: CoverageSummary,
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Keeps `mine` if `theirs` says the same, else `None`.
fn agree<T: PartialEq>(mine: &mut Option<T>, theirs: &Option<T>) {
    if mine != theirs {
        *mine = None;
    }
}

impl SweepSummary {
    /// The summary of `sweep`; `first_seed_fresh` says whether its first
    /// seed was picked fresh.
    pub fn of(sweep: &SweepReport, first_seed_fresh: bool) -> SweepSummary {
        let plan = &sweep.plan;
        let (stopped, stop_condition) = match &sweep.stopped {
            StopReason::Completed => ("completed", None),
            StopReason::TimeBudget(_) => ("time_budget", None),
            StopReason::Condition(what) => ("condition", Some(what.clone())),
            StopReason::MaxFailures(n) => ("max_failures", Some(format!("{n} failed seed(s)"))),
        };
        let mut failures: Vec<FailedSeed> = sweep
            .failures
            .iter()
            .filter_map(|report| {
                let failure = report.outcome.failure()?;
                Some(FailedSeed {
                    seed: report.seed,
                    replay: sweep.replay_line(report.seed),
                    fingerprint: report.fingerprint,
                    failure: failure_kind(failure).to_string(),
                    error: failure.to_string(),
                })
            })
            .collect();
        failures.sort();
        SweepSummary {
            reports: 1,
            seeds_run: sweep.seeds_run,
            seeds_planned: (!plan.seeds.is_unbounded()).then(|| plan.seeds_planned()),
            passed: sweep.passed,
            failed: sweep.failed,
            first_seed: Some(plan.seeds.first()),
            first_seed_fresh,
            chaos: Some(sweep.chaos),
            check_determinism: Some(plan.check_determinism),
            shard: plan.shard.map(|s| s.to_string()),
            time_budget_ms: plan
                .time_budget
                .map(|b| u64::try_from(b.as_millis()).unwrap_or(u64::MAX)),
            stopped: stopped.to_string(),
            stop_condition,
            sim_time_ns: nanos(sweep.sim_time),
            wall_time_ns: nanos(sweep.wall_time),
            events: sweep.events,
            faults: sweep
                .faults
                .iter()
                .map(|(k, t)| (k.to_string(), *t))
                .collect(),
            fault_families: sweep
                .fault_families
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
            metrics: sweep
                .metrics
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
            failures,
            shards_run: plan
                .shard
                .map(|shard| ShardRun {
                    first_seed: plan.seeds.first(),
                    plan_seeds: plan.seeds.count(),
                    count: shard.count(),
                    index: shard.index(),
                })
                .into_iter()
                .collect(),
            assertions: sweep.coverage.summary(),
        }
    }

    /// Adds `other` to this summary: see the [module
    /// documentation](self).
    pub fn merge(&mut self, other: &SweepSummary) {
        self.reports += other.reports;
        self.seeds_run += other.seeds_run;
        self.passed += other.passed;
        self.failed += other.failed;
        self.seeds_planned = match (self.seeds_planned, other.seeds_planned) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            _ => None,
        };
        agree(&mut self.first_seed, &other.first_seed);
        self.first_seed_fresh |= other.first_seed_fresh;
        agree(&mut self.chaos, &other.chaos);
        agree(&mut self.check_determinism, &other.check_determinism);
        agree(&mut self.shard, &other.shard);
        agree(&mut self.time_budget_ms, &other.time_budget_ms);
        agree(&mut self.stop_condition, &other.stop_condition);
        if self.stopped != other.stopped {
            self.stopped = "mixed".to_string();
        }
        self.sim_time_ns = self.sim_time_ns.saturating_add(other.sim_time_ns);
        self.wall_time_ns = self.wall_time_ns.saturating_add(other.wall_time_ns);
        self.events = self.events.saturating_add(other.events);
        for (kind, tally) in &other.faults {
            let mine = self.faults.entry(kind.clone()).or_default();
            mine.total = mine.total.saturating_add(tally.total);
            mine.seeds = mine.seeds.saturating_add(tally.seeds);
            mine.on_system = mine.on_system.saturating_add(tally.on_system);
        }
        for (family, n) in &other.fault_families {
            let mine = self.fault_families.entry(family.clone()).or_default();
            *mine = mine.saturating_add(*n);
        }
        for (name, n) in &other.metrics {
            let mine = self.metrics.entry(name.clone()).or_default();
            *mine = mine.saturating_add(*n);
        }
        self.failures.extend(other.failures.iter().cloned());
        self.failures.sort();
        self.failures.truncate(FAILURES_KEPT_MAX);
        self.shards_run.extend(other.shards_run.iter().cloned());
        self.shards_run.sort();
        self.assertions.merge(&other.assertions);
    }

    /// For every plan some merged part was a shard of: its shards that
    /// were not merged, and those merged more than once, one line each
    /// (`shard 3/4 of the plan of 400 seeds from 0x1: missing`), at most
    /// [`SHARD_GAPS_NAMED_MAX`] per plan and then a count. Empty when the
    /// shards of every such plan were each merged once.
    pub fn shard_gaps(&self) -> Vec<String> {
        let mut gaps = Vec::new();
        let mut runs = self.shards_run.iter().peekable();
        while let Some(first) = runs.next() {
            let plan = (first.first_seed, first.plan_seeds, first.count);
            let mut merged: BTreeMap<u64, u64> = BTreeMap::from([(first.index, 1)]);
            while let Some(run) = runs.next_if(|r| (r.first_seed, r.plan_seeds, r.count) == plan) {
                *merged.entry(run.index).or_default() += 1;
            }
            let name = |k: u64| {
                format!(
                    "shard {k}/{} of the plan of {} seeds from {:#x}",
                    plan.2, plan.1, plan.0
                )
            };
            let mut named = 0usize;
            let mut unnamed = 0u64;
            // Names the shards `from..to` as missing, up to the limit, and
            // counts the rest (a count may be huge).
            let mut missing = |from: u64, to: u64, gaps: &mut Vec<String>| {
                for k in from..to {
                    if named == SHARD_GAPS_NAMED_MAX {
                        unnamed += to - k;
                        return;
                    }
                    gaps.push(format!("{}: missing", name(k)));
                    named += 1;
                }
            };
            let mut expected = 1u64;
            for (&k, &n) in &merged {
                missing(expected, k.min(plan.2 + 1), &mut gaps);
                if n > 1 {
                    gaps.push(format!("{}: merged {n} times", name(k)));
                }
                expected = expected.max(k.saturating_add(1));
            }
            missing(expected, plan.2.saturating_add(1), &mut gaps);
            if unnamed > 0 {
                gaps.push(format!(
                    "... and {unnamed} more shard(s) of the plan of {} seeds from {:#x} missing",
                    plan.1, plan.0
                ));
            }
        }
        gaps
    }

    /// The failure with the lowest seed, if any.
    pub fn first_failure(&self) -> Option<&FailedSeed> {
        self.failures.first()
    }

    /// Whether every seed passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }
}

/// `u64` as `"0x2a"` (a `u64` is not exact as a JSON number in most
/// readers).
mod hex {
    pub(super) fn serialize<S: serde::Serializer>(x: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{x:#x}"))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        moonpool_core::parse_seed(&text)
            .map_err(|e| serde::de::Error::custom(format!("'{text}' is not a seed: {}", e.reason)))
    }
}

/// A fingerprint: `u64` as `"0x"` and 16 hex digits.
mod hex16 {
    pub(super) fn serialize<S: serde::Serializer>(x: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{x:#018x}"))
    }

    pub(super) use super::hex::deserialize;
}

/// `Option<u64>` as `"0x2a"` or `null`.
mod hex_option {
    pub(super) fn serialize<S: serde::Serializer>(
        x: &Option<u64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => super::hex::serialize(x, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<u64>, D::Error> {
        let text: Option<String> = serde::Deserialize::deserialize(d)?;
        text.map(|text| {
            moonpool_core::parse_seed(&text).map_err(|e| {
                serde::de::Error::custom(format!("'{text}' is not a seed: {}", e.reason))
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary of shard `index`/`count` of the plan of `plan_seeds`
    /// seeds from `first_seed` (counts are not what these tests check).
    fn shard(first_seed: u64, plan_seeds: u64, index: u64, count: u64) -> SweepSummary {
        SweepSummary {
            reports: 1,
            seeds_run: 0,
            seeds_planned: Some(0),
            passed: 0,
            failed: 0,
            first_seed: Some(first_seed),
            first_seed_fresh: false,
            chaos: Some(true),
            check_determinism: Some(false),
            shard: Some(format!("{index}/{count}")),
            time_budget_ms: None,
            stopped: "completed".to_string(),
            stop_condition: None,
            sim_time_ns: 0,
            wall_time_ns: 0,
            events: 0,
            faults: BTreeMap::new(),
            fault_families: BTreeMap::new(),
            metrics: BTreeMap::new(),
            failures: Vec::new(),
            shards_run: vec![ShardRun {
                first_seed,
                plan_seeds,
                count,
                index,
            }],
            assertions: CoverageSummary {
                seeds: 0,
                failed_seeds: 0,
                all_sometimes_satisfied: true,
                all_satisfied: true,
                sites: Vec::new(),
                buggify: Vec::new(),
            },
        }
    }

    fn merged(parts: &[SweepSummary]) -> SweepSummary {
        let mut out = parts[0].clone();
        for p in &parts[1..] {
            out.merge(p);
        }
        out
    }

    #[test]
    fn every_shard_merged_once_leaves_no_gap() {
        let all = merged(&[
            shard(1, 400, 3, 4),
            shard(1, 400, 1, 4),
            shard(1, 400, 4, 4),
            shard(1, 400, 2, 4),
        ]);
        assert_eq!(all.shard_gaps(), Vec::<String>::new());
        assert_eq!(all.shards_run.len(), 4);
    }

    #[test]
    fn a_shard_not_merged_is_named_missing() {
        let three = merged(&[
            shard(1, 400, 1, 4),
            shard(1, 400, 2, 4),
            shard(1, 400, 4, 4),
        ]);
        assert_eq!(
            three.shard_gaps(),
            ["shard 3/4 of the plan of 400 seeds from 0x1: missing"]
        );
        let first_only = shard(1, 400, 1, 4);
        assert_eq!(first_only.shard_gaps().len(), 3, "2/4, 3/4 and 4/4");
    }

    #[test]
    fn a_shard_merged_twice_is_named() {
        let twice = merged(&[shard(1, 40, 1, 2), shard(1, 40, 2, 2), shard(1, 40, 1, 2)]);
        assert_eq!(
            twice.shard_gaps(),
            ["shard 1/2 of the plan of 40 seeds from 0x1: merged 2 times"]
        );
    }

    #[test]
    fn shards_of_different_plans_are_checked_apart() {
        // Shard 1/2 of two plans (another first seed, another size) do not
        // make either whole.
        let mixed = merged(&[shard(1, 40, 1, 2), shard(9, 40, 2, 2), shard(1, 50, 2, 2)]);
        assert_eq!(
            mixed.shard_gaps(),
            [
                "shard 2/2 of the plan of 40 seeds from 0x1: missing",
                "shard 1/2 of the plan of 50 seeds from 0x1: missing",
                "shard 1/2 of the plan of 40 seeds from 0x9: missing",
            ]
        );
    }

    #[test]
    fn gaps_of_a_huge_shard_count_are_named_up_to_the_limit_then_counted() {
        let lone = shard(1, u64::MAX, 5, 1 << 40);
        let gaps = lone.shard_gaps();
        assert_eq!(gaps.len(), SHARD_GAPS_NAMED_MAX + 1);
        assert!(gaps[0].starts_with("shard 1/1099511627776 "), "{}", gaps[0]);
        let rest = (1u64 << 40) - 1 - SHARD_GAPS_NAMED_MAX as u64;
        assert_eq!(
            gaps[SHARD_GAPS_NAMED_MAX],
            format!(
                "... and {rest} more shard(s) of the plan of {} seeds from 0x1 missing",
                u64::MAX
            )
        );
    }

    #[test]
    fn the_shards_run_merge_in_any_grouping() {
        let (a, b, c) = (shard(1, 40, 2, 3), shard(1, 40, 1, 3), shard(7, 40, 1, 1));
        let abc = merged(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(
            abc.shards_run,
            merged(&[merged(&[a.clone(), b.clone()]), c.clone()]).shards_run
        );
        assert_eq!(abc.shards_run, merged(&[c, b, a]).shards_run);
        let json = serde_json::to_value(&abc).expect("serializes");
        let back: SweepSummary = serde_json::from_value(json).expect("reads back");
        assert_eq!(back.shards_run, abc.shards_run);
    }
}
