//! The `kv` example: the correct store passes chaos seeds; each planted bug
//! is caught within a bounded number of seeds by the invariant it breaks,
//! and the failing seed replays exactly; the same code runs on tokio.
//!
//! Longer figures (seeds to first failure over 20 sweeps per bug):
//! `cargo test --release -p moonpool-examples --test kv -- --ignored --nocapture`

mod common;

use moonpool_examples::kv::{self, KvBug};
use moonpool_sim::SeedReport;

fn counter(report: &SeedReport, kind: &str) -> u64 {
    report.counters.get(kind).copied().unwrap_or(0)
}

#[test]
fn two_hundred_chaos_seeds_pass_without_a_bug() {
    let sim = kv::simulation(None).expect("valid");
    let mut coverage = sim.coverage();
    let (mut kills, mut partitions, mut lost) = (0, 0, 0);
    for seed in 0..200 {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed}: {:?}",
            report.outcome
        );
        kills += counter(&report, "process.kill");
        partitions += counter(&report, "net.partition");
        lost += counter(&report, "disk.crash_lost") + counter(&report, "disk.crash_torn");
        coverage.observe(&report);
    }
    // The sweep is evidence only if the chaos really happened.
    assert!(kills >= 400, "{kills} replica kills in 200 seeds");
    assert!(partitions >= 100, "{partitions} partitions in 200 seeds");
    assert!(lost >= 1, "no unsynced write was ever lost to a crash");
    // Every goal the workload exists for was reached somewhere.
    for goal in [
        "a put was acknowledged by exactly a majority while a replica was down",
        "a replica refused a store older than its value (timestamp fencing)",
        "a read had to retry a replica and still returned",
        "the checker resolved an unknown-outcome put as applied (a read saw it)",
        "the checker resolved an unknown-outcome put as not applied (never observed)",
        "a rebooted replica recovered its state by replaying its log",
        "anti-entropy repaired a replica that missed a write",
    ] {
        let site = coverage
            .site_named(goal)
            .unwrap_or_else(|| panic!("no assertion {goal:?}"));
        assert!(site.seeds_true > 0, "never true in 200 seeds: {goal:?}");
    }
}

/// The invariants a bug may be caught by (its first violation in a seed).
fn expected_invariants(bug: KvBug) -> &'static [&'static str] {
    match bug {
        // A lost copy shows up as a stale read, or (when nothing read the
        // key again) as an acknowledged write missing at the end.
        KvBug::NoFsync => &["linearizability violated", "durability violated"],
        _ => &["linearizability violated"],
    }
}

/// Sweeps seeds from `first` until one fails; returns it and its report.
fn first_failure(bug: KvBug, first: u64, budget: u64) -> Option<(u64, SeedReport)> {
    let sim = kv::simulation(Some(bug)).expect("valid");
    (first..first + budget)
        .map(|seed| (seed, sim.run_seed(seed)))
        .find(|(_, r)| !r.outcome.is_pass())
}

fn caught_and_replayed(bug: KvBug) {
    let (seed, report) =
        first_failure(bug, 0, 500).unwrap_or_else(|| panic!("{bug} not caught in 500 seeds"));
    let message = report
        .outcome
        .failure()
        .map(|f| f.to_string())
        .unwrap_or_default();
    assert!(
        expected_invariants(bug).iter().any(|i| message.contains(i)),
        "{bug} failed for another reason: {message}"
    );
    println!("{bug}: caught at seed {seed}: {message}");
    let sim = kv::simulation(Some(bug)).expect("valid");
    common::assert_replays_exactly(&sim, &report);
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

/// The string value of `"name":"..."` in a JSON line (no escapes needed
/// for the fields read here).
fn json_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{name}\":\""))? + name.len() + 4;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

#[test]
fn the_binary_prints_a_replay_line_that_reproduces_the_failure() {
    let kv = env!("CARGO_BIN_EXE_kv");
    let sweep = std::process::Command::new(kv)
        .args([
            "sim",
            "--bug",
            "stale-read",
            "--first-seed",
            "0",
            "--seeds",
            "5",
            "--json",
        ])
        .output()
        .expect("run kv");
    assert_eq!(sweep.status.code(), Some(1), "a failing sweep exits 1");
    let stdout = String::from_utf8_lossy(&sweep.stdout);
    let failed = stdout
        .lines()
        .find(|l| json_field(l, "outcome") == Some("fail"))
        .expect("a failed seed");
    let replay = json_field(failed, "replay").expect("a replay line");
    let fingerprint = json_field(failed, "fingerprint").expect("a fingerprint");
    let error = json_field(failed, "error").expect("an error");
    assert!(error.contains("linearizability violated"), "{error}");
    assert!(
        replay.contains("--bug stale-read") && replay.contains("--seed "),
        "{replay}"
    );
    // Run the replay line as printed (its first word is the binary).
    let mut words = replay.split_whitespace().skip(1).collect::<Vec<_>>();
    words.push("--json");
    let again = std::process::Command::new(kv)
        .args(&words)
        .output()
        .expect("run the replay");
    assert_eq!(again.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&again.stdout);
    let line = stdout
        .lines()
        .find(|l| json_field(l, "outcome").is_some())
        .expect("the replayed seed");
    assert_eq!(json_field(line, "outcome"), Some("fail"));
    assert_eq!(json_field(line, "fingerprint"), Some(fingerprint));
    assert_eq!(json_field(line, "error"), Some(error));
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
/// 10 000, ..., 190 000), for the table in `docs/examples.md`.
#[test]
#[ignore = "long: about a minute in release"]
fn bug_detection_figures() {
    for bug in KvBug::ALL {
        let mut found = Vec::new();
        for sweep in 0..20u64 {
            let first = sweep * 10_000;
            let n = first_failure(bug, first, 500).map(|(seed, _)| seed - first + 1);
            found.push(n);
        }
        let mut caught: Vec<u64> = found.iter().flatten().copied().collect();
        caught.sort_unstable();
        let median = caught.get(caught.len() / 2).copied().unwrap_or(0);
        println!(
            "{:<20} caught in {}/20 sweeps; seeds to first failure: min {} median {} max {}; {:?}",
            bug.name(),
            caught.len(),
            caught.first().copied().unwrap_or(0),
            median,
            caught.last().copied().unwrap_or(0),
            found
        );
        assert_eq!(caught.len(), 20, "{bug} escaped a 500-seed sweep");
    }
}
