//! Assertions in simulation: per-seed counts, and failing a seed on a
//! violation.
//!
//! The macros (`always!`, `sometimes!`, `reachable!`,
//! `assert_unreachable!`, the numeric forms) live in `moonpool-core` and
//! are re-exported by this crate. While a world is current, every
//! evaluation reaches this module's hook, which
//! - counts it for its site in the world's assertion state: evaluations,
//!   how often the condition was true and false, and for numeric forms the
//!   evaluations that held with the least room and the most (the closest a
//!   `sometimes` came to being satisfied);
//! - fails the seed with [`SeedFailure::Assertion`] (message, location,
//!   values, details, task) on a violated `always`/`always_or_unreachable`
//!   or a reached `assert_unreachable`. The first failure of a seed wins;
//!   the task carries on to its next suspension point (assertions do not
//!   panic), then the seed stops.
//!
//! At the end of a seed the counts become the seed report's
//! [`AssertionStats`] (sites evaluated in that seed only). Merging them
//! across seeds is the runner's `Coverage` (`runner/coverage/`), one layer
//! up. Guide: `docs/src/assertions.md`.
//!
//! # Invariants
//! - Sites are identified by their index in the link-time registry
//!   (`moonpool_core::assertions::ASSERTION_SITES`), never by hashing text.
//! - Recording draws no randomness and folds nothing into the fingerprint:
//!   adding an assertion never changes an execution.

use moonpool_core::assertions::{AssertionSite, Number, assertion_sites, describe};
use moonpool_core::sim_hook::{AssertionEvent, SimHook};

use crate::kernel::failure::SeedFailure;
use crate::model::world::World;

/// The hook this simulator installs while a world is current.
pub(crate) static HOOK: SimHook = SimHook {
    buggify: crate::model::buggify::hook,
    assertion: hook,
    metric: metric_hook,
    mark: mark_hook,
};

/// Keeps a library's mark (an RPC sent, served, answered) for the picture.
fn mark_hook(kind: &'static str, key: u64) {
    crate::model::world::with_current(|world| {
        world.mark(kind, None, || crate::kernel::timeline::Mark {
            pair: Some(key),
            ..Default::default()
        })
    });
}

/// Counts a library's metric into the current world's counters.
fn metric_hook(name: &'static str, delta: u64) {
    crate::model::world::with_current(|world| world.count(name, delta));
}

/// One numeric evaluation kept for the report.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NumericSample {
    /// The left value.
    pub left: Number,
    /// The right value.
    pub right: Number,
    /// How much room the comparison had: positive or zero when it held,
    /// negative when it missed (by that much). See
    /// [`Comparison::margin`](moonpool_core::Comparison::margin).
    pub margin: f64,
}

/// The extreme evaluations of a numeric assertion.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NumericStats {
    /// The evaluation with the smallest margin: for an `always` form, how
    /// close it came to failing (or how badly it failed).
    pub worst: NumericSample,
    /// The evaluation with the largest margin: for a `sometimes` form that
    /// never held, how close it came.
    pub best: NumericSample,
}

impl NumericStats {
    pub(crate) fn merge(&mut self, other: NumericStats) {
        if other.worst.margin < self.worst.margin {
            self.worst = other.worst;
        }
        if other.best.margin > self.best.margin {
            self.best = other.best;
        }
    }
}

/// What one assertion site did in one seed.
#[derive(Clone, Copy, Debug)]
pub struct AssertionStats {
    /// The call site.
    pub site: &'static AssertionSite,
    /// How many times it was evaluated.
    pub evaluations: u64,
    /// Evaluations where the condition held (for `reachable!` and
    /// `assert_unreachable!`, every evaluation).
    pub true_count: u64,
    /// Evaluations where the condition did not hold.
    pub false_count: u64,
    /// For numeric forms, the extreme values seen.
    pub numeric: Option<NumericStats>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    evaluations: u64,
    true_count: u64,
    numeric: Option<NumericStats>,
}

/// The assertion counts of one seed, owned by its world.
#[derive(Debug, Default)]
pub(crate) struct AssertionState {
    /// By site index; empty until a site is first evaluated.
    sites: Vec<Counts>,
}

/// The hook `moonpool-core` calls for every assertion evaluation.
pub(crate) fn hook(site: &'static AssertionSite, event: &AssertionEvent<'_>) {
    crate::model::world::with_current(|world| record(world, site, event));
}

fn record(world: &World, site: &'static AssertionSite, event: &AssertionEvent<'_>) {
    let mut first_true = false;
    if let Some(index) = site.index() {
        let mut state = world.assertions.borrow_mut();
        if state.sites.len() <= index {
            let len = assertion_sites().len().max(index + 1);
            state.sites.resize(len, Counts::default());
        }
        let counts = &mut state.sites[index];
        counts.evaluations += 1;
        counts.true_count += event.condition as u64;
        first_true = event.condition && counts.true_count == 1;
        if let (Some(comparison), Some((left, right))) = (site.comparison, event.values) {
            let sample = NumericSample {
                left,
                right,
                margin: comparison.margin(left, right),
            };
            let stats = NumericStats {
                worst: sample,
                best: sample,
            };
            match &mut counts.numeric {
                Some(n) => n.merge(stats),
                None => counts.numeric = Some(stats),
            }
        }
    }
    let violated = site.kind.is_violation(event.condition);
    // For the timeline picture: the first time each site held in the
    // seed, and every violation.
    if (first_true || violated) && world.marking() {
        let kind = if violated {
            "assert.fail"
        } else {
            "assert.hit"
        };
        world.mark(kind, None, || {
            crate::kernel::timeline::Mark::text(format!(
                "{} ({}:{})",
                site.message, site.file, site.line
            ))
        });
    }
    if violated {
        violation(world, site, event);
    }
}

#[cold]
fn violation(world: &World, site: &'static AssertionSite, event: &AssertionEvent<'_>) {
    let mut message = describe(site, event);
    if let Some(label) = world.current().and_then(|(task, _)| world.task_label(task)) {
        message.push_str(&format!(" (in task {label})"));
    }
    world.fail(SeedFailure::Assertion {
        name: site.message.to_string(),
        location: site.location(),
        message,
    });
}

/// The sites evaluated in this seed, in registry order.
pub(crate) fn stats(world: &World) -> Vec<AssertionStats> {
    let state = world.assertions.borrow();
    state
        .sites
        .iter()
        .zip(assertion_sites())
        .filter(|(c, _)| c.evaluations > 0)
        .map(|(c, site)| AssertionStats {
            site,
            evaluations: c.evaluations,
            true_count: c.true_count,
            false_count: c.evaluations - c.true_count,
            numeric: c.numeric,
        })
        .collect()
}
