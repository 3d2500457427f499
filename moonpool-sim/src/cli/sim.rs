//! A `sim` invocation from checked settings to exit code:
//! [`SimArgs::resolve`] turns the parsed flags into [`SimSettings`] (the
//! plan, chaos, jobs, output, and the replay line made from the command
//! line); running builds a simulation per job, sweeps, reports, and
//! decides the exit code.
//!
//! A seeds file runs in *groups*: the listed seeds that share the binary's
//! options and chaos form one sweep (options of the binary's own on a
//! line need [`SimCli`](super::SimCli), which can parse them). The groups
//! run in the order their first line appears, each on every job, all
//! reported by one reporter, and their summaries merge into one.

use std::ffi::OsString;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use super::args::without_runner_flags;
use super::seeds_file::{self, SeedEntry};
use super::settings::{Settings, open_trace};
use super::{CliError, SimArgs};
use crate::report::{Format, Reporter, unmet_goal};
use crate::runner::builder::Simulation;
use crate::runner::minimize::MinimizeOptions;
use crate::runner::report::SeedReport;
use crate::runner::sweep::parallel::SweepRunner;
use crate::runner::sweep::plan::SweepPlan;
use crate::runner::sweep::report::{StopReason, SweepReport};
use crate::runner::sweep::run::SweepObserver;
use crate::runner::sweep::{Replay, SweepSummary, available_jobs, fresh_first_seed};
use crate::trace::TraceFilter;
use crate::trace::TraceSink;

/// A checked `sim` invocation: what to run and how to report it.
#[derive(Clone, Debug)]
pub struct SimSettings {
    plan: SweepPlan,
    json: bool,
    quiet: bool,
    verbose: bool,
    jobs: usize,
    trace: Option<String>,
    /// `RUST_LOG`, when set and not empty.
    log: Option<String>,
    first_seed_fresh: bool,
    seeds_file: Option<(String, Vec<SeedEntry>)>,
    save_failures: Option<String>,
    trace_filter: TraceFilter,
    minimize: bool,
    timeline: Option<String>,
}

/// How a seeds-file line's options become the binary's flags.
pub(crate) type LineFlags<'a, G> = &'a dyn Fn(&[String]) -> Result<G, String>;

/// The build closure of a run, for a binary's flags `G`.
pub(crate) type Build<'a, G, E> = &'a (dyn Fn(&G, &SimSettings) -> Result<Simulation, E> + Sync);

/// What a binary gives a run: its flags from the command line (`base`),
/// how to read a seeds-file line's, and its build closure.
pub(crate) struct Binary<'a, G, E> {
    pub(crate) base: &'a G,
    pub(crate) line_flags: LineFlags<'a, G>,
    pub(crate) build: Build<'a, G, E>,
}

impl SimSettings {
    /// The sweep plan: seeds, shard, budget, determinism check, goal,
    /// chaos, failure limit, and how replay lines are written. For a seeds
    /// file, the listed seeds (after sharding) with the command line's
    /// chaos.
    pub fn plan(&self) -> &SweepPlan {
        &self.plan
    }

    /// Whether chaos is on (`--chaos`/`--no-chaos`, `MOONPOOL_CHAOS`, or
    /// the binary's default; a seeds-file line may say otherwise for its
    /// seed, and the build closure then sees that line's settings).
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

