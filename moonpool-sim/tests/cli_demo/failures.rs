//! Failures are precise, do not stop a sweep, and their replay line
//! reproduces them.

use serde_json::Value;

use super::{DEMO, command, demo, json, stderr, stdout, str_of, u64_of};

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
