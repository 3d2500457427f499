//! The human table of a [`Coverage`]:
//!
//! ```text
//! assertion coverage: 3 sites, 200 seeds (0 failed), 1 not satisfied
//! module kv::store
//!   status         assertion                 evals     true    false   seeds  location            message
//!   ok             always                     4000     4000        0     200  src/store.rs:42:9   "applied writes are durable"
//!   ok             reachable                    17       17        0      12  src/store.rs:61:13  "a write was retried"
//!   NEVER TRUE     sometimes_greater_than      812        0      812     200  src/store.rs:80:13  "queue gets long"  (best: left = 3, right = 10)
//! not satisfied (1):
//!   NEVER TRUE     sometimes_greater_than "queue gets long" at src/store.rs:80:13: evaluated 812 times in 200 seeds, never true; closest: left = 3, right = 10
//! buggify: 1 sites, 1 reached, 1 ever active, 1 ever fired
//!   kind            evals    fired   seeds  active  location
//!   default          9000      561     200      41  src/store.rs:51:12
//! ```
//!
//! Sites are grouped by module, in module, file and line order, so two
//! reports of the same sweep are identical and diff cleanly.

use std::fmt::Write;

use moonpool_core::assertions::AssertionKind;
use moonpool_core::buggify::BuggifyKind;

use super::{Coverage, SiteCoverage, SiteStatus};

pub(super) fn render(coverage: &Coverage) -> String {
    let mut out = String::new();
    let unsatisfied: Vec<&SiteCoverage> = coverage.unsatisfied().collect();
    let _ = writeln!(
        out,
        "assertion coverage: {} sites, {} seeds ({} failed), {} not satisfied",
        coverage.sites().len(),
        coverage.seeds(),
        coverage.failed_seeds(),
        unsatisfied.len()
    );
    // Column widths fitted to the content, so rows line up.
    let name_w = coverage
        .sites()
        .iter()
        .map(|c| c.site.macro_name().len())
        .max()
        .unwrap_or(0)
        .max("assertion".len());
    let loc_w = coverage
        .sites()
        .iter()
        .map(|c| c.site.location().len())
        .max()
        .unwrap_or(0)
        .max("location".len());
    let mut module = "";
    for c in coverage.sites() {
        if c.site.module_path != module || module.is_empty() {
            module = c.site.module_path;
            let _ = writeln!(out, "module {module}");
            let _ = writeln!(
                out,
                "  {:<14} {:<name_w$} {:>8} {:>8} {:>8} {:>7}  {:<loc_w$}  message",
                "status", "assertion", "evals", "true", "false", "seeds", "location"
            );
        }
        let _ = write!(
            out,
            "  {:<14} {:<name_w$} {:>8} {:>8} {:>8} {:>7}  {:<loc_w$}  {:?}",
            c.status().label(),
            c.site.macro_name(),
            c.evaluations,
            c.true_count,
            c.false_count,
            c.seeds_reached,
            c.site.location(),
            c.site.message
        );
        if let Some(n) = c.numeric {
            let sample = if c.is_sometimes() { n.best } else { n.worst };
            let which = if c.is_sometimes() { "best" } else { "worst" };
            let _ = write!(
                out,
                "  ({which}: left = {}, right = {})",
                sample.left, sample.right
            );
        }
        out.push('\n');
    }
    if !unsatisfied.is_empty() {
        let _ = writeln!(out, "not satisfied ({}):", unsatisfied.len());
        for c in unsatisfied {
            let _ = writeln!(
                out,
                "  {:<14} {} {:?} at {}: {}",
                c.status().label(),
                c.site.macro_name(),
                c.site.message,
                c.site.location(),
                explain(c)
            );
        }
    }
    render_buggify(coverage, &mut out);
    out
}

/// Why a site is not satisfied, in words.
fn explain(c: &SiteCoverage) -> String {
    match c.status() {
        SiteStatus::Satisfied => "satisfied".to_string(),
        SiteStatus::NeverReached => "never evaluated in any seed".to_string(),
        SiteStatus::NeverTrue => {
            let mut text = format!(
                "evaluated {} times in {} seeds, never true",
                c.evaluations, c.seeds_reached
            );
            if let Some(n) = c.numeric {
                let _ = write!(
                    text,
                    "; closest: left = {}, right = {}",
                    n.best.left, n.best.right
                );
            }
            text
        }
        SiteStatus::Violated => {
            let times = match c.site.kind {
                AssertionKind::Unreachable => format!("reached {} times", c.evaluations),
                _ => format!("false {} times", c.false_count),
            };
            match c.first_seed_violated {
                Some(seed) => format!("{times}; first in seed {seed}"),
                None => times,
            }
        }
    }
}

fn render_buggify(coverage: &Coverage, out: &mut String) {
    let sites = coverage.buggify_sites();
    if sites.is_empty() {
        return;
    }
    let reached = sites.iter().filter(|c| c.seeds_reached > 0).count();
    let active = sites.iter().filter(|c| c.seeds_active > 0).count();
    let fired = sites.iter().filter(|c| c.fired > 0).count();
    let _ = writeln!(
        out,
        "buggify: {} sites, {reached} reached, {active} ever active, {fired} ever fired",
        sites.len()
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>8} {:>8} {:>7} {:>7}  location",
        "kind", "evals", "fired", "seeds", "active"
    );
    for c in sites {
        let kind = match c.site.kind {
            BuggifyKind::Default => "default",
            BuggifyKind::WithProbability => "with_prob",
            BuggifyKind::Knob => "knob",
        };
        let _ = writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>7} {:>7}  {}",
            kind,
            c.evaluations,
            c.fired,
            c.seeds_reached,
            c.seeds_active,
            c.site.location()
        );
    }
}
