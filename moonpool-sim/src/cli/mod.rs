//! The command line every simulation binary gets with one call.
//!
//! # Types
//! - [`SimCli`]: a builder naming the binary, its chaos default, its own
//!   options (`--bug NAME`), flags, action flags (`--list-bugs`) and extra
//!   subcommands (`real`); [`SimCli::run`] parses `std::env::args()` and the
//!   `MOONPOOL_*` environment, builds the simulation, sweeps, reports, and
//!   returns the exit code.
//! - [`CliArgs`]: what the `sim` subcommand was asked to do; the binary's
//!   closure reads its own options from it.
//! - [`Invocation`]: the parsed command line ([`SimCli::parse`]).
//! - [`CliError`]: every refusal (exit code 2).
//! - `env.rs`: `SweepPlan::from_env_or`, the `MOONPOOL_*` variables over
//!   a plan (for `cargo test`).
//!
//! # Exit codes
//! `0`: every seed passed (or help/an action ran). `1`: a seed failed.
//! `2`: bad flags, environment variables or configuration, with a message.
//!
//! # Example
//!
//! ```no_run
//! use std::process::ExitCode;
//! use moonpool_sim::cli::SimCli;
//! use moonpool_sim::{SimContext, SimulationBuilder, Workload, WorkloadResult};
//! use moonpool_core::TimeProvider;
//!
//! struct Nap(u64);
//! impl Workload for Nap {
//!     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
//!         ctx.providers().sleep(std::time::Duration::from_millis(self.0)).await;
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> ExitCode {
//!     SimCli::new("napper")
//!         .about("sleeps, deterministically")
//!         .default_chaos(true)
//!         .option("nap-ms", "MS", "how long each client naps [default: 10]")
//!         .run(|args| {
//!             let ms: u64 = match args.option("nap-ms") {
//!                 Some(text) => text.parse().map_err(|_| format!("--nap-ms: bad number {text}"))?,
//!                 None => 10,
//!             };
//!             SimulationBuilder::new()
//!                 .workload("napper", 3, move |_| Nap(ms))
//!                 .build()
//!                 .map_err(|e| e.to_string())
//!         })
//! }
//! ```
//!
//! `napper sim --seeds 1000 --check-determinism`, `napper sim --seed 0x2a
//! --trace trace.log`, ... A failure prints its replay line:
//! `target/debug/napper sim --nap-ms 5 --chaos --seed 0x2a`.

mod args;
mod env;
mod error;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

pub use error::CliError;

use args::{BUILTINS, Origin, Settings};

use crate::report::{Format, Reporter};
use crate::runner::builder::Simulation;
use crate::runner::sweep::plan::SweepPlan;
use crate::runner::sweep::{DEFAULT_SEEDS, Replay, fresh_first_seed};

/// What the `sim` subcommand was asked to do.
#[derive(Clone, Debug)]
pub struct CliArgs {
    plan: SweepPlan,
    json: bool,
    quiet: bool,
    trace: Option<String>,
    first_seed_fresh: bool,
    options: BTreeMap<String, String>,
    flags: BTreeSet<String>,
}

impl CliArgs {
    /// The value of the binary's option `--name`, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// Whether the binary's flag `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }

    /// Whether chaos is on (`--chaos`/`--no-chaos`, `MOONPOOL_CHAOS`, or
    /// the binary's default), as decided on the plan.
    pub fn chaos(&self) -> bool {
        self.plan.chaos == Some(true)
    }

    /// The sweep plan (seeds, shard, budget, determinism check, goal).
    pub fn plan(&self) -> &SweepPlan {
        &self.plan
    }

    /// `--json`.
    pub fn json(&self) -> bool {
        self.json
    }

    /// `--quiet` (implied by `--json`).
    pub fn quiet(&self) -> bool {
        self.quiet || self.json
    }

    /// `--trace FILE`.
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }

    /// Whether the first seed was picked fresh (no `--seed`/`--first-seed`).
    pub fn first_seed_fresh(&self) -> bool {
        self.first_seed_fresh
    }
}

/// A parsed command line.
#[derive(Clone, Debug)]
pub enum Invocation {
    /// Run the simulator.
    Sim(CliArgs),
    /// Print the help (`--help`, `-h`, `help`).
    Help,
    /// Run the binary's action flag with this name.
    Action(String),
    /// Run the binary's subcommand with this name and these arguments.
    Subcommand {
        /// Its name.
        name: String,
        /// The arguments after it.
        args: Vec<String>,
    },
}

struct OptionSpec {
    name: String,
    /// `None` for a flag without value.
    value_name: Option<String>,
    help: String,
}

type Action = Box<dyn FnOnce()>;
type Subcommand = Box<dyn FnOnce(&[String]) -> ExitCode>;

