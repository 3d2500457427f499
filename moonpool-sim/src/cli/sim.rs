//! A `sim` invocation from checked settings to exit code:
//! [`SimArgs::resolve`] turns the parsed flags into [`SimSettings`] (the
//! plan, chaos, output, and the replay line made from the command line);
//! running builds the simulation, sweeps it, reports, and decides the
//! exit code.

use std::ffi::OsString;
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

use super::args::without_runner_flags;
use super::settings::{Settings, open_trace};
use super::{CliError, SimArgs};
use crate::report::{Format, Reporter, unmet_goal};
use crate::runner::builder::Simulation;
use crate::runner::minimize::MinimizeOptions;
use crate::runner::report::SeedReport;
use crate::runner::sweep::plan::SweepPlan;
use crate::runner::sweep::report::SweepReport;
use crate::runner::sweep::run::SweepObserver;
use crate::runner::sweep::{Replay, fresh_first_seed};
use crate::trace::TraceFilter;

/// A checked `sim` invocation: what to run and how to report it.
#[derive(Clone, Debug)]
pub struct SimSettings {
    plan: SweepPlan,
    json: bool,
    quiet: bool,
    trace: Option<String>,
    trace_filter: TraceFilter,
    first_seed_fresh: bool,
    minimize: bool,
    timeline: Option<String>,
}

impl SimSettings {
    /// The sweep plan: seeds, shard, budget, determinism check, goal,
    /// chaos, and how replay lines are written.
    pub fn plan(&self) -> &SweepPlan {
        &self.plan
    }

    /// Whether chaos is on (`--chaos`/`--no-chaos`, `MOONPOOL_CHAOS`, or
    /// the binary's default).
    pub fn chaos(&self) -> bool {
        self.plan.chaos == Some(true)
    }

    /// `--json`.
    pub fn json(&self) -> bool {
        self.json
    }

    /// `--quiet` (implied by `--json`).
    pub fn quiet(&self) -> bool {
        self.quiet || self.json
    }

    /// `--trace FILE` (`-` is the error stream).
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }

    /// `--trace-filter`, `--trace-from`, `--trace-until`: which trace
    /// events the trace keeps.
    pub fn trace_filter(&self) -> &TraceFilter {
        &self.trace_filter
    }

    /// `--timeline FILE`: where the seed's timeline picture goes.
    pub fn timeline(&self) -> Option<&str> {
        self.timeline.as_deref()
    }

    /// `--minimize`: shrink the failing `--seed` instead of reporting it.
    pub fn minimize(&self) -> bool {
        self.minimize
    }

    /// Whether the first seed was picked fresh (no `--seed`/`--first-seed`).
    pub fn first_seed_fresh(&self) -> bool {
        self.first_seed_fresh
    }

    /// Builds the simulation with `build`, sweeps it, prints the report
    /// (`title` names the binary in it) and returns the exit code.
    pub(crate) fn run<E: Display>(
        &self,
        title: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
        build: impl FnOnce(&SimSettings) -> Result<Simulation, E>,
    ) -> ExitCode {
        let sim = match build(self) {
            Ok(sim) => sim,
            Err(e) => return refuse(title, err, &CliError::Simulation(e.to_string())),
        };
        let mut plan = self.plan.clone();
        if let Some(path) = &self.trace {
            match open_trace(path) {
                Ok(sink) => plan.trace = Some(sink.with_filter(self.trace_filter.clone())),
                Err(e) => return refuse(title, err, &e),
            }
        }
        if self.minimize {
            return self.run_minimize(title, out, err, &sim, &plan);
        }
        let format = if self.json {
            Format::Json
        } else {
            Format::Human
        };
        if self.timeline.is_some() {
            plan.record_timeline = true;
            plan.record_marks = true;
        }
        let (report, last) = {
            let reporter = Reporter::new(title, format, self.quiet(), out, err)
                .first_seed_fresh(self.first_seed_fresh);
            let mut keep = KeepLast {
                reporter,
                keep: self.timeline.is_some(),
                last: None,
            };
            let report = sim.sweep_with(&plan, &mut keep, None);
            keep.reporter.finish(&report);
            (report, keep.last)
        };
        if let (Some(path), Some(seed)) = (&self.timeline, &last) {
            let html = crate::report::timeline::render(title, seed);
            if let Err(e) = std::fs::write(path, html) {
                return refuse(
                    title,
                    err,
                    &CliError::TimelineFile {
                        path: path.clone(),
                        message: e.to_string(),
                    },
                );
            }
            let _ = writeln!(
                err,
                "{title}: timeline of seed {:#x} written to {path}",
                seed.seed
            );
        }
        let unmet = unmet_goal(&report);
        if let Some(unmet) = &unmet {
            let _ = writeln!(err, "{title}: {unmet}");
        }
        if report.all_passed() && unmet.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

impl SimSettings {
    /// `--minimize`: shrinks the seed, prints the result, and exits 1 (the
    /// seed fails, now with fewer faults) or 2 (nothing to minimize).
    fn run_minimize(
        &self,
        title: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
        sim: &Simulation,
        plan: &SweepPlan,
    ) -> ExitCode {
        let options = MinimizeOptions {
            time_budget: plan.time_budget,
            ..MinimizeOptions::default()
        };
        let minimized = match sim.minimize(plan, &options) {
            Ok(m) => m,
            Err(e) => return refuse(title, err, &CliError::Minimize(e.to_string())),
        };
        if self.json {
            let _ = writeln!(
                out,
                "{}",
                crate::report::minimize::to_json(&minimized, plan)
            );
        } else {
            crate::report::minimize::write_human(out, title, &minimized, plan);
        }
        ExitCode::from(1)
    }
}

/// Forwards to the reporter and keeps the last seed's report (for the
/// timeline picture, which draws one seed).
struct KeepLast<'a> {
    reporter: Reporter<'a>,
    keep: bool,
    last: Option<SeedReport>,
}

