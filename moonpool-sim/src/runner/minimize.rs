//! `--minimize`: the smallest fault configuration under which a failing
//! seed still fails the same way.
//!
//! # What is removed
//! The *parts* of a failing chaos seed are the fault families it had on
//! (`net.partition`, `disk.io_error`, `process.attrition`, `buggify`, ...)
//! and the buggify sites it activated. A configuration keeps some parts: it
//! runs as a [`FaultSelection`] with `only` = the kept families and
//! `buggify_sites` = the kept sites, so every other family and site is off.
//! With every part kept, the selection reproduces the seed's own decisions
//! (draws are taken and then overridden, so the generator's stream is
//! unchanged): the search starts from the original execution, checked.
//!
//! # The search
//! Delta debugging (Zeller's ddmin) over the parts: try removing each of
//! two halves, then each of four quarters, and so on down to single parts,
//! keeping any removal after which the seed still fails the same way, and
//! going back to coarser pieces after each success. It ends when no single
//! part can be removed (the result is 1-minimal), or when the time budget
//! or the run cap ([`MinimizeOptions`]) is spent (the result is then the
//! smallest found so far, and says so).
//!
//! Switching a fault off changes the draws after it, so the same seed may
//! stop failing only because the schedule moved. A configuration is
//! therefore also tried on the next few seeds
//! ([`MinimizeOptions::seeds_per_candidate`]); the replay line names the
//! seed that failed.
//!
//! # "The same way"
//! [`FailureClass`]: the failure's kind and its site: the location of a
//! panic or an assertion, the phase and workload (and the message up to its
//! first `:`, digits masked) of a workload error, the process of a process
//! error. Deadlocks, limits and nondeterminism are classed by kind alone.
//!
//! Every loop here is bounded by the run cap.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use super::builder::{SeedSettings, Simulation};
use super::report::SeedReport;
use super::sweep::plan::{SeedPlan, SweepPlan};
use crate::kernel::failure::SeedFailure;
use crate::kernel::faults::{FaultSelection, site_name};
use crate::model::buggify::FAMILY as BUGGIFY;

/// Bounds of a [`Simulation::minimize`] search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinimizeOptions {
    /// Start no new run after this much wall time (the smallest
    /// configuration found so far is reported).
    pub time_budget: Option<Duration>,
    /// Seed runs at most, the first run included.
    pub runs_max: u64,
    /// Seeds tried per candidate configuration: the current failing seed,
    /// then the next ones, until one fails the same way.
    pub seeds_per_candidate: u64,
}

impl Default for MinimizeOptions {
    fn default() -> Self {
        MinimizeOptions {
            time_budget: None,
            runs_max: 1_000,
            seeds_per_candidate: 6,
        }
    }
}

/// A failure's kind and site: what "fails the same way" compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureClass {
    /// `panic`, `assertion`, `workload`, `process`, `deadlock`,
    /// `time_limit`, `step_limit` or `nondeterminism`.
    pub kind: &'static str,
    /// Where, as precisely as the failure says (empty when the kind is
    /// all there is).
    pub site: String,
}

impl FailureClass {
    /// The class of `failure`. See the [module documentation](self).
    pub fn of(failure: &SeedFailure) -> FailureClass {
        let (kind, site) = match failure {
            SeedFailure::Panic { location, .. } => ("panic", location.clone()),
            SeedFailure::Assertion { name, location, .. } => {
                ("assertion", format!("{name} at {location}"))
            }
            SeedFailure::WorkloadFailed {
                workload,
                phase,
                message,
                ..
            } => (
                "workload",
                format!("{workload} {phase}: {}", message_class(message)),
            ),
            SeedFailure::ProcessFailed { process, .. } => ("process", process.clone()),
            SeedFailure::Deadlock { .. } => ("deadlock", String::new()),
            SeedFailure::TimeLimit { .. } => ("time_limit", String::new()),
            SeedFailure::StepLimit { .. } => ("step_limit", String::new()),
            SeedFailure::Nondeterminism(_) => ("nondeterminism", String::new()),
            SeedFailure::ForeignWake { task } => ("foreign_wake", task.clone()),
        };
        FailureClass { kind, site }
    }
}

/// A message up to its first `:`, with digits masked (`#`), so that two
/// violations of the same invariant with different values compare equal.
fn message_class(message: &str) -> String {
    let head = message.split(':').next().unwrap_or(message);
    head.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.site.is_empty() {
            f.write_str(self.kind)
        } else {
            write!(f, "{} ({})", self.kind, self.site)
        }
    }
}

