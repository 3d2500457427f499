//! Helpers shared by the examples' integration tests: every example is
//! held to the same bar with the same code.
//!
//! - [`assert_caught_and_replayed`]: a planted bug fails a seed within a
//!   budget, for the invariant it breaks, and the binary's printed replay
//!   line reproduces that failure with the same fingerprint.
//! - [`assert_passes`]: seeds pass without a bug (returns their coverage
//!   and fault counts, for the test to require the chaos really happened).
//! - [`assert_deterministic`]: `--check-determinism` passes on seeds.
//! - [`seeds_to_first_failure`]: the figures of `docs/src/examples.md` (for
//!   the ignored long-run tests).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::Command;

use moonpool_examples::harness::PlantedBug;
use moonpool_sim::assertions::Coverage;
use moonpool_sim::{ConfigError, SeedReport, Simulation};

/// An example's simulation, as a function of the planted bug.
pub type SimulationFn<B> = fn(Option<B>) -> Result<Simulation, ConfigError>;

/// The first failing seed of `first..first + budget`, and its report.
pub fn first_failure(sim: &Simulation, first: u64, budget: u64) -> Option<SeedReport> {
    (first..first + budget)
        .map(|seed| sim.run_seed(seed))
        .find(|r| !r.outcome.is_pass())
}

/// The failure message of a failed seed.
pub fn message(report: &SeedReport) -> String {
    report
        .outcome
        .failure()
        .map(|f| f.to_string())
        .unwrap_or_default()
}

/// Asserts that `report`'s seed replays exactly in this process: a fresh
/// run gives the same outcome, fingerprint and fault counts, and a
/// determinism check (two more runs, compared step by step) agrees.
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

