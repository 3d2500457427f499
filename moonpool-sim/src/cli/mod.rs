//! The command line of simulation binaries, on clap.
//!
//! # Types
//! - [`SimArgs`]: the runner's flags (`--seed`, `--seeds`, `--chaos`,
//!   `--json`, ...) and their `MOONPOOL_*` variables, a `clap::Args` that
//!   any clap parser can `#[command(flatten)]`; [`SimArgs::run`] sweeps,
//!   reports and returns the exit code.
//! - [`SimCli`]: a whole command line in one call: `sim` (the runner's
//!   flags next to the binary's own, a `clap::Args` type `F`), the
//!   binary's own subcommands (a `clap::Subcommand` type `C`, e.g.
//!   `real`), `--help`, one-line errors.
//! - [`Invocation`]: a parsed command line ([`SimCli::parse`]).
//! - [`SimSettings`]: a checked `sim` invocation: the plan, chaos, output.
//! - [`CliError`]: every refusal (exit code 2).
//! - [`Replay`]: how the line that replays a failed seed is written.
//! - [`NoFlags`], [`NoCommands`]: what a binary without flags or
//!   subcommands of its own declares; [`named_values`]: a clap value
//!   parser for a fixed list of names (`--bug NAME`).
//!
//! # Exit codes
//! `0`: every seed passed (or `--help`). `1`: a seed failed, or
//! `--until-all-sometimes` ended with sites unsatisfied. `2`: bad flags,
//! environment variables or configuration, with a one-line message.
//! The binary's own subcommands return their own codes.
//!
//! # Precedence
//! Flags win over variables, also across kinds of run: see the
//! `settings.rs` design note and `docs/src/runner.md`.
//!
//! # A binary that just wants the runner
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
//! /// The binary's own flags, flattened into `sim` next to the runner's.
//! #[derive(clap::Args)]
//! struct NapFlags {
//!     /// How long each client naps
//!     #[arg(long, value_name = "MS", default_value_t = 10)]
//!     nap_ms: u64,
//! }
//!
//! /// The binary's own subcommands, next to `sim`.
//! #[derive(clap::Subcommand)]
//! enum NapCommands {
//!     /// Say how long a nap is
//!     Describe,
//! }
//!
//! fn main() -> ExitCode {
//!     SimCli::new("napper")
//!         .about("sleeps, deterministically")
//!         .default_chaos(true)
//!         .flags::<NapFlags>()
//!         .commands(|NapCommands::Describe| {
//!             println!("a nap is a sleep");
//!             ExitCode::SUCCESS
//!         })
//!         .run(|flags, _settings| {
//!             let ms = flags.nap_ms;
//!             SimulationBuilder::new()
//!                 .workload("napper", 3, move |_| Nap(ms))
//!                 .build()
//!         })
//! }
//! ```
//!
//! `napper sim --seeds 1000 --check-determinism`, `napper sim --seed 0x2a
//! --trace trace.log`, `napper sim --help`... A failure prints its replay
//! line, with the binary's own flags as typed:
//! `target/debug/napper sim --nap-ms 5 --chaos --seed 0x2a`.
//!
//! A binary with its own clap parser flattens [`SimArgs`] instead: see
//! its documentation and `moonpool-sim/examples/own_cli.rs`.

mod args;
pub(crate) mod env;
mod error;
mod merge;
mod seeds_file;
mod settings;
mod sim;

use std::error::Error;
use std::ffi::OsString;
use std::fmt::Display;
use std::io::Write;
use std::marker::PhantomData;
use std::process::ExitCode;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Command, FromArgMatches, Subcommand};

pub use args::SimArgs;
pub use error::CliError;
pub use merge::{MERGE_LINE_BYTES_MAX, MergeArgs};
pub use seeds_file::SEEDS_FILE_LINES_MAX;
pub use settings::{SHARD_INDEX_VARIABLES, SHARDED_FIRST_SEED};
pub use sim::SimSettings;

use settings::plan_from_env;

use crate::runner::builder::Simulation;
use crate::runner::sweep::DEFAULT_SEEDS;

/// Reads a `MOONPOOL_*` variable (tests pass their own).
type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The subcommands every [`SimCli`] binary has; a binary's own
/// subcommands may not reuse them.
const BUILTIN_SUBCOMMANDS: [&str; 3] = ["sim", "merge", "help"];

/// No flags of the binary's own (the default of [`SimCli`]).
#[derive(Args, Clone, Copy, Debug, Default)]
#[group(skip)]
pub struct NoFlags {}

/// No subcommands of the binary's own (the default of [`SimCli`]).
#[derive(Subcommand, Clone, Copy, Debug)]
pub enum NoCommands {}

