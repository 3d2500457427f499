//! The `bank` example: the correct two-phase commit passes chaos seeds
//! with money conserved; each planted bug is caught by the invariant it
//! breaks and its failing seed replays from the binary's printed line; the
//! same shards run on real loopback.
//!
//! Seeds to first failure over 20 sweeps per bug (the figures in
//! `docs/src/examples.md`):
//! `cargo test --release -p moonpool-examples --test bank -- --ignored --nocapture`

mod common;

use moonpool_examples::bank::{self, BankBug};
use moonpool_examples::harness::PlantedBug;

const BANK: &str = env!("CARGO_BIN_EXE_bank");

#[test]
fn two_hundred_chaos_seeds_pass_without_a_bug() {
    let sim = bank::simulation(None).expect("valid");
    let (coverage, counts) = common::assert_passes(&sim, 0..200);
    let c = |k: &str| counts.get(k).copied().unwrap_or(0);
    // Evidence only if shards really crashed, lost unsynced records, and
    // the network really broke.
    assert!(c("process.kill") >= 400, "{counts:?}");
    assert!(c("net.partition") >= 100, "{counts:?}");
    assert!(
        c("disk.crash_lost") + c("disk.crash_torn") >= 1,
        "no unsynced record was ever lost: {counts:?}"
    );
    common::assert_goals_met(
        &coverage,
        &[
            "a resent transfer got its first answer (idempotency key)",
            "a coordinator aborted a transfer whose vote did not come",
            "a participant in doubt learned of an abort by asking",
            "a restarted coordinator presumed the abort of transfers it had not decided",
            "a transfer whose client got no answer turned out applied",
            "a transfer whose client got no answer turned out not applied",
        ],
    );
}

#[test]
fn fifty_chaos_seeds_pass_check_determinism() {
    common::assert_deterministic(&bank::simulation(None).expect("valid"), 0..50);
}

fn expected_invariants(bug: BankBug) -> &'static [&'static str] {
    match bug {
        // A duplicate runs a second time: a second debit, or (when it
        // overlaps the first) a reservation the first never releases.
        BankBug::NonIdempotentRetry => &["a transfer was applied twice", "money not conserved"],
        BankBug::CreditBeforeDebitDurable => &["money not conserved: transfer"],
        BankBug::LostAbort => &["money not conserved at quiescence: shard"],
        BankBug::NoReservation => &["an account went negative"],
    }
}

fn caught_and_replayed(bug: BankBug) {
    common::assert_caught_and_replayed(BANK, bank::simulation, bug, 500, expected_invariants(bug));
}

#[test]
fn non_idempotent_retry_is_caught_within_500_seeds_and_replays() {
    caught_and_replayed(BankBug::NonIdempotentRetry);
}

#[test]
fn credit_before_debit_durable_is_caught_within_500_seeds_and_replays() {
    caught_and_replayed(BankBug::CreditBeforeDebitDurable);
}

#[test]
fn lost_abort_is_caught_within_500_seeds_and_replays() {
    caught_and_replayed(BankBug::LostAbort);
}

#[test]
fn no_reservation_is_caught_within_500_seeds_and_replays() {
    caught_and_replayed(BankBug::NoReservation);
}

#[test]
fn without_chaos_nothing_is_injected_and_even_the_bugs_pass() {
    for bug in [
        None,
        Some(BankBug::CreditBeforeDebitDurable),
        Some(BankBug::LostAbort),
    ] {
        let mut sim = bank::simulation(bug).expect("valid");
        sim.set_chaos(false);
        for seed in 0..20 {
            let report = sim.run_seed(seed);
            assert!(
                report.outcome.is_pass(),
                "{bug:?} seed {seed}: {}",
                common::message(&report)
            );
            let faults: Vec<_> = report
                .counters
                .keys()
                .filter(|k| {
                    k.starts_with("net.") || k.starts_with("process.") || k.starts_with("disk.")
                })
                .collect();
            assert!(faults.is_empty(), "seed {seed} injected {faults:?}");
        }
    }
}

#[test]
fn the_bank_runs_on_real_loopback_and_passes_the_checks() {
    let dir = moonpool_examples::harness::ScratchDir::new(None, "bank-test");
    let report = bank::real::run_real(dir.path(), 40).expect("the real run passes its checks");
    assert_eq!(report.check.transfers, 120);
    assert!(report.check.committed > 0, "{report}");
    assert_eq!(report.check.total, 900);
}

/// `cargo test --release -p moonpool-examples --test bank -- --ignored --nocapture`
#[test]
#[ignore = "20 sweeps per bug: run in release, see docs/src/examples.md"]
fn seeds_to_first_failure() {
    for bug in BankBug::ALL {
        let found = common::seeds_to_first_failure(bank::simulation, *bug, 20, 500);
        assert!(found.iter().all(Option::is_some), "{bug} escaped a sweep");
    }
}
