//! # Layer 3: the nemeses
//!
//! The built-in fault *schedulers*: when to kill a process, clog a link,
//! cut the network, break a connection or skew a clock. The mechanisms they use are the
//! models' ([`SimControl`]); this layer only decides when and where, from
//! the seed's draws.
//!
//! **May import:** the models (`crate::model`), the kernel
//! (`crate::kernel`), `moonpool-core`, `std`.
//! **May not import:** `runner`, `trace`, `cli`, `report` (checked by
//! `tests/layers.rs`). A nemesis is not a workload here: the runner makes
//! each one a background workload (`runner/nemeses.rs`).
//!
//! # One loop for every nemesis ([`run`])
//! 1. If the nemesis does not act this seed (chaos off, or its fault family
//!    off in this seed's swarm draw), wait for the run phase to end and
//!    return.
//! 2. Otherwise, at most [`Nemesis::EPISODES_MAX`] times: draw a pause,
//!    sleep it (stopping as soon as the foreground workloads' run phase
//!    ends, or chaos stops), then strike once.
//! 3. Heal what it broke, so the checks see a system that can converge.
//!
//! # Modules
//! - `attrition.rs`: [`Attrition`](attrition::Attrition), kills and
//!   reboots server processes within the fault model.
//! - `network.rs`: [`RandomClogging`](network::RandomClogging),
//!   [`RandomPartitions`](network::RandomPartitions),
//!   [`RandomConnectionKills`](network::RandomConnectionKills).
//! - `clock.rs`: [`RandomClockSkews`](clock::RandomClockSkews), skews,
//!   speeds up and slows down servers' clocks in episodes.
//!
//! # Targets
//! The nemeses aim at the system under test only: servers, and (for the
//! network) the clients of foreground workloads. Never at the simulator's
//! process or a background workload's, where the nemeses themselves run.
//!
//! # Invariants
//! - Every decision is a draw from the seed's generator, made at a
//!   deterministic point of the loop; a nemesis that does not act draws
//!   nothing.
//! - Every loop is bounded ([`Nemesis::EPISODES_MAX`]).

pub(crate) mod attrition;
pub(crate) mod clock;
pub(crate) mod network;

use std::time::Duration;

use moonpool_core::RandomProvider;

use crate::model::control::SimControl;
use crate::model::network::Range;
use crate::model::process::lifecycle::ProcessError;
use crate::model::providers::SimProviders;

/// What a nemesis acts with: the providers of the process it runs in (its
/// draws and sleeps) and the control handle (its faults).
pub(crate) struct NemesisContext<'a> {
    providers: &'a SimProviders,
    control: SimControl,
}

impl<'a> NemesisContext<'a> {
    /// The context of a nemesis running in the process of `providers`.
    pub(crate) fn new(providers: &'a SimProviders) -> NemesisContext<'a> {
        NemesisContext {
            providers,
            control: SimControl::of(providers),
        }
    }

    /// The providers of the nemesis's own process.
    pub(crate) fn providers(&self) -> &SimProviders {
        self.providers
    }

    /// The control handle.
    pub(crate) fn control(&self) -> &SimControl {
        &self.control
    }

    /// Sleeps for `duration` unless the run phase ends first: true if the
    /// whole pause elapsed (the nemesis may act), false if it must stop.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        self.providers.pause(duration).await
    }

    /// [`pause`](Self::pause) for a duration drawn from `range_ms`.
    pub(crate) async fn pause_ms(&self, range_ms: Range) -> bool {
        self.pause(draw_ms(self.providers, range_ms)).await
    }
}

/// A duration drawn uniformly from `range_ms` (in milliseconds).
pub(crate) fn draw_ms(p: &SimProviders, range_ms: Range) -> Duration {
    Duration::from_millis(p.random_range(range_ms.min..=range_ms.max.max(range_ms.min)))
}

/// Whether the loop goes on after a strike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Pause, then strike again.
    Continue,
    /// Stop striking (the run phase ended during the strike).
    Stop,
}

/// Strikes per seed of a nemesis, at most, unless it says otherwise.
const EPISODES_MAX: u32 = 100_000;

/// A fault scheduler driven by [`run`].
pub(crate) trait Nemesis {
    /// Strikes per seed, at most: the bound of the loop.
    const EPISODES_MAX: u32 = EPISODES_MAX;

    /// The fault family (swarm testing) that must be on for this nemesis
    /// to act, if any. A family the seed does not draw is decided when
    /// the nemesis starts: on, unless the run's selection switches it off.
    fn family(&self) -> Option<&'static str>;

    /// Whether it acts only when chaos is on (and stops when it stops).
    fn needs_chaos(&self) -> bool {
        true
    }

    /// Draws the pause before the next strike.
    fn next_pause(&self, ctx: &NemesisContext<'_>) -> Duration;

    /// Injects one fault (or a burst of them).
    async fn strike(&mut self, ctx: &NemesisContext<'_>) -> Result<Next, ProcessError>;

    /// Undoes what its strikes left broken (default: nothing to undo).
    async fn heal(&mut self, ctx: &NemesisContext<'_>) -> Result<(), ProcessError> {
        let _ = ctx;
        Ok(())
    }
}

/// The loop every nemesis runs (see the module documentation). Returns
/// when the foreground workloads' run phase is over, after healing.
pub(crate) async fn run<N: Nemesis>(
    nemesis: &mut N,
    ctx: &NemesisContext<'_>,
) -> Result<(), ProcessError> {
    let control = ctx.control();
    let chaos_allows = !nemesis.needs_chaos() || control.chaos_active();
    // A family the seed drew is decided already; one it does not draw
    // (attrition's) is decided here, on unless a selection says otherwise.
    let family_on = || {
        nemesis
            .family()
            .is_none_or(|f| control.decide_undrawn_family(f))
    };
    if !(chaos_allows && family_on()) {
        ctx.providers().run_phase_done().await;
        return Ok(());
    }
    for _ in 0..N::EPISODES_MAX {
        let pause = nemesis.next_pause(ctx);
        if !ctx.pause(pause).await || (nemesis.needs_chaos() && !control.chaos_active()) {
            break;
        }
        if nemesis.strike(ctx).await? == Next::Stop {
            break;
        }
    }
    nemesis.heal(ctx).await
}
