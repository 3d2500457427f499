//! [`Coverage`]: assertion and buggify coverage accumulated across seeds.
//!
//! Built from the link-time registries, so it starts with *every* site of
//! the binary (optionally filtered by module), each at zero; each
//! [`Coverage::observe`] adds one seed's [`SeedReport`]. A site's
//! [`SiteStatus`] follows the Antithesis semantics of its kind:
//!
//! | kind | satisfied when | otherwise |
//! |---|---|---|
//! | `always` | evaluated, never false | `violated`, or `never reached` |
//! | `always_or_unreachable` | never false | `violated` |
//! | `sometimes` | true at least once | `never true`, or `never reached` |
//! | `reachable` | evaluated at least once | `never reached` |
//! | `unreachable` | never evaluated | `violated` |
//!
//! [`Coverage::all_sometimes_satisfied`] (every `sometimes` and
//! `reachable` satisfied) is the stop condition of an
//! until-all-sometimes sweep.
//!
//! `render.rs` writes the human table.

mod render;
mod summary;

pub use summary::{BuggifySummary, CoverageSummary, SiteSummary};

use std::collections::BTreeMap;

use moonpool_core::assertions::{AssertionKind, AssertionSite, assertion_sites};
use moonpool_core::buggify::{BuggifySite, buggify_sites};

use crate::model::assertions::NumericStats;
use crate::runner::report::SeedReport;

/// Where an assertion stands after the seeds observed so far.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SiteStatus {
    /// The property holds (so far).
    Satisfied,
    /// Never evaluated, and it needed to be (`always`, `sometimes`,
    /// `reachable`).
    NeverReached,
    /// A `sometimes` evaluated but never true.
    NeverTrue,
    /// An `always` was false, or an `unreachable` was reached.
    Violated,
}

impl SiteStatus {
    /// Where an assertion of `kind` stands after `evaluations`, of which
    /// `true_count` held and `false_count` did not.
    pub fn of(
        kind: AssertionKind,
        evaluations: u64,
        true_count: u64,
        false_count: u64,
    ) -> SiteStatus {
        let reached = evaluations > 0;
        match kind {
            AssertionKind::Always if false_count > 0 => SiteStatus::Violated,
            AssertionKind::Always if !reached => SiteStatus::NeverReached,
            AssertionKind::AlwaysOrUnreachable if false_count > 0 => SiteStatus::Violated,
            AssertionKind::Sometimes if true_count > 0 => SiteStatus::Satisfied,
            AssertionKind::Sometimes if reached => SiteStatus::NeverTrue,
            AssertionKind::Sometimes => SiteStatus::NeverReached,
            AssertionKind::Reachable if !reached => SiteStatus::NeverReached,
            AssertionKind::Unreachable if reached => SiteStatus::Violated,
            _ => SiteStatus::Satisfied,
        }
    }

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            SiteStatus::Satisfied => "ok",
            SiteStatus::NeverReached => "NEVER REACHED",
            SiteStatus::NeverTrue => "NEVER TRUE",
            SiteStatus::Violated => "VIOLATED",
        }
    }
}

/// One assertion site's totals across the seeds observed.
#[derive(Clone, Debug)]
pub struct SiteCoverage {
    /// The call site.
    pub site: &'static AssertionSite,
    /// Evaluations, all seeds together.
    pub evaluations: u64,
    /// Evaluations where the condition held.
    pub true_count: u64,
    /// Evaluations where it did not.
    pub false_count: u64,
    /// Seeds in which the site was evaluated.
    pub seeds_reached: u64,
    /// Seeds in which the condition held at least once.
    pub seeds_true: u64,
    /// The first seed observed where the condition held (replay it to see
    /// a `sometimes` happen).
    pub first_seed_true: Option<u64>,
    /// The first seed observed where the assertion was violated.
    pub first_seed_violated: Option<u64>,
    /// For numeric forms, the extreme values across seeds.
    pub numeric: Option<NumericStats>,
}

impl SiteCoverage {
    fn new(site: &'static AssertionSite) -> SiteCoverage {
        SiteCoverage {
            site,
            evaluations: 0,
            true_count: 0,
            false_count: 0,
            seeds_reached: 0,
            seeds_true: 0,
            first_seed_true: None,
            first_seed_violated: None,
            numeric: None,
        }
    }