/// The command-line builder. See the [module documentation](self).
#[must_use]
pub struct SimCli {
    name: String,
    about: String,
    program: Option<String>,
    default_chaos: bool,
    default_seeds: u64,
    options: Vec<OptionSpec>,
    actions: Vec<(String, String, Action)>,
    subcommands: Vec<(String, String, Subcommand)>,
    definition_error: Option<String>,
}

impl SimCli {
    /// A command line for the binary `name`. Defaults: chaos on, 100 seeds.
    pub fn new(name: impl Into<String>) -> SimCli {
        SimCli {
            name: name.into(),
            about: String::new(),
            program: None,
            default_chaos: true,
            default_seeds: DEFAULT_SEEDS,
            options: Vec::new(),
            actions: Vec::new(),
            subcommands: Vec::new(),
            definition_error: None,
        }
    }

    /// One line saying what the binary simulates.
    pub fn about(mut self, about: impl Into<String>) -> SimCli {
        self.about = about.into();
        self
    }

    /// Whether chaos is on when neither `--chaos`, `--no-chaos` nor
    /// `MOONPOOL_CHAOS` says (default: on).
    pub fn default_chaos(mut self, on: bool) -> SimCli {
        self.default_chaos = on;
        self
    }

    /// Seeds a sweep runs when no count is given (default
    /// [`DEFAULT_SEEDS`]; at least 1).
    pub fn default_seeds(mut self, count: u64) -> SimCli {
        if count == 0 {
            self.refuse("default_seeds must be at least 1".to_string());
        }
        self.default_seeds = count.max(1);
        self
    }

    /// Declares the binary's option `--name VALUE`. Given options are part
    /// of every replay line.
    pub fn option(mut self, name: &str, value_name: &str, help: &str) -> SimCli {
        self.check_name(name);
        self.options.push(OptionSpec {
            name: name.to_string(),
            value_name: Some(value_name.to_string()),
            help: help.to_string(),
        });
        self
    }

    /// Declares the binary's switch `--name`. Given switches are part of
    /// every replay line.
    pub fn flag(mut self, name: &str, help: &str) -> SimCli {
        self.check_name(name);
        self.options.push(OptionSpec {
            name: name.to_string(),
            value_name: None,
            help: help.to_string(),
        });
        self
    }

    /// Declares `--name`, which runs `action` and exits with 0 instead of
    /// simulating (e.g. `--list-bugs`). Accepted before or after `sim`.
    pub fn action_flag(
        mut self,
        name: &str,
        help: &str,
        action: impl FnOnce() + 'static,
    ) -> SimCli {
        self.check_name(name);
        self.actions
            .push((name.to_string(), help.to_string(), Box::new(action)));
        self
    }

    /// Declares another subcommand (e.g. `real`); `run` gets the arguments
    /// after it and returns the exit code.
    pub fn subcommand(
        mut self,
        name: &str,
        about: &str,
        run: impl FnOnce(&[String]) -> ExitCode + 'static,
    ) -> SimCli {
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && !["sim", "help"].contains(&name)
            && !self.subcommands.iter().any(|(n, _, _)| n == name);
        if !valid {
            self.refuse(format!(
                "subcommand '{name}' is empty, reserved or declared twice"
            ));
        }
        self.subcommands
            .push((name.to_string(), about.to_string(), Box::new(run)));
        self
    }

    fn refuse(&mut self, message: String) {
        self.definition_error.get_or_insert(message);
    }

    fn check_name(&mut self, name: &str) {
        let well_formed = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-');
        let taken = args::builtin(name).is_some()
            || name == "help"
            || self.options.iter().any(|o| o.name == name)
            || self.actions.iter().any(|(n, _, _)| n == name);
        if !well_formed || taken {
            self.refuse(format!(
                "--{name} is malformed (use a-z, 0-9 and -), a runner flag, or declared twice"
            ));
        }
    }

