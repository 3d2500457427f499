//! Simulated clocks: each process reads its own clock, which disagrees
//! with true time and with every other process's clock, within a bound.
//!
//! # The model
//! The simulation's *true time* is the kernel's clock: what events are
//! scheduled on, and what the network and the disks take time in. No
//! process reads it. A process reads two clocks of its own, as a real
//! machine does:
//!
//! - `now()`, the **monotonic** clock (`CLOCK_MONOTONIC`): true time plus
//!   an offset that changes at the clock's rate error, and jumps forward;
//!   it never goes back. Timers run on it: `sleep(d)` ends when this clock
//!   has advanced by `d`, so on a fast clock it ends sooner in true time.
//! - `timer()`, the **wall** clock (`CLOCK_REALTIME`): the monotonic
//!   reading plus a step, which a jump may set back. It may go backwards.
//!
//! Both readings of every process always stay within `[t, t + ε]` at true
//! time `t`, where ε is the seed's clock-error bound (`offset_ms_max`,
//! drawn per seed under chaos, up to 100 ms as FoundationDB's simulated
//! `timer()`): any two processes' clocks disagree by at most ε, the
//! assumption a lease protocol states (and must leave a margin for). An
//! offset is measured from true time, so it lies in `0..=ε`; the
//! difference between two processes' clocks takes both signs.
//!
//! Per process *incarnation* (a reboot draws again):
//! - `clock.drift`: an offset in `0..=ε` and a rate error in
//!   `±rate_ppm_max` ppm. The offset moves at the rate and stays at an edge
//!   of `0..=ε` once it reaches it (a disciplined clock does not wander
//!   off).
//! - `clock.jump`: every so often (hash-drawn pauses of seconds) the clock
//!   jumps by up to ε: forward (both readings), or the wall reading back;
//!   always within the bound.
//! - `clock.skew`: the `RandomClockSkews` nemesis, and `SimControl`'s
//!   clock setters, aim offsets and rates at chosen processes.
//!
//! Only servers draw clock faults: a workload client keeps true time,
//! because workloads stamp the histories their checkers compare across
//! clients (Jepsen's control node records a history on one clock for the
//! same reason). `SimControl` can still skew any process.
//!
//! # Determinism and cost
//! Offsets and rates are drawn from the seed's generator when an
//! incarnation starts; jumps come from a hash of the seed, the process,
//! its incarnation and the jump's index, and are applied when the clock is
//! next read, so reading a clock never changes another decision. Until a
//! seed gives some process a clock other than true time, every reading
//! costs one flag check (`Clocks::skewed`).
//!
//! # Timers
//! A sleep on a skewed clock is scheduled at the true time the process's
//! monotonic clock reaches its deadline. A forward jump or a faster rate
//! after that makes the timer fire late by the local clock, which is what
//! a real timer does after a pause; a slower rate would make it fire
//! early, so the timer checks the local clock when it fires and waits
//! again if it is not there yet: a sleep never ends before its deadline on
//! its own process's clock.

pub(crate) mod config;
mod control;

use std::cell::{Cell, RefCell};

pub use config::{ClockChaos, ClockConfig, ClockFaults, RATE_PPM_LIMIT};
pub use control::{ClockError, ClockInfo};

/// The clocks' fault families (swarm testing units, as the report names
/// them) and, for each, the fault counters it increments.
pub const FAULT_FAMILIES: [(&str, &[&str]); 3] = config::family::COUNTERS;

use crate::kernel::draw;
use crate::kernel::process::ProcessId;
use crate::model::network::Range;
use crate::model::process::ProcessKind;
use crate::model::world::World;
use config::ClockParams;

/// Parts per million.
const PPM: i128 = 1_000_000;

/// One process incarnation's clock. The monotonic offset is a line from
/// `base_ns` (true time) at `rate_ppm`, clamped into `0..=bound`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcessClock {
    incarnation: u32,
    /// True time at which `offset_ns` held.
    base_ns: u64,
    /// The monotonic offset at `base_ns`.
    offset_ns: u64,
    /// Rate error now.
    rate_ppm: i64,
    /// Rate error the incarnation was drawn with.
    drawn_rate_ppm: i64,
    /// The wall reading's offset minus the monotonic one (at most 0 after
    /// a backward jump; clamped into the bound when read).
    wall_step_ns: i64,
    /// True time of the next jump (`u64::MAX`: none).
    next_jump_ns: u64,
    /// Jumps made so far (the next jump's index).
    jumps: u32,
}