/// Why a seed cannot be minimized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MinimizeError {
    /// The plan is a sweep; minimizing works on one seed (`--seed S`).
    #[error("--minimize works on one failing seed: give --seed S")]
    NotOneSeed,
    /// The seed is quiet: it injects no chaos faults to remove.
    #[error("seed {seed:#x} runs without chaos: there are no faults to remove (use --chaos)")]
    Quiet {
        /// The seed.
        seed: u64,
    },
    /// The seed passes.
    #[error("seed {seed:#x} passes: there is no failure to minimize")]
    Passes {
        /// The seed.
        seed: u64,
    },
    /// Rerunning the seed with its own decisions as a selection did not
    /// fail the same way: the execution is not reproducible.
    #[error(
        "seed {seed:#x} failed as {expected} but its replay under its own fault configuration {got}: check determinism (--check-determinism)"
    )]
    NotReproducible {
        /// The seed.
        seed: u64,
        /// How it failed first.
        expected: FailureClass,
        /// What the replay did.
        got: String,
    },
}

/// The result of [`Simulation::minimize`].
#[derive(Clone, Debug)]
pub struct Minimized {
    /// The seed that was minimized.
    pub original_seed: u64,
    /// How it fails (every accepted configuration fails this way).
    pub class: FailureClass,
    /// Fault families the seed had on.
    pub families_before: Vec<&'static str>,
    /// Buggify sites the seed activated.
    pub sites_before: Vec<String>,
    /// Fault families of the smallest failing configuration.
    pub families: Vec<&'static str>,
    /// Buggify sites of the smallest failing configuration.
    pub sites: Vec<String>,
    /// The smallest failing configuration, as a selection (what
    /// [`SweepPlan::set_faults`] and `--faults`/`--buggify-sites` take).
    pub faults: FaultSelection,
    /// The seed that fails under `faults` (the original one, or one of the
    /// seeds after it).
    pub seed: u64,
    /// Its report under `faults`.
    pub report: SeedReport,
    /// Seed runs the search took.
    pub runs: u64,
    /// Whether the search ended by itself (1-minimal), rather than on the
    /// time budget or the run cap.
    pub complete: bool,
}

impl Minimized {
    /// The command line that reruns the minimal failure: the plan's replay
    /// form with `--faults ... --buggify-sites ... --chaos --seed S`.
    pub fn replay_line(&self, plan: &SweepPlan) -> String {
        plan.replay
            .line_with_faults(self.seed, true, false, &self.faults)
    }
}

/// One removable part of a configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Family(&'static str),
    Site(String),
}

/// The search's state: its bounds, and what it has found.
struct Search<'a> {
    sim: &'a Simulation,
    settings: SeedSettings,
    class: FailureClass,
    options: &'a MinimizeOptions,
    started: Instant,
    runs: u64,
    /// The current failing seed and its report.
    best: (u64, SeedReport),
}

impl Search<'_> {
    fn spent(&self) -> bool {
        self.runs >= self.options.runs_max
            || self
                .options
                .time_budget
                .is_some_and(|b| self.started.elapsed() >= b)
    }

    /// Runs `parts` on the current seed and the next ones; the first that
    /// fails the same way, if any.
    fn fails(&mut self, parts: &[Part]) -> Option<(u64, SeedReport)> {
        let mut settings = self.settings.clone();
        settings.faults = selection(parts);
        for k in 0..self.options.seeds_per_candidate.max(1) {
            if self.spent() {
                return None;
            }
            let seed = self.best.0.wrapping_add(k);
            self.runs += 1;
            let report = self.sim.run_seed_with(seed, &settings);
            let same = report
                .outcome
                .failure()
                .is_some_and(|f| FailureClass::of(f) == self.class);
            if same {
                return Some((seed, report));
            }
        }
        None
    }
}

/// The selection that keeps exactly `parts` (no buggify site without the
/// buggify family).
fn selection(parts: &[Part]) -> FaultSelection {
    let mut families = BTreeSet::new();
    let mut sites = BTreeSet::new();
    for part in parts {
        match part {
            Part::Family(f) => {
                families.insert(f.to_string());
            }
            Part::Site(s) => {
                sites.insert(s.clone());
            }
        }
    }
    if !families.contains(BUGGIFY) {
        sites.clear();
    }
    FaultSelection {
        only: Some(families),
        off: BTreeSet::new(),
        buggify_sites: Some(sites),
    }
}

/// Drops the sites when the buggify family is gone: they cannot fire.
fn without_orphan_sites(parts: Vec<Part>) -> Vec<Part> {
    let buggify_kept = parts.contains(&Part::Family(BUGGIFY));
    parts
        .into_iter()
        .filter(|p| buggify_kept || matches!(p, Part::Family(_)))
        .collect()
}

/// The parts of a seed's report: families on, then active sites.
fn parts_of(report: &SeedReport) -> Vec<Part> {
    let mut parts: Vec<Part> = report
        .fault_families
        .iter()
        .filter(|(_, on)| **on)
        .map(|(f, _)| Part::Family(f))
        .collect();
    let mut sites: Vec<String> = report
        .buggify
        .iter()
        .filter(|b| b.active)
        .map(|b| site_name(b.site))
        .collect();
    sites.sort();
    sites.dedup();
    parts.extend(sites.into_iter().map(Part::Site));
    parts
}

