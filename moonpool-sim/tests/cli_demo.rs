//! The `sim-demo` binary, run as a user would: determinism across
//! invocations, replay lines that reproduce failures, precise failures that
//! do not stop a sweep, budgets, shards, environment variables, JSON and
//! traces.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const DEMO: &str = env!("CARGO_BIN_EXE_sim-demo");

const ENV_VARS: &[&str] = &[
    "MOONPOOL_SEED",
    "MOONPOOL_SEEDS",
    "MOONPOOL_FIRST_SEED",
    "MOONPOOL_SHARD",
    "MOONPOOL_TIME_BUDGET",
    "MOONPOOL_CHECK_DETERMINISM",
    "MOONPOOL_JSON",
    "MOONPOOL_TRACE",
    "MOONPOOL_QUIET",
    "MOONPOOL_CHAOS",
    "MOONPOOL_UNTIL_ALL_SOMETIMES",
    "MOONPOOL_MAX_SEEDS",
];

fn command(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for var in ENV_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sim-demo")
}

fn demo_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(DEMO, args, env)
}

fn demo(args: &[&str]) -> Output {
    demo_env(args, &[])
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// The JSON lines of a `--json` run: (per-seed objects, summary).
fn json(o: &Output) -> (Vec<Value>, Value) {
    let mut seeds = Vec::new();
    let mut summary = None;
    for line in stdout(o).lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\nstderr: {}", stderr(o)));
        match v.get("summary") {
            Some(s) => summary = Some(s.clone()),
            None => seeds.push(v),
        }
    }
    (seeds, summary.expect("a summary line"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64 in {v}"))
}

fn fingerprints(seeds: &[Value]) -> Vec<(String, String)> {
    seeds
        .iter()
        .map(|s| {
            (
                str_of(s, "seed").to_string(),
                str_of(s, "fingerprint").to_string(),
            )
        })
        .collect()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("moonpool-cli-{}-{name}", std::process::id()))
}

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
    let human = stdout(&demo(&args[..5]));
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
fn a_failing_seeds_replay_line_reproduces_the_failure_and_fingerprint() {
    let o = demo(&[
        "sim",
        "--bug",
        "lost-message",
        "--first-seed",
        "0",
        "--seeds",
        "30",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (seeds, summary) = json(&o);
    let failed: Vec<&Value> = seeds.iter().filter(|s| s["outcome"] == "fail").collect();
    assert!(
        !failed.is_empty(),
        "the planted bug never fired in 30 seeds"
    );
    assert_eq!(u64_of(&summary, "failed"), failed.len() as u64);
    assert_eq!(summary["first_failing_seed"], failed[0]["seed"]);
    assert_eq!(summary["replay"], failed[0]["replay"]);
    for f in failed.iter().take(3) {
        let replay = str_of(f, "replay");
        assert_eq!(
            replay,
            format!(
                "{DEMO} sim --bug lost-message --chaos --seed {}",
                str_of(f, "seed")
            )
        );
        assert!(str_of(f, "error").starts_with("workload 'demo' client "));
        assert!(str_of(f, "error").contains("failed in check: lost messages"));
        let words: Vec<&str> = replay.split(' ').collect();
        let mut args = words[1..].to_vec();
        args.push("--json");
        let again = command(words[0], &args, &[]);
        assert_eq!(again.status.code(), Some(1), "replay of {replay} passed");
        let (one, _) = json(&again);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["seed"], f["seed"]);
        assert_eq!(one[0]["fingerprint"], f["fingerprint"]);
        assert_eq!(one[0]["error"], f["error"]);
        assert_eq!(one[0]["events"], f["events"]);
    }
    // The human report prints the same replay line.
    let human = stdout(&demo(&[
        "sim",
        "--bug",
        "lost-message",
        "--first-seed",
        "0",
        "--seeds",
        "30",
    ]));
    let line = format!("replay: {}", str_of(failed[0], "replay"));
    assert!(human.contains(&line), "{human}");
}

/// Failures of `kind` in a 20-seed sweep, checking the sweep went on.
fn failures_of(args: &[&str], kind: &str) -> Vec<Value> {
    let o = demo(args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (seeds, summary) = json(&o);
    assert_eq!(seeds.len(), 20, "the sweep stopped early");
    assert_eq!(u64_of(&summary, "seeds_run"), 20);
    let first_fail = seeds
        .iter()
        .position(|s| s["outcome"] == "fail")
        .expect("a failure");
    assert!(
        seeds[first_fail + 1..]
            .iter()
            .any(|s| s["outcome"] == "pass"),
        "no seed passed after the first failure"
    );
    let failed: Vec<Value> = seeds
        .into_iter()
        .filter(|s| s["outcome"] == "fail")
        .collect();
    for f in &failed {
        assert_eq!(str_of(f, "failure"), kind, "{f}");
    }
    failed
}

#[test]
fn a_panicking_task_fails_its_seed_precisely_and_the_sweep_continues() {
    let failed = failures_of(
        &[
            "sim",
            "--bug",
            "panic",
            "--first-seed",
            "0",
            "--seeds",
            "20",
            "--json",
        ],
        "panic",
    );
    for f in &failed {
        let error = str_of(f, "error");
        assert!(
            error.starts_with("panic in task 'worker-1' of process 'demo#"),
            "{error}"
        );
        assert!(error.contains("src/bin/sim-demo.rs:"), "{error}");
        assert!(
            error.ends_with("planted bug: worker-1 panics at round 10"),
            "{error}"
        );
    }
}

#[test]
fn a_deadlocked_workload_fails_its_seed_precisely_and_the_sweep_continues() {
    for chaos in ["--chaos", "--no-chaos"] {
        let failed = failures_of(
            &[
                "sim",
                "--bug",
                "deadlock",
                chaos,
                "--first-seed",
                "0",
                "--seeds",
                "20",
                "--json",
            ],
            "deadlock",
        );
        for f in &failed {
            let error = str_of(f, "error");
            assert!(error.starts_with("deadlock at "), "{error}");
            assert!(
                error.contains("no task is runnable and no event is scheduled"),
                "{error}"
            );
            assert!(error.contains("/collector"), "{error}");
            assert!(error.contains("simulator/workload-driver"), "{error}");
        }
    }
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

#[test]
fn a_time_budget_stops_a_sweep() {
    let o = demo(&[
        "sim",
        "--time-budget",
        "1ms",
        "--seeds",
        "1000000",
        "--json",
    ]);
    assert!(o.status.success());
    let (seeds, summary) = json(&o);
    let run = u64_of(&summary, "seeds_run");
    assert_eq!(run, seeds.len() as u64);
    assert!((1..1_000_000).contains(&run), "{run} seeds ran");
    assert_eq!(str_of(&summary, "stopped"), "time_budget");
    assert_eq!(u64_of(&summary, "time_budget_ms"), 1);
    // A budget alone sweeps fresh seeds until it runs out.
    let o = demo(&["sim", "--time-budget", "50ms", "--json"]);
    let (_, summary) = json(&o);
    assert_eq!(str_of(&summary, "stopped"), "time_budget");
    assert_eq!(summary["seeds_planned"], Value::Null);
    assert_eq!(summary["first_seed_fresh"], Value::Bool(true));
}

#[test]
fn shards_partition_the_seeds_exactly() {
    let base = ["sim", "--first-seed", "100", "--seeds", "20", "--json"];
    let (all, _) = json(&demo(&base));
    let mut union = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let mut args = base.to_vec();
        args.extend(["--shard", &shard]);
        let (part, summary) = json(&demo(&args));
        assert_eq!(str_of(&summary, "shard"), shard);
        assert_eq!(u64_of(&summary, "seeds_planned"), part.len() as u64);
        for (i, s) in part.iter().enumerate() {
            let index = (k - 1) + 3 * i;
            assert_eq!(s["seed"], all[index]["seed"], "shard {shard}, item {i}");
            assert_eq!(s["fingerprint"], all[index]["fingerprint"]);
        }
        union.extend(fingerprints(&part));
    }
    union.sort();
    let mut expected = fingerprints(&all);
    expected.sort();
    assert_eq!(
        union, expected,
        "the shards' union is the plan, without overlap"
    );
}

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
fn bad_flags_exit_2_with_a_clear_message() {
    for (args, needle) in [
        (vec![], "no subcommand given"),
        (vec!["simulate"], "unknown subcommand 'simulate'"),
        (vec!["sim", "--seed", "abc"], "--seed: 'abc' is not a seed"),
        (
            vec!["sim", "--seeds", "5", "--seed", "1"],
            "cannot be combined",
        ),
        (vec!["sim", "--chaos", "--no-chaos"], "cannot be combined"),
        (
            vec!["sim", "--shard", "0/4"],
            "--shard: '0/4' is not a shard",
        ),
        (
            vec!["sim", "--shard", "5/4"],
            "--shard: '5/4' is not a shard",
        ),
        (vec!["sim", "--time-budget", "30"], "is not a duration"),
        (vec!["sim", "--jsn"], "did you mean '--json'"),
        (
            vec!["sim", "--bug", "nope"],
            "invalid simulation: unknown bug 'nope'",
        ),
    ] {
        let o = demo(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.starts_with("sim-demo: error: "), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn json_lines_have_the_documented_fields() {
    let o = demo(&[
        "sim",
        "--bug",
        "panic",
        "--first-seed",
        "0",
        "--seeds",
        "8",
        "--json",
    ]);
    let (seeds, summary) = json(&o);
    for s in &seeds {
        for key in ["seed", "outcome", "fingerprint"] {
            assert!(s[key].is_string(), "{key} in {s}");
        }
        for key in ["sim_time_ms", "wall_ms"] {
            assert!(s[key].is_f64(), "{key} in {s}");
        }
        assert!(s["events"].as_u64().is_some_and(|e| e > 0));
        assert!(s["sim_time_ns"].is_u64());
        assert!(str_of(s, "seed").starts_with("0x"));
        assert_eq!(str_of(s, "fingerprint").len(), 18);
        assert!(s["fault_families"].is_object());
        // The demo's nemesis kills and reboots the ticker: counted faults.
        assert!(u64_of(&s["faults"], "process.kill") >= 1, "{s}");
        assert!(s["faults"].get("sim.quiesce").is_none(), "only fault kinds");
        match str_of(s, "outcome") {
            "pass" => assert!(s.get("error").is_none()),
            "fail" => {
                for key in ["error", "failure", "replay"] {
                    assert!(s[key].is_string(), "{key} in {s}");
                }
            }
            other => panic!("outcome {other}"),
        }
    }
    for key in ["seeds_run", "passed", "failed", "events", "seeds_planned"] {
        assert!(summary[key].is_u64(), "{key} in {summary}");
    }
    for key in ["wall_ms", "sim_ms", "events_per_sec", "sim_wall_ratio"] {
        assert!(summary[key].is_number(), "{key} in {summary}");
    }
    for key in ["first_failing_seed", "replay", "first_seed", "stopped"] {
        assert!(summary[key].is_string(), "{key} in {summary}");
    }
    assert_eq!(summary["chaos"], Value::Bool(true));
    let kills = &summary["faults"]["process.kill"];
    assert_eq!(u64_of(kills, "seeds"), 8);
    let total: u64 = seeds
        .iter()
        .map(|s| u64_of(&s["faults"], "process.kill"))
        .sum();
    assert_eq!(u64_of(kills, "total"), total);
    assert!(stderr(&o).is_empty(), "--json prints no progress");
}

#[test]
fn a_trace_stamps_events_and_does_not_change_the_execution() {
    let path = temp_path("trace.log");
    let plain = demo(&["sim", "--seed", "0x99", "--json"]);
    let traced = demo(&[
        "sim",
        "--seed",
        "0x99",
        "--json",
        "--trace",
        path.to_str().expect("utf-8 path"),
    ]);
    let (a, _) = json(&plain);
    let (b, _) = json(&traced);
    assert_eq!(a[0]["fingerprint"], b[0]["fingerprint"]);
    assert_eq!(a[0]["events"], b[0]["events"]);
    let text = std::fs::read_to_string(&path).expect("trace file");
    let _ = std::fs::remove_file(&path);
    assert!(
        text.contains("DEBUG moonpool_sim::runner: seed 0x99 starts"),
        "{text}"
    );
    let sent = text
        .lines()
        .find(|l| l.contains("TRACE sim_demo: sent round=0"))
        .expect("user events are traced");
    assert!(sent.starts_with("seed=0x99 t=0.0"), "{sent}");
    assert!(sent.contains(" process=demo#"), "{sent}");
    assert!(sent.contains(" task=worker-"), "{sent}");
    let kill = text
        .lines()
        .find(|l| l.contains("moonpool_sim::chaos: killed"))
        .expect("faults are traced");
    assert!(
        kill.contains("kind=\"process.kill\" affected=ticker"),
        "{kill}"
    );
    // The trace follows simulated time.
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| {
            l.split(' ')
                .nth(1)?
                .strip_prefix("t=")?
                .strip_suffix('s')?
                .parse()
                .ok()
        })
        .collect();
    assert!(times.len() > 100);
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "trace out of time order"
    );
}

#[test]
fn the_human_report_has_a_table_timeline_and_summary() {
    let o = demo(&["sim", "--seed", "0x5"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for needle in [
        "sim-demo: replaying seed 0x5, chaos on",
        "seed                outcome  fingerprint",
        "0x5                 pass     0x",
        "timeline of seed 0x5:",
        "ticker           process.kill: killed; 1 task(s) cancelled",
        "process.reboot: rebooted as incarnation 1",
        "--- sim-demo summary ---",
        "seeds        1 of 1 run: 1 passed, 0 failed",
        "sim/wall",
        "events/s",
        "process.kill",
        "RESULT: PASS (1 seeds)",
    ] {
        assert!(out.contains(needle), "lacks {needle:?}:\n{out}");
    }
    assert!(stderr(&o).is_empty(), "no progress for a short run");

    let o = demo(&["sim", "--seeds", "3", "--no-chaos"]);
    let out = stdout(&o);
    assert!(
        out.contains("fresh first seed; rerun these seeds with: --first-seed 0x"),
        "{out}"
    );
    assert!(out.contains("--seeds 3"), "{out}");
    assert!(out.contains("chaos off"), "{out}");

    let o = demo(&[
        "sim",
        "--seeds",
        "5",
        "--first-seed",
        "0",
        "--bug",
        "panic",
        "--quiet",
    ]);
    let out = stdout(&o);
    assert!(
        !out.contains("seed                outcome"),
        "--quiet drops the rows"
    );
    assert!(out.contains("failures ("), "{out}");
    assert!(out.contains("replay: "), "{out}");
}

#[test]
fn until_all_sometimes_stops_at_the_seed_that_satisfies_the_last_goal() {
    let o = demo(&[
        "sim",
        "--until-all-sometimes",
        "--max-seeds",
        "200",
        "--first-seed",
        "7",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (seeds, summary) = json(&o);
    assert_eq!(str_of(&summary, "stopped"), "condition");
    assert_eq!(
        str_of(&summary, "stop_condition"),
        "all sometimes assertions satisfied"
    );
    // The demo's `sometimes` holds in about one seed in four: from this
    // first seed the sweep needs several seeds, then stops.
    assert!(
        seeds.len() > 1 && seeds.len() < 200,
        "{} seeds",
        seeds.len()
    );
    let sites = summary["assertions"]["sites"].as_array().expect("sites");
    let rare = sites
        .iter()
        .find(|s| s["message"] == "a worker sends a value of at least 995")
        .expect("the demo's sometimes site is in the coverage report");
    assert_eq!(rare["status"], "satisfied", "{rare}");
    // Satisfied for the first time by the last seed run, which ended the sweep.
    assert_eq!(rare["seeds_true"], 1, "{rare}");
    assert_eq!(rare["seeds_reached"], seeds.len(), "{rare}");
    assert_eq!(
        rare["first_seed_true"],
        7 + seeds.len() as u64 - 1,
        "{rare}"
    );
    // A shorter budget ends at the cap, and the report names the goal unmet.
    let o = demo(&[
        "sim",
        "--until-all-sometimes",
        "--max-seeds",
        "1",
        "--first-seed",
        "7",
    ]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(
        out.contains("a worker sends a value of at least 995"),
        "{out}"
    );
    assert!(out.contains("never true"), "{out}");
}

#[test]
fn actions_and_extra_subcommands() {
    let o = demo(&["--list-bugs"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for bug in ["panic", "deadlock", "lost-message", "nondeterminism"] {
        assert!(out.contains(bug), "{out}");
    }
    let o = demo(&["real"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("sim-demo real: sent "));
    let o = demo(&["--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("--bug NAME"));
}
