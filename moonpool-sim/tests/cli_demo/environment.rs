//! Real `MOONPOOL_*` variables, read by clap: each reaches the run, flags
//! win, a malformed one is refused by name.

use serde_json::Value;

use super::{demo, demo_env, json, stderr, stdout, str_of, temp_path, u64_of};

#[test]
fn environment_variables_replay_a_seed() {
    let (sweep, _) = json(&demo(&[
        "sim",
        "--first-seed",
        "0x40",
        "--seeds",
        "3",
        "--json",
    ]));
    let o = demo_env(
        &["sim"],
        &[
            ("MOONPOOL_SEED", "0x41"),
            ("MOONPOOL_JSON", "1"),
            ("MOONPOOL_CHAOS", "on"),
        ],
    );
    assert!(o.status.success());
    let (one, summary) = json(&o);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["fingerprint"], sweep[1]["fingerprint"]);
    assert_eq!(summary["chaos"], Value::Bool(true));
    // Flags win over the environment.
    let o = demo_env(
        &["sim", "--seed", "0x42", "--json"],
        &[("MOONPOOL_SEEDS", "1000")],
    );
    let (one, _) = json(&o);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["fingerprint"], sweep[2]["fingerprint"]);
    // A malformed variable is a configuration error.
    let o = demo_env(&["sim"], &[("MOONPOOL_SEEDS", "many")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("MOONPOOL_SEEDS: 'many' is not a count"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_variable_reaches_the_run_through_clap() {
    let trace = temp_path("env-trace.log");
    let o = demo_env(
        &["sim"],
        &[
            ("MOONPOOL_SEEDS", "7"),
            ("MOONPOOL_FIRST_SEED", "3"),
            ("MOONPOOL_SHARD", "2/3"),
            ("MOONPOOL_TIME_BUDGET", "2m"),
            ("MOONPOOL_CHECK_DETERMINISM", "1"),
            ("MOONPOOL_JSON", "true"),
            ("MOONPOOL_CHAOS", "off"),
            ("MOONPOOL_TRACE", trace.to_str().expect("utf-8 path")),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (seeds, summary) = json(&o);
    let run: Vec<&str> = seeds.iter().map(|s| str_of(s, "seed")).collect();
    assert_eq!(run, ["0x4", "0x7"], "indices 1 and 4 of 3..=9");
    assert_eq!(str_of(&summary, "first_seed"), "0x3");
    assert_eq!(str_of(&summary, "shard"), "2/3");
    assert_eq!(u64_of(&summary, "time_budget_ms"), 120_000);
    assert_eq!(summary["check_determinism"], Value::Bool(true));
    assert_eq!(summary["chaos"], Value::Bool(false));
    let traced = std::fs::read_to_string(&trace).expect("MOONPOOL_TRACE wrote the trace");
    let _ = std::fs::remove_file(&trace);
    assert!(traced.contains("seed 0x7 starts"), "{traced}");

    let o = demo_env(
        &["sim", "--seeds", "3", "--first-seed", "0"],
        &[("MOONPOOL_QUIET", "yes"), ("MOONPOOL_MAX_SEEDS", "")],
    );
    assert!(
        o.status.success(),
        "an empty variable is unset: {}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("seed                outcome"));
    assert!(stdout(&o).contains("RESULT: PASS (3 seeds)"));

    let o = demo_env(
        &["sim", "--first-seed", "7", "--json"],
        &[
            ("MOONPOOL_UNTIL_ALL_SOMETIMES", "on"),
            ("MOONPOOL_MAX_SEEDS", "200"),
        ],
    );
    let (_, summary) = json(&o);
    assert_eq!(str_of(&summary, "stopped"), "condition");
}

#[test]
fn a_seed_variable_left_in_the_shell_does_not_turn_a_sweep_into_a_replay() {
    // Issue 10 §5: `MOONPOOL_SEED=5 bin sim --time-budget ...` replayed
    // seed 5; the flag asked for a sweep, and now gets one.
    let o = demo_env(
        &["sim", "--time-budget", "50ms", "--json"],
        &[("MOONPOOL_SEED", "5")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (seeds, summary) = json(&o);
    assert_eq!(summary["seeds_planned"], Value::Null, "an unbounded sweep");
    assert_eq!(summary["first_seed_fresh"], Value::Bool(true));
    assert_eq!(str_of(&summary, "stopped"), "time_budget");
    assert!(
        seeds[0].get("timeline").is_none(),
        "a sweep, not a replay with its timeline"
    );
    let o = demo_env(
        &["sim", "--seeds", "3", "--first-seed", "0x40", "--json"],
        &[("MOONPOOL_SEED", "5")],
    );
    let (seeds, _) = json(&o);
    let run: Vec<&str> = seeds.iter().map(|s| str_of(s, "seed")).collect();
    assert_eq!(run, ["0x40", "0x41", "0x42"]);
    // And the other way round: --seed ignores the variables' sweep.
    let o = demo_env(
        &["sim", "--seed", "0x41", "--json"],
        &[
            ("MOONPOOL_SEEDS", "50"),
            ("MOONPOOL_SHARD", "2/2"),
            ("MOONPOOL_TIME_BUDGET", "1ms"),
        ],
    );
    let (seeds, summary) = json(&o);
    assert_eq!(seeds.len(), 1);
    assert_eq!(str_of(&seeds[0], "seed"), "0x41");
    assert_eq!(summary["time_budget_ms"], Value::Null);
    // A malformed variable is refused by name even when a flag overrides
    // it (here `--no-chaos` over `MOONPOOL_CHAOS`).
    let o = demo_env(
        &["sim", "--no-chaos", "--seed", "1"],
        &[("MOONPOOL_CHAOS", "maybe")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("sim-demo: error: MOONPOOL_CHAOS: 'maybe' is not a boolean"),
        "{}",
        stderr(&o)
    );
}
