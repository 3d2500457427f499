//! The report of `sim --seed S --minimize`: what the failing seed had on,
//! what it still fails with, and the replay line of that configuration.
//!
//! Human form (stdout):
//! ```text
//! kv: seed 0x2a fails as workload (kv check: linearizability violated)
//!   fault families: 7 -> 2: net.partition, process.attrition
//!   buggify sites: 3 -> 0
//!   search: 41 runs, complete (no single family or site can be removed)
//!   replay: target/release/kv sim --faults net.partition,process.attrition --buggify-sites none --chaos --seed 0x2a
//! ```
//! JSON form: one object `{"minimized": {...}}` with the fields of
//! [`to_json`].

use std::io::Write;

use serde_json::{Value, json};

use crate::runner::minimize::Minimized;
use crate::runner::sweep::plan::SweepPlan;

/// `{"minimized": {...}}`:
///
/// | field | meaning |
/// |---|---|
/// | `original_seed`, `seed` | the seed given, and the seed that fails under the minimal configuration |
/// | `failure_kind`, `failure_site` | how both fail ("the same way") |
/// | `failure`, `fingerprint` | the minimal run's failure message and fingerprint |
/// | `families_before`, `families` | fault families on in the seed, and kept |
/// | `buggify_sites_before`, `buggify_sites` | buggify sites active in the seed, and kept |
/// | `runs`, `complete` | seed runs taken; whether the search ended by itself (else the budget cut it) |
/// | `replay` | the command line that reruns the minimal failure |
pub fn to_json(m: &Minimized, plan: &SweepPlan) -> Value {
    json!({
        "minimized": {
            "original_seed": format!("{:#x}", m.original_seed),
            "seed": format!("{:#x}", m.seed),
            "failure_kind": m.class.kind,
            "failure_site": m.class.site,
            "failure": m.report.outcome.failure().map(|f| f.to_string()),
            "fingerprint": format!("{:#018x}", m.report.fingerprint),
            "families_before": m.families_before,
            "families": m.families,
            "buggify_sites_before": m.sites_before,
            "buggify_sites": m.sites,
            "runs": m.runs,
            "complete": m.complete,
            "replay": m.replay_line(plan),
        }
    })
}

/// Writes the human form (see the [module documentation](self)).
pub(crate) fn write_human(out: &mut dyn Write, title: &str, m: &Minimized, plan: &SweepPlan) {
    let _ = writeln!(
        out,
        "{title}: seed {:#x} fails as {}",
        m.original_seed, m.class
    );
    let list = |names: &[String]| {
        if names.is_empty() {
            String::new()
        } else {
            format!(": {}", names.join(", "))
        }
    };
    let families: Vec<String> = m.families.iter().map(|f| f.to_string()).collect();
    let _ = writeln!(
        out,
        "  fault families: {} -> {}{}",
        m.families_before.len(),
        m.families.len(),
        list(&families)
    );
    let _ = writeln!(
        out,
        "  buggify sites: {} -> {}{}",
        m.sites_before.len(),
        m.sites.len(),
        list(&m.sites)
    );
    let how = if m.complete {
        "complete (no single family or site can be removed)"
    } else {
        "cut by the time budget or the run cap (smaller may exist)"
    };
    let _ = writeln!(out, "  search: {} runs, {how}", m.runs);
    if m.seed != m.original_seed {
        let _ = writeln!(
            out,
            "  failing seed: {:#x} (with fewer faults, seed {:#x} no longer fails this way; a seed after it does)",
            m.seed, m.original_seed
        );
    }
    if let Some(f) = m.report.outcome.failure() {
        let _ = writeln!(out, "  failure: {f}");
    }
    let _ = writeln!(out, "  replay: {}", m.replay_line(plan));
}
