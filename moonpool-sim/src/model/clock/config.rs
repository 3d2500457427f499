//! Clock configuration: the quiet default (perfect clocks), explicit
//! faults, and the chaos profile sampled per seed.

use moonpool_core::Ratio;

use crate::kernel::draw;
use crate::model::network::Range;
use crate::model::world::World;

/// The largest rate error a clock may be given, in parts per million
/// (±50%): beyond it a clock would barely move, or run twice as fast.
pub const RATE_PPM_LIMIT: i64 = 500_000;

/// Explicit clock faults. All off (perfect clocks) by default; with chaos
/// on, the seed's values are drawn from the [`ClockChaos`] profile instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockFaults {
    /// The bound ε of every clock error, in ms: every clock reading of
    /// every process stays within `[true time, true time + ε]`, so any two
    /// processes' clocks disagree by at most ε. Every other clock fault
    /// stays within it; 0 (the default) means perfect clocks.
    pub offset_ms_max: u64,
    /// Whether each server incarnation draws its offset uniformly in
    /// `0..=ε` (`clock.drift`). Default false.
    pub offsets: bool,
    /// Each server incarnation draws a rate error uniformly in
    /// `-rate_ppm_max..=rate_ppm_max` ppm (`clock.drift`). Default 0.
    pub rate_ppm_max: u64,
    /// Pause between two clock jumps of a server, in ms, drawn uniformly
    /// per jump (`clock.jump`); `None` (the default): no jumps.
    pub jump_interval_ms: Option<Range>,
}

impl Default for ClockFaults {
    fn default() -> Self {
        ClockFaults::NONE
    }
}

impl ClockFaults {
    /// Perfect clocks.
    pub const NONE: ClockFaults = ClockFaults {
        offset_ms_max: 0,
        offsets: false,
        rate_ppm_max: 0,
        jump_interval_ms: None,
    };
}

/// What chaos draws the clock faults from, per seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockChaos {
    /// Probability that a clock family is off for a seed (swarm testing).
    /// Default 1/2.
    pub family_off: Ratio,
    /// The bound ε, in ms. Default 1 ..= 100 (FoundationDB's `timer()`
    /// runs up to 0.1 s ahead of `now()`).
    pub offset_ms_max: Range,
    /// The bound of the per-incarnation rate error, in ppm. Default
    /// 1 ..= 1,000 (a quartz oscillator is within ±100 ppm; NTP slews at
    /// most 500 ppm).
    pub rate_ppm_max: Range,
    /// The mean pause between two jumps of a clock, in ms; the pauses are
    /// drawn in half to one and a half times it. Default 1,000 ..= 20,000.
    pub jump_interval_ms: Range,
}

impl Default for ClockChaos {
    fn default() -> Self {
        ClockChaos {
            family_off: Ratio::new(1, 2),
            offset_ms_max: Range::new(1, 100),
            rate_ppm_max: Range::new(1, 1_000),
            jump_interval_ms: Range::new(1_000, 20_000),
        }
    }
}

/// The simulated clocks' configuration. The default is perfect clocks
/// when chaos is off, and the [`ClockChaos`] profile when it is on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClockConfig {
    /// Faults used when chaos is off. Default: none.
    pub faults: ClockFaults,
    /// Ranges sampled per seed when chaos is on.
    pub chaos: ClockChaos,
}

/// Fault families of the clocks (swarm testing units).
pub(crate) mod family {
    /// Per-incarnation offsets and rate errors.
    pub(crate) const DRIFT: &str = "clock.drift";
    /// Rare jumps: forward (both readings) or backward (the wall reading).
    pub(crate) const JUMP: &str = "clock.jump";
    /// The `RandomClockSkews` nemesis (and `SimControl`'s clock setters).
    pub(crate) const SKEW: &str = "clock.skew";

    /// Every clock family with the counters it increments.
    pub(crate) const COUNTERS: [(&str, &[&str]); 3] = [
        (DRIFT, &["clock.drift"]),
        (JUMP, &["clock.jump"]),
        (SKEW, &["clock.skew", "clock.rate"]),
    ];

    /// Every clock family, in the order they are decided.
    pub(crate) const ALL: [&str; 3] = [DRIFT, JUMP, SKEW];
}

/// This seed's clock parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClockParams {
    /// ε, in ns.
    pub(crate) bound_ns: u64,
    /// Whether server incarnations draw an offset.
    pub(crate) offsets: bool,
    /// Bound of the per-incarnation rate error.
    pub(crate) rate_ppm_max: u64,
    /// Pauses between jumps, in ms (`None`: no jumps).
    pub(crate) jump_ms: Option<Range>,
}

/// Draws this seed's clock parameters: from the chaos profile (each family
/// on or off by swarm) when chaos is on, otherwise the explicit faults.
/// Records every family it decides.
pub(crate) fn sample(world: &World, config: &ClockConfig) -> ClockParams {
    if !world.config.chaos {
        let f = &config.faults;
        let bound_ns = f.offset_ms_max.saturating_mul(1_000_000);
        let offsets = bound_ns > 0 && f.offsets;
        let rate_ppm_max = if bound_ns > 0 { f.rate_ppm_max } else { 0 };
        let jumps = bound_ns > 0 && f.jump_interval_ms.is_some();
        if offsets || rate_ppm_max > 0 {
            // Without chaos the clocks are the ones configured: recorded as
            // on (a selection applies to the chaos profile only).
            let _recorded = world.set_fault_family(family::DRIFT, true);
        }
        if jumps {
            let _recorded = world.set_fault_family(family::JUMP, true);
        }
        return ClockParams {
            bound_ns,
            offsets,
            rate_ppm_max,
            jump_ms: f.jump_interval_ms.filter(|_| jumps),
        };
    }
    let c = &config.chaos;
    let mut on = [false; 3];
    for (i, name) in family::ALL.into_iter().enumerate() {
        let drawn = !draw::bool(world, c.family_off);
        on[i] = world.set_fault_family(name, drawn);
    }
    let [drift, jumps, skew] = on;
    if !(drift || jumps || skew) {
        return ClockParams::default();
    }
    let bound_ns = c
        .offset_ms_max
        .sample(world)
        .max(1)
        .saturating_mul(1_000_000);
    let rate_ppm_max = if drift {
        c.rate_ppm_max.sample(world)
    } else {
        0
    };
    let jump_ms = jumps.then(|| {
        let mean = c.jump_interval_ms.sample(world).max(2);
        Range::new(mean / 2, mean + mean / 2)
    });
    ClockParams {
        bound_ns,
        offsets: drift,
        rate_ppm_max,
        jump_ms,
    }
}