/// A parsed command line.
#[derive(Debug)]
pub enum Invocation<F, C> {
    /// `sim`: the binary's flags and the runner's.
    Sim {
        /// The binary's own flags.
        flags: F,
        /// The runner's flags, with the binary's defaults.
        args: SimArgs,
    },
    /// `merge FILE...`: JSON-lines reports merged into one.
    Merge(MergeArgs),
    /// One of the binary's own subcommands.
    Command(C),
    /// `--help`, `-h` or `help`: the text to print (exit code 0).
    Help(String),
}

/// The command-line builder: `F` is the binary's own `sim` flags (a
/// `clap::Args`), `C` its own subcommands (a `clap::Subcommand`). See the
/// [module documentation](self).
#[must_use]
pub struct SimCli<F = NoFlags, C = NoCommands> {
    name: String,
    about: String,
    default_chaos: bool,
    default_seeds: u64,
    commands: Box<dyn FnOnce(C) -> ExitCode>,
    flags: PhantomData<fn() -> F>,
}

impl SimCli {
    /// A command line for the binary `name`, with no flags or subcommands
    /// of its own. Defaults: chaos on, [`DEFAULT_SEEDS`] seeds.
    pub fn new(name: impl Into<String>) -> SimCli {
        SimCli {
            name: name.into(),
            about: String::new(),
            default_chaos: true,
            default_seeds: DEFAULT_SEEDS,
            commands: Box::new(|none: NoCommands| match none {}),
            flags: PhantomData,
        }
    }
}

impl<F: Args, C: Subcommand> SimCli<F, C> {
    /// One line saying what the binary simulates.
    pub fn about(mut self, about: impl Into<String>) -> SimCli<F, C> {
        self.about = about.into();
        self
    }

    /// Whether chaos is on when neither `--chaos`, `--no-chaos` nor
    /// `MOONPOOL_CHAOS` says (default: on).
    pub fn default_chaos(mut self, on: bool) -> SimCli<F, C> {
        self.default_chaos = on;
        self
    }

    /// Seeds a sweep runs when no count is given (default
    /// [`DEFAULT_SEEDS`]; 0 is refused when parsing).
    pub fn default_seeds(mut self, count: u64) -> SimCli<F, C> {
        self.default_seeds = count;
        self
    }

    /// The binary's own flags: `G` is flattened into `sim`, next to the
    /// runner's flags, and reaches the build closure of [`SimCli::run`].
    /// They must not reuse a runner flag's name.
    pub fn flags<G: Args>(self) -> SimCli<G, C> {
        SimCli {
            name: self.name,
            about: self.about,
            default_chaos: self.default_chaos,
            default_seeds: self.default_seeds,
            commands: self.commands,
            flags: PhantomData,
        }
    }

    /// The binary's own subcommands (e.g. `real`), next to `sim`; `run`
    /// runs the one given and returns the exit code. A variant with
    /// `#[command(long_flag = "list-bugs")]` is invoked as `--list-bugs`.
    /// They must not be named `sim` or `help`.
    pub fn commands<D: Subcommand>(
        self,
        run: impl FnOnce(D) -> ExitCode + 'static,
    ) -> SimCli<F, D> {
        SimCli {
            name: self.name,
            about: self.about,
            default_chaos: self.default_chaos,
            default_seeds: self.default_seeds,
            commands: Box::new(run),
            flags: PhantomData,
        }
    }

    /// The clap command: `sim` with the binary's and the runner's flags,
    /// and the binary's subcommands. For help text, completions, tests.
    pub fn command(&self) -> Command {
        let chaos = if self.default_chaos { "on" } else { "off" };
        // Derived types set the about text from their doc comments: ours
        // are set after them.
        let sim = SimArgs::augment_args(F::augment_args(Command::new("sim")))
            .about("Run seeds in the simulator")
            .long_about(None)
            .after_help(format!(
                "Chaos is {chaos} by default. Seeds print as 0x-hex; decimal is accepted too.\n\
                 Flags win over MOONPOOL_* variables: a flag that picks the kind of run (--seed, or\n\
                 a sweep flag) makes the variables of the other kind ignored. An empty variable is\n\
                 unset; switch variables take 1/0, on/off, true/false or yes/no.\n\
                 Exit codes: 0 every seed passed, 1 a seed failed (or --until-all-sometimes missed\n\
                 its goal), 2 bad flags, variables or configuration."
            ));
        let merge = MergeArgs::augment_args(Command::new("merge"))
            .about("Merge the JSON-lines reports of shards (sim --json) into one summary")
            .long_about(None)
            .after_help(
                "Exit codes: 0 every seed passed, 1 a seed failed (or, with --require-sometimes,\n\
                 a sometimes assertion was never satisfied), 2 a file is unreadable or cut short.",
            );
        let root = Command::new(self.name.clone())
            .bin_name(self.name.clone())
            .subcommand_required(true)
            .subcommand(sim)
            .subcommand(merge);
        C::augment_subcommands(root)
            .about(self.about.clone())
            .long_about(None)
            .after_help(format!(
                "`{} sim --help` lists the runner's flags and their MOONPOOL_* variables.",
                self.name
            ))
    }