    /// Where the property stands: see [`SiteStatus`].
    pub fn status(&self) -> SiteStatus {
        SiteStatus::of(
            self.site.kind,
            self.evaluations,
            self.true_count,
            self.false_count,
        )
    }

    /// Whether this is a coverage goal (`sometimes` or `reachable`).
    pub fn is_sometimes(&self) -> bool {
        matches!(
            self.site.kind,
            AssertionKind::Sometimes | AssertionKind::Reachable
        )
    }
}

/// One buggify site's totals across the seeds observed.
#[derive(Clone, Debug)]
pub struct BuggifyCoverage {
    /// The call site.
    pub site: &'static BuggifySite,
    /// Evaluations, all seeds together.
    pub evaluations: u64,
    /// Evaluations that fired (knobs: took the chaos value).
    pub fired: u64,
    /// Seeds in which the site was evaluated.
    pub seeds_reached: u64,
    /// Seeds in which the site was active.
    pub seeds_active: u64,
}

/// Assertion and buggify coverage across seeds. See the
/// [module documentation](crate::assertions) for site statuses.
///
/// ```
/// use moonpool_sim::Simulation;
/// use moonpool_sim::assertions::Coverage;
///
/// /// Runs seeds until every `sometimes` of `my_system` was met, or 1000 seeds.
/// fn sweep(sim: &Simulation) -> Coverage {
///     let mut coverage = Coverage::for_modules(&["my_system"]);
///     for seed in 0..1000 {
///         coverage.observe(&sim.run_seed(seed));
///         if coverage.all_sometimes_satisfied() {
///             break;
///         }
///     }
///     println!("{}", coverage.render());
///     coverage
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Coverage {
    sites: Vec<SiteCoverage>,
    by_address: BTreeMap<usize, usize>,
    buggify: Vec<BuggifyCoverage>,
    buggify_by_address: BTreeMap<usize, usize>,
    seeds: u64,
    failed_seeds: u64,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage::new()
    }
}

impl Coverage {
    /// Every assertion and buggify site linked into the binary, at zero.
    pub fn new() -> Coverage {
        Coverage::filtered(|_| true)
    }

    /// Only the sites whose module path is one of `prefixes` or inside one
    /// (`"kv"` keeps `kv` and `kv::store`, not `kvx`). A binary links the
    /// sites of all its crates; this keeps the report to the system under
    /// test. An empty list keeps everything.
    pub fn for_modules(prefixes: &[&str]) -> Coverage {
        let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
        Coverage::filtered(move |module| {
            prefixes.is_empty()
                || prefixes.iter().any(|p| {
                    module == p
                        || (module.starts_with(p.as_str()) && module[p.len()..].starts_with("::"))
                })
        })
    }

    /// Only the sites whose module path passes `keep`.
    pub fn filtered(keep: impl Fn(&str) -> bool) -> Coverage {
        let mut sites: Vec<SiteCoverage> = assertion_sites()
            .iter()
            .filter(|s| keep(s.module_path))
            .map(SiteCoverage::new)
            .collect();
        sites.sort_by_key(|c| (c.site.module_path, c.site.file, c.site.line, c.site.column));
        let by_address = sites
            .iter()
            .enumerate()
            .map(|(i, c)| (c.site as *const AssertionSite as usize, i))
            .collect();
        let mut buggify: Vec<BuggifyCoverage> = buggify_sites()
            .iter()
            .filter(|s| keep(s.module_path))
            .map(|site| BuggifyCoverage {
                site,
                evaluations: 0,
                fired: 0,
                seeds_reached: 0,
                seeds_active: 0,
            })
            .collect();
        buggify.sort_by_key(|c| (c.site.module_path, c.site.file, c.site.line, c.site.column));
        let buggify_by_address = buggify
            .iter()
            .enumerate()
            .map(|(i, c)| (c.site as *const BuggifySite as usize, i))
            .collect();
        Coverage {
            sites,
            by_address,
            buggify,
            buggify_by_address,
            seeds: 0,
            failed_seeds: 0,
        }
    }