/// Runs the binary with `args` and `--json`; returns its exit code and the
/// JSON line of the one seed it ran.
fn run_one_seed(bin: &str, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(bin)
        .args(args)
        .arg("--json")
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("seed").is_some())
        .unwrap_or_else(|| {
            panic!(
                "{bin} {args:?} printed no seed line: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (out.status.code(), line)
}

fn field<'a>(line: &'a serde_json::Value, name: &str) -> &'a str {
    line.get(name)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

/// The bar every planted bug is held to: sweeping seeds `0..budget` of
/// `simulation(Some(bug))` finds a failing seed, failing for one of
/// `expected` (substrings of the message: the invariant the bug breaks);
/// the binary `bin` (`env!("CARGO_BIN_EXE_...")`) run on that seed fails
/// the same way with the same fingerprint and prints a replay line; that
/// line, run as printed, fails the same way with the same fingerprint
/// again; and the seed replays exactly in this process. Returns the seed.
pub fn assert_caught_and_replayed<B: PlantedBug>(
    bin: &str,
    simulation: SimulationFn<B>,
    bug: B,
    budget: u64,
    expected: &[&str],
) -> u64 {
    let sim = simulation(Some(bug)).expect("a valid simulation");
    let report = first_failure(&sim, 0, budget)
        .unwrap_or_else(|| panic!("{bug} not caught in {budget} seeds"));
    let error = message(&report);
    assert!(
        expected.iter().any(|e| error.contains(e)),
        "{bug} failed for another reason than {expected:?}: {error}"
    );
    println!("{bug}: caught at seed {:#x}: {error}", report.seed);
    let fingerprint = format!("{:#018x}", report.fingerprint);

    // The binary fails the same seed the same way and prints a replay line.
    let seed = format!("{:#x}", report.seed);
    let (code, line) = run_one_seed(
        bin,
        &[
            "sim",
            "--bug",
            bug.name(),
            "--first-seed",
            &seed,
            "--seeds",
            "1",
        ],
    );
    assert_eq!(code, Some(1), "a failing sweep exits 1: {line}");
    assert_eq!(field(&line, "outcome"), "fail");
    assert_eq!(field(&line, "fingerprint"), fingerprint, "{line}");
    assert_eq!(field(&line, "error"), error);
    let replay = field(&line, "replay").to_string();
    assert!(
        replay.contains(&format!("--bug {}", bug.name())) && replay.contains("--seed "),
        "{replay}"
    );

    // The printed line, run as printed (its first word is the binary).
    let words: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let (code, again) = run_one_seed(bin, &words);
    assert_eq!(code, Some(1), "the replay exits 1: {again}");
    assert_eq!(field(&again, "outcome"), "fail");
    assert_eq!(field(&again, "fingerprint"), fingerprint, "{again}");
    assert_eq!(field(&again, "error"), error);

    assert_replays_exactly(&sim, &report);
    report.seed
}

/// The bar of `--minimize`: the first failing seed of `bug` in
/// `0..budget`, shrunk by the binary `bin` (`sim --seed S --minimize`),
/// ends with strictly fewer fault families than the seed had on, still
/// fails the same way (the same failure kind and site as the seed), and
/// the replay line it prints, run as printed, fails with the minimal run's
/// failure and fingerprint. Returns (families before, families after).
pub fn assert_minimizes<B: PlantedBug>(
    bin: &str,
    simulation: SimulationFn<B>,
    bug: B,
    budget: u64,
) -> (usize, usize) {
    let sim = simulation(Some(bug)).expect("a valid simulation");
    let report = first_failure(&sim, 0, budget)
        .unwrap_or_else(|| panic!("{bug} not caught in {budget} seeds"));
    let class = report
        .outcome
        .failure()
        .map(moonpool_sim::FailureClass::of)
        .expect("a failure");
    let seed = format!("{:#x}", report.seed);
    let out = Command::new(bin)
        .args(["sim", "--bug", bug.name(), "--chaos", "--seed", &seed])
        .args(["--minimize", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    assert_eq!(out.status.code(), Some(1), "a minimized failure exits 1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let m = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v.get("minimized").cloned())
        .unwrap_or_else(|| panic!("no minimized object: {stdout}"));
    let count = |name: &str| m[name].as_array().map_or(0, Vec::len);
    let (before, after) = (count("families_before"), count("families"));
    assert!(after < before, "{bug}: {before} -> {after} families: {m}");
    assert_eq!(field(&m, "failure_kind"), class.kind, "{m}");
    assert_eq!(field(&m, "failure_site"), class.site, "{m}");
    println!(
        "{bug}: seed {seed} minimized from {before} to {after} families in {} runs: {}",
        m["runs"], m["families"]
    );

    // The printed line, run as printed (its first word is the binary).
    let replay = field(&m, "replay").to_string();
    assert!(replay.contains("--faults "), "{replay}");
    let words: Vec<&str> = replay.split_whitespace().skip(1).collect();
    let (code, again) = run_one_seed(bin, &words);
    assert_eq!(code, Some(1), "the replay exits 1: {again}");
    assert_eq!(field(&again, "error"), field(&m, "failure"));
    assert_eq!(field(&again, "fingerprint"), field(&m, "fingerprint"));
    (before, after)
}

/// Runs seeds `seeds` of `sim`, all of which must pass; returns the
/// coverage and the sum of every counter (faults, metrics) over them.
pub fn assert_passes(
    sim: &Simulation,
    seeds: std::ops::Range<u64>,
) -> (Coverage, BTreeMap<&'static str, u64>) {
    let mut coverage = sim.coverage();
    let mut counts = BTreeMap::new();
    for seed in seeds {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed:#x}: {}",
            message(&report)
        );
        coverage.observe(&report);
        for (k, v) in &report.counters {
            *counts.entry(*k).or_default() += v;
        }
    }
    (coverage, counts)
}

/// Every seed of `seeds` passes `--check-determinism` (run twice, the
/// same decisions step by step).
pub fn assert_deterministic(sim: &Simulation, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let report = sim.check_determinism(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed:#x}: {}",
            message(&report)
        );
    }
}

/// Asserts that every coverage goal named in `goals` was met in some seed.
pub fn assert_goals_met(coverage: &Coverage, goals: &[&str]) {
    for goal in goals {
        let site = coverage
            .site_named(goal)
            .unwrap_or_else(|| panic!("no assertion {goal:?}"));
        assert!(site.seeds_true > 0, "never met: {goal:?}");
    }
}

/// Seeds to the first failure of `bug` over `sweeps` sweeps of at most
/// `budget` seeds starting at seeds 0, 10 000, 20 000, ...; prints one
/// line (min / median / max over the sweeps that caught it) and returns
/// the per-sweep counts (`None`: not caught).
pub fn seeds_to_first_failure<B: PlantedBug>(
    simulation: SimulationFn<B>,
    bug: B,
    sweeps: u64,
    budget: u64,
) -> Vec<Option<u64>> {
    let sim = simulation(Some(bug)).expect("a valid simulation");
    let found: Vec<Option<u64>> = (0..sweeps)
        .map(|sweep| {
            let first = sweep * 10_000;
            first_failure(&sim, first, budget).map(|r| r.seed - first + 1)
        })
        .collect();
    let mut caught: Vec<u64> = found.iter().flatten().copied().collect();
    caught.sort_unstable();
    let median = match caught.len() {
        0 => 0.0,
        n if n % 2 == 1 => caught[n / 2] as f64,
        n => (caught[n / 2 - 1] + caught[n / 2]) as f64 / 2.0,
    };
    println!(
        "{:<28} caught {}/{sweeps}; seeds to first failure min {} median {median} max {}; {found:?}",
        bug.name(),
        caught.len(),
        caught.first().copied().unwrap_or(0),
        caught.last().copied().unwrap_or(0),
    );
    found
}
