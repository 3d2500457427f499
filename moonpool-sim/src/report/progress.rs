//! Progress lines for long sweeps: nothing for the first
//! [`PROGRESS_AFTER`], then at most one line per [`PROGRESS_INTERVAL`].
//! The clock is passed in, so the throttle is tested without sleeping.

use std::time::{Duration, Instant};

use super::{rate, wall};
use crate::runner::sweep::report::SweepReport;

/// Sweeps shorter than this print no progress.
pub const PROGRESS_AFTER: Duration = Duration::from_secs(3);
/// At most one progress line per this much wall time.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct Progress {
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    pub(crate) fn new(started: Instant) -> Progress {
        Progress {
            started,
            last: None,
        }
    }

    /// A progress line if one is due at `now`.
    pub(crate) fn tick(&mut self, now: Instant, sweep: &SweepReport) -> Option<String> {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < PROGRESS_AFTER {
            return None;
        }
        if let Some(last) = self.last
            && now.saturating_duration_since(last) < PROGRESS_INTERVAL
        {
            return None;
        }
        self.last = Some(now);
        let planned = sweep.plan.seeds_planned();
        let of = if planned == u64::MAX || sweep.plan.until.is_some() {
            String::new()
        } else {
            format!("/{planned}")
        };
        let budget = match sweep.plan.time_budget {
            Some(b) => format!(" of a {} budget", wall(b)),
            None => String::new(),
        };
        let seeds_per_sec = crate::runner::sweep::per_sec(sweep.seeds_run, elapsed);
        Some(format!(
            "{}{of} seeds ({} failed) in {}{budget}, {} seeds/s, {} events/s",
            sweep.seeds_run,
            sweep.failed,
            wall(elapsed),
            rate(seeds_per_sec),
            rate(crate::runner::sweep::per_sec(sweep.events, elapsed)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::sweep::plan::SweepPlan;

    #[test]
    fn quiet_at_first_then_once_per_interval() {
        let t0 = Instant::now();
        let mut p = Progress::new(t0);
        let sweep =
            crate::runner::sweep::report::SweepReport::empty_for_tests(&SweepPlan::range(0, 10));
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(p.tick(at(100), &sweep).is_none());
        assert!(p.tick(at(2_999), &sweep).is_none());
        let line = p.tick(at(3_000), &sweep).expect("due after 3 s");
        assert!(line.starts_with("0/10 seeds (0 failed)"), "{line}");
        assert!(p.tick(at(3_500), &sweep).is_none());
        assert!(p.tick(at(4_000), &sweep).is_some());
    }
}
