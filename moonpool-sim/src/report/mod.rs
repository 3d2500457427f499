//! Reports of a sweep: a table for humans, JSON lines for programs, and
//! progress on stderr.
//!
//! # Types
//! - [`Reporter`]: a [`SweepObserver`] that prints each seed as it
//!   finishes (one JSON object per line; in the human table, a row for
//!   each failed seed with its replay line, for every seed with
//!   `--verbose`) and, at the end, the summary ([`Reporter::finish`]).
//!   Progress (unless quiet or JSON) is a live line on a terminal, else a
//!   line on the error stream every [`PROGRESS_INTERVAL`] once a sweep
//!   has run for [`PROGRESS_AFTER`].
//! - [`Format`]: human or JSON.
//!
//! Output errors (a closed pipe) are ignored: a report never fails a run.
//! The JSON schema is documented in `docs/src/runner.md` and in [`json`].
//!
//! # Layer 5: the front ends
//! This module and `cli` are the top of the crate: they render what the
//! runner reports and parse what the user asks, and decide nothing a seed
//! sees beyond filling in the runner's plan.
//!
//! **May import:** every layer below (`crate::runner`, `crate::trace`,
//! `crate::nemesis`, `crate::model`, `crate::kernel`) and each other.
//! **May not be imported** by any of them (checked by `tests/layers.rs`).

pub(crate) mod human;
pub mod json;
pub mod minimize;
mod progress;
pub mod timeline;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::runner::report::SeedReport;
use crate::runner::sweep::SweepSummary;
use crate::runner::sweep::plan::{SeedPlan, SweepPlan};
use crate::runner::sweep::report::{StopReason, SweepReport};
use crate::runner::sweep::run::SweepObserver;

pub use progress::{PROGRESS_AFTER, PROGRESS_INTERVAL};

/// How a sweep is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table on stdout, progress on stderr.
    Human,
    /// One JSON object per seed, then `{"summary": {...}}`, on stdout.
    Json,
}

/// Prints a sweep. See the [module documentation](self).
pub struct Reporter<'a> {
    title: String,
    format: Format,
    quiet: bool,
    verbose: bool,
    terminal: bool,
    first_seed_fresh: bool,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    progress: progress::Progress,
    every_row: bool,
}

impl<'a> Reporter<'a> {
    /// A reporter for the binary (or test) `title`, writing results to
    /// `out` and progress to `err`. `quiet` drops the per-seed rows, the
    /// timeline and the progress.
    pub fn new(
        title: &str,
        format: Format,
        quiet: bool,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    ) -> Reporter<'a> {
        Reporter {
            title: title.to_string(),
            format,
            quiet,
            verbose: false,
            terminal: false,
            first_seed_fresh: false,
            out,
            err,
            progress: progress::Progress::lines(Instant::now()),
            every_row: false,
        }
    }

    /// Says the first seed was picked fresh, so the report prints how to
    /// rerun the same seeds.
    pub fn first_seed_fresh(mut self, fresh: bool) -> Reporter<'a> {
        self.first_seed_fresh = fresh;
        self
    }

    /// Gives every seed a row in the human report (`--verbose`); by
    /// default only failed seeds (and a replayed `--seed`) get one.
    pub fn verbose(mut self, verbose: bool) -> Reporter<'a> {
        self.verbose = verbose;
        self
    }

    /// Says the process's standard error is a terminal (and is the error
    /// stream given): progress is then one live line redrawn in place
    /// rather than a line every few seconds.
    pub fn terminal(mut self, terminal: bool) -> Reporter<'a> {
        self.terminal = terminal;
        self
    }

    /// Prints the summary (and every kept failure with its replay line).
    pub fn finish(&mut self, sweep: &SweepReport) {
        self.progress.finish();
        match self.format {
            Format::Json => {
                let line = json::summary(sweep, self.first_seed_fresh);
                let _ = writeln!(self.out, "{line}");
            }
            Format::Human => {
                let text = human::summary(&self.title, sweep, self.first_seed_fresh);
                let _ = self.out.write_all(text.as_bytes());
            }
        }
        let _ = self.out.flush();
    }

    /// Prints the summary of several sweeps merged (a seeds file run in
    /// groups, see [`SweepSummary`]).
    pub fn finish_merged(&mut self, totals: &SweepSummary) {
        self.progress.finish();
        match self.format {
            Format::Json => {
                let _ = writeln!(self.out, "{}", json::summary_of(totals));
            }
            Format::Human => {
                let text = human::merged(&self.title, totals, false);
                let _ = self.out.write_all(text.as_bytes());
            }
        }
        let _ = self.out.flush();
    }
}

impl SweepObserver for Reporter<'_> {
    fn sweep_started(&mut self, plan: &SweepPlan, chaos: bool) {
        let now = Instant::now();
        self.progress.finish();
        self.progress = if self.terminal && self.format == Format::Human && !self.quiet {
            progress::Progress::live(now, &self.title)
        } else {
            progress::Progress::lines(now)
        };
        self.every_row = self.verbose || matches!(plan.seeds, SeedPlan::One(_));
        if self.format == Format::Human && !self.quiet {
            let text = human::header(
                &self.title,
                plan,
                chaos,
                self.first_seed_fresh,
                self.every_row,
            );
            let _ = self.out.write_all(text.as_bytes());
        }
    }

    fn seed_done(&mut self, report: &SeedReport, sweep: &SweepReport) {
        match self.format {
            Format::Json => {
                let line = json::seed(report, sweep);
                let _ = writeln!(self.out, "{line}");
            }
            Format::Human if !self.quiet && (self.every_row || !report.outcome.is_pass()) => {
                let text = human::row(report, sweep);
                let out = &mut self.out;
                self.progress.print(|| {
                    let _ = out.write_all(text.as_bytes());
                    let _ = out.flush();
                });
            }
            Format::Human => {}
        }
        if self.format == Format::Human
            && !self.quiet
            && let Some(line) = self.progress.tick(Instant::now(), sweep)
        {
            let _ = writeln!(self.err, "{}: {line}", self.title);
        }
    }
}

/// Why a sweep with a goal (`--until-all-sometimes`) ended without meeting
/// it, on one line naming every unsatisfied `sometimes`/`reachable` site;
/// `None` when the plan had no goal or met it.
pub(crate) fn unmet_goal(sweep: &SweepReport) -> Option<String> {
    sweep.plan.until?;
    let unmet: Vec<String> = sweep
        .coverage
        .unsatisfied_sometimes()
        .map(|c| {
            format!(
                "{:?} at {} ({})",
                c.site.message,
                c.site.location(),
                c.status().label().to_ascii_lowercase()
            )
        })
        .collect();
    if unmet.is_empty() {
        return None;
    }
    let at = match sweep.stopped {
        StopReason::TimeBudget(_) => "the time budget",
        _ => "the --max-seeds cap",
    };
    Some(format!(
        "goal unmet: --until-all-sometimes stopped at {at} after {} seed(s) with {} sometimes site(s) unsatisfied: {}",
        sweep.seeds_run,
        unmet.len(),
        unmet.join("; ")
    ))
}

/// `12.345ms`, `1.234s`: wall durations for humans.
pub(crate) fn wall(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.3}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// `12.000350s`: simulated durations, to the microsecond.
pub(crate) fn sim(d: Duration) -> String {
    moonpool_core::Instant::from_nanos(d.as_nanos().min(u64::MAX as u128) as u64).to_string()
}

/// `1.23M`, `45.6k`, `789`: rates for humans.
pub(crate) fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}
