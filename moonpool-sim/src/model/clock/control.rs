//! Clock operations of [`SimControl`]: true time, and reading and aiming
//! a process's clock (what the `RandomClockSkews` nemesis and tests use).
//!
//! Setting an offset or a rate is counted (`clock.skew`, `clock.rate`)
//! and stays within the model: an offset beyond the seed's bound ε is
//! refused, and the monotonic clock never goes back (an offset below the
//! current one moves the wall reading only).

use std::time::Duration;

use moonpool_core::Instant;

use super::{ClockState, ProcessClock, RATE_PPM_LIMIT, with_clock};
use crate::kernel::process::ProcessId;
use crate::model::control::SimControl;

/// A process's clock, as the simulator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockInfo {
    /// How far its monotonic clock (`now()`) reads ahead of true time.
    pub offset: Duration,
    /// How far its wall clock (`timer()`) reads ahead of true time.
    pub wall_offset: Duration,
    /// Its rate error now, in parts per million (positive: fast).
    pub rate_ppm: i64,
    /// The rate error its incarnation was drawn with (what a nemesis
    /// restores when it heals).
    pub drawn_rate_ppm: i64,
}

/// Why a clock operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// No such process.
    #[error("no process {0:?}")]
    NoSuchProcess(ProcessId),
    /// The offset is beyond the seed's clock-error bound ε.
    #[error("clock offset {offset:?} is beyond the bound {bound:?} of this seed's clocks")]
    OffsetBeyondBound {
        /// The offset asked for.
        offset: Duration,
        /// The seed's bound ε.
        bound: Duration,
    },
    /// The rate error is beyond [`RATE_PPM_LIMIT`].
    #[error("clock rate error {rate_ppm} ppm is beyond ±{RATE_PPM_LIMIT} ppm")]
    RateOutOfRange {
        /// The rate asked for.
        rate_ppm: i64,
    },
}

impl SimControl {
    /// The simulation's true time: what every process's clock is measured
    /// against, and what no skewed clock reads. For checkers and harnesses
    /// that compare what different processes did (code under test reads
    /// its own process's clock).
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.world.now_ns())
    }

    /// The seed's clock-error bound ε: every clock of every process reads
    /// within `[true time, true time + ε]`. Zero: perfect clocks.
    pub fn clock_bound(&self) -> Duration {
        Duration::from_nanos(self.world.clocks.state.borrow().params.bound_ns)
    }

    /// `process`'s clock now; `None` if there is no such process.
    pub fn clock(&self, process: ProcessId) -> Option<ClockInfo> {
        self.world.process_info(process)?;
        let info = with_clock(&self.world, process, |c, now, bound| ClockInfo {
            offset: Duration::from_nanos(c.offset_at(now, bound)),
            wall_offset: Duration::from_nanos(c.wall_offset_at(now, bound)),
            rate_ppm: c.rate_ppm,
            drawn_rate_ppm: c.drawn_rate_ppm,
        });
        Some(info.unwrap_or(ClockInfo {
            offset: Duration::ZERO,
            wall_offset: Duration::ZERO,
            rate_ppm: 0,
            drawn_rate_ppm: 0,
        }))
    }

    /// Sets how far `process`'s clock reads ahead of true time, from now
    /// until its next incarnation (or the next change): the wall clock
    /// steps to `offset`, forward or back; the monotonic clock steps
    /// forward to it, or stays where it is if that would take it back.
    /// Counted as `clock.skew`.
    pub fn set_clock_offset(&self, process: ProcessId, offset: Duration) -> Result<(), ClockError> {
        let bound = self.clock_bound();
        if offset > bound {
            return Err(ClockError::OffsetBeyondBound { offset, bound });
        }
        let offset_ns = offset.as_nanos() as u64;
        self.change_clock(process, |c, now, bound| {
            c.rebase(now, bound);
            if offset_ns >= c.offset_ns {
                c.offset_ns = offset_ns;
                c.wall_step_ns = 0;
            } else {
                c.wall_step_ns = offset_ns as i64 - c.offset_ns as i64;
            }
        })?;
        self.world.note("clock.skew", Some(process), || {
            format!(
                "clock set {:.3} ms ahead of true time",
                offset_ns as f64 / 1e6
            )
        });
        Ok(())
    }

    /// Sets `process`'s rate error, in parts per million (positive: its
    /// clock runs fast, so its timers end sooner in true time), from now
    /// until its next incarnation (or the next change). Its offset still
    /// stays within the seed's bound. Counted as `clock.rate`.
    pub fn set_clock_rate(&self, process: ProcessId, rate_ppm: i64) -> Result<(), ClockError> {
        if rate_ppm.abs() > RATE_PPM_LIMIT {
            return Err(ClockError::RateOutOfRange { rate_ppm });
        }
        self.change_clock(process, |c, now, bound| {
            c.rebase(now, bound);
            c.rate_ppm = rate_ppm;
        })?;
        self.world.note("clock.rate", Some(process), || {
            format!("clock rate error set to {rate_ppm:+} ppm")
        });
        Ok(())
    }

    /// Undoes what the clock setters did to `process`'s clock, as far as a
    /// clock can: its rate error back to the one its incarnation drew, its
    /// wall reading back on its monotonic one (the monotonic clock keeps
    /// its offset: it never goes back). Counted as `clock.heal` if there
    /// was anything to undo.
    pub(crate) fn heal_clock(&self, process: ProcessId) {
        let mut healed = false;
        let _ = self.change_clock(process, |c, now, bound| {
            if c.rate_ppm != c.drawn_rate_ppm || c.wall_step_ns != 0 {
                c.rebase(now, bound);
                c.rate_ppm = c.drawn_rate_ppm;
                c.wall_step_ns = 0;
                healed = true;
            }
        });
        if healed {
            self.world.note("clock.heal", Some(process), || {
                "clock rate and wall reading restored".to_string()
            });
        }
    }

    /// Applies `change` to `process`'s clock (made first if it had none),
    /// after the jumps due by now.
    fn change_clock(
        &self,
        process: ProcessId,
        change: impl FnOnce(&mut ProcessClock, u64, u64),
    ) -> Result<(), ClockError> {
        let world = &self.world;
        let info = world
            .process_info(process)
            .ok_or(ClockError::NoSuchProcess(process))?;
        // Due jumps first: the change starts from the clock as it is now.
        with_clock(world, process, |_, _, _| ());
        let now = world.now_ns();
        let mut state = world.clocks.state.borrow_mut();
        let bound = state.params.bound_ns;
        let slot = ClockState::slot(&mut state, process);
        let clock = slot.get_or_insert_with(|| ProcessClock {
            base_ns: now,
            ..ProcessClock::perfect(info.incarnation)
        });
        change(clock, now, bound);
        drop(state);
        world.clocks.skewed.set(true);
        Ok(())
    }
}
