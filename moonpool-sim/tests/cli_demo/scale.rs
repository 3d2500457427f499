//! Sweeps at scale, run as CI runs them: `--jobs` (the same report
//! whatever the job count), shards without a first seed that partition
//! one plan, `merge` (associative, failing with the replay lines),
//! `--shard auto/N` and `--shard-from-env`, `--fail-fast` and
//! `--max-failures`, seeds files and `--save-failures`, and the human
//! report that lists failed seeds only unless `--verbose`.

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

use super::{demo, demo_env, json, stderr, stdout, str_of, temp_path, u64_of};

/// The fields that measure wall-clock time (everything else must match).
const WALL_FIELDS: [&str; 4] = [
    "wall_ms",
    "wall_time_ns",
    "events_per_sec",
    "sim_wall_ratio",
];

/// `line` without its wall-clock fields (in the summary object too).
fn without_wall_time(line: &Value) -> Value {
    let mut line = line.clone();
    if let Some(o) = line.as_object_mut() {
        for field in WALL_FIELDS {
            o.remove(field);
        }
    }
    if let Some(summary) = line.get_mut("summary").and_then(Value::as_object_mut) {
        for field in WALL_FIELDS {
            summary.remove(field);
        }
    }
    line
}

/// Every stdout line of a `--json` run, parsed.
fn lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Asserts two runs printed the same JSON lines, field by field, wall-clock
/// fields excepted.
fn assert_same_lines(a: &Output, b: &Output, what: &str) {
    let (a, b) = (lines(a), lines(b));
    assert_eq!(a.len(), b.len(), "{what}: line counts");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let (x, y) = (without_wall_time(x), without_wall_time(y));
        let (Some(xo), Some(yo)) = (x.as_object(), y.as_object()) else {
            panic!("{what}: line {i} is not an object");
        };
        let fields: Vec<&String> = xo.keys().collect();
        assert_eq!(
            fields,
            yo.keys().collect::<Vec<_>>(),
            "{what}: fields of line {i}"
        );
        for field in fields {
            assert_eq!(xo[field], yo[field], "{what}: line {i}, field {field}");
        }
    }
}

fn with_jobs<'a>(args: &[&'a str], jobs: &'a str) -> Vec<&'a str> {
    let mut args = args.to_vec();
    args.extend(["--jobs", jobs]);
    args
}

#[test]
fn jobs_1_and_jobs_3_print_the_same_json_lines_apart_from_wall_time() {
    let plan = [
        "sim",
        "--bug",
        "lost-message",
        "--first-seed",
        "0x70",
        "--seeds",
        "150",
        "--json",
    ];
    let one = demo(&with_jobs(&plan, "1"));
    let three = demo(&with_jobs(&plan, "3"));
    assert_eq!(one.status.code(), Some(1), "{}", stderr(&one));
    assert_eq!(three.status.code(), Some(1));
    let (seeds, summary) = json(&three);
    assert_eq!(seeds.len(), 150);
    assert!(u64_of(&summary, "failed") > 0, "the bug fails some seeds");
    // In seed order, whatever finished first.
    for (i, s) in seeds.iter().enumerate() {
        assert_eq!(str_of(s, "seed"), format!("{:#x}", 0x70 + i));
    }
    assert_same_lines(&one, &three, "--jobs 1 vs --jobs 3");
    // Each seed run twice, too.
    let checked = [
        "sim",
        "--first-seed",
        "9",
        "--seeds",
        "40",
        "--check-determinism",
        "--json",
    ];
    assert_same_lines(
        &demo(&with_jobs(&checked, "1")),
        &demo(&with_jobs(&checked, "3")),
        "--check-determinism",
    );
}

