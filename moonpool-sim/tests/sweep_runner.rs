//! The library side of sweeps at scale: `SweepRunner` reports exactly
//! what a one-thread sweep reports (same seeds, same order, same
//! fingerprints, same coverage and faults, same stopping seed), keeps a
//! time-budgeted sweep to a prefix of the plan, passes build errors on,
//! and `test_sweep` fails a `#[test]` with replay lines that work.

use std::cell::RefCell;
use std::process::Command;
use std::time::Duration;

use moonpool_core::{RandomProvider, TimeProvider};
use moonpool_sim::runner::sweep::{SweepSummary, Until};
use moonpool_sim::{
    SeedReport, SimContext, Simulation, SimulationBuilder, StopReason, SweepObserver, SweepPlan,
    SweepReport, SweepRunner, Workload, WorkloadResult, sometimes,
};

/// Naps a random while; fails on seeds ≡ 3 (mod 7); meets a rare goal.
struct Napper;

impl Workload for Napper {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let ms = p.random_range(1..50u64);
        sometimes!(ms > 45, "a long nap");
        p.sleep(Duration::from_millis(ms)).await;
        if ctx.seed() % 7 == 3 {
            return Err("seed is 3 mod 7".into());
        }
        Ok(())
    }
}

fn napper() -> Result<Simulation, moonpool_sim::ConfigError> {
    SimulationBuilder::new()
        .assertion_scope(&[module_path!()])
        .workload("napper", 2, |_| Napper)
        .build()
}

/// Records the seeds in the order the observer is told about them.
#[derive(Default)]
struct Order(RefCell<Vec<u64>>);

impl SweepObserver for Order {
    fn seed_done(&mut self, report: &SeedReport, _sweep: &SweepReport) {
        self.0.borrow_mut().push(report.seed);
    }
}

/// What must not depend on the job count: everything but wall time.
fn same_report(a: &SweepReport, b: &SweepReport) {
    assert_eq!(a.results, b.results, "seeds, fingerprints, outcomes, order");
    assert_eq!(a.stopped, b.stopped);
    let mut sa = SweepSummary::of(a, false);
    let mut sb = SweepSummary::of(b, false);
    sa.wall_time_ns = 0;
    sb.wall_time_ns = 0;
    assert_eq!(sa, sb, "counts, faults, metrics, coverage, failures");
}

#[test]
fn four_jobs_report_what_one_job_reports_in_plan_order() {
    let plan = SweepPlan::range(100, 300);
    let (mut one_order, mut four_order) = (Order::default(), Order::default());
    let one = SweepRunner::new(napper)
        .sweep_with(&plan, &mut one_order, None)
        .expect("builds");
    let four = SweepRunner::new(napper)
        .jobs(4)
        .sweep_with(&plan, &mut four_order, None)
        .expect("builds");
    assert_eq!(one.seeds_run, 300);
    assert!(
        one.failed > 0 && one.chaos,
        "chaos is on by default; some seeds fail"
    );
    same_report(&one, &four);
    let expected: Vec<u64> = (100..400).collect();
    assert_eq!(
        *four_order.0.borrow(),
        expected,
        "the observer sees plan order"
    );
    assert_eq!(*one_order.0.borrow(), expected);
    // The same as a simulation's own sweep, seed by seed.
    let sim = napper().expect("builds");
    same_report(&sim.sweep(&plan), &four);
}

#[test]
fn goals_and_failure_limits_stop_at_the_same_seed_on_any_job_count() {
    let mut limited = SweepPlan::range(0, 500);
    limited.max_failures = Some(4);
    let mut goal = SweepPlan::range(0, 500);
    goal.until = Some(Until::AllSometimes);
    for plan in [limited, goal] {
        let one = SweepRunner::new(napper).sweep(&plan).expect("builds");
        assert!(one.seeds_run < 500, "{:?}", one.stopped);
        for jobs in [2, 3, 8] {
            let many = SweepRunner::new(napper)
                .jobs(jobs)
                .sweep(&plan)
                .expect("builds");
            same_report(&one, &many);
        }
    }
    let mut fail_fast = SweepPlan::range(0, 500);
    fail_fast.max_failures = Some(1);
    let report = SweepRunner::new(napper)
        .jobs(3)
        .sweep(&fail_fast)
        .expect("builds");
    assert_eq!(report.stopped, StopReason::MaxFailures(1));
    assert_eq!(report.failed, 1);
    assert_eq!(
        report.first_failure().map(|f| f.seed),
        Some(3),
        "the lowest failing seed"
    );
}

