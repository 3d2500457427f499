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

#[cfg(test)]
mod tests {
    use super::*;

    /// A site at `line` of `kind` after `seeds` seeds with these counts.
    fn site(kind: AssertionKind, line: u32, true_count: u64, false_count: u64) -> SiteSummary {
        let evaluations = true_count + false_count;
        SiteSummary {
            assertion: "test".to_string(),
            kind,
            comparison: None,
            message: format!("site {line}"),
            module: "m".to_string(),
            file: "f.rs".to_string(),
            line,
            column: 1,
            status: SiteStatus::of(kind, evaluations, true_count, false_count),
            evaluations,
            true_count,
            false_count,
            seeds_reached: u64::from(evaluations > 0),
            seeds_true: u64::from(true_count > 0),
            first_seed_true: (true_count > 0).then_some(u64::from(line)),
            first_seed_violated: None,
            numeric: None,
        }
    }

    fn summary(seeds: u64, sites: Vec<SiteSummary>) -> CoverageSummary {
        let mut s = CoverageSummary {
            seeds,
            failed_seeds: 0,
            all_sometimes_satisfied: false,
            all_satisfied: false,
            sites: Vec::new(),
            buggify: Vec::new(),
        };
        // Merging into an empty summary computes the flags.
        s.merge(&CoverageSummary {
            seeds: 0,
            failed_seeds: 0,
            all_sometimes_satisfied: false,
            all_satisfied: false,
            sites,
            buggify: Vec::new(),
        });
        s
    }

    #[test]
    fn a_sometimes_satisfied_in_one_part_is_satisfied_in_the_merge() {
        // Shard a reached the site and never saw it true; shard b never
        // reached it; shard c saw it true once.
        let a = summary(10, vec![site(AssertionKind::Sometimes, 7, 0, 4)]);
        let b = summary(10, vec![]);
        let c = summary(10, vec![site(AssertionKind::Sometimes, 7, 1, 2)]);
        assert!(!a.all_sometimes_satisfied);
        assert_eq!(a.unsatisfied_sometimes().count(), 1);
        let mut merged = a.clone();
        merged.merge(&b);
        assert!(!merged.all_sometimes_satisfied, "no part satisfied it yet");
        merged.merge(&c);
        assert!(merged.all_sometimes_satisfied);
        assert_eq!(merged.unsatisfied_sometimes().count(), 0);
        assert_eq!(merged.seeds, 30);
        let s = &merged.sites[0];
        assert_eq!((s.evaluations, s.true_count, s.false_count), (7, 1, 6));
        assert_eq!(s.status, SiteStatus::Satisfied);
    }

    #[test]
    fn an_always_violated_in_one_part_is_violated_in_the_merge() {
        let a = summary(5, vec![site(AssertionKind::Always, 3, 9, 0)]);
        let b = summary(5, vec![site(AssertionKind::Always, 3, 4, 1)]);
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged.sites[0].status, SiteStatus::Violated);
        assert!(!merged.all_satisfied);
        assert!(a.all_satisfied);
    }

    #[test]
    fn merging_coverage_is_associative_and_commutative() {
        let a = summary(
            3,
            vec![
                site(AssertionKind::Sometimes, 1, 0, 2),
                site(AssertionKind::Always, 2, 5, 0),
            ],
        );
        let b = summary(4, vec![site(AssertionKind::Reachable, 9, 1, 0)]);
        let c = summary(
            5,
            vec![
                site(AssertionKind::Always, 2, 1, 1),
                site(AssertionKind::Sometimes, 1, 3, 0),
            ],
        );
        let merge = |parts: &[&CoverageSummary]| {
            let mut out = parts[0].clone();
            for p in &parts[1..] {
                out.merge(p);
            }
            out
        };
        let abc = merge(&[&a, &b, &c]);
        assert_eq!(abc, merge(&[&merge(&[&a, &b]), &c]));
        assert_eq!(abc, merge(&[&a, &merge(&[&b, &c])]));
        assert_eq!(abc, merge(&[&c, &a, &b]), "order of the parts");
        assert_eq!(abc.sites.len(), 3);
        assert_eq!(abc.seeds, 12);
    }
}