#[test]
fn goals_and_failure_limits_stop_at_the_same_seed_whatever_the_jobs() {
    for (extra, stopped) in [
        (&["--fail-fast"][..], "max_failures"),
        (&["--max-failures", "3"][..], "max_failures"),
    ] {
        let mut plan = vec![
            "sim",
            "--bug",
            "lost-message",
            "--first-seed",
            "0",
            "--seeds",
            "400",
            "--json",
        ];
        plan.extend(extra);
        let one = demo(&with_jobs(&plan, "1"));
        let two = demo(&with_jobs(&plan, "2"));
        assert_eq!(one.status.code(), Some(1));
        let (seeds, summary) = json(&two);
        assert_eq!(str_of(&summary, "stopped"), stopped, "{extra:?}");
        let limit = if extra[0] == "--fail-fast" { 1 } else { 3 };
        assert_eq!(u64_of(&summary, "failed"), limit, "{extra:?}");
        let last = seeds.last().expect("seeds ran");
        assert_eq!(
            str_of(last, "outcome"),
            "fail",
            "the sweep ends on the failure that reached the limit"
        );
        assert!(seeds.len() < 400);
        assert_same_lines(&one, &two, &format!("{extra:?}"));
    }
    let until = [
        "sim",
        "--until-all-sometimes",
        "--first-seed",
        "3",
        "--json",
    ];
    let (seeds, summary) = json(&demo(&with_jobs(&until, "2")));
    assert_eq!(str_of(&summary, "stopped"), "condition");
    assert!(seeds.len() > 1, "the goal takes a few seeds");
    assert_same_lines(
        &demo(&with_jobs(&until, "1")),
        &demo(&with_jobs(&until, "2")),
        "until",
    );
}

