//! [`RandomClockSkews`]: the clock nemesis, documented on the type.

use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio};

use super::{Nemesis, NemesisContext, Next, draw_ms};
use crate::kernel::process::ProcessId;
use crate::model::clock::RATE_PPM_LIMIT;
use crate::model::clock::config::family;
use crate::model::control::SimControl;
use crate::model::network::Range;
use crate::model::process::lifecycle::ProcessError;
use crate::model::process::{ProcessKind, ProcessState};

/// The built-in clock nemesis (`clock.skew`): in episodes, it skews, speeds
/// up and slows down the clocks of the system's servers, so that code
/// comparing clocks across processes (leases, timestamps in messages,
/// timeouts computed on one process and checked on another) meets clocks
/// that disagree as much as the seed's bound allows.
///
/// Added in one line, like the network nemeses:
///
/// ```ignore
/// SimulationBuilder::new()
///     // processes, foreground workloads...
///     .clock_nemesis()
/// ```
///
/// # Behaviour
/// While chaos is on, the `clock.skew` family is on for the seed and the
/// foreground workloads run, it waits a random interval, then starts an
/// episode on the live servers, one of:
/// - **split** (half the episodes): one server's clock to the bottom of
///   the seed's bound ε (true time), every other one to its top: one
///   process alone behind all the others by ε, the most the bound allows
///   (the disagreement a lease without a margin for ε cannot survive);
/// - **scramble** (a quarter): every server's clock to a random point of
///   the bound;
/// - **rates** (a quarter): a random non-empty subset of the servers sped
///   up or slowed down by `rate_ppm` (a sign drawn per server).
///
/// Setting an offset steps the wall clock there; the monotonic clock only
/// steps forward. It holds the episode for `duration_ms`, then restores
/// each touched clock's rate and wall reading. When the run phase ends it
/// heals every clock it touched. Every clock stays within ε of true time
/// throughout: a system that states ε (and leaves a margin for it) must
/// survive this.
///
/// # Defaults
/// | knob | default |
/// |---|---|
/// | `interval_ms`, pause between episodes | 50 ..= 500 ms |
/// | `duration_ms`, how long an episode holds | 500 ..= 3,000 ms |
/// | `rate_ppm`, a sped-up or slowed-down clock's rate error | 1,000 ..= 100,000 ppm (0.1% to 10%) |
#[derive(Clone, Debug)]
pub struct RandomClockSkews {
    /// Pause between episodes, in ms. Default 50..=500.
    pub interval_ms: Range,
    /// How long an episode holds, in ms. Default 500..=3,000.
    pub duration_ms: Range,
    /// The rate error of a clock sped up or slowed down, in ppm. Default
    /// 1,000..=100,000.
    pub rate_ppm: Range,
    /// Every process it touched, to heal.
    touched: Vec<ProcessId>,
}

impl Default for RandomClockSkews {
    fn default() -> Self {
        RandomClockSkews {
            interval_ms: Range::new(50, 500),
            duration_ms: Range::new(500, 3_000),
            rate_ppm: Range::new(1_000, 100_000),
            touched: Vec::new(),
        }
    }
}

impl Nemesis for RandomClockSkews {
    fn family(&self) -> Option<&'static str> {
        Some(family::SKEW)
    }

    fn next_pause(&self, ctx: &NemesisContext<'_>) -> Duration {
        draw_ms(ctx.providers(), self.interval_ms)
    }

    async fn strike(&mut self, ctx: &NemesisContext<'_>) -> Result<Next, ProcessError> {
        let p = ctx.providers();
        let control = ctx.control();
        let bound = control.clock_bound();
        let mut servers: Vec<ProcessId> = control
            .system_processes()
            .into_iter()
            .filter(|(_, info)| info.kind == ProcessKind::Server)
            .filter(|(_, info)| info.state == ProcessState::Running)
            .map(|(id, _)| id)
            .collect();
        if servers.is_empty() || bound.is_zero() {
            return Ok(Next::Continue);
        }
        let bound_ns = bound.as_nanos() as u64;
        let touched = match p.random_range(0..4u32) {
            // Split: one server's clock to the bottom of the bound, every
            // other one to the top: the largest disagreement ε allows,
            // with one process alone behind all the others.
            0 | 1 => {
                let victim = servers[p.random_range(0..servers.len())];
                for &process in &servers {
                    let offset_ns = if process == victim { 0 } else { bound_ns };
                    set_offset(control, process, offset_ns);
                }
                servers
            }
            // Scramble: every server's clock to a random point of the bound.
            2 => {
                for &process in &servers {
                    set_offset(control, process, p.random_range(0..=bound_ns));
                }
                servers
            }
            // Rates: a random subset sped up or slowed down.
            _ => {
                p.shuffle(&mut servers);
                servers.truncate(p.random_range(1..=servers.len()));
                for &process in &servers {
                    let rate = p.random_range(self.rate_ppm.min..=self.rate_ppm.max.max(1)) as i64;
                    let rate = rate.min(RATE_PPM_LIMIT);
                    let rate = if p.random_bool(Ratio::new(1, 2)) {
                        rate
                    } else {
                        -rate
                    };
                    // Refused only for a process that does not exist (these
                    // were just listed) or a rate beyond the limit (capped).
                    let _ = control.set_clock_rate(process, rate);
                }
                servers
            }
        };
        for &process in &touched {
            if !self.touched.contains(&process) {
                self.touched.push(process);
            }
        }
        let held = ctx.pause_ms(self.duration_ms).await;
        for &process in &touched {
            control.heal_clock(process);
        }
        Ok(if held { Next::Continue } else { Next::Stop })
    }

    async fn heal(&mut self, ctx: &NemesisContext<'_>) -> Result<(), ProcessError> {
        for process in std::mem::take(&mut self.touched) {
            ctx.control().heal_clock(process);
        }
        Ok(())
    }
}

/// Sets `process`'s clock `offset_ns` ahead of true time. Refused only for
/// a process that does not exist or an offset beyond the bound; the
/// callers pass listed processes and offsets within it.
fn set_offset(control: &SimControl, process: ProcessId, offset_ns: u64) {
    let _ = control.set_clock_offset(process, Duration::from_nanos(offset_ns));
}
