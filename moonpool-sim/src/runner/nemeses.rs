//! Every built-in nemesis as a background workload: the models' fault
//! mechanisms, scheduled by the nemesis layer's loop, run in a workload
//! client's process like any other chaos workload.

use super::builder::SimulationBuilder;
use super::workload::{SimContext, Workload, WorkloadResult};
use crate::nemesis::attrition::Attrition;
use crate::nemesis::clock::RandomClockSkews;
use crate::nemesis::network::{RandomClogging, RandomConnectionKills, RandomPartitions};
use crate::nemesis::{self, NemesisContext};

/// `impl Workload` for nemeses: `run` is the shared nemesis loop, in the
/// client's process; `setup` and `check` do nothing.
macro_rules! nemesis_workloads {
    ($($nemesis:ty),* $(,)?) => {$(
        impl Workload for $nemesis {
            async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
                nemesis::run(self, &NemesisContext::new(ctx.providers()))
                    .await
                    .map_err(Into::into)
            }
        }
    )*};
}

nemesis_workloads!(
    Attrition,
    RandomClockSkews,
    RandomClogging,
    RandomPartitions,
    RandomConnectionKills
);

impl SimulationBuilder {
    /// Adds the three network nemeses ([`RandomClogging`],
    /// [`RandomPartitions`], [`RandomConnectionKills`]) as background
    /// workloads named `nemesis-clog`, `nemesis-partition` and
    /// `nemesis-kill`. They act only when chaos is on.
    pub fn network_nemeses(self) -> Self {
        self.background_workload("nemesis-clog", 1, |_| RandomClogging::default())
            .background_workload("nemesis-partition", 1, |_| RandomPartitions::default())
            .background_workload("nemesis-kill", 1, |_| RandomConnectionKills::default())
    }

    /// Adds the clock nemesis ([`RandomClockSkews`]) as a background
    /// workload named `nemesis-clock`: in episodes it skews, speeds up and
    /// slows down the servers' clocks, within the seed's clock bound. It
    /// acts only when chaos is on (and `clock.skew` is on for the seed).
    pub fn clock_nemesis(self) -> Self {
        self.background_workload("nemesis-clock", 1, |_| RandomClockSkews::default())
    }
}