impl SweepObserver for KeepLast<'_> {
    fn sweep_started(&mut self, plan: &SweepPlan, chaos: bool) {
        self.reporter.sweep_started(plan, chaos);
    }

    fn seed_done(&mut self, report: &SeedReport, sweep: &SweepReport) {
        self.reporter.seed_done(report, sweep);
        if self.keep {
            self.last = Some(report.clone());
        }
    }
}

/// Prints `e` on one line and returns its exit code.
pub(crate) fn refuse(title: &str, err: &mut dyn Write, e: &CliError) -> ExitCode {
    let _ = writeln!(err, "{title}: error: {e}");
    ExitCode::from(e.exit_code())
}

impl SimArgs {
    /// Checks the flags and variables and decides the run. `argv` is the
    /// whole command line (`std::env::args_os()`: the program first): the
    /// replay line of a failed seed is `argv` without the runner's flags,
    /// then `[--check-determinism] --chaos|--no-chaos --seed S`, so it
    /// keeps the binary's own flags (`--bug stale-read`) as they were
    /// typed.
    pub fn resolve(&self, argv: &[OsString]) -> Result<SimSettings, CliError> {
        if self.default_seeds == 0 {
            return Err(CliError::Definition(
                "the default seed count must be at least 1".to_string(),
            ));
        }
        let (flags, env) = Settings::split(&self.given)?;
        let settings = Settings::overlay(env, flags);
        settings.validate()?;
        let mut plan = settings.plan(self.default_seeds, fresh_first_seed)?;
        let chaos = settings.chaos.map_or(self.default_chaos, |c| c.0);
        plan.chaos = Some(chaos);
        if !chaos && !plan.faults.is_empty() {
            return Err(CliError::Requires {
                setting: "--faults, --no-faults or --buggify-sites".to_string(),
                needs: "--chaos (this binary runs quiet seeds by default)",
            });
        }
        let words: Vec<String> = argv
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        plan.replay = match words.split_first() {
            Some((program, args)) => Replay::Command {
                program: program.clone(),
                args: without_runner_flags(args),
            },
            None => Replay::Command {
                program: String::new(),
                args: Vec::new(),
            },
        };
        let trace_filter = settings.trace_filter_checked()?;
        Ok(SimSettings {
            trace_filter,
            first_seed_fresh: settings.seed.is_none() && settings.first_seed.is_none(),
            plan,
            json: settings.json.is_some_and(|j| j.0),
            quiet: settings.quiet.is_some_and(|q| q.0),
            trace: settings.trace.map(|t| t.0),
            minimize: settings.minimize.is_some_and(|m| m.0),
            timeline: settings.timeline.as_ref().map(|t| t.0.clone()),
        })
    }

    /// Checks the flags, builds the simulation with `build`, sweeps it,
    /// prints the report on stdout (progress and errors on stderr) and
    /// returns the exit code: 0 every seed passed, 1 a seed failed or
    /// `--until-all-sometimes` missed its goal, 2 refused (one line on
    /// stderr). `title` names the binary in the report; `argv` is the
    /// whole command line (see [`SimArgs::resolve`]). An error returned by
    /// `build` is refused with exit code 2.
    pub fn run<E: Display>(
        &self,
        title: &str,
        argv: &[OsString],
        build: impl FnOnce(&SimSettings) -> Result<Simulation, E>,
    ) -> ExitCode {
        self.run_with(
            title,
            argv,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
            build,
        )
    }

    /// [`SimArgs::run`] writing to `out` and `err`: for tests.
    pub fn run_with<E: Display>(
        &self,
        title: &str,
        argv: &[OsString],
        out: &mut dyn Write,
        err: &mut dyn Write,
        build: impl FnOnce(&SimSettings) -> Result<Simulation, E>,
    ) -> ExitCode {
        match self.resolve(argv) {
            Ok(settings) => settings.run(title, out, err, build),
            Err(e) => refuse(title, err, &e),
        }
    }
}
