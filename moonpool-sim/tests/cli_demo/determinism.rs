//! The same seeds give the same fingerprints in every invocation, and
//! `--check-determinism` catches state that leaks from run to run.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{demo, fingerprints, json, stdout, str_of, u64_of};

#[test]
fn two_invocations_with_the_same_first_seed_print_identical_fingerprints() {
    let args = ["sim", "--first-seed", "0xfeed", "--seeds", "50", "--json"];
    let (a, sa) = json(&demo(&args));
    let (b, _) = json(&demo(&args));
    assert_eq!(a.len(), 50);
    assert_eq!(fingerprints(&a), fingerprints(&b));
    assert_eq!(str_of(&a[0], "seed"), "0xfeed");
    assert_eq!(str_of(&a[49], "seed"), "0xff1e");
    assert_eq!(str_of(&sa, "first_seed"), "0xfeed");
    assert_eq!(sa["first_seed_fresh"], Value::Bool(false));
    // And a human run of the same seeds prints the same fingerprints.
    let human = stdout(&demo(&[&args[..5], &["--verbose"]].concat()));
    for (seed, print) in fingerprints(&a) {
        let row = human
            .lines()
            .find(|l| l.starts_with(&format!("{seed} ")))
            .unwrap_or_else(|| panic!("no row for {seed}:\n{human}"));
        assert!(row.contains(&print), "{row} lacks {print}");
    }
}

#[test]
fn check_determinism_passes_over_1000_seeds_and_fingerprints_are_distinct() {
    let o = demo(&[
        "sim",
        "--first-seed",
        "0",
        "--seeds",
        "1000",
        "--check-determinism",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stdout(&o));
    let (seeds, summary) = json(&o);
    assert_eq!(seeds.len(), 1000);
    assert_eq!(u64_of(&summary, "passed"), 1000);
    assert_eq!(summary["check_determinism"], Value::Bool(true));
    let distinct: BTreeSet<String> = seeds
        .iter()
        .map(|s| str_of(s, "fingerprint").to_string())
        .collect();
    assert!(
        distinct.len() >= 990,
        "only {} distinct of 1000",
        distinct.len()
    );

    // Without chaos (no ticker, no nemesis) too.
    let (quiet, _) = json(&demo(&[
        "sim",
        "--first-seed",
        "0",
        "--seeds",
        "1000",
        "--no-chaos",
        "--json",
    ]));
    let distinct: BTreeSet<String> = quiet
        .iter()
        .map(|s| str_of(s, "fingerprint").to_string())
        .collect();
    assert!(
        distinct.len() >= 990,
        "only {} distinct of 1000",
        distinct.len()
    );
}

#[test]
fn check_determinism_catches_state_leaking_between_runs() {
    let o = demo(&[
        "sim",
        "--bug",
        "nondeterminism",
        "--check-determinism",
        "--first-seed",
        "7",
        "--seeds",
        "3",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (seeds, _) = json(&o);
    for s in &seeds {
        assert_eq!(str_of(s, "failure"), "nondeterminism");
        let error = str_of(s, "error");
        assert!(error.contains("runs diverge at step "), "{error}");
        assert!(error.contains("first run t="), "{error}");
        assert!(
            str_of(s, "replay").contains(" --check-determinism "),
            "the replay line keeps the check"
        );
    }
}
