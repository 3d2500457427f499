//! Helpers shared by the examples' integration tests.

use moonpool_sim::{SeedReport, Simulation};

/// Asserts that `report`'s seed replays exactly: a fresh run gives the same
/// outcome, fingerprint and fault counts, and a determinism check (two more
/// runs, compared step by step) agrees.
pub fn assert_replays_exactly(sim: &Simulation, report: &SeedReport) {
    let replay = sim.run_seed(report.seed);
    assert_eq!(
        replay.outcome, report.outcome,
        "the replay failed differently"
    );
    assert_eq!(replay.fingerprint, report.fingerprint);
    assert_eq!(replay.counters, report.counters);
    let checked = sim.check_determinism(report.seed);
    assert_eq!(checked.outcome, report.outcome, "{:?}", checked.outcome);
}