    /// Parses `args` (without the program name) and the environment as
    /// read by `env`. Pure apart from picking a fresh first seed.
    pub fn parse(
        &self,
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Invocation, CliError> {
        self.parse_with(args, env, &mut fresh_first_seed)
    }

    /// [`SimCli::parse`] with the fresh first seed chosen by `fresh`.
    pub fn parse_with(
        &self,
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        fresh: &mut dyn FnMut() -> u64,
    ) -> Result<Invocation, CliError> {
        if let Some(message) = &self.definition_error {
            return Err(CliError::Definition(message.clone()));
        }
        let Some(first) = args.first() else {
            return Err(CliError::MissingSubcommand);
        };
        match first.as_str() {
            "sim" => self.parse_sim(&args[1..], env, fresh),
            "help" | "--help" | "-h" => Ok(Invocation::Help),
            name if self.subcommands.iter().any(|(n, _, _)| n == name) => {
                Ok(Invocation::Subcommand {
                    name: name.to_string(),
                    args: args[1..].to_vec(),
                })
            }
            flag if flag.starts_with("--") => {
                let name = &flag[2..];
                if self.actions.iter().any(|(n, _, _)| n == name) {
                    return Ok(Invocation::Action(name.to_string()));
                }
                Err(self.unknown_flag(flag))
            }
            other => Err(CliError::UnknownSubcommand(other.to_string())),
        }
    }

    fn unknown_flag(&self, flag: &str) -> CliError {
        let known = BUILTINS
            .iter()
            .map(|b| b.name)
            .chain(self.options.iter().map(|o| o.name.as_str()))
            .chain(self.actions.iter().map(|(n, _, _)| n.as_str()))
            .chain(["help"]);
        CliError::UnknownFlag {
            flag: flag.to_string(),
            suggestion: args::suggest(flag, known),
        }
    }

    fn parse_sim(
        &self,
        args: &[String],
        env: &dyn Fn(&str) -> Option<String>,
        fresh: &mut dyn FnMut() -> u64,
    ) -> Result<Invocation, CliError> {
        let mut flags = Settings::default();
        let mut options: BTreeMap<String, String> = BTreeMap::new();
        let mut switches: BTreeSet<String> = BTreeSet::new();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if arg == "-h" || arg == "--help" {
                return Ok(Invocation::Help);
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(CliError::UnexpectedArgument(arg.clone()));
            };
            let (name, inline) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (body, None),
            };
            let mut value = |value_name: &'static str| -> Result<String, CliError> {
                if let Some(v) = inline.clone() {
                    return Ok(v);
                }
                match rest.clone().next() {
                    Some(next) if !next.starts_with("--") => {
                        rest.next();
                        Ok(next.clone())
                    }
                    _ => Err(CliError::MissingValue {
                        flag: format!("--{name}"),
                        value_name,
                    }),
                }
            };
            if let Some(spec) = args::builtin(name) {
                let v = match spec.value_name {
                    Some(value_name) => Some(value(value_name)?),
                    None => inline.clone(),
                };
                flags.apply(spec, v.as_deref(), Origin::Flag(spec.name))?;
            } else if let Some(opt) = self.options.iter().find(|o| o.name == name) {
                let duplicate = match &opt.value_name {
                    Some(_) => {
                        let v = value("VALUE")?;
                        options.insert(name.to_string(), v).is_some()
                    }
                    None => {
                        if inline.is_some() {
                            return Err(CliError::UnexpectedValue { flag: arg.clone() });
                        }
                        !switches.insert(name.to_string())
                    }
                };
                if duplicate {
                    return Err(CliError::Duplicate {
                        flag: format!("--{name}"),
                    });
                }
            } else if self.actions.iter().any(|(n, _, _)| n == name) {
                if inline.is_some() {
                    return Err(CliError::UnexpectedValue { flag: arg.clone() });
                }
                return Ok(Invocation::Action(name.to_string()));
            } else {
                return Err(self.unknown_flag(arg));
            }
        }
        let settings = Settings::overlay(Settings::from_env(env)?, flags);
        settings.validate()?;
        let mut plan = settings.plan(self.default_seeds, fresh)?;
        let chaos = settings.chaos.map_or(self.default_chaos, |c| c.0);
        plan.chaos = Some(chaos);
        let mut replay_args = vec!["sim".to_string()];
        for opt in &self.options {
            if let Some(v) = options.get(&opt.name) {
                replay_args.push(format!("--{}", opt.name));
                replay_args.push(v.clone());
            } else if switches.contains(&opt.name) {
                replay_args.push(format!("--{}", opt.name));
            }
        }
        plan.replay = Replay::Command {
            program: self.program.clone().unwrap_or_else(|| self.name.clone()),
            args: replay_args,
        };
        Ok(Invocation::Sim(CliArgs {
            first_seed_fresh: settings.seed.is_none() && settings.first_seed.is_none(),
            plan,
            json: settings.json.is_some_and(|j| j.0),
            quiet: settings.quiet.is_some_and(|q| q.0),
            trace: settings.trace.map(|t| t.0),
            options,
            flags: switches,
        }))
    }

    /// The help text.
    pub fn usage(&self) -> String {
        let name = &self.name;
        let mut text = String::new();
        if self.about.is_empty() {
            text.push_str(&format!("{name}\n\n"));
        } else {
            text.push_str(&format!("{name}: {}\n\n", self.about));
        }
        text.push_str("usage:\n");
        let left = format!("{name} sim [FLAGS]");
        text.push_str(&format!("  {left:<28} run seeds in the simulator\n"));
        for (sub, about, _) in &self.subcommands {
            let left = format!("{name} {sub} ...");
            text.push_str(&format!("  {left:<28} {about}\n"));
        }
        for (action, help, _) in &self.actions {
            let left = format!("{name} --{action}");
            text.push_str(&format!("  {left:<28} {help}\n"));
        }
        text.push_str("\nsim flags (environment variable in brackets; flags win):\n");
        for b in BUILTINS {
            let left = match b.value_name {
                Some(v) => format!("--{} {v}", b.name),
                None => format!("--{}", b.name),
            };
            text.push_str(&format!("  {left:<28} {} [{}]\n", b.help, b.env));
        }
        if !self.options.is_empty() {
            text.push_str(&format!("\n{name} options (part of every replay line):\n"));
            for o in &self.options {
                let left = match &o.value_name {
                    Some(v) => format!("--{} {v}", o.name),
                    None => format!("--{}", o.name),
                };
                text.push_str(&format!("  {left:<28} {}\n", o.help));
            }
        }
        text.push_str(&format!(
            "\nchaos is {} by default. Seeds print as 0x-hex; decimal is accepted too.\n\
             exit codes: 0 every seed passed, 1 a seed failed, 2 bad flags or configuration.\n",
            if self.default_chaos { "on" } else { "off" }
        ));
        text
    }

    /// Parses the process's arguments and environment, runs, and returns
    /// the exit code. See the [module documentation](self).
    pub fn run<E: Display>(
        self,
        build: impl FnOnce(&CliArgs) -> Result<Simulation, E>,
    ) -> ExitCode {
        let argv: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        self.run_with(
            argv,
            &|name| std::env::var(name).ok(),
            &mut std::io::stdout(),
            &mut std::io::stderr(),
            build,
        )
    }

    /// [`SimCli::run`] with explicit arguments (`argv[0]` is the program),
    /// environment and output streams: for tests.
    pub fn run_with<E: Display>(
        mut self,
        argv: Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        out: &mut dyn Write,
        err: &mut dyn Write,
        build: impl FnOnce(&CliArgs) -> Result<Simulation, E>,
    ) -> ExitCode {
        let mut argv = argv.into_iter();
        self.program = Some(argv.next().unwrap_or_else(|| self.name.clone()));
        let args: Vec<String> = argv.collect();
        let invocation = match self.parse(&args, env) {
            Ok(invocation) => invocation,
            Err(e) => return self.refuse_run(err, &e),
        };
        match invocation {
            Invocation::Help => {
                let _ = out.write_all(self.usage().as_bytes());
                ExitCode::SUCCESS
            }
            Invocation::Action(name) => {
                if let Some(index) = self.actions.iter().position(|(n, _, _)| *n == name) {
                    let (_, _, action) = self.actions.swap_remove(index);
                    action();
                }
                ExitCode::SUCCESS
            }
            Invocation::Subcommand { name, args } => {
                match self.subcommands.iter().position(|(n, _, _)| *n == name) {
                    Some(index) => {
                        let (_, _, run) = self.subcommands.swap_remove(index);
                        run(&args)
                    }
                    None => self.refuse_run(err, &CliError::UnknownSubcommand(name)),
                }
            }
            Invocation::Sim(args) => self.run_sim(&args, out, err, build),
        }
    }

    fn refuse_run(&self, err: &mut dyn Write, e: &CliError) -> ExitCode {
        let _ = writeln!(
            err,
            "{}: error: {e}\nusage: {} sim [FLAGS]   (`{} --help` lists every flag)",
            self.name, self.name, self.name
        );
        ExitCode::from(e.exit_code())
    }

    fn run_sim<E: Display>(
        &self,
        args: &CliArgs,
        out: &mut dyn Write,
        err: &mut dyn Write,
        build: impl FnOnce(&CliArgs) -> Result<Simulation, E>,
    ) -> ExitCode {
        let sim = match build(args) {
            Ok(sim) => sim,
            Err(e) => return self.refuse_run(err, &CliError::Simulation(e.to_string())),
        };
        let mut plan = args.plan.clone();
        if let Some(path) = &args.trace {
            match args::open_trace(path) {
                Ok(sink) => plan.trace = Some(sink),
                Err(e) => return self.refuse_run(err, &e),
            }
        }
        let format = if args.json {
            Format::Json
        } else {
            Format::Human
        };
        let mut reporter = Reporter::new(&self.name, format, args.quiet(), out, err)
            .first_seed_fresh(args.first_seed_fresh);
        let report = sim.sweep_with(&plan, &mut reporter, None);
        reporter.finish(&report);
        if report.all_passed() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}
