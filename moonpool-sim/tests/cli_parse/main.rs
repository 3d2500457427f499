//! The command line, in process: every flag, every refusal (exit code 2),
//! environment variables and their precedence, replay lines, whole runs
//! through `SimCli::run_with`, and a binary with its own clap parser that
//! flattens `SimArgs`.
//!
//! `MOONPOOL_*` variables are given through `parse_with_env`/`with_env`,
//! never taken from the process environment, so a variable left in the
//! shell cannot change these tests; `cli_demo` checks the same rules with
//! real variables read by clap.

mod debugging;
mod environment;
mod flags;
mod flatten;
mod refusals;
mod runs;

use std::ffi::OsString;
use std::process::ExitCode;

use moonpool_sim::cli::{CliError, Invocation, SimCli, SimSettings};

/// The test binary's own `sim` flags.
#[derive(clap::Args, Debug)]
struct DemoFlags {
    /// Plant a bug
    #[arg(long, value_name = "NAME")]
    bug: Option<String>,
    /// Go fast
    #[arg(long)]
    fast: bool,
}

/// The test binary's own subcommands.
#[derive(clap::Subcommand, Debug, PartialEq, Eq)]
enum DemoCommands {
    /// Run for real
    Real {
        /// How many
        #[arg(long)]
        count: Option<u64>,
    },
    /// List the bugs
    #[command(long_flag = "list-bugs")]
    ListBugs,
}

const PROGRAM: &str = "target/debug/demo";

fn cli() -> SimCli<DemoFlags, DemoCommands> {
    SimCli::new("demo")
        .about("a test binary")
        .flags::<DemoFlags>()
        .commands(|_| ExitCode::SUCCESS)
}

/// `PROGRAM` then `args`.
fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once(PROGRAM)
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

fn lookup(env: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn parse_env(
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Invocation<DemoFlags, DemoCommands>, CliError> {
    cli().parse_with_env(&argv(args), &lookup(env))
}

fn parse(args: &[&str]) -> Result<Invocation<DemoFlags, DemoCommands>, CliError> {
    parse_env(args, &[])
}

/// Parses and checks a `sim` invocation: the binary's flags and the
/// settings, or the error either step gave.
fn resolve_env(args: &[&str], env: &[(&str, &str)]) -> Result<(DemoFlags, SimSettings), CliError> {
    match parse_env(args, env)? {
        Invocation::Sim { flags, args: sim } => Ok((flags, sim.resolve(&argv(args))?)),
        other => panic!("{args:?}: expected a sim invocation, got {other:?}"),
    }
}

fn sim_env(args: &[&str], env: &[(&str, &str)]) -> SimSettings {
    match resolve_env(args, env) {
        Ok((_, settings)) => settings,
        Err(e) => panic!("{args:?} {env:?}: refused: {e}"),
    }
}

fn sim(args: &[&str]) -> SimSettings {
    sim_env(args, &[])
}

fn err_env(args: &[&str], env: &[(&str, &str)]) -> CliError {
    match resolve_env(args, env) {
        Err(e) => e,
        Ok((_, s)) => panic!("{args:?} {env:?} should be refused, resolved to {s:?}"),
    }
}

fn err(args: &[&str]) -> CliError {
    err_env(args, &[])
}

/// The message of a refusal clap made.
fn clap_message(args: &[&str]) -> String {
    match parse(args) {
        Err(CliError::CommandLine { message, .. }) => message,
        other => panic!("{args:?}: expected clap to refuse, got {other:?}"),
    }
}
