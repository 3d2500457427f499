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
//!  "timeline":[{"time_ms":12.5,"process":"server","kind":"process.kill","detail":"killed"}]}
//! ```
//!
//! `faults` holds the injected faults and process events (`net.*`,
//! `disk.*`, `process.*`, `clock.*`); `faults_on_system`, of those, the
//! ones whose every target was a process of the system under test (a
//! server or a foreground workload's client: the fault budget spent on
//! the system); `metrics` every other non-zero counter: library
//! metrics reported through `moonpool_core::sim_hook::metric` (the
//! transport's `transport.*`), buggify firings.
//! `error`, `failure` and `replay` appear on failures only; `timeline`
//! only when it was recorded (a single replayed seed). The last line is
//! `{"summary":{...}}`, see [`summary`].

use serde_json::{Map, Value, json};

use crate::kernel::failure::SeedFailure;
use crate::runner::report::SeedReport;
use crate::runner::sweep::is_fault_kind;
use crate::runner::sweep::plan::SeedPlan;
use crate::runner::sweep::report::{StopReason, SweepReport};

fn hex(x: u64) -> String {
    format!("{x:#x}")
}

fn fingerprint(x: u64) -> String {
    format!("{x:#018x}")
}

/// A short, stable name for the kind of failure.
pub fn failure_kind(failure: &SeedFailure) -> &'static str {
    match failure {
        SeedFailure::Panic { .. } => "panic",
        SeedFailure::ProcessFailed { .. } => "process_failed",
        SeedFailure::WorkloadFailed { .. } => "workload_failed",
        SeedFailure::Deadlock { .. } => "deadlock",
        SeedFailure::TimeLimit { .. } => "time_limit",
        SeedFailure::StepLimit { .. } => "step_limit",
        SeedFailure::Assertion { .. } => "assertion",
        SeedFailure::Nondeterminism(_) => "nondeterminism",
    }
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

/// The final `{"summary": {...}}` object:
///
/// | field | meaning |
/// |---|---|
/// | `seeds_run`, `passed`, `failed` | counts |
/// | `seeds_planned` | seeds the plan would run after sharding; `null` if unbounded |
/// | `first_failing_seed`, `replay` | the first failure and its replay line, or `null` |
/// | `wall_ms`, `sim_ms`, `sim_wall_ratio` | total wall and simulated time |
/// | `events`, `events_per_sec` | executor steps, total and per wall second |
/// | `first_seed`, `first_seed_fresh` | the plan's first seed, and whether it was picked fresh |
/// | `chaos`, `check_determinism` | the settings |
/// | `shard`, `time_budget_ms` | `"K/N"` and the budget, or `null` |
/// | `stopped` | `completed`, `time_budget` or `condition`; `stop_condition` says which |
/// | `faults` | `{kind: {"total": n, "seeds": m, "on_system": k}}` over the sweep; `on_system`: of `total`, the faults whose every target was a process of the system under test |
/// | `fault_families` | `{family: seeds in which it was on}` |
/// | `metrics` | `{name: total}` of every other counter (library metrics such as `transport.frames_sent`, buggify firings) |
/// | `assertions` | the coverage report: every assertion and buggify site in scope with its counts and status (see `docs/assertions.md`) |
pub fn summary(sweep: &SweepReport, first_seed_fresh: bool) -> Value {
    let plan = &sweep.plan;
    let planned = plan.seeds_planned();
    let first_failure = sweep.first_failure();
    let (stopped, condition) = match &sweep.stopped {
        StopReason::Completed => ("completed", Value::Null),
        StopReason::TimeBudget(_) => ("time_budget", Value::Null),
        StopReason::Condition(what) => ("condition", json!(what)),
    };
    let faults: Map<String, Value> = sweep
        .faults
        .iter()
        .map(|(kind, t)| {
            (
                kind.to_string(),
                json!({"total": t.total, "seeds": t.seeds, "on_system": t.on_system}),
            )
        })
        .collect();
    let families: Map<String, Value> = sweep
        .fault_families
        .iter()
        .map(|(family, n)| (family.to_string(), json!(n)))
        .collect();
    let unbounded = matches!(
        plan.seeds,
        SeedPlan::Range {
            count: u64::MAX,
            ..
        }
    );
    json!({
        "summary": {
            "seeds_run": sweep.seeds_run,
            "seeds_planned": if unbounded { Value::Null } else { json!(planned) },
            "passed": sweep.passed,
            "failed": sweep.failed,
            "first_failing_seed": first_failure.map(|f| hex(f.seed)),
            "replay": first_failure.map(|f| sweep.replay_line(f.seed)),
            "wall_ms": sweep.wall_time.as_secs_f64() * 1e3,
            "sim_ms": sweep.sim_time.as_secs_f64() * 1e3,
            "sim_wall_ratio": sweep.sim_wall_ratio(),
            "events": sweep.events,
            "events_per_sec": sweep.events_per_sec(),
            "first_seed": hex(plan.seeds.first()),
            "first_seed_fresh": first_seed_fresh,
            "chaos": sweep.chaos,
            "check_determinism": plan.check_determinism,
            "shard": plan.shard.map(|s| s.to_string()),
            "time_budget_ms": plan.time_budget.map(|b| b.as_millis() as u64),
            "stopped": stopped,
            "stop_condition": condition,
            "faults": faults,
            "fault_families": families,
            "metrics": sweep.metrics.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<String, Value>>(),
            "assertions": sweep.coverage.to_json(),
        }
    })
}
