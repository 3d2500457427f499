//! The `sim-demo` binary, run as a user would: determinism across
//! invocations, replay lines that reproduce failures, precise failures that
//! do not stop a sweep, budgets, shards, goals, real `MOONPOOL_*` variables
//! (read by clap), JSON, traces, and the command line's refusals.

mod command_line;
mod determinism;
mod environment;
mod failures;
mod output;
mod scale;
mod sweeps;

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

pub(crate) const DEMO: &str = env!("CARGO_BIN_EXE_sim-demo");

pub(crate) const ENV_VARS: &[&str] = &[
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
    "MOONPOOL_JOBS",
    "MOONPOOL_SHARD_FROM_ENV",
    "MOONPOOL_SEEDS_FILE",
    "MOONPOOL_SAVE_FAILURES",
    "MOONPOOL_FAIL_FAST",
    "MOONPOOL_MAX_FAILURES",
    "MOONPOOL_VERBOSE",
    "JOB_COMPLETION_INDEX",
    "CI_NODE_INDEX",
    "CIRCLE_NODE_INDEX",
    "BUILDKITE_PARALLEL_JOB",
    "RUST_LOG",
];

pub(crate) fn command(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
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

pub(crate) fn demo_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(DEMO, args, env)
}

pub(crate) fn demo(args: &[&str]) -> Output {
    demo_env(args, &[])
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// The JSON lines of a `--json` run: (per-seed objects, summary).
pub(crate) fn json(o: &Output) -> (Vec<Value>, Value) {
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

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

pub(crate) fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a u64 in {v}"))
}

pub(crate) fn fingerprints(seeds: &[Value]) -> Vec<(String, String)> {
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

pub(crate) fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("moonpool-cli-{}-{name}", std::process::id()))
}
