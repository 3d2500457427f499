//! [`Attrition`]: the attrition nemesis, documented on the type.

use std::pin::pin;
use std::time::Duration;

use futures::future::Either;
use moonpool_core::{RandomProvider, Ratio};

use super::{Nemesis, NemesisContext, Next};
use crate::kernel::process::ProcessId;
use crate::model::process::ProcessState;
use crate::model::process::lifecycle::ProcessError;

/// Rounds (kill attempts) per seed, at most: a limit on the loop.
pub const ATTRITION_KILLS_MAX: u32 = 1_000;

/// The built-in chaos workload that kills and reboots server
/// processes at random, within the system's fault model.
///
/// Added in one line as a background workload (the runner makes every
/// nemesis one):
///
/// ```ignore
/// SimulationBuilder::new()
///     // processes, foreground workloads...
///     .background_workload("attrition", 1, |_| Attrition::new().max_down(1))
/// ```
///
/// # Behaviour
/// While chaos is on and the foreground workloads are running, it waits a
/// random interval, picks a random live target, and kills it; the process
/// reboots after a random delay, with a wiped disk with probability
/// `wipe`. With probability `aim_at_io` (when the target has files), the
/// kill is *aimed*: it strikes at the target's next moment of I/O in
/// flight (right after a write completes unsynced, or as a sync begins),
/// or after `aim_wait` if none comes ([`SimControl::kill_at_io`]), so
/// crash recovery meets unsynced data even under light load. A kill that would take more than `max_down` server processes
/// down (its own limit or the simulation's, whichever is smaller) is refused
/// and counted as `process.kill_refused`. When the run phase ends it stops
/// at once and reboots whatever it killed that is still down, so the
/// checks see a whole system. With chaos off it does nothing (unless
/// [`Attrition::even_without_chaos`] says otherwise).
///
/// # Defaults
/// | knob | default |
/// |---|---|
/// | interval between kills | 500 ms – 5 s |
/// | reboot delay | 0 – 2 s |
/// | `max_down` | 1 |
/// | wipe probability | 0 (a wipe loses data a single-copy system cannot recover) |
/// | `aim_at_io`, share of kills aimed at I/O in flight | 1/2 |
/// | `aim_wait`, longest wait for that I/O | 1 s |
/// | targets | every server process |
/// | rounds (kill attempts) per seed | at most 1 000 |
#[derive(Clone, Debug)]
pub struct Attrition {
    interval_min: Duration,
    interval_max: Duration,
    reboot_delay_min: Duration,
    reboot_delay_max: Duration,
    max_down: usize,
    wipe: Ratio,
    aim_at_io: Ratio,
    aim_wait: Duration,
    targets: Option<Vec<String>>,
    require_chaos: bool,
    /// Processes this instance killed, in kill order.
    killed: Vec<ProcessId>,
}

impl Default for Attrition {
    fn default() -> Self {
        Attrition::new()
    }
}

impl Attrition {
    /// Attrition with the defaults of the module documentation.
    pub fn new() -> Attrition {
        Attrition {
            interval_min: Duration::from_millis(500),
            interval_max: Duration::from_secs(5),
            reboot_delay_min: Duration::ZERO,
            reboot_delay_max: Duration::from_secs(2),
            max_down: 1,
            wipe: Ratio::ZERO,
            aim_at_io: Ratio::new(1, 2),
            aim_wait: Duration::from_secs(1),
            targets: None,
            require_chaos: true,
            killed: Vec::new(),
        }
    }

    /// Waits uniformly between `min` and `max` before each kill (the larger
    /// is used as both if they are swapped).
    pub fn interval(mut self, min: Duration, max: Duration) -> Self {
        self.interval_min = min.min(max);
        self.interval_max = max.max(min);
        self
    }

