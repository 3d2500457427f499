//! [`CoverageSummary`]: coverage as plain data, serializable both ways,
//! and merged across sweeps.
//!
//! A sweep's coverage is a [`Coverage`](super::Coverage) (sites are the
//! binary's static descriptors); once written out (the JSON summary of a
//! shard), it is a `CoverageSummary`, and summaries of many shards merge
//! into one ([`CoverageSummary::merge`]): a site is the same site when its
//! kind, message, module, file, line and column are; counts add up, a
//! status is recomputed from the merged counts (a `sometimes` satisfied in
//! any shard is satisfied), first seeds keep the lowest. Merging is
//! associative and commutative, except that of two numeric samples with
//! the same margin the left one is kept.

use moonpool_core::assertions::{AssertionKind, Comparison};
use moonpool_core::buggify::BuggifyKind;

use super::{BuggifyCoverage, SiteCoverage, SiteStatus};
use crate::model::assertions::NumericStats;

/// [`Coverage`] as plain serializable data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CoverageSummary {
    /// Seeds observed.
    pub seeds: u64,
    /// Seeds that failed.
    pub failed_seeds: u64,
    /// Every `sometimes`/`reachable` satisfied.
    pub all_sometimes_satisfied: bool,
    /// Every assertion satisfied.
    pub all_satisfied: bool,
    /// Every assertion site kept.
    pub sites: Vec<SiteSummary>,
    /// Every buggify site kept.
    pub buggify: Vec<BuggifySummary>,
}

/// One assertion site in a [`CoverageSummary`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SiteSummary {
    /// The macro, e.g. `always_greater_than`.
    pub assertion: String,
    /// The kind.
    pub kind: AssertionKind,
    /// The comparison of a numeric form.
    pub comparison: Option<Comparison>,
    /// The message.
    pub message: String,
    /// `module_path!()` of the call.
    pub module: String,
    /// Source file.
    pub file: String,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// Where the property stands.
    pub status: SiteStatus,
    /// Evaluations.
    pub evaluations: u64,
    /// Evaluations where the condition held.
    pub true_count: u64,
    /// Evaluations where it did not.
    pub false_count: u64,
    /// Seeds that reached the site.
    pub seeds_reached: u64,
    /// Seeds where the condition held at least once.
    pub seeds_true: u64,
    /// First seed where the condition held.
    pub first_seed_true: Option<u64>,
    /// First seed where the assertion was violated.
    pub first_seed_violated: Option<u64>,
    /// Extreme values of a numeric form.
    pub numeric: Option<NumericStats>,
}

impl SiteSummary {
    pub(super) fn of(c: &SiteCoverage) -> SiteSummary {
        SiteSummary {
            assertion: c.site.macro_name(),
            kind: c.site.kind,
            comparison: c.site.comparison,
            message: c.site.message.to_string(),
            module: c.site.module_path.to_string(),
            file: c.site.file.to_string(),
            line: c.site.line,
            column: c.site.column,
            status: c.status(),
            evaluations: c.evaluations,
            true_count: c.true_count,
            false_count: c.false_count,
            seeds_reached: c.seeds_reached,
            seeds_true: c.seeds_true,
            first_seed_true: c.first_seed_true,
            first_seed_violated: c.first_seed_violated,
            numeric: c.numeric,
        }
    }
}

/// One buggify site in a [`CoverageSummary`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuggifySummary {
    /// Which macro.
    pub kind: BuggifyKind,
    /// `module_path!()` of the call.
    pub module: String,
    /// Source file.
    pub file: String,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// Evaluations.
    pub evaluations: u64,
    /// Evaluations that fired.
    pub fired: u64,
    /// Seeds that reached the site.
    pub seeds_reached: u64,
    /// Seeds where it was active.
    pub seeds_active: u64,
}

impl BuggifySummary {
    pub(super) fn of(c: &BuggifyCoverage) -> BuggifySummary {
        BuggifySummary {
            kind: c.site.kind,
            module: c.site.module_path.to_string(),
            file: c.site.file.to_string(),
            line: c.site.line,
            column: c.site.column,
            evaluations: c.evaluations,
            fired: c.fired,
            seeds_reached: c.seeds_reached,
            seeds_active: c.seeds_active,
        }
    }
}

impl SiteSummary {
    /// Whether `other` describes the same call site.
    fn same_site(&self, other: &SiteSummary) -> bool {
        self.site_key() == other.site_key()
    }

    fn site_key(&self) -> (&str, &str, u32, u32, AssertionKind, &str) {
        (
            &self.module,
            &self.file,
            self.line,
            self.column,
            self.kind,
            &self.message,
        )
    }

    /// Whether this is a coverage goal (`sometimes` or `reachable`).
    pub fn is_sometimes(&self) -> bool {
        matches!(
            self.kind,
            AssertionKind::Sometimes | AssertionKind::Reachable
        )
    }

    fn add(&mut self, other: &SiteSummary) {
        self.evaluations += other.evaluations;
        self.true_count += other.true_count;
        self.false_count += other.false_count;
        self.seeds_reached += other.seeds_reached;
        self.seeds_true += other.seeds_true;
        self.first_seed_true = min_some(self.first_seed_true, other.first_seed_true);
        self.first_seed_violated = min_some(self.first_seed_violated, other.first_seed_violated);
        self.numeric = match (self.numeric, other.numeric) {
            (Some(mut mine), Some(theirs)) => {
                mine.merge(theirs);
                Some(mine)
            }
            (mine, theirs) => mine.or(theirs),
        };
        self.status = SiteStatus::of(
            self.kind,
            self.evaluations,
            self.true_count,
            self.false_count,
        );
    }
}

impl BuggifySummary {
    fn site_key(&self) -> (&str, &str, u32, u32, BuggifyKind) {
        (&self.module, &self.file, self.line, self.column, self.kind)
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl CoverageSummary {
    /// Adds `other`'s seeds and counts to these: see the [module
    /// documentation](self). Sites only `other` has are added, in order.
    pub fn merge(&mut self, other: &CoverageSummary) {
        self.seeds += other.seeds;
        self.failed_seeds += other.failed_seeds;
        for site in &other.sites {
            match self.sites.iter_mut().find(|s| s.same_site(site)) {
                Some(mine) => mine.add(site),
                None => self.sites.push(site.clone()),
            }
        }
        self.sites.sort_by(|a, b| a.site_key().cmp(&b.site_key()));
        for site in &other.buggify {
            match self
                .buggify
                .iter_mut()
                .find(|s| s.site_key() == site.site_key())
            {
                Some(mine) => {
                    mine.evaluations += site.evaluations;
                    mine.fired += site.fired;
                    mine.seeds_reached += site.seeds_reached;
                    mine.seeds_active += site.seeds_active;
                }
                None => self.buggify.push(site.clone()),
            }
        }
        self.buggify.sort_by(|a, b| a.site_key().cmp(&b.site_key()));
        self.all_sometimes_satisfied = self
            .sites
            .iter()
            .all(|s| !s.is_sometimes() || s.status == SiteStatus::Satisfied);
        self.all_satisfied = self.sites.iter().all(|s| s.status == SiteStatus::Satisfied);
    }

    /// The `sometimes` and `reachable` sites not satisfied.
    pub fn unsatisfied_sometimes(&self) -> impl Iterator<Item = &SiteSummary> {
        self.sites
            .iter()
            .filter(|s| s.is_sometimes() && s.status != SiteStatus::Satisfied)
    }
}