/// seed → fingerprint of a run's seed lines.
fn by_seed(seeds: &[Value]) -> BTreeMap<String, String> {
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

#[test]
fn shards_of_a_plan_without_a_first_seed_are_disjoint_and_cover_it_for_1_to_8_shards() {
    let whole = demo(&["sim", "--seeds", "30", "--shard", "1/1", "--json"]);
    let (all, summary) = json(&whole);
    assert_eq!(
        str_of(&summary, "first_seed"),
        "0x1",
        "the fixed base of sharded sweeps"
    );
    assert_eq!(summary["first_seed_fresh"], Value::Bool(false));
    let all = by_seed(&all);
    assert_eq!(all.len(), 30);
    for n in 1..=8u64 {
        let mut union: BTreeMap<String, String> = BTreeMap::new();
        let mut count = 0;
        for k in 1..=n {
            let shard = format!("{k}/{n}");
            let (part, _) = json(&demo(&[
                "sim", "--seeds", "30", "--shard", &shard, "--json", "--jobs", "2",
            ]));
            count += part.len();
            union.extend(by_seed(&part));
        }
        assert_eq!(count, union.len(), "{n} shards overlap");
        assert_eq!(union, all, "{n} shards do not make the plan");
    }
}

fn write(name: &str, o: &Output) -> String {
    let path = temp_path(name);
    std::fs::write(&path, &o.stdout).expect("write report");
    path.display().to_string()
}

#[test]
fn four_shards_merge_into_exactly_the_seeds_of_the_whole_plan() {
    let plan = ["sim", "--bug", "lost-message", "--seeds", "400", "--json"];
    let mut files = Vec::new();
    for k in 1..=4 {
        let shard = format!("{k}/4");
        let mut args = plan.to_vec();
        args.extend(["--shard", &shard, "--jobs", "2"]);
        files.push(write(&format!("shard-{k}.json"), &demo(&args)));
    }
    let mut args = plan.to_vec();
    args.extend(["--shard", "1/1"]);
    let whole = demo(&args);
    let (whole_seeds, whole_summary) = json(&whole);

    let mut merge_args = vec!["merge", "--json"];
    merge_args.extend(files.iter().map(String::as_str));
    let merged = demo(&merge_args);
    assert_eq!(
        merged.status.code(),
        Some(1),
        "seeds failed: {}",
        stderr(&merged)
    );
    let (seeds, summary) = json(&merged);
    assert_eq!(
        by_seed(&seeds),
        by_seed(&whole_seeds),
        "the same seeds, the same fingerprints"
    );
    for field in ["seeds_run", "passed", "failed", "events", "sim_time_ns"] {
        assert_eq!(summary[field], whole_summary[field], "{field}");
    }
    assert_eq!(summary["faults"], whole_summary["faults"]);
    assert_eq!(
        summary["failures"], whole_summary["failures"],
        "failures with their replay lines"
    );
    assert_eq!(
        summary["assertions"]["sites"],
        whole_summary["assertions"]["sites"]
    );
    assert_eq!(u64_of(&summary, "reports"), 4);
    assert_eq!(summary["shard"], Value::Null, "the shards differ");

    // The human summary fails with every failure's replay line.
    let mut human_args = vec!["merge"];
    human_args.extend(files.iter().map(String::as_str));
    let human = demo(&human_args);
    assert_eq!(human.status.code(), Some(1));
    let text = stdout(&human);
    assert!(text.contains("400 of 400 run in 4 report(s)"), "{text}");
    for failure in whole_summary["failures"].as_array().expect("failures") {
        assert!(text.contains(str_of(failure, "replay")), "{text}");
    }
    assert!(text.contains("RESULT: FAIL"), "{text}");
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn merge_fails_naming_a_shard_that_left_no_report() {
    let mut files = Vec::new();
    for k in 1..=4 {
        let shard = format!("{k}/4");
        let o = demo(&[
            "sim",
            "--no-chaos",
            "--seeds",
            "40",
            "--shard",
            &shard,
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        files.push(write(&format!("gap-{k}.json"), &o));
    }
    let merge = |files: &[&String]| {
        let mut args = vec!["merge"];
        args.extend(files.iter().map(|f| f.as_str()));
        demo(&args)
    };
    let whole = merge(&files.iter().collect::<Vec<_>>());
    assert_eq!(whole.status.code(), Some(0), "{}", stdout(&whole));
    assert!(
        stdout(&whole).contains("RESULT: PASS (40 seeds)"),
        "{}",
        stdout(&whole)
    );
    // Shard 3's job died: every seed merged passed, but the plan is not
    // swept.
    let three = merge(&[&files[0], &files[1], &files[3]]);
    assert_eq!(three.status.code(), Some(1), "{}", stdout(&three));
    let text = stdout(&three);
    assert!(
        text.contains("shard 3/4 of the plan of 40 seeds from 0x1: missing"),
        "{text}"
    );
    assert!(text.contains("RESULT: FAIL (incomplete"), "{text}");
    // A shard merged twice counts its seeds twice: named too.
    let twice = merge(&[&files[0], &files[1], &files[2], &files[3], &files[1]]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(stdout(&twice).contains("shard 2/4 of the plan of 40 seeds from 0x1: merged 2 times"));
    // The JSON summary says so as well.
    let mut args = vec!["merge", "--json"];
    args.extend([&files[0], &files[1], &files[3]].map(|f| f.as_str()));
    let (_, summary) = json(&demo(&args));
    assert_eq!(
        summary["shard_gaps"],
        serde_json::json!(["shard 3/4 of the plan of 40 seeds from 0x1: missing"])
    );
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn merging_is_associative() {
    let a = write(
        "assoc-a.json",
        &demo(&["sim", "--first-seed", "1", "--seeds", "30", "--json"]),
    );
    let b = write(
        "assoc-b.json",
        &demo(&[
            "sim",
            "--bug",
            "panic",
            "--first-seed",
            "100",
            "--seeds",
            "30",
            "--json",
        ]),
    );
    let c = write(
        "assoc-c.json",
        &demo(&[
            "sim",
            "--no-chaos",
            "--seeds",
            "20",
            "--shard",
            "2/2",
            "--json",
        ]),
    );
    let merge = |files: &[&str]| {
        let mut args = vec!["merge", "--json"];
        args.extend(files);
        let o = demo(&args);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
        o
    };
    let abc = merge(&[&a, &b, &c]);
    let ab = write("assoc-ab.json", &merge(&[&a, &b]));
    let bc = write("assoc-bc.json", &merge(&[&b, &c]));
    let ab_c = merge(&[&ab, &c]);
    let a_bc = merge(&[&a, &bc]);
    assert_eq!(
        stdout(&abc),
        stdout(&ab_c),
        "merge(a,b,c) = merge(merge(a,b),c)"
    );
    assert_eq!(
        stdout(&abc),
        stdout(&a_bc),
        "merge(a,b,c) = merge(a,merge(b,c))"
    );
    let (_, summary) = json(&abc);
    assert_eq!(u64_of(&summary, "reports"), 3);
    assert_eq!(u64_of(&summary, "seeds_run"), 70);
    assert_eq!(
        summary["chaos"],
        Value::Null,
        "chaos differs between the parts"
    );
    for f in [a, b, c, ab, bc] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn merge_refuses_a_report_cut_short_and_can_require_every_sometimes() {
    let full = demo(&["sim", "--first-seed", "5", "--seeds", "10", "--json"]);
    let text = stdout(&full);
    let cut: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    let path = temp_path("cut.json");
    std::fs::write(&path, cut).expect("write");
    let o = demo(&["merge", &path.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cut short"), "{}", stderr(&o));
    // One seed rarely satisfies every sometimes assertion of the demo.
    let one = write(
        "one-seed.json",
        &demo(&["sim", "--first-seed", "7", "--seeds", "1", "--json"]),
    );
    let plain = demo(&["merge", &one]);
    assert_eq!(plain.status.code(), Some(0), "{}", stdout(&plain));
    let strict = demo(&["merge", "--require-sometimes", &one]);
    assert_eq!(strict.status.code(), Some(1), "{}", stdout(&strict));
    assert!(
        stdout(&strict).contains("goal unmet"),
        "{}",
        stdout(&strict)
    );
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(one);
}

#[test]
fn shard_auto_and_shard_from_env_read_the_engines_index() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec!["sim", "--seeds", "8", "--json"];
        all.extend(args);
        demo_env(&all, env)
    };
    let shard_of = |o: &Output| str_of(&json(o).1, "shard").to_string();
    // Kubernetes counts from 0, GitLab from 1.
    assert_eq!(
        shard_of(&run(
            &["--shard", "auto/4"],
            &[("JOB_COMPLETION_INDEX", "2")]
        )),
        "3/4"
    );
    assert_eq!(
        shard_of(&run(&["--shard", "auto/4"], &[("CI_NODE_INDEX", "3")])),
        "3/4"
    );
    assert_eq!(
        shard_of(&run(
            &["--shard-from-env", "MY_INDEX/4"],
            &[("MY_INDEX", "0")]
        )),
        "1/4"
    );
    assert_eq!(
        shard_of(&run(
            &[],
            &[("MOONPOOL_SHARD", "auto/2"), ("JOB_COMPLETION_INDEX", "1")]
        )),
        "2/2"
    );
    for (args, env, needle) in [
        (
            &["--shard", "auto/4"][..],
            &[][..],
            "none of JOB_COMPLETION_INDEX",
        ),
        (
            &["--shard", "auto/4"][..],
            &[("JOB_COMPLETION_INDEX", "4")][..],
            "outside 0..=3",
        ),
        (
            &["--shard", "auto/4"][..],
            &[("CI_NODE_INDEX", "0")][..],
            "outside 1..=4",
        ),
        (
            &["--shard-from-env", "NOPE/2"][..],
            &[][..],
            "NOPE is not set",
        ),
        (
            &["--shard-from-env", "MY_INDEX/2"][..],
            &[("MY_INDEX", "x")][..],
            "not a whole number",
        ),
        (
            &["--shard", "2/2", "--shard-from-env", "MY_INDEX/2"][..],
            &[][..],
            "both choose the shard",
        ),
    ] {
        let o = run(args, env);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn saved_failures_are_a_seeds_file_that_replays_them() {
    let saved = temp_path("saved.seeds");
    let _ = std::fs::remove_file(&saved);
    let saved_name = saved.display().to_string();
    let sweep = demo(&[
        "sim",
        "--bug",
        "lost-message",
        "--first-seed",
        "0",
        "--seeds",
        "60",
        "--json",
        "--save-failures",
        &saved_name,
    ]);
    let (seeds, _) = json(&sweep);
    let failed: Vec<&Value> = seeds
        .iter()
        .filter(|s| str_of(s, "outcome") == "fail")
        .collect();
    assert!(!failed.is_empty());
    let text = std::fs::read_to_string(&saved).expect("saved");
    assert_eq!(text.lines().count(), failed.len(), "{text}");
    assert!(
        text.lines()
            .all(|l| l.contains(" --chaos --bug lost-message  # ")),
        "{text}"
    );

    // Without --bug on the command line: each line brings its own.
    let replayed = demo(&["sim", "--seeds-file", &saved_name, "--json", "--jobs", "2"]);
    assert_eq!(replayed.status.code(), Some(1));
    let (again, summary) = json(&replayed);
    assert_eq!(
        by_seed(&again),
        by_seed(&failed.into_iter().cloned().collect::<Vec<_>>())
    );
    assert!(again.iter().all(|s| str_of(s, "outcome") == "fail"));
    assert!(
        again
            .iter()
            .all(|s| str_of(s, "replay").contains("sim --bug lost-message --chaos --seed"))
    );
    assert_eq!(u64_of(&summary, "failed"), again.len() as u64);
    let _ = std::fs::remove_file(saved);
}

#[test]
fn a_seeds_file_runs_each_line_with_its_own_options() {
    let file = temp_path("mixed.seeds");
    std::fs::write(
        &file,
        "# regression seeds\n0x2a\n0x2b --no-chaos   # quiet\n\n7 --bug panic\n0x2c\n",
    )
    .expect("write");
    let name = file.display().to_string();
    let o = demo(&["sim", "--seeds-file", &name, "--json"]);
    let (seeds, summary) = json(&o);
    let listed: Vec<&str> = seeds.iter().map(|s| str_of(s, "seed")).collect();
    // Grouped by options, in the order each group first appears.
    assert_eq!(listed, ["0x2a", "0x2c", "0x2b", "0x7"]);
    assert_eq!(u64_of(&summary, "seeds_run"), 4);
    assert_eq!(summary["chaos"], Value::Null, "one line is quiet");
    // Each seed is the one a lone run of the same options gives.
    for (seed, args) in [
        ("0x2a", &["--chaos"][..]),
        ("0x2b", &["--no-chaos"][..]),
        ("0x7", &["--bug", "panic", "--chaos"][..]),
    ] {
        let mut lone = vec!["sim", "--seed", seed, "--json"];
        lone.extend(args);
        let (one, _) = json(&demo(&lone));
        let listed = seeds
            .iter()
            .find(|s| str_of(s, "seed") == seed)
            .expect("listed");
        assert_eq!(listed["fingerprint"], one[0]["fingerprint"], "{seed}");
    }
    // A sharded seeds file runs every other line.
    let (half, _) = json(&demo(&[
        "sim",
        "--seeds-file",
        &name,
        "--shard",
        "2/2",
        "--json",
    ]));
    let half: Vec<&str> = half.iter().map(|s| str_of(s, "seed")).collect();
    assert_eq!(half, ["0x2b", "0x2c"]);
    // Bad lines are refused with their number.
    std::fs::write(&file, "1\n2 --seeds 3\n").expect("write");
    let bad = demo(&["sim", "--seeds-file", &name]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains(":2: --seeds is a runner flag"),
        "{}",
        stderr(&bad)
    );
    let conflict = demo(&["sim", "--seeds-file", &name, "--seeds", "4"]);
    assert_eq!(conflict.status.code(), Some(2));
    let _ = std::fs::remove_file(file);
}

#[test]
fn the_human_report_lists_failed_seeds_only_unless_verbose() {
    let args = [
        "sim",
        "--bug",
        "lost-message",
        "--first-seed",
        "0",
        "--seeds",
        "40",
        "--jobs",
        "2",
    ];
    let o = demo(&args);
    let text = stdout(&o);
    let rows = |text: &str| text.lines().filter(|l| l.starts_with("0x")).count();
    let failed = text
        .lines()
        .filter(|l| l.starts_with("0x") && l.contains(" FAIL "))
        .count();
    assert!(failed > 0);
    assert_eq!(rows(&text), failed, "{text}");
    let row_replays = text.lines().filter(|l| l.starts_with("  replay: ")).count();
    assert_eq!(
        row_replays, failed,
        "one replay line per failed row: {text}"
    );
    assert!(text.contains(&format!("failures ({failed}):")), "{text}");
    let mut verbose = args.to_vec();
    verbose.push("--verbose");
    assert_eq!(rows(&stdout(&demo(&verbose))), 40);
}