    /// Reboots a killed process after uniformly `min` to `max`.
    pub fn reboot_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reboot_delay_min = min.min(max);
        self.reboot_delay_max = max.max(min);
        self
    }

    /// Never has more than `max_down` server processes down at once
    /// (the world's own `max_down` applies too).
    pub fn max_down(mut self, max_down: usize) -> Self {
        self.max_down = max_down;
        self
    }

    /// Wipes the disk of a killed process with probability `p`
    /// (reboot-and-wipe).
    pub fn wipe_probability(mut self, p: Ratio) -> Self {
        self.wipe = p;
        self
    }

    /// Aims a kill at I/O in flight with probability `p` (default 1/2;
    /// zero: every kill at a uniformly random time, as it is drawn).
    pub fn aim_at_io(mut self, p: Ratio) -> Self {
        self.aim_at_io = p;
        self
    }

    /// Waits at most `wait` for an aimed kill's I/O (default 1 s).
    pub fn aim_wait(mut self, wait: Duration) -> Self {
        self.aim_wait = wait;
        self
    }

    /// Only kills the server processes with these names.
    pub fn targets<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.targets = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Runs even when the chaos profile is off (for tests of a system
    /// under kills alone).
    pub fn even_without_chaos(mut self) -> Self {
        self.require_chaos = false;
        self
    }

    fn draw_duration(ctx: &NemesisContext<'_>, min: Duration, max: Duration) -> Duration {
        let (lo, hi) = (min.as_nanos() as u64, max.as_nanos() as u64);
        if hi <= lo {
            return min;
        }
        Duration::from_nanos(ctx.providers().random_range(lo..=hi))
    }

    /// Live server processes this instance may kill, in id order.
    fn live_targets(&self, ctx: &NemesisContext<'_>) -> Vec<ProcessId> {
        ctx.control()
            .servers()
            .into_iter()
            .filter(|(_, p)| p.state != ProcessState::Dead)
            .filter(|(_, p)| match &self.targets {
                Some(names) => names.iter().any(|n| **n == *p.name),
                None => true,
            })
            .map(|(id, _)| id)
            .collect()
    }
}

/// Attrition's fault family: not drawn per seed (attrition is on wherever
/// it is added), but a selection can switch it off (`--no-faults
/// process.attrition`), and `--minimize` tries to.
pub(crate) const FAMILY: &str = "process.attrition";

impl Nemesis for Attrition {
    const EPISODES_MAX: u32 = ATTRITION_KILLS_MAX;

    fn family(&self) -> Option<&'static str> {
        Some(FAMILY)
    }

    fn needs_chaos(&self) -> bool {
        self.require_chaos
    }

    fn next_pause(&self, ctx: &NemesisContext<'_>) -> Duration {
        Self::draw_duration(ctx, self.interval_min, self.interval_max)
    }

    async fn strike(&mut self, ctx: &NemesisContext<'_>) -> Result<Next, ProcessError> {
        let control = ctx.control();
        let p = ctx.providers();
        let targets = self.live_targets(ctx);
        if targets.is_empty() {
            return Ok(Next::Continue);
        }
        let target = targets[p.random_range(0..targets.len())];
        let aimed = !control.disk_files(target).is_empty() && p.random_bool(self.aim_at_io);
        let killed = if aimed {
            let kill = pin!(control.kill_at_io(target, Some(self.max_down), self.aim_wait));
            let ended = pin!(p.run_phase_done());
            match futures::future::select(kill, ended).await {
                Either::Left((killed, _)) => killed.map(|_| ()),
                // Chaos is over: the aimed kill is disarmed, unstruck.
                Either::Right(_) => return Ok(Next::Stop),
            }
        } else {
            control.kill_within(target, self.max_down)
        };
        match killed {
            Ok(()) => {}
            // Counted as `process.kill_refused`; try again later. (An aimed
            // kill may find its target killed by someone else meanwhile.)
            Err(ProcessError::KillRefused { .. } | ProcessError::AlreadyDead(_)) => {
                return Ok(Next::Continue);
            }
            Err(e) => return Err(e),
        }
        self.killed.push(target);
        if p.random_bool(self.wipe) {
            control.wipe(target)?;
        }
        let delay = Self::draw_duration(ctx, self.reboot_delay_min, self.reboot_delay_max);
        control.reboot_after(target, delay)?;
        Ok(Next::Continue)
    }

    /// Brings back whatever is still down from our kills, so the checks
    /// see the whole system.
    async fn heal(&mut self, ctx: &NemesisContext<'_>) -> Result<(), ProcessError> {
        let control = ctx.control();
        let mut killed = std::mem::take(&mut self.killed);
        killed.sort_unstable();
        killed.dedup();
        for target in killed {
            if control.down().contains(&target) {
                control.reboot(target)?;
            }
        }
        Ok(())
    }
}
