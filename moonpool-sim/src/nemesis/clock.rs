//! [`RandomClockSkews`]: the clock nemesis, documented on the type.

use std::time::Duration;

use moonpool_core::RandomProvider;

use super::{Nemesis, NemesisContext, Next, draw_ms};
use crate::kernel::process::ProcessId;
use crate::model::clock::config::family;
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
/// foreground workloads run, it waits a random interval, picks a random
/// non-empty subset of the live servers and, for each, one of:
/// - **skew**: set its clock's offset to the bottom of the seed's bound ε
///   (true time), its top, or a point between, a third each (the wall
///   clock steps there; the monotonic clock only steps forward);
/// - **speed up** or **slow down**: a rate error of `±rate_ppm`.
///
/// It holds the episode for `duration_ms`, then restores each touched
/// clock's rate and wall reading. When the run phase ends it heals every
/// clock it touched. Every clock stays within ε of true time throughout: a
/// system that states ε (and leaves a margin for it) must survive this.
///
/// # Defaults
/// | knob | default |
/// |---|---|
/// | `interval_ms`, pause between episodes | 200 ..= 2,000 ms |
/// | `duration_ms`, how long an episode holds | 200 ..= 3,000 ms |
/// | `rate_ppm`, a sped-up or slowed-down clock's rate error | 1,000 ..= 100,000 ppm (0.1% to 10%) |
#[derive(Clone, Debug)]
pub struct RandomClockSkews {
    /// Pause between episodes, in ms. Default 200..=2,000.
    pub interval_ms: Range,
    /// How long an episode holds, in ms. Default 200..=3,000.
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
            interval_ms: Range::new(200, 2_000),
            duration_ms: Range::new(200, 3_000),
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
        p.shuffle(&mut servers);
        servers.truncate(p.random_range(1..=servers.len()));
        let bound_ns = bound.as_nanos() as u64;
        for &process in &servers {
            // A setter fails only for a process that does not exist, and
            // these were just listed; an offset within the bound and a
            // rate within the range are never refused.
            let _ = match p.random_range(0..3u32) {
                0 => {
                    let offset_ns = match p.random_range(0..3u32) {
                        0 => 0,
                        1 => bound_ns,
                        _ => p.random_range(0..=bound_ns),
                    };
                    control.set_clock_offset(process, Duration::from_nanos(offset_ns))
                }
                sign => {
                    let rate = p.random_range(self.rate_ppm.min..=self.rate_ppm.max.max(1)) as i64;
                    let rate = rate.min(crate::model::clock::RATE_PPM_LIMIT);
                    control.set_clock_rate(process, if sign == 1 { rate } else { -rate })
                }
            };
            if !self.touched.contains(&process) {
                self.touched.push(process);
            }
        }
        let held = ctx.pause_ms(self.duration_ms).await;
        for &process in &servers {
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
