//! The audit of one seed: outcomes, processing counts, the flip account.

use std::collections::BTreeMap;
use std::rc::Rc;

use moonpool_sim::SeedReport;

use crate::shared::Shared;
use crate::simulation::{Profile, chaos_simulation};
use crate::tap::FlipAccount;

/// What one seed showed.
#[derive(Default)]
pub(crate) struct SeedAudit {
    pub(crate) calls: u64,
    pub(crate) tally: BTreeMap<&'static str, u64>,
    pub(crate) flips: FlipAccount,
    pub(crate) detected: u64,
    pub(crate) reliable_resent: u64,
    pub(crate) reconnects: u64,
    pub(crate) survived_disconnect: u64,
}

/// Outcomes that promise the request was certainly not processed.
const NOT_PROCESSED: &[&str] = &[
    "unreachable",
    "unreachable_later",
    "connection_failed",
    "queue_full",
];

pub(crate) fn run_and_audit(
    seed: u64,
    profile: Profile,
) -> (SeedReport, Result<SeedAudit, String>) {
    let shared = Rc::new(Shared::default());
    let report = chaos_simulation(&shared, profile).run_seed(seed);
    let audit = audit(&report, &shared);
    (report, audit)
}

pub(crate) fn audit(report: &SeedReport, shared: &Shared) -> Result<SeedAudit, String> {
    if let Some(f) = report.outcome.failure() {
        return Err(format!("seed failed: {f}"));
    }
    let violations = shared.violations.borrow();
    if !violations.is_empty() {
        return Err(format!(
            "{} violation(s) (+{} not kept):\n  {}",
            violations.len(),
            shared.violations_dropped.get(),
            violations.join("\n  ")
        ));
    }
    let calls = shared.calls.borrow();
    let pending: Vec<u64> = calls
        .iter()
        .filter(|(_, c)| c.outcome.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !pending.is_empty() {
        return Err(format!(
            "{} of {} calls have no outcome: {:?}",
            pending.len(),
            calls.len(),
            &pending[..pending.len().min(10)]
        ));
    }
    let tally = shared.tally.borrow().clone();
    if tally.values().sum::<u64>() != calls.len() as u64 {
        return Err(format!(
            "{} calls issued, {} outcomes: {tally:?}",
            calls.len(),
            tally.values().sum::<u64>()
        ));
    }
    for (id, times) in shared.processed.borrow().iter() {
        match calls.get(id) {
            None => return Err(format!("a server processed call {id}, never issued")),
            Some(c) if c.outcome.is_some_and(|o| NOT_PROCESSED.contains(&o)) => {
                return Err(format!(
                    "call {id} ({:?}) ended {:?}, an outcome that says it was not processed, yet it was processed {times} times",
                    c.mode, c.outcome
                ));
            }
            Some(c) if c.mode.at_most_once() && *times > 1 => {
                return Err(format!(
                    "at-most-once call {id} ({:?}) processed {times} times",
                    c.mode
                ));
            }
            Some(_) => {}
        }
    }
    let snapshot = shared.snapshot.borrow();
    let Some(metrics) = snapshot.as_ref() else {
        return Err("no snapshot of the counters was taken".into());
    };
    let flips = shared.tap.borrow().flip_account()?;
    let injected = report.counters.get("net.bit_flip").copied().unwrap_or(0);
    if flips.flips != injected {
        return Err(format!(
            "the tap saw {} flipped bits, the simulator injected {injected}",
            flips.flips
        ));
    }
    let detected: u64 = metrics.iter().map(|(_, m)| m.corruptions_detected()).sum();
    if detected != flips.checkable {
        return Err(format!(
            "transports detected {detected} corruptions; {} flipped connection ends reached a check ({flips:?}; {metrics:?})",
            flips.checkable
        ));
    }
    Ok(SeedAudit {
        calls: calls.len() as u64,
        tally,
        flips,
        detected,
        reliable_resent: metrics.iter().map(|(_, m)| m.reliable_resent).sum(),
        reconnects: metrics.iter().map(|(_, m)| m.reconnects).sum(),
        survived_disconnect: shared.survived_disconnect.get(),
    })
}