fn split(parts: &[Part]) -> (Vec<&'static str>, Vec<String>) {
    let mut families = Vec::new();
    let mut sites = Vec::new();
    for p in parts {
        match p {
            Part::Family(f) => families.push(*f),
            Part::Site(s) => sites.push(s.clone()),
        }
    }
    (families, sites)
}

impl Simulation {
    /// Shrinks the failing seed of `plan` (a [`SweepPlan::one`] with chaos)
    /// to the fewest fault families and buggify sites under which it still
    /// fails the same way. See the [module documentation](self).
    pub fn minimize(
        &self,
        plan: &SweepPlan,
        options: &MinimizeOptions,
    ) -> Result<Minimized, MinimizeError> {
        let SeedPlan::One(seed) = plan.seeds else {
            return Err(MinimizeError::NotOneSeed);
        };
        let mut settings = self.settings_for(plan);
        settings.record_timeline = false;
        if !settings.chaos {
            return Err(MinimizeError::Quiet { seed });
        }
        let started = Instant::now();
        let first = self.run_seed_with(seed, &settings);
        let Some(failure) = first.outcome.failure() else {
            return Err(MinimizeError::Passes { seed });
        };
        let class = FailureClass::of(failure);
        let before = parts_of(&first);
        let (families_before, sites_before) = split(&before);
        let mut search = Search {
            sim: self,
            settings,
            class,
            options,
            started,
            runs: 1,
            best: (seed, first),
        };
        // The full configuration must replay the original failure on the
        // original seed: anything else means the run is not reproducible.
        let full = {
            let mut settings = search.settings.clone();
            settings.faults = selection(&before);
            search.runs += 1;
            self.run_seed_with(seed, &settings)
        };
        let reproduced = full
            .outcome
            .failure()
            .is_some_and(|f| FailureClass::of(f) == search.class);
        if !reproduced {
            return Err(MinimizeError::NotReproducible {
                seed,
                expected: search.class,
                got: match full.outcome.failure() {
                    Some(f) => format!("failed as {}", FailureClass::of(f)),
                    None => "passed".to_string(),
                },
            });
        }
        search.best = (seed, full);
        let (parts, complete) = ddmin(&mut search, before);
        let (families, sites) = split(&parts);
        let (seed_found, report) = search.best;
        Ok(Minimized {
            original_seed: seed,
            class: search.class,
            families_before,
            sites_before,
            families,
            sites,
            faults: selection(&parts),
            seed: seed_found,
            report,
            runs: search.runs,
            complete,
        })
    }
}

/// Delta debugging over `parts`; returns the smallest failing parts found
/// and whether the search finished (rather than running out of budget).
fn ddmin(search: &mut Search<'_>, mut parts: Vec<Part>) -> (Vec<Part>, bool) {
    let mut pieces = 2usize;
    // Each round either removes at least one part or doubles `pieces`
    // (up to the number of parts), and every run counts against
    // `runs_max`: the loop is bounded.
    while !parts.is_empty() {
        if search.spent() {
            return (parts, false);
        }
        let chunk = parts.len().div_ceil(pieces.min(parts.len()));
        let mut removed = false;
        for start in (0..parts.len()).step_by(chunk) {
            let end = (start + chunk).min(parts.len());
            let rest: Vec<Part> = parts[..start]
                .iter()
                .chain(&parts[end..])
                .cloned()
                .collect();
            let rest = without_orphan_sites(rest);
            if let Some(hit) = search.fails(&rest) {
                search.best = hit;
                parts = rest;
                pieces = pieces.saturating_sub(1).max(2);
                removed = true;
                break;
            }
            if search.spent() {
                return (parts, false);
            }
        }
        if !removed {
            if pieces >= parts.len() {
                return (parts, true);
            }
            pieces = (pieces * 2).min(parts.len());
        }
    }
    (parts, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_classes_ignore_values_after_the_colon_and_digits() {
        assert_eq!(
            message_class("linearizability violated: key 3 read 7"),
            "linearizability violated"
        );
        assert_eq!(
            message_class("client 2 lost write 9"),
            "client # lost write #"
        );
    }

    #[test]
    fn a_selection_without_buggify_keeps_no_site() {
        let parts = vec![Part::Family("net.clog"), Part::Site("a::b:1".to_string())];
        let s = selection(&parts);
        assert_eq!(s.only, Some(["net.clog".to_string()].into()));
        assert_eq!(s.buggify_sites, Some(BTreeSet::new()));
        assert_eq!(without_orphan_sites(parts), vec![Part::Family("net.clog")]);
    }
}
