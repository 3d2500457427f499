//! Progress of long sweeps, on the error stream.
//!
//! On a terminal, a live line redrawn in place (indicatif), at most ten
//! times a second, cleared at the end. Without one (CI logs, a pipe),
//! nothing for the first [`PROGRESS_AFTER`], then a plain line every
//! [`PROGRESS_INTERVAL`]. Both say the same: seeds done (of planned),
//! failures so far, seeds per second, and the time left of a budget.
//! The clock is passed in, so the throttle is tested without sleeping.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{rate, wall};
use crate::runner::sweep::per_sec;
use crate::runner::sweep::report::SweepReport;

/// Sweeps shorter than this print no progress lines (without a terminal).
pub const PROGRESS_AFTER: Duration = Duration::from_secs(3);
/// At most one progress line per this much wall time (without a terminal).
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// The live line on a terminal is updated at most this often.
const LIVE_INTERVAL: Duration = Duration::from_millis(100);

/// Where progress goes.
pub(crate) enum Progress {
    /// A plain line now and then (to the report's error stream).
    Lines {
        started: Instant,
        last: Option<Instant>,
    },
    /// A live line on the terminal.
    Live {
        started: Instant,
        last: Option<Instant>,
        bar: ProgressBar,
    },
}

impl Progress {
    /// Plain lines.
    pub(crate) fn lines(started: Instant) -> Progress {
        Progress::Lines {
            started,
            last: None,
        }
    }

    /// A live line on the process's standard error (a terminal).
    pub(crate) fn live(started: Instant, title: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        if let Ok(style) = ProgressStyle::with_template("{prefix}: {spinner} {msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(title.to_string());
        Progress::Live {
            started,
            last: None,
            bar,
        }
    }

    /// A plain progress line to print now, if one is due (a live line is
    /// updated in place instead, and this returns `None`).
    pub(crate) fn tick(&mut self, now: Instant, sweep: &SweepReport) -> Option<String> {
        match self {
            Progress::Lines { started, last } => {
                let elapsed = now.saturating_duration_since(*started);
                if elapsed < PROGRESS_AFTER
                    || last.is_some_and(|l| now.saturating_duration_since(l) < PROGRESS_INTERVAL)
                {
                    return None;
                }
                *last = Some(now);
                Some(line(elapsed, sweep))
            }
            Progress::Live { started, last, bar } => {
                if last.is_none_or(|l| now.saturating_duration_since(l) >= LIVE_INTERVAL) {
                    *last = Some(now);
                    bar.set_message(line(now.saturating_duration_since(*started), sweep));
                    bar.tick();
                }
                None
            }
        }
    }

    /// Runs `print` (which writes report lines) without garbling the live
    /// line.
    pub(crate) fn print(&self, print: impl FnOnce()) {
        match self {
            Progress::Live { bar, .. } => bar.suspend(print),
            Progress::Lines { .. } => print(),
        }
    }

    /// Clears the live line.
    pub(crate) fn finish(&self) {
        if let Progress::Live { bar, .. } = self {
            bar.finish_and_clear();
        }
    }
}

/// `1200/10000 seeds (2 failed) in 4.012s, 299 seeds/s, 3.2M events/s, 25.988s left`.
fn line(elapsed: Duration, sweep: &SweepReport) -> String {
    let planned = sweep.plan.seeds_planned();
    let of = if sweep.plan.seeds.is_unbounded() || sweep.plan.until.is_some() {
        String::new()
    } else {
        format!("/{planned}")
    };
    let left = match sweep.plan.time_budget {
        Some(b) => format!(
            ", {} left of a {} budget",
            wall(b.saturating_sub(elapsed)),
            wall(b)
        ),
        None => String::new(),
    };
    format!(
        "{}{of} seeds ({} failed) in {}, {} seeds/s, {} events/s{left}",
        sweep.seeds_run,
        sweep.failed,
        wall(elapsed),
        rate(per_sec(sweep.seeds_run, elapsed)),
        rate(per_sec(sweep.events, elapsed)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::sweep::plan::SweepPlan;

    #[test]
    fn lines_are_quiet_at_first_then_once_per_interval() {
        let t0 = Instant::now();
        let mut p = Progress::lines(t0);
        let sweep =
            crate::runner::sweep::report::SweepReport::empty_for_tests(&SweepPlan::range(0, 10));
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(p.tick(at(100), &sweep).is_none());
        assert!(p.tick(at(2_999), &sweep).is_none());
        let line = p.tick(at(3_000), &sweep).expect("due after 3 s");
        assert!(line.starts_with("0/10 seeds (0 failed)"), "{line}");
        assert!(p.tick(at(7_999), &sweep).is_none());
        assert!(p.tick(at(8_000), &sweep).is_some());
    }

    #[test]
    fn a_budget_line_says_the_time_left() {
        let mut plan = SweepPlan::range(0, u64::MAX);
        plan.time_budget = Some(Duration::from_secs(10));
        let sweep = crate::runner::sweep::report::SweepReport::empty_for_tests(&plan);
        let text = line(Duration::from_secs(4), &sweep);
        assert!(
            text.starts_with("0 seeds (0 failed) in 4.000s")
                && text.ends_with("6.000s left of a 10.000s budget"),
            "{text}"
        );
    }
}
