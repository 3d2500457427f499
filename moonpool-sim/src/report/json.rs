//! The JSON lines report: one object per seed, then one summary object.
//!
//! Seeds and fingerprints are `0x`-hex strings (a `u64` does not fit a
//! JSON number exactly in most readers); times are milliseconds as
//! numbers, plus exact nanoseconds for simulated time.
//!
//! Per seed:
//!
//! ```json
//! {"seed":"0x2a","outcome":"fail","fingerprint":"0x1f...","sim_time_ms":350.0,
//!  "sim_time_ns":350000000,"wall_ms":0.42,"events":1234,
//!  "error":"panic in task 'worker' of process 'demo#0' at src/x.rs:3:5: boom",
//!  "failure":"panic","replay":"target/debug/demo sim --no-chaos --seed 0x2a",
//!  "faults":{"process.kill":2},"faults_on_system":{"process.kill":2},
//!  "fault_families":{"process.attrition":true},
//!  "metrics":{"transport.frames_sent":880,"buggify.fire":3},
//!  "values":{"leader_term":4,"balances":{"a":10,"b":-3}},
//!  "timeline":[{"time_ms":12.5,"process":"server","kind":"process.kill","detail":"killed"}]}
//! ```
//!
//! `faults` holds the injected faults and process events (`net.*`,
//! `disk.*`, `process.*`, `clock.*`); `faults_on_system`, of those, the
//! ones whose every target was a process of the system under test (a
//! server or a foreground workload's client: the fault budget spent on
//! the system); `metrics` every other non-zero counter: library
//! metrics reported through `moonpool_core::sim_hook::metric` (the
//! transport's `transport.*`), buggify firings. `values` holds what the
//! workloads recorded with `SimContext::record_value` (a number: the last
//! value) and `SimContext::record_entry` (an object: a small map).
//! `error`, `failure` and `replay` appear on failures only; `timeline`
//! only when it was recorded (a single replayed seed). The last line is
//! `{"summary":{...}}`, see [`summary_of`]; [`parse_summary`] reads it
//! back (for `merge`).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::kernel::failure::SeedFailure;
use crate::runner::report::SeedReport;
use crate::runner::sweep::report::SweepReport;
use crate::runner::sweep::{SweepSummary, is_fault_kind, per_sec};

fn hex(x: u64) -> String {
    format!("{x:#x}")
}

fn fingerprint(x: u64) -> String {
    format!("{x:#018x}")
}

/// A short, stable name for the kind of failure.
pub fn failure_kind(failure: &SeedFailure) -> &'static str {
    crate::runner::sweep::summary::failure_kind(failure)
}

/// The JSON object of one seed.
pub fn seed(report: &SeedReport, sweep: &SweepReport) -> Value {
    let mut o = Map::new();
    o.insert("seed".into(), json!(hex(report.seed)));
    let outcome = if report.outcome.is_pass() {
        "pass"
    } else {
        "fail"
    };
    o.insert("outcome".into(), json!(outcome));
    o.insert("fingerprint".into(), json!(fingerprint(report.fingerprint)));
    o.insert(
        "sim_time_ms".into(),
        json!(report.sim_time.as_secs_f64() * 1e3),
    );
    o.insert(
        "sim_time_ns".into(),
        json!(report.sim_time.as_nanos().min(u64::MAX as u128) as u64),
    );
    o.insert(
        "wall_ms".into(),
        json!(report.wall_time.as_secs_f64() * 1e3),
    );
    o.insert("events".into(), json!(report.events));
    if let Some(failure) = report.outcome.failure() {
        o.insert("error".into(), json!(failure.to_string()));
        o.insert("failure".into(), json!(failure_kind(failure)));
        o.insert("replay".into(), json!(sweep.replay_line(report.seed)));
    }
    let faults: Map<String, Value> = report
        .counters
        .iter()
        .filter(|(kind, n)| is_fault_kind(kind) && **n > 0)
        .map(|(kind, n)| (kind.to_string(), json!(n)))
        .collect();
    o.insert("faults".into(), Value::Object(faults));
    let on_system: Map<String, Value> = report
        .faults_on_system
        .iter()
        .filter(|(kind, n)| is_fault_kind(kind) && **n > 0)
        .map(|(kind, n)| (kind.to_string(), json!(n)))
        .collect();
    o.insert("faults_on_system".into(), Value::Object(on_system));
    let metrics: Map<String, Value> = report
        .counters
        .iter()
        .filter(|(kind, n)| !is_fault_kind(kind) && **n > 0)
        .map(|(kind, n)| (kind.to_string(), json!(n)))
        .collect();
    o.insert("metrics".into(), Value::Object(metrics));
    o.insert("values".into(), json!(report.values));
    let families: Map<String, Value> = report
        .fault_families
        .iter()
        .map(|(family, on)| (family.to_string(), json!(on)))
        .collect();
    o.insert("fault_families".into(), Value::Object(families));
    if !report.timeline.is_empty() {
        let timeline: Vec<Value> = report
            .timeline
            .iter()
            .map(|e| {
                json!({
                    "time_ms": e.time.as_secs_f64() * 1e3,
                    "process": e.process,
                    "kind": e.kind,
                    "detail": e.detail,
                })
            })
            .collect();
        o.insert("timeline".into(), Value::Array(timeline));
    }
    Value::Object(o)
}

