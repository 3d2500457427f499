//! The `kv` example: the correct store passes chaos seeds; each planted bug
//! is caught within a bounded number of seeds by the invariant it breaks,
//! and the failing seed replays exactly; the same code runs on tokio.
//!
//! Longer figures (seeds to first failure over 20 sweeps per bug):
//! `cargo test --release -p moonpool-examples --test kv -- --ignored --nocapture`

mod common;

use moonpool_examples::harness::PlantedBug;
use moonpool_examples::kv::{self, KvBug};

const KV: &str = env!("CARGO_BIN_EXE_kv");

#[test]
fn two_hundred_chaos_seeds_pass_without_a_bug() {
    let sim = kv::simulation(None).expect("valid");
    let (coverage, counts) = common::assert_passes(&sim, 0..200);
    let c = |k: &str| counts.get(k).copied().unwrap_or(0);
    // The sweep is evidence only if the chaos really happened.
    assert!(c("process.kill") >= 400, "{counts:?}");
    assert!(c("net.partition") >= 100, "{counts:?}");
    assert!(
        c("disk.crash_lost") + c("disk.crash_torn") >= 1,
        "no unsynced write was ever lost to a crash"
    );
    // Every goal the workload exists for was reached somewhere.
    common::assert_goals_met(
        &coverage,
        &[
            "a put was acknowledged by exactly a majority while a replica was down",
            "a replica refused a store older than its value (timestamp fencing)",
            "a read had to retry a replica and still returned",
            "the checker resolved an unknown-outcome put as applied (a read saw it)",
            "the checker resolved an unknown-outcome put as not applied (never observed)",
            "a rebooted replica recovered its state by replaying its log",
            "anti-entropy repaired a replica that missed a write",
        ],
    );
}

#[test]
fn fifty_chaos_seeds_pass_check_determinism() {
    common::assert_deterministic(&kv::simulation(None).expect("valid"), 0..50);
}

/// The invariants a bug may be caught by (its first violation in a seed).
fn expected_invariants(bug: KvBug) -> &'static [&'static str] {
    match bug {
        // A lost copy shows up as a stale read, or (when nothing read the
        // key again) as an acknowledged write missing at the end.
        KvBug::NoFsync => &["linearizability violated", "durability violated"],
        // An old store overwriting a newer value shows up as a stale read,
        // or (when nothing read the key again) as the replicas converging
        // on an older value than an acknowledged put's.
        KvBug::NoTimestampCheck => &["linearizability violated", "durability violated"],
        _ => &["linearizability violated"],
    }
}

fn caught_and_replayed(bug: KvBug) {
    common::assert_caught_and_replayed(KV, kv::simulation, bug, 500, expected_invariants(bug));
}

#[test]
fn ack_before_quorum_is_caught_and_replays() {
    caught_and_replayed(KvBug::AckBeforeQuorum);
}

#[test]
fn no_fsync_is_caught_and_replays() {
    caught_and_replayed(KvBug::NoFsync);
}

#[test]
fn stale_read_is_caught_and_replays() {
    caught_and_replayed(KvBug::StaleRead);
}

#[test]
fn no_write_back_is_caught_and_replays() {
    caught_and_replayed(KvBug::NoWriteBack);
}

#[test]
fn no_timestamp_check_is_caught_and_replays() {
    caught_and_replayed(KvBug::NoTimestampCheck);
}

#[test]
fn without_chaos_nothing_is_injected_and_seeds_pass() {
    let mut sim = kv::simulation(None).expect("valid");
    sim.set_chaos(false);
    for seed in 0..20 {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed}: {:?}",
            report.outcome
        );
        let faults: u64 = report
            .counters
            .iter()
            .filter(|(k, _)| k.starts_with("net.") || k.starts_with("process."))
            .map(|(_, v)| *v)
            .sum();
        assert_eq!(faults, 0, "seed {seed}: {:?}", report.counters);
    }
}

#[test]
fn the_store_runs_unchanged_on_real_tokio_and_recovers_from_real_files() {
    let dir = std::env::temp_dir().join(format!("moonpool-kv-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = kv::real::RealConfig {
        clients: 3,
        ops_per_client: 40,
        keys: 3,
    };
    let outcome = kv::real::run_real(&dir, &config);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = outcome.expect("the real run passes its checks");
    // 120 operations plus one final read per key.
    assert_eq!(summary.check.ops, 123);
    assert!(summary.check.writes_ok > 0 && summary.check.reads > 3);
    assert!(
        summary.recovered_records > 0,
        "replica 0 was restarted from an empty log"
    );
    assert!(
        summary.log_records.iter().all(|n| *n > 0),
        "{:?}",
        summary.log_records
    );
}

/// Seeds to first failure for every bug over 20 sweeps (first seeds 0,
/// 10 000, ..., 190 000), for the table in `docs/src/examples.md`.
#[test]
#[ignore = "long: run in release, see docs/src/examples.md"]
fn seeds_to_first_failure() {
    for bug in KvBug::ALL {
        let found = common::seeds_to_first_failure(kv::simulation, *bug, 20, 500);
        assert!(found.iter().all(Option::is_some), "{bug} escaped a sweep");
    }
}
