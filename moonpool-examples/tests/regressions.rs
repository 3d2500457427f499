//! Each example's regression seeds, run through its binary's
//! `--seeds-file` as CI runs them: `regressions/<example>.seeds` must all
//! pass (seeds that caught a planted bug, rerun without it, among them),
//! and every line of `regressions/<example>.bugs.seeds` plants a bug that
//! its seed must still catch.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The seed lines and the summary of a `--json` run of `bin` over `file`.
fn run_seeds_file(bin: &str, file: &str) -> (Option<i32>, Vec<Value>, Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(file);
    let out = Command::new(bin)
        .args(["sim", "--seeds-file"])
        .arg(&path)
        .args(["--json", "--jobs", "2"])
        .env_remove("MOONPOOL_SEEDS_FILE")
        .env_remove("MOONPOOL_SHARD")
        .env_remove("MOONPOOL_CHAOS")
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"));
    let mut seeds = Vec::new();
    let mut summary = Value::Null;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "{file}: not JSON ({e}): {line}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        match v.get("summary") {
            Some(s) => summary = s.clone(),
            None => seeds.push(v),
        }
    }
    (out.status.code(), seeds, summary)
}

/// The seed lines of a seeds file (comments and blank lines skipped).
fn listed(file: &str) -> usize {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#')
        })
        .count()
}

fn check(name: &str, bin: &str) {
    let passing = format!("{name}.seeds");
    let (code, seeds, summary) = run_seeds_file(bin, &passing);
    assert!(listed(&passing) > 0, "{passing} lists no seed");
    assert_eq!(seeds.len(), listed(&passing), "{passing}: every line runs");
    assert_eq!(code, Some(0), "{passing} fails: {summary}");
    let bugs = format!("{name}.bugs.seeds");
    let (code, seeds, summary) = run_seeds_file(bin, &bugs);
    assert_eq!(seeds.len(), listed(&bugs), "{bugs}: every line runs");
    assert_eq!(code, Some(1), "{bugs}");
    for seed in &seeds {
        assert_eq!(seed["outcome"], "fail", "{bugs}: the bug escaped: {seed}");
        let replay = seed["replay"].as_str().unwrap_or_default();
        assert!(replay.contains(" --bug "), "{bugs}: {replay}");
    }
    assert_eq!(summary["failed"].as_u64(), Some(seeds.len() as u64));
}

#[test]
fn pingpong_regression_seeds() {
    check("pingpong", env!("CARGO_BIN_EXE_pingpong"));
}

#[test]
fn wal_regression_seeds() {
    check("wal", env!("CARGO_BIN_EXE_wal"));
}

#[test]
fn kv_regression_seeds() {
    check("kv", env!("CARGO_BIN_EXE_kv"));
}

#[test]
fn election_regression_seeds() {
    check("election", env!("CARGO_BIN_EXE_election"));
}

#[test]
fn bank_regression_seeds() {
    check("bank", env!("CARGO_BIN_EXE_bank"));
}
