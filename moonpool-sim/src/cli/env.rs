//! [`SweepPlan::from_env_or`]: the `MOONPOOL_*` variables over a plan, for
//! sweeps run from `cargo test`, and [`test_sweep`], a whole sweep in a
//! `#[test]`. The plan is the runner's data; reading it from the
//! environment is this front end's job.

use std::fmt::Display;

use super::CliError;
use crate::runner::builder::Simulation;
use crate::runner::sweep::available_jobs;
use crate::runner::sweep::parallel::SweepRunner;
use crate::runner::sweep::plan::{SeedPlan, SweepPlan};
use crate::runner::sweep::report::SweepReport;

impl SweepPlan {
    /// `default`, with every `MOONPOOL_*` variable that is set applied on
    /// top (`MOONPOOL_SEED`, `MOONPOOL_SEEDS`, `MOONPOOL_FIRST_SEED`,
    /// `MOONPOOL_SHARD`, `MOONPOOL_TIME_BUDGET`, `MOONPOOL_CHECK_DETERMINISM`,
    /// `MOONPOOL_CHAOS`, `MOONPOOL_TRACE`, `MOONPOOL_UNTIL_ALL_SOMETIMES`,
    /// `MOONPOOL_MAX_SEEDS`). This is how a `cargo test` replays a seed:
    /// `MOONPOOL_SEED=0x2a cargo test my_test`. A malformed variable, or a
    /// trace file that cannot be created, is an error.
    pub fn from_env_or(default: SweepPlan) -> Result<SweepPlan, CliError> {
        SweepPlan::from_env_with(default, &|name| std::env::var(name).ok())
    }

    /// [`SweepPlan::from_env_or`] reading variables through `env` (for
    /// tests, which should not mutate the process environment).
    pub fn from_env_with(
        default: SweepPlan,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SweepPlan, CliError> {
        super::plan_from_env(default, env)
    }
}

/// The job count of a test sweep: `MOONPOOL_JOBS` if set, else the
/// available cores (1 for a replayed seed).
fn jobs_from_env(
    plan: &SweepPlan,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<usize, CliError> {
    match env("MOONPOOL_JOBS").filter(|v| !v.trim().is_empty()) {
        Some(text) => match moonpool_core::parse_seed(text.trim()) {
            Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(CliError::InvalidCount {
                setting: "MOONPOOL_JOBS".to_string(),
                text,
            }),
        },
        None if matches!(plan.seeds, SeedPlan::One(_)) => Ok(1),
        None => Ok(available_jobs()),
    }
}

/// Runs a sweep from a `#[test]`, on every core, and fails the test with
/// each failed seed's message and replay line:
///
/// ```
/// # use moonpool_sim::{SimContext, SimulationBuilder, SweepPlan, Workload, WorkloadResult, Simulation, ConfigError};
/// # use moonpool_core::TimeProvider;
/// # struct Nap;
/// # impl Workload for Nap {
/// #     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
/// #         ctx.providers().sleep(std::time::Duration::from_millis(5)).await;
/// #         Ok(())
/// #     }
/// # }
/// fn build_sim() -> Result<Simulation, ConfigError> {
///     SimulationBuilder::new().workload("nap", 2, |_| Nap).build()
/// }
///
/// // #[test]
/// fn naps_survive_chaos() {
///     moonpool_sim::test_sweep(build_sim, SweepPlan::range(1, 100));
/// }
/// # naps_survive_chaos();
/// ```
///
/// `build` is called once on the test's thread and once per job thread
/// (each job runs whole seeds in its own worlds). The `MOONPOOL_*`
/// variables override `default` as [`SweepPlan::from_env_or`] does
/// (`MOONPOOL_SEED` replays one seed, `MOONPOOL_SEEDS`,
/// `MOONPOOL_FIRST_SEED`, `MOONPOOL_SHARD`, `MOONPOOL_CHAOS`,
/// `MOONPOOL_MAX_FAILURES`, ...), and `MOONPOOL_JOBS` sets the job count
/// (default: the available cores). Chaos is on unless the plan, the
/// simulation or `MOONPOOL_CHAOS` says otherwise. A failure panics with
/// lines such as
/// `replay: MOONPOOL_SEED=0x7 MOONPOOL_CHAOS=on cargo test -p my-crate my_test -- --exact`,
/// which also work under `cargo nextest` (one process per test). Returns
/// the report when every seed passed.
///
/// # Panics
/// If a seed failed, a `MOONPOOL_*` variable is malformed, or `build`
/// returns an error.
#[track_caller]
pub fn test_sweep<B, E>(build: B, default: SweepPlan) -> SweepReport
where
    B: Fn() -> Result<Simulation, E> + Sync,
    E: Display + Send,
{
    let env = |name: &str| std::env::var(name).ok();
    let plan = match SweepPlan::from_env_with(default, &env) {
        Ok(plan) => plan,
        Err(e) => panic!("test_sweep: a MOONPOOL_* variable is wrong: {e}"),
    };
    let jobs = match jobs_from_env(&plan, &env) {
        Ok(jobs) => jobs,
        Err(e) => panic!("test_sweep: {e}"),
    };
    let report = match SweepRunner::new(build).jobs(jobs).sweep(&plan) {
        Ok(report) => report,
        Err(e) => panic!("test_sweep: the simulation could not be built: {e}"),
    };
    println!(
        "test_sweep: {} seed(s) from {:#x}, chaos {}{}, {jobs} job(s): {} failed",
        report.seeds_run,
        plan.seeds.first(),
        if report.chaos { "on" } else { "off" },
        if report.chaos {
            ""
        } else {
            " (quiet: no faults injected)"
        },
        report.failed
    );
    report.assert_all_passed();
    report
}