    /// `--verbose`: a row for every seed.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// `--jobs`: threads running seeds (default: the available cores for
    /// sweeps, 1 for `--seed`).
    pub fn jobs(&self) -> usize {
        self.jobs
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

    /// Whether the first seed was picked fresh (no `--seed`/`--first-seed`,
    /// no shard, no seeds file).
    pub fn first_seed_fresh(&self) -> bool {
        self.first_seed_fresh
    }

    /// `--seeds-file FILE`, if given.
    pub fn seeds_file(&self) -> Option<&str> {
        self.seeds_file.as_ref().map(|(path, _)| path.as_str())
    }

    /// `--save-failures FILE`, if given.
    pub fn save_failures(&self) -> Option<&str> {
        self.save_failures.as_deref()
    }

    /// Builds a simulation per job with `build` (given `base`, the
    /// binary's flags, or a seeds-file line's, made by `line_flags`),
    /// sweeps, prints the report (`title` names the binary in it;
    /// `terminal`: the error stream is a terminal) and returns the exit
    /// code.
    pub(crate) fn run<G: Sync, E: Display + Send>(
        &self,
        title: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
        terminal: bool,
        binary: Binary<'_, G, E>,
    ) -> ExitCode {
        let Binary {
            base,
            line_flags,
            build,
        } = binary;
        let mut settings = self.clone();
        if let Some(path) = &self.trace {
            match open_trace(path) {
                Ok(sink) => settings.plan.trace = Some(sink.with_filter(self.trace_filter.clone())),
                Err(e) => return refuse(title, err, &e),
            }
        } else if let Some(directives) = &self.log {
            // The program's own log lines, stamped with simulated time, on
            // the error stream; tracing never changes an execution.
            match TraceSink::writer("stderr", std::io::stderr()).with_directives(directives) {
                Ok(sink) => settings.plan.trace = Some(sink),
                Err(e) => return refuse(title, err, &CliError::from(e)),
            }
        }
        if self.minimize || self.timeline.is_some() {
            let sim = match build(base, self) {
                Ok(sim) => sim,
                Err(e) => return refuse(title, err, &CliError::Simulation(e.to_string())),
            };
            if self.minimize {
                return self.run_minimize(title, out, err, &sim, &settings.plan);
            }
            return self.run_timeline(title, out, err, &sim, &mut settings.plan);
        }
        let format = if self.json {
            Format::Json
        } else {
            Format::Human
        };
        let mut reporter = Reporter::new(title, format, self.quiet(), out, err)
            .first_seed_fresh(self.first_seed_fresh)
            .verbose(self.verbose)
            .terminal(terminal);
        let outcome = match &self.seeds_file {
            None => settings.run_one(&mut reporter, base, build),
            Some((_, entries)) => {
                settings.run_groups(&mut reporter, entries, base, line_flags, build)
            }
        };
        drop(reporter);
        let (reports, failed, unmet) = match outcome {
            Ok(done) => done,
            Err(e) => return refuse(title, err, &e),
        };
        if let Some(unmet) = &unmet {
            let _ = writeln!(err, "{title}: {unmet}");
        }
        if let Some(path) = &self.save_failures {
            let lines: Vec<String> = reports
                .iter()
                .flat_map(|(report, options)| {
                    report.failures.iter().map(move |f| {
                        let error = f
                            .outcome
                            .failure()
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        seeds_file::line(f.seed, report.chaos, options, &error)
                    })
                })
                .collect();
            if !lines.is_empty()
                && let Err(e) = seeds_file::append(path, &lines)
            {
                return refuse(title, err, &e);
            }
        }
        if failed == 0 && unmet.is_none() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    /// One sweep of the plan. Returns the report with the binary's options
    /// (for `--save-failures`), the failure count and an unmet goal.
    fn run_one<G: Sync, E: Display + Send>(
        &self,
        reporter: &mut Reporter<'_>,
        base: &G,
        build: Build<'_, G, E>,
    ) -> Result<RunOutcome, CliError> {
        let runner = SweepRunner::new(|| build(base, self)).jobs(self.jobs);
        let report = runner
            .sweep_with(&self.plan, reporter, None)
            .map_err(|e| CliError::Simulation(e.to_string()))?;
        reporter.finish(&report);
        let unmet = unmet_goal(&report);
        let failed = report.failed;
        let options = binary_options(&self.plan.replay);
        Ok((vec![(report, options)], failed, unmet))
    }

    /// A seeds file, group by group.
    fn run_groups<G: Sync, E: Display + Send>(
        &self,
        reporter: &mut Reporter<'_>,
        entries: &[SeedEntry],
        base: &G,
        line_flags: LineFlags<'_, G>,
        build: Build<'_, G, E>,
    ) -> Result<RunOutcome, CliError> {
        let path = self.seeds_file().unwrap_or_default().to_string();
        let default_chaos = self.chaos();
        // Groups in the order of their first line: (chaos, options) → seeds.
        let mut groups: Vec<(bool, Vec<String>, Vec<u64>, usize)> = Vec::new();
        for entry in entries {
            let chaos = entry.chaos.unwrap_or(default_chaos);
            match groups
                .iter_mut()
                .find(|(c, o, ..)| *c == chaos && *o == entry.options)
            {
                Some(group) => group.2.push(entry.seed),
                None => groups.push((chaos, entry.options.clone(), vec![entry.seed], entry.line)),
            }
        }
        let started = Instant::now();
        let mut totals: Option<SweepSummary> = None;
        let mut reports = Vec::new();
        let mut failed = 0u64;
        for (chaos, options, seeds, line) in groups {
            let own;
            let flags = if options.is_empty() {
                base
            } else {
                own = line_flags(&options).map_err(|message| CliError::SeedsFile {
                    path: path.clone(),
                    line,
                    message,
                })?;
                &own
            };
            let mut settings = self.clone();
            let mut plan = SweepPlan::list(seeds)?;
            plan.chaos = Some(chaos);
            plan.check_determinism = self.plan.check_determinism;
            plan.trace = self.plan.trace.clone();
            plan.replay = match (&self.plan.replay, options.is_empty()) {
                (replay, true) => replay.clone(),
                (Replay::Command { program, .. }, false) => Replay::Command {
                    program: program.clone(),
                    args: std::iter::once("sim".to_string())
                        .chain(options.iter().cloned())
                        .collect(),
                },
                (replay, false) => replay.clone(),
            };
            if let Some(budget) = self.plan.time_budget {
                let left = budget.saturating_sub(started.elapsed());
                if left.is_zero() && failed + reports.len() as u64 > 0 {
                    break;
                }
                plan.time_budget = Some(left.max(std::time::Duration::from_millis(1)));
            }
            if let Some(max) = self.plan.max_failures {
                plan.max_failures = Some(max - failed);
            }
            settings.plan = plan;
            let runner = SweepRunner::new(|| build(flags, &settings)).jobs(self.jobs);
            let report = runner
                .sweep_with(&settings.plan, reporter, None)
                .map_err(|e| CliError::Simulation(e.to_string()))?;
            failed += report.failed;
            let summary = SweepSummary::of(&report, false);
            match &mut totals {
                Some(t) => t.merge(&summary),
                None => totals = Some(summary),
            }
            let stop = matches!(report.stopped, StopReason::MaxFailures(_));
            reports.push((report, options));
            if stop {
                break;
            }
        }
        if let Some(totals) = &mut totals {
            totals.shard = self.plan.shard.map(|s| s.to_string());
            totals.wall_time_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            reporter.finish_merged(totals);
        }
        Ok((reports, failed, None))
    }
}

/// The reports of a run (each with the binary's options its seeds ran
/// with), the failure count, and an unmet goal.
type RunOutcome = (Vec<(SweepReport, Vec<String>)>, u64, Option<String>);

/// The binary's own options in a replay line: what follows `sim`.
fn binary_options(replay: &Replay) -> Vec<String> {
    match replay {
        Replay::Command { args, .. } => args
            .iter()
            .skip_while(|a| *a != "sim")
            .skip(1)
            .cloned()
            .collect(),
        Replay::CargoTest { .. } => Vec::new(),
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

    /// `--timeline FILE`: runs the seed as usual (report and exit code),
    /// keeping its marks, and writes its picture.
    fn run_timeline(
        &self,
        title: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
        sim: &Simulation,
        plan: &mut SweepPlan,
    ) -> ExitCode {
        plan.record_timeline = true;
        plan.record_marks = true;
        let format = if self.json {
            Format::Json
        } else {
            Format::Human
        };
        let (report, last) = {
            let mut reporter = Reporter::new(title, format, self.quiet(), out, err)
                .first_seed_fresh(self.first_seed_fresh);
            let mut keep = KeepLast {
                reporter: &mut reporter,
                last: None,
            };
            let report = sim.sweep_with(plan, &mut keep, None);
            let last = keep.last;
            reporter.finish(&report);
            (report, last)
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
        if report.all_passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

/// Forwards to the reporter and keeps the last seed's report (for the
/// timeline picture, which draws one seed).
struct KeepLast<'r, 'a> {
    reporter: &'r mut Reporter<'a>,
    last: Option<SeedReport>,
}

impl SweepObserver for KeepLast<'_, '_> {
    fn sweep_started(&mut self, plan: &SweepPlan, chaos: bool) {
        self.reporter.sweep_started(plan, chaos);
    }

    fn seed_done(&mut self, report: &SeedReport, sweep: &SweepReport) {
        self.reporter.seed_done(report, sweep);
        self.last = Some(report.clone());
    }
}

/// Prints `e` on one line and returns its exit code.
pub(crate) fn refuse(title: &str, err: &mut dyn Write, e: &CliError) -> ExitCode {
    let _ = writeln!(err, "{title}: error: {e}");
    ExitCode::from(e.exit_code())
}

/// Whether the process's standard error is a terminal.
pub(crate) fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
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
        let index_var = |name: &str| self.index_var(name);
        let mut seeds_file = None;
        let mut plan = match &settings.seeds_file {
            Some((path, _)) => {
                let mut entries = seeds_file::read(path)?;
                if let Some(shard) = settings.shard(&index_var)? {
                    let mut index = 0u64;
                    entries.retain(|_| {
                        index += 1;
                        shard.contains(index - 1)
                    });
                }
                let seeds: Vec<u64> = entries.iter().map(|e| e.seed).collect();
                let mut plan =
                    SweepPlan::list(seeds).map_err(|_| CliError::NoSeeds(path.clone()))?;
                plan.shard = settings.shard(&index_var)?;
                plan.time_budget = settings.time_budget.map(|t| t.0);
                plan.check_determinism = settings.check_determinism.is_some_and(|c| c.0);
                plan.max_failures = settings.max_failures.map(|m| m.0);
                seeds_file = Some((path.clone(), entries));
                plan
            }
            None => {
                // Shards on many machines must split the same plan: never a
                // fresh base for them.
                let sharded = settings.shard.is_some();
                let first = || {
                    if sharded {
                        super::SHARDED_FIRST_SEED
                    } else {
                        fresh_first_seed()
                    }
                };
                settings.plan(self.default_seeds, first, &index_var)?
            }
        };
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
        let jobs = match (&plan.seeds, settings.jobs) {
            (_, Some((jobs, _))) => usize::try_from(jobs).unwrap_or(usize::MAX),
            (crate::runner::sweep::plan::SeedPlan::One(_), None) => 1,
            (_, None) => available_jobs(),
        };
        let trace_filter = settings.trace_filter_checked()?;
        Ok(SimSettings {
            trace_filter,
            first_seed_fresh: settings.seed.is_none()
                && settings.first_seed.is_none()
                && settings.shard.is_none()
                && seeds_file.is_none(),
            plan,
            json: settings.json.is_some_and(|j| j.0),
            quiet: settings.quiet.is_some_and(|q| q.0),
            verbose: settings.verbose.is_some_and(|v| v.0),
            jobs,
            trace: settings.trace.map(|t| t.0),
            seeds_file,
            save_failures: settings.save_failures.map(|s| s.0),
            log: std::env::var("RUST_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            minimize: settings.minimize.is_some_and(|m| m.0),
            timeline: settings.timeline.as_ref().map(|t| t.0.clone()),
        })
    }

    /// Checks the flags, builds a simulation per job with `build` (called
    /// once on this thread and once on each worker thread, so it must be
    /// `Fn + Sync`), sweeps, prints the report on stdout (progress and
    /// errors on stderr) and returns the exit code: 0 every seed passed, 1
    /// a seed failed or `--until-all-sometimes` missed its goal, 2 refused
    /// (one line on stderr). `title` names the binary in the report;
    /// `argv` is the whole command line (see [`SimArgs::resolve`]). An
    /// error returned by `build` is refused with exit code 2. A seeds-file
    /// line with options of the binary's own is refused (only
    /// [`SimCli`](super::SimCli) knows how to parse them).
    pub fn run<E: Display + Send>(
        &self,
        title: &str,
        argv: &[OsString],
        build: impl Fn(&SimSettings) -> Result<Simulation, E> + Sync,
    ) -> ExitCode {
        self.run_to(
            title,
            argv,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
            stderr_is_terminal(),
            build,
        )
    }

    /// [`SimArgs::run`] writing to `out` and `err`: for tests.
    pub fn run_with<E: Display + Send>(
        &self,
        title: &str,
        argv: &[OsString],
        out: &mut dyn Write,
        err: &mut dyn Write,
        build: impl Fn(&SimSettings) -> Result<Simulation, E> + Sync,
    ) -> ExitCode {
        self.run_to(title, argv, out, err, false, build)
    }

    fn run_to<E: Display + Send>(
        &self,
        title: &str,
        argv: &[OsString],
        out: &mut dyn Write,
        err: &mut dyn Write,
        terminal: bool,
        build: impl Fn(&SimSettings) -> Result<Simulation, E> + Sync,
    ) -> ExitCode {
        let settings = match self.resolve(argv) {
            Ok(settings) => settings,
            Err(e) => return refuse(title, err, &e),
        };
        let no_line_flags = |_: &[String]| -> Result<(), String> {
            Err("options of the binary's own on a line need a binary built with SimCli".to_string())
        };
        let build = |_: &(), s: &SimSettings| build(s);
        let binary = Binary {
            base: &(),
            line_flags: &no_line_flags,
            build: &build,
        };
        settings.run(title, out, err, terminal, binary)
    }
}