    /// What is wrong with how the binary declared its command line, if
    /// anything: checked before clap sees the definition, so a clash is a
    /// [`CliError::Definition`], not a panic.
    fn definition_error(&self) -> Option<String> {
        if self.default_seeds == 0 {
            return Some("the default seed count must be at least 1".to_string());
        }
        let runner = SimArgs::augment_args(Command::new("sim"));
        let own = F::augment_args(Command::new("sim"));
        for (i, arg) in own.get_arguments().enumerate() {
            let id = arg.get_id().as_str();
            let long = arg.get_long();
            let same = |other: &clap::Arg| {
                other.get_id().as_str() == id || (long.is_some() && other.get_long() == long)
            };
            let clash = runner.get_arguments().any(same)
                || own.get_arguments().take(i).any(same)
                || long == Some("help");
            if clash {
                return Some(format!(
                    "the binary's flag '{}' is declared twice, or is a runner flag or --help",
                    long.unwrap_or(id)
                ));
            }
        }
        BUILTIN_SUBCOMMANDS
            .into_iter()
            .find(|name| C::has_subcommand(name))
            .map(|name| format!("the binary's subcommand '{name}' is reserved"))
    }

    /// Parses `argv` (the program first). The `MOONPOOL_*` variables are
    /// read from the process environment by clap.
    pub fn parse(&self, argv: &[OsString]) -> Result<Invocation<F, C>, CliError> {
        if let Some(message) = self.definition_error() {
            return Err(CliError::Definition(message));
        }
        let matches = match self.command().try_get_matches_from(argv) {
            Ok(matches) => matches,
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                return Ok(Invocation::Help(e.render().to_string()));
            }
            Err(e) => return Err(command_line_error(&e)),
        };
        match matches.subcommand() {
            Some(("sim", sim)) => {
                let flags = F::from_arg_matches(sim).map_err(|e| command_line_error(&e))?;
                let args = SimArgs::from_arg_matches(sim)
                    .map_err(|e| command_line_error(&e))?
                    .default_chaos(self.default_chaos)
                    .default_seeds(self.default_seeds);
                Ok(Invocation::Sim { flags, args })
            }
            Some(("merge", merge)) => MergeArgs::from_arg_matches(merge)
                .map(Invocation::Merge)
                .map_err(|e| command_line_error(&e)),
            _ => C::from_arg_matches(&matches)
                .map(Invocation::Command)
                .map_err(|e| command_line_error(&e)),
        }
    }

    /// [`SimCli::parse`] with the `MOONPOOL_*` variables read through
    /// `env` (see [`SimArgs::with_env`]): for tests.
    pub fn parse_with_env(
        &self,
        argv: &[OsString],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Invocation<F, C>, CliError> {
        Ok(match self.parse(argv)? {
            Invocation::Sim { flags, args } => Invocation::Sim {
                flags,
                args: args.with_env(env),
            },
            other => other,
        })
    }

    /// Parses the process's arguments, then runs `sim` (building a
    /// simulation per job with `build`, given the binary's flags and the
    /// checked settings: it is called once on this thread and once on
    /// each worker thread, so it is `Fn + Sync`), `merge`, one of the
    /// binary's subcommands, or prints the help; returns the exit code.
    /// An error returned by `build` exits with 2.
    pub fn run<E: Display + Send>(
        self,
        build: impl Fn(&F, &SimSettings) -> Result<Simulation, E> + Sync,
    ) -> ExitCode
    where
        F: Sync,
    {
        let argv: Vec<OsString> = std::env::args_os().collect();
        self.run_parsed(
            &argv,
            None,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
            sim::stderr_is_terminal(),
            build,
        )
    }

    /// [`SimCli::run`] with explicit arguments (`argv[0]` is the program),
    /// `MOONPOOL_*` variables and output streams: for tests.
    pub fn run_with<E: Display + Send>(
        self,
        argv: &[OsString],
        env: &dyn Fn(&str) -> Option<String>,
        out: &mut dyn Write,
        err: &mut dyn Write,
        build: impl Fn(&F, &SimSettings) -> Result<Simulation, E> + Sync,
    ) -> ExitCode
    where
        F: Sync,
    {
        self.run_parsed(argv, Some(env), out, err, false, build)
    }

    /// The binary's flags given on a seeds-file line (`options`, parsed
    /// as if they followed `sim`).
    fn line_flags(&self, options: &[String]) -> Result<F, String> {
        let argv = [self.name.as_str(), "sim"]
            .into_iter()
            .map(str::to_string)
            .chain(options.iter().cloned());
        let matches = self
            .command()
            .try_get_matches_from(argv)
            .map_err(|e| command_line_error(&e).to_string())?;
        match matches.subcommand() {
            Some(("sim", sim)) => {
                F::from_arg_matches(sim).map_err(|e| command_line_error(&e).to_string())
            }
            _ => Err("not options of `sim`".to_string()),
        }
    }

    fn run_parsed<E: Display + Send>(
        self,
        argv: &[OsString],
        env: Option<EnvLookup<'_>>,
        out: &mut dyn Write,
        err: &mut dyn Write,
        terminal: bool,
        build: impl Fn(&F, &SimSettings) -> Result<Simulation, E> + Sync,
    ) -> ExitCode
    where
        F: Sync,
    {
        let parsed = match env {
            Some(env) => self.parse_with_env(argv, env),
            None => self.parse(argv),
        };
        let invocation = match parsed {
            Ok(invocation) => invocation,
            Err(e) => return self.refuse(err, &e),
        };
        match invocation {
            Invocation::Help(text) => {
                let _ = out.write_all(text.as_bytes());
                ExitCode::SUCCESS
            }
            Invocation::Merge(merge) => merge.run(&self.name, out, err),
            Invocation::Command(command) => (self.commands)(command),
            Invocation::Sim { flags, args } => match args.resolve(argv) {
                Ok(settings) => {
                    let line_flags = |options: &[String]| self.line_flags(options);
                    let binary = sim::Binary {
                        base: &flags,
                        line_flags: &line_flags,
                        build: &build,
                    };
                    settings.run(&self.name, out, err, terminal, binary)
                }
                Err(e) => self.refuse(err, &e),
            },
        }
    }

    /// The error on one line, then a usage line.
    fn refuse(&self, err: &mut dyn Write, e: &CliError) -> ExitCode {
        let code = sim::refuse(&self.name, err, e);
        let name = &self.name;
        let _ = match e {
            CliError::CommandLine {
                usage: Some(usage), ..
            } => writeln!(err, "usage: {usage}   (add --help for more)"),
            CliError::CommandLine { usage: None, .. } => {
                writeln!(err, "`{name} --help` lists the subcommands")
            }
            _ => writeln!(
                err,
                "usage: {name} sim [OPTIONS]   (`{name} sim --help` lists every flag)"
            ),
        };
        code
    }
}