impl ProcessClock {
    fn perfect(incarnation: u32) -> ProcessClock {
        ProcessClock {
            incarnation,
            base_ns: 0,
            offset_ns: 0,
            rate_ppm: 0,
            drawn_rate_ppm: 0,
            wall_step_ns: 0,
            next_jump_ns: u64::MAX,
            jumps: 0,
        }
    }

    /// The monotonic offset at true time `t` (not before `base_ns`).
    fn offset_at(&self, t: u64, bound: u64) -> u64 {
        let elapsed = t.saturating_sub(self.base_ns) as i128;
        let drift = (elapsed * self.rate_ppm as i128).div_euclid(PPM);
        (self.offset_ns as i128 + drift).clamp(0, bound as i128) as u64
    }

    /// The monotonic reading at true time `t`.
    fn mono(&self, t: u64, bound: u64) -> u64 {
        t.saturating_add(self.offset_at(t, bound))
    }

    /// The wall offset at true time `t`.
    fn wall_offset_at(&self, t: u64, bound: u64) -> u64 {
        (self.offset_at(t, bound) as i128 + self.wall_step_ns as i128).clamp(0, bound as i128)
            as u64
    }

    /// Starts a new line at true time `t`, where the old one is.
    fn rebase(&mut self, t: u64, bound: u64) {
        self.offset_ns = self.offset_at(t, bound);
        self.base_ns = t;
    }

    /// The earliest true time, not before `now`, at which the monotonic
    /// reading is at least `local` (assuming no change of the clock).
    fn true_time_of(&self, now: u64, local: u64, bound: u64) -> u64 {
        if self.mono(now, bound) >= local {
            return now;
        }
        let clamped = self.offset_at(now, bound);
        let candidate = if self.rate_ppm == 0 {
            local.saturating_sub(clamped)
        } else {
            // On the line: t + offset + (t - base) * rate / 1e6 >= local.
            let d = local as i128 - self.base_ns as i128 - self.offset_ns as i128;
            let x = (d * PPM).div_euclid(PPM + self.rate_ppm as i128).max(0);
            let on_line = (self.base_ns as i128 + x).clamp(0, u64::MAX as i128) as u64;
            if self.rate_ppm > 0 {
                // Capped at the bound: t + bound >= local also needed.
                on_line.max(local.saturating_sub(bound))
            } else {
                // Floored at zero: t >= local also suffices.
                on_line.min(local)
            }
        };
        // The division rounds; step up to the exact instant (a few ns).
        let start = candidate.max(now);
        (start..start.saturating_add(8))
            .find(|&t| self.mono(t, bound) >= local)
            // Always enough: the offset is never negative.
            .unwrap_or(local)
    }
}

/// The clocks of one seed.
#[derive(Default)]
pub(crate) struct Clocks {
    /// Whether any process's clock may read other than true time.
    skewed: Cell<bool>,
    state: RefCell<ClockState>,
}

#[derive(Default)]
struct ClockState {
    params: ClockParams,
    /// Clocks by process index; `None`: true time.
    clocks: Vec<Option<ProcessClock>>,
    /// No jump after this true time (chaos stopped).
    jumps_end_ns: Option<u64>,
}

impl ClockState {
    fn slot(&mut self, process: ProcessId) -> &mut Option<ProcessClock> {
        let i = process.0 as usize;
        if self.clocks.len() <= i {
            self.clocks.resize(i + 1, None);
        }
        &mut self.clocks[i]
    }
}

/// A jump applied while reading a clock, noted once the state is released.
struct Jump {
    forward: bool,
    size_ns: u64,
}

/// Samples this seed's clock parameters (once per seed, before any
/// process starts).
pub(crate) fn init_seed(world: &World) {
    let params = config::sample(world, &world.config.clocks);
    world.clocks.state.borrow_mut().params = params;
    world.on_quiesce(|world| {
        world.clocks.state.borrow_mut().jumps_end_ns = Some(world.now_ns());
    });
}