#[test]
fn a_time_budget_reports_a_prefix_of_the_plan() {
    let mut plan = SweepPlan::range(0, u64::MAX);
    plan.time_budget = Some(Duration::from_millis(30));
    let report = SweepRunner::new(napper)
        .jobs(3)
        .sweep(&plan)
        .expect("builds");
    assert!(matches!(report.stopped, StopReason::TimeBudget(_)));
    assert!(report.seeds_run > 0);
    let seeds: Vec<u64> = report.results.iter().map(|r| r.seed).collect();
    let prefix: Vec<u64> = (0..report.seeds_run).collect();
    assert_eq!(
        seeds, prefix,
        "no gap: every seed started before the budget ran out counts"
    );
}

#[test]
fn a_build_error_ends_the_sweep_with_that_error() {
    let broken = || SimulationBuilder::new().build();
    match SweepRunner::new(broken)
        .jobs(2)
        .sweep(&SweepPlan::range(0, 10))
    {
        Err(e) => assert_eq!(e, moonpool_sim::ConfigError::NoWorkload),
        Ok(r) => panic!("swept {} seeds of nothing", r.seeds_run),
    }
    // A build that fails only on a worker thread fails the sweep too.
    let main = std::thread::current().id();
    let flaky = move || {
        if std::thread::current().id() == main {
            napper()
        } else {
            Err(moonpool_sim::ConfigError::TooManyWorkloads)
        }
    };
    let result = SweepRunner::new(flaky)
        .jobs(2)
        .sweep(&SweepPlan::range(0, 10));
    assert!(
        matches!(result, Err(moonpool_sim::ConfigError::TooManyWorkloads)),
        "{:?}",
        result.err()
    );
}

/// The child process of [`test_sweep_fails_with_replay_lines_that_replay`]:
/// a `test_sweep` over the napper, run only when that test sets
/// `MOONPOOL_TEST_SWEEP_CHILD` (it does nothing otherwise).
#[test]
fn test_sweep_child() {
    if std::env::var_os("MOONPOOL_TEST_SWEEP_CHILD").is_none() {
        return;
    }
    moonpool_sim::test_sweep(napper, SweepPlan::range(0, 20));
}

fn child(env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([
        "test_sweep_child",
        "--exact",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for var in [
        "MOONPOOL_SEED",
        "MOONPOOL_SEEDS",
        "MOONPOOL_FIRST_SEED",
        "MOONPOOL_SHARD",
        "MOONPOOL_CHAOS",
        "MOONPOOL_JOBS",
        "MOONPOOL_MAX_FAILURES",
        "MOONPOOL_TIME_BUDGET",
        "MOONPOOL_CHECK_DETERMINISM",
        "MOONPOOL_UNTIL_ALL_SOMETIMES",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("MOONPOOL_TEST_SWEEP_CHILD", "1");
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn test_sweep_fails_with_replay_lines_that_replay() {
    let (passed, text) = child(&[("MOONPOOL_JOBS", "2")]);
    assert!(!passed, "seeds 3, 10 and 17 fail: {text}");
    assert!(
        text.contains("test_sweep: 20 seed(s) from 0x0, chaos on, 2 job(s): 3 failed"),
        "{text}"
    );
    let line = "replay: MOONPOOL_SEED=0xa MOONPOOL_CHAOS=on cargo test -p moonpool-sim test_sweep_child -- --exact";
    assert!(text.contains(line), "{text}");
    // The replay line's variables replay that one seed.
    let (passed, text) = child(&[("MOONPOOL_SEED", "0xa"), ("MOONPOOL_CHAOS", "on")]);
    assert!(!passed, "{text}");
    assert!(
        text.contains("1 of 1 seed(s) failed") && text.contains("seed 0xa"),
        "{text}"
    );
    let (passed, text) = child(&[("MOONPOOL_SEED", "0xb")]);
    assert!(passed, "{text}");
    // The variables choose the seeds, the shard and the chaos.
    let (passed, text) = child(&[
        ("MOONPOOL_FIRST_SEED", "4"),
        ("MOONPOOL_SEEDS", "6"),
        ("MOONPOOL_CHAOS", "off"),
    ]);
    assert!(passed, "seeds 4..=9 pass: {text}");
    assert!(
        text.contains("6 seed(s) from 0x4, chaos off (quiet: no faults injected)"),
        "{text}"
    );
    let (passed, text) = child(&[("MOONPOOL_SHARD", "2/2"), ("MOONPOOL_SEEDS", "8")]);
    assert!(!passed, "seed 3 is in shard 2/2: {text}");
    assert!(text.contains("test_sweep: 4 seed(s)"), "{text}");
    let (passed, text) = child(&[("MOONPOOL_JOBS", "zero")]);
    assert!(
        !passed && text.contains("MOONPOOL_JOBS: 'zero' is not a count"),
        "{text}"
    );
}