/// The final `{"summary": {...}}` object of a sweep: its
/// [`SweepSummary`] (see [`summary_of`]).
pub fn summary(sweep: &SweepReport, first_seed_fresh: bool) -> Value {
    summary_of(&SweepSummary::of(sweep, first_seed_fresh))
}

/// The `{"summary": {...}}` object of a [`SweepSummary`] (one sweep's, or
/// many merged):
///
/// | field | meaning |
/// |---|---|
/// | `reports` | sweep reports merged into it (1 for a sweep) |
/// | `seeds_run`, `passed`, `failed` | counts |
/// | `seeds_planned` | seeds the plan would run after sharding; `null` if unbounded |
/// | `first_failing_seed`, `replay` | the failure with the lowest seed and its replay line, or `null` |
/// | `failures` | every kept failure (the first 1,000 by seed): `{"seed", "replay", "fingerprint", "failure", "error"}` |
/// | `wall_ms`, `sim_ms`, `sim_wall_ratio` | total wall and simulated time |
/// | `wall_time_ns`, `sim_time_ns` | the same, exact (what merging adds up) |
/// | `events`, `events_per_sec` | executor steps, total and per wall second |
/// | `first_seed`, `first_seed_fresh` | the plan's first seed, and whether it was picked fresh |
/// | `chaos`, `check_determinism` | the settings (`null`: merged parts disagree) |
/// | `shard`, `time_budget_ms` | `"K/N"` and the budget, or `null` |
/// | `stopped` | `completed`, `time_budget`, `condition`, `max_failures` (or `mixed`); `stop_condition` says which |
/// | `faults` | `{kind: {"total": n, "seeds": m, "on_system": k}}` over the sweep; `on_system`: of `total`, the faults whose every target was a process of the system under test |
/// | `fault_families` | `{family: seeds in which it was on}` |
/// | `metrics` | `{name: total}` of every other counter (library metrics such as `transport.frames_sent`, buggify firings) |
/// | `assertions` | the coverage report: every assertion and buggify site in scope with its counts and status (see `docs/src/assertions.md`) |
pub fn summary_of(summary: &SweepSummary) -> Value {
    // A struct of strings, numbers and maps always serializes.
    let mut o = match serde_json::to_value(summary) {
        Ok(Value::Object(o)) => o,
        _ => Map::new(),
    };
    let wall = std::time::Duration::from_nanos(summary.wall_time_ns);
    let sim = std::time::Duration::from_nanos(summary.sim_time_ns);
    let first = summary.first_failure();
    o.insert(
        "first_failing_seed".into(),
        json!(first.map(|f| hex(f.seed))),
    );
    o.insert("replay".into(), json!(first.map(|f| f.replay.clone())));
    o.insert("wall_ms".into(), json!(wall.as_secs_f64() * 1e3));
    o.insert("sim_ms".into(), json!(sim.as_secs_f64() * 1e3));
    let ratio = if wall.is_zero() {
        0.0
    } else {
        sim.as_secs_f64() / wall.as_secs_f64()
    };
    o.insert("sim_wall_ratio".into(), json!(ratio));
    o.insert(
        "events_per_sec".into(),
        json!(per_sec(summary.events, wall)),
    );
    json!({ "summary": Value::Object(o) })
}

/// Reads a `{"summary": {...}}` object back (the derived figures are
/// ignored): `Ok(None)` if `line` is not a summary object.
pub fn parse_summary(line: &Value) -> Result<Option<SweepSummary>, serde_json::Error> {
    match line.get("summary") {
        Some(summary) => SweepSummary::deserialize(summary).map(Some),
        None => Ok(None),
    }
}