/// A new incarnation of `process` starts: a server draws its clock.
pub(crate) fn incarnation_started(world: &World, process: ProcessId, incarnation: u32) {
    let params = world.clocks.state.borrow().params.clone();
    let server = world.process_table.borrow().kind(process) == Some(ProcessKind::Server);
    let mut clock = None;
    if server && params.bound_ns > 0 {
        let mut c = ProcessClock::perfect(incarnation);
        c.base_ns = world.now_ns();
        if params.offsets {
            c.offset_ns = draw::between(world, 0, params.bound_ns);
        }
        if params.rate_ppm_max > 0 {
            let max = params.rate_ppm_max.min(RATE_PPM_LIMIT as u64);
            c.rate_ppm = draw::between(world, 0, 2 * max) as i64 - max as i64;
            c.drawn_rate_ppm = c.rate_ppm;
        }
        if let Some(range) = params.jump_ms {
            c.next_jump_ns = c
                .base_ns
                .saturating_add(jump_gap_ns(world, process, &c, range));
        }
        let drifts = c.offset_ns != 0 || c.rate_ppm != 0;
        if drifts || c.next_jump_ns != u64::MAX {
            if drifts {
                world.note("clock.drift", Some(process), || {
                    format!(
                        "clock {:.3} ms ahead of true time, rate error {:+} ppm (bound {:.3} ms)",
                        c.offset_ns as f64 / 1e6,
                        c.rate_ppm,
                        params.bound_ns as f64 / 1e6
                    )
                });
            }
            clock = Some(c);
        }
    }
    if clock.is_some() {
        world.clocks.skewed.set(true);
    }
    *world.clocks.state.borrow_mut().slot(process) = clock;
}

/// The pause before jump number `c.jumps` of `process`, from a hash (not
/// the generator: jumps are applied when a clock is read, and reading a
/// clock must change nothing else).
fn jump_gap_ns(world: &World, process: ProcessId, c: &ProcessClock, range_ms: Range) -> u64 {
    let h = jump_hash(world, process, c, 0x6a75_6d70_6761_7000);
    let (lo, hi) = (range_ms.min, range_ms.max.max(range_ms.min));
    (lo + h % (hi - lo + 1)).max(1).saturating_mul(1_000_000)
}