    /// Adds one seed's counts.
    pub fn observe(&mut self, report: &SeedReport) {
        self.seeds += 1;
        self.failed_seeds += !report.outcome.is_pass() as u64;
        for stats in &report.assertions {
            let address = stats.site as *const AssertionSite as usize;
            let Some(&i) = self.by_address.get(&address) else {
                continue; // filtered out
            };
            let c = &mut self.sites[i];
            c.evaluations += stats.evaluations;
            c.true_count += stats.true_count;
            c.false_count += stats.false_count;
            c.seeds_reached += 1;
            if stats.true_count > 0 {
                c.seeds_true += 1;
                c.first_seed_true.get_or_insert(report.seed);
            }
            let violated = match stats.site.kind {
                AssertionKind::Always | AssertionKind::AlwaysOrUnreachable => stats.false_count > 0,
                AssertionKind::Unreachable => true,
                AssertionKind::Sometimes | AssertionKind::Reachable => false,
            };
            if violated {
                c.first_seed_violated.get_or_insert(report.seed);
            }
            if let Some(n) = stats.numeric {
                match &mut c.numeric {
                    Some(total) => total.merge(n),
                    None => c.numeric = Some(n),
                }
            }
        }
        for stats in &report.buggify {
            let address = stats.site as *const BuggifySite as usize;
            let Some(&i) = self.buggify_by_address.get(&address) else {
                continue;
            };
            let c = &mut self.buggify[i];
            c.evaluations += stats.evaluations;
            c.fired += stats.fired;
            c.seeds_reached += 1;
            c.seeds_active += stats.active as u64;
        }
    }

    /// Seeds observed.
    pub fn seeds(&self) -> u64 {
        self.seeds
    }

    /// Seeds observed that failed (for any reason).
    pub fn failed_seeds(&self) -> u64 {
        self.failed_seeds
    }

    /// Every assertion site kept, ordered by module, file and line.
    pub fn sites(&self) -> &[SiteCoverage] {
        &self.sites
    }

    /// Every buggify site kept, ordered by module, file and line.
    pub fn buggify_sites(&self) -> &[BuggifyCoverage] {
        &self.buggify
    }

    /// The totals of the site declared at `file:line` (the first, if
    /// several share the line). Handy in tests.
    pub fn site_at(&self, file: &str, line: u32) -> Option<&SiteCoverage> {
        self.sites
            .iter()
            .find(|c| c.site.file == file && c.site.line == line)
    }

    /// The totals of the site with this message (the first, if several
    /// share it).
    pub fn site_named(&self, message: &str) -> Option<&SiteCoverage> {
        self.sites.iter().find(|c| c.site.message == message)
    }

    /// Whether every `sometimes` and `reachable` site has been satisfied:
    /// the stop condition of `--until-all-sometimes`. True when there are
    /// none.
    pub fn all_sometimes_satisfied(&self) -> bool {
        self.unsatisfied_sometimes().next().is_none()
    }

    /// The `sometimes` and `reachable` sites not satisfied yet.
    pub fn unsatisfied_sometimes(&self) -> impl Iterator<Item = &SiteCoverage> {
        self.sites
            .iter()
            .filter(|c| c.is_sometimes() && c.status() != SiteStatus::Satisfied)
    }

    /// Every site whose property does not hold (yet): violated, never
    /// reached, never true.
    pub fn unsatisfied(&self) -> impl Iterator<Item = &SiteCoverage> {
        self.sites
            .iter()
            .filter(|c| c.status() != SiteStatus::Satisfied)
    }

    /// Whether every assertion site is satisfied (no violation, every
    /// `always` reached, every `sometimes` met).
    pub fn all_satisfied(&self) -> bool {
        self.unsatisfied().next().is_none()
    }

    /// The report as a human table (see `render.rs` for the layout).
    pub fn render(&self) -> String {
        render::render(self)
    }

    /// The report as plain data, serializable with serde.
    pub fn summary(&self) -> CoverageSummary {
        CoverageSummary {
            seeds: self.seeds,
            failed_seeds: self.failed_seeds,
            all_sometimes_satisfied: self.all_sometimes_satisfied(),
            all_satisfied: self.all_satisfied(),
            sites: self.sites.iter().map(SiteSummary::of).collect(),
            buggify: self.buggify.iter().map(BuggifySummary::of).collect(),
        }
    }

    /// The report as JSON (for CI).
    pub fn to_json(&self) -> serde_json::Value {
        // Serializing plain structs of numbers and strings cannot fail.
        serde_json::to_value(self.summary()).unwrap_or(serde_json::Value::Null)
    }
}
