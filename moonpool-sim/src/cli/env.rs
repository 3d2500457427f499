//! [`SweepPlan::from_env_or`]: the `MOONPOOL_*` variables over a plan, for
//! sweeps run from `cargo test`. The plan is the runner's data; reading it
//! from the environment is this front end's job.

use super::CliError;
use crate::runner::sweep::plan::SweepPlan;

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