fn jump_hash(world: &World, process: ProcessId, c: &ProcessClock, salt: u64) -> u64 {
    splitmix(
        world.seed
            ^ salt
            ^ (process.0 as u64).rotate_left(40)
            ^ (c.incarnation as u64).rotate_left(20)
            ^ c.jumps as u64,
    )
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies the jumps of `process`'s clock due by true time `now`, then
/// runs `f` on the clock (if the process has one) and the bound.
fn with_clock<R>(
    world: &World,
    process: ProcessId,
    f: impl FnOnce(&ProcessClock, u64, u64) -> R,
) -> Option<R> {
    let now = world.now_ns();
    let mut jumps: Vec<Jump> = Vec::new();
    let out = {
        let mut state = world.clocks.state.borrow_mut();
        let bound = state.params.bound_ns;
        let end = state.jumps_end_ns.unwrap_or(u64::MAX).min(now);
        let range = state.params.jump_ms;
        let c = state.slot(process).as_mut()?;
        if let Some(range) = range {
            while c.next_jump_ns <= end && jumps.len() < JUMPS_PER_READ_MAX {
                let at = c.next_jump_ns;
                c.rebase(at, bound);
                let h = jump_hash(world, process, c, 0x7369_7a65_0000_0000);
                let size_ns = 1 + h % bound.max(1);
                let forward = h >> 63 == 0;
                let wall = c.wall_offset_at(at, bound);
                if forward {
                    c.offset_ns = (c.offset_ns + size_ns).min(bound);
                    c.wall_step_ns = 0;
                } else {
                    let back = wall.saturating_sub(size_ns);
                    c.wall_step_ns = back as i64 - c.offset_ns as i64;
                }
                c.jumps += 1;
                c.next_jump_ns = at.saturating_add(jump_gap_ns(world, process, c, range));
                jumps.push(Jump { forward, size_ns });
            }
        }
        f(c, now, bound)
    };
    for j in jumps {
        world.note("clock.jump", Some(process), || {
            let dir = if j.forward {
                "forward (both readings)"
            } else {
                "back (the wall reading)"
            };
            format!("clock jumped {dir} by {:.3} ms", j.size_ns as f64 / 1e6)
        });
    }
    Some(out)
}

/// Jumps applied in one reading, at most (a clock read after a long idle
/// time catches up over the next readings).
const JUMPS_PER_READ_MAX: usize = 64;

/// `process`'s monotonic clock now (true time if its clock is perfect).
#[inline]
pub(crate) fn mono_ns(world: &World, process: ProcessId) -> u64 {
    if !world.clocks.skewed.get() {
        return world.now_ns();
    }
    with_clock(world, process, |c, now, bound| c.mono(now, bound)).unwrap_or_else(|| world.now_ns())
}

/// `process`'s wall clock now (true time if its clock is perfect).
#[inline]
pub(crate) fn wall_ns(world: &World, process: ProcessId) -> u64 {
    if !world.clocks.skewed.get() {
        return world.now_ns();
    }
    with_clock(world, process, |c, now, bound| {
        now.saturating_add(c.wall_offset_at(now, bound))
    })
    .unwrap_or_else(|| world.now_ns())
}

/// For a timer of `process` ending when its monotonic clock reads `local`
/// (`None`: `duration` from its reading now): the true time to schedule it
/// at and its local deadline. `None` if the process's clock is perfect
/// (the caller schedules on true time).
pub(crate) fn timer_deadline(
    world: &World,
    process: ProcessId,
    local: Option<u64>,
    duration_ns: u64,
) -> Option<(u64, u64)> {
    if !world.clocks.skewed.get() {
        return None;
    }
    with_clock(world, process, |c, now, bound| {
        let local = local.unwrap_or_else(|| c.mono(now, bound).saturating_add(duration_ns));
        (c.true_time_of(now, local, bound), local)
    })
}

/// A timer of `process` with local deadline `local` fired: a later true
/// time to wait for if its clock has not reached `local` yet (its rate
/// was lowered meanwhile).
pub(crate) fn recheck(world: &World, process: ProcessId, local: u64) -> Option<u64> {
    with_clock(world, process, |c, now, bound| {
        (c.mono(now, bound) < local).then(|| c.true_time_of(now, local, bound))
    })
    .flatten()
    .filter(|&t| t > world.now_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn clock(offset_ms: u64, rate_ppm: i64) -> ProcessClock {
        ProcessClock {
            offset_ns: offset_ms * MS,
            rate_ppm,
            ..ProcessClock::perfect(0)
        }
    }

    #[test]
    fn a_fast_clock_gains_until_the_bound_then_keeps_true_pace() {
        let c = clock(10, 100_000);
        let bound = 50 * MS;
        assert_eq!(c.mono(0, bound), 10 * MS);
        assert_eq!(c.mono(100 * MS, bound), 120 * MS);
        assert_eq!(c.offset_at(400 * MS, bound), 50 * MS, "capped at the bound");
        assert_eq!(c.mono(1_000 * MS, bound), 1_050 * MS);
    }

    #[test]
    fn a_slow_clock_loses_down_to_true_time_and_never_goes_back() {
        let c = clock(10, -200_000);
        let bound = 50 * MS;
        assert_eq!(c.mono(10 * MS, bound), 18 * MS);
        assert_eq!(c.offset_at(50 * MS, bound), 0);
        let mut last = 0;
        for t in (0..200 * MS).step_by(997) {
            let m = c.mono(t, bound);
            assert!(m >= last, "went back at {t}");
            last = m;
        }
    }

    #[test]
    fn the_true_time_of_a_local_deadline_is_exact_on_every_piece() {
        let bound = 50 * MS;
        for (offset, rate) in [
            (0, 0),
            (7, 0),
            (10, 100_000),
            (10, -200_000),
            (49, 333),
            (0, -500_000),
            (50, 500_000),
        ] {
            let c = clock(offset, rate);
            for local in [1, 5 * MS, 30 * MS + 17, 200 * MS, 3_000 * MS + 1] {
                let t = c.true_time_of(0, local, bound);
                assert!(c.mono(t, bound) >= local, "{offset} {rate} {local}: late");
                assert!(
                    t == 0 || c.mono(t - 1, bound) < local,
                    "{offset} {rate} {local}: not the earliest ({t})"
                );
            }
        }
    }
}
