//! What a run prints: JSON lines, the human report, traces.

use serde_json::Value;

use super::{DEMO, ENV_VARS, demo, demo_env, json, stderr, stdout, str_of, temp_path, u64_of};

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
        // The ticker is a server: every kill hit the system under test.
        assert_eq!(
            u64_of(&s["faults_on_system"], "process.kill"),
            u64_of(&s["faults"], "process.kill"),
            "{s}"
        );
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
    assert_eq!(u64_of(kills, "on_system"), total, "{kills}");
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
        "on system",
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
fn trace_dash_writes_to_stderr_and_creates_no_file() {
    let dir = temp_path("trace-dash");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let mut cmd = std::process::Command::new(DEMO);
    cmd.current_dir(&dir)
        .args(["sim", "--seed", "0x99", "--json", "--trace", "-"]);
    for var in ENV_VARS {
        cmd.env_remove(var);
    }
    let traced = cmd.output().expect("run sim-demo");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .expect("the scratch directory")
        .map(|e| e.map(|e| e.file_name()))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(traced.status.success(), "{}", stderr(&traced));
    assert!(left.is_empty(), "--trace - created {left:?}");
    let err = stderr(&traced);
    assert!(
        err.contains("DEBUG moonpool_sim::runner: seed 0x99 starts"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("seed=0x99 t=0.0") && l.contains("TRACE sim_demo: sent")),
        "{err}"
    );
    // stdout keeps the report, with the fingerprint of an untraced run.
    let (a, _) = json(&demo(&["sim", "--seed", "0x99", "--json"]));
    let (b, _) = json(&traced);
    assert_eq!(a[0]["fingerprint"], b[0]["fingerprint"]);
}

#[test]
fn rust_log_prints_the_programs_own_log_lines_without_changing_the_execution() {
    let logged = demo_env(
        &["sim", "--seed", "0x99", "--json"],
        &[("RUST_LOG", "sim_demo=debug")],
    );
    assert!(logged.status.success(), "{}", stderr(&logged));
    let err = stderr(&logged);
    // The program's debug line, stamped with simulated time; its trace
    // lines and the simulator's own are filtered out.
    assert!(
        err.lines()
            .any(|l| l.starts_with("seed=0x99 t=") && l.contains("DEBUG sim_demo: collector done")),
        "{err}"
    );
    assert!(!err.contains("TRACE sim_demo: sent"), "{err}");
    assert!(!err.contains("moonpool_sim::runner"), "{err}");
    let (a, _) = json(&demo(&["sim", "--seed", "0x99", "--json"]));
    let (b, _) = json(&logged);
    assert_eq!(a[0]["fingerprint"], b[0]["fingerprint"]);
    // Directives that do not parse are refused by name.
    let bad = demo_env(&["sim", "--seed", "0x99"], &[("RUST_LOG", "sim_demo=loud")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("RUST_LOG: 'loud' is not a level"),
        "{}",
        stderr(&bad)
    );
}