/// clap's refusal as a [`CliError::CommandLine`]: its message, with its
/// suggestion and the values it would accept, on one line.
fn command_line_error(e: &clap::Error) -> CliError {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default().trim();
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    let mut notes: Vec<String> = Vec::new();
    for kind in [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedValue,
    ] {
        let suggestion = match e.get(kind) {
            Some(ContextValue::String(s)) => Some(s.clone()),
            Some(ContextValue::Strings(s)) => s.first().cloned(),
            _ => None,
        };
        if let Some(s) = suggestion {
            notes.push(format!("did you mean '{s}'?"));
        }
    }
    if let Some(ContextValue::StyledStrs(tips)) = e.get(ContextKind::Suggested) {
        notes.extend(tips.iter().map(|t| format!("tip: {t}")));
    }
    if let Some(values) = e.get(ContextKind::ValidValue) {
        notes.push(format!("possible values: {values}"));
    }
    if let Some(names) = e.get(ContextKind::ValidSubcommand) {
        notes.push(format!("subcommands: {names}"));
    }
    if !notes.is_empty() {
        message = format!("{message} ({})", notes.join("; "));
    }
    let usage = e.get(ContextKind::Usage).map(|u| {
        let u = u.to_string();
        let u = u.trim();
        u.strip_prefix("Usage: ").unwrap_or(u).to_string()
    });
    CliError::CommandLine { message, usage }
}

/// A clap value parser for a type with a fixed list of names, such as the
/// bugs a binary can plant: accepts exactly the names of `choices`, lists
/// them with their help in `--help` (and in errors, with a suggestion),
/// and converts with `T::from_str`.
///
/// ```
/// # #[derive(Clone, Debug, PartialEq)] enum Bug { Skip }
/// # impl std::str::FromStr for Bug { type Err = String;
/// #   fn from_str(s: &str) -> Result<Bug, String> { Ok(Bug::Skip) } }
/// #[derive(clap::Args)]
/// struct Flags {
///     /// Plant a bug
///     #[arg(long, value_name = "NAME",
///           value_parser = moonpool_sim::cli::named_values::<Bug>([("skip", "skips the sync")]))]
///     bug: Option<Bug>,
/// }
/// ```
pub fn named_values<T>(
    choices: impl IntoIterator<Item = (&'static str, &'static str)>,
) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn Error + Send + Sync + 'static>>,
{
    PossibleValuesParser::new(
        choices
            .into_iter()
            .map(|(name, help)| PossibleValue::new(name).help(help)),
    )
    .try_map(|name| name.parse::<T>())
}
