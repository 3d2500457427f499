//! The command line of every example binary, written once.
//!
//! An example describes itself with an [`Example`]: its name, one line
//! about it, its simulation (a function of the planted bug) and the
//! arguments of its `real` subcommand (a [`RealRun`]: a `clap::Args` that
//! knows how to run itself). [`main`] turns that into the binary, on
//! `moonpool_sim::cli::SimCli`:
//!
//! ```text
//! NAME sim [runner flags] [--bug NAME]   the simulation, chaos on by default
//! NAME --list-bugs                       the bugs --bug can plant
//! NAME real [--OPTION VALUE]...          the same processes on loopback, checked the same way
//! ```
//!
//! The runner flags are `moonpool_sim::cli::SimArgs`'s (`--seed`,
//! `--seeds`, `--check-determinism`, `--json`, ...). Exit codes: 0 pass,
//! 1 a seed (or the real run) failed, 2 bad arguments.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Arg, ArgMatches, Args, Command, FromArgMatches, Subcommand};
use moonpool_sim::cli::{SimCli, named_values};
use moonpool_sim::{ConfigError, Simulation};

use super::bugs::{PlantedBug, bug_list};

/// Everything the shared command line needs to know about one example.
pub struct Example<B: PlantedBug, R: RealRun> {
    /// The binary's name (`kv`, `election`, ...).
    pub name: &'static str,
    /// One line saying what the example simulates.
    pub about: &'static str,
    /// The simulation, with `bug` planted (chaos on; the runner may turn
    /// it off).
    pub simulation: fn(Option<B>) -> Result<Simulation, ConfigError>,
    /// The arguments of the `real` subcommand, which run it.
    pub real: PhantomData<fn() -> R>,
}

/// The `real` subcommand of an example: its arguments (a `clap::Args`)
/// and how they run the same processes on loopback.
pub trait RealRun: Args + 'static {
    /// What the real run does, in one line (the subcommand's help).
    const ABOUT: &'static str;

    /// Runs it: the one-line report of a run whose checks passed, or why
    /// it could not run or failed its checks.
    fn run(&self) -> Result<String, String>;
}

/// `--bug NAME`, over an example's [`PlantedBug`]s: flattened into `sim`.
/// The possible names, with their descriptions, are in `sim --help`.
#[derive(Clone, Copy, Debug)]
pub struct BugFlag<B> {
    /// The bug to plant, if any.
    pub bug: Option<B>,
}

impl<B: PlantedBug> FromArgMatches for BugFlag<B> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<BugFlag<B>, clap::Error> {
        Ok(BugFlag {
            bug: matches.get_one::<B>("bug").copied(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        if let Some(bug) = matches.get_one::<B>("bug") {
            self.bug = Some(*bug);
        }
        Ok(())
    }
}

impl<B: PlantedBug> Args for BugFlag<B> {
    fn augment_args(command: Command) -> Command {
        command.arg(
            Arg::new("bug")
                .long("bug")
                .value_name("NAME")
                .help("Plant a bug (`--list-bugs` describes them)")
                .value_parser(named_values::<B>(
                    B::ALL.iter().map(|bug| (bug.name(), bug.description())),
                )),
        )
    }

    fn augment_args_for_update(command: Command) -> Command {
        BugFlag::<B>::augment_args(command)
    }
}

/// An example's own subcommands: `real` with its arguments, and
/// `--list-bugs` (also spelt `list-bugs`).
#[derive(Debug)]
pub enum ExampleCommand<R> {
    /// `real [--OPTION VALUE]...`.
    Real(R),
    /// `--list-bugs`.
    ListBugs,
}

impl<R: RealRun> FromArgMatches for ExampleCommand<R> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<ExampleCommand<R>, clap::Error> {
        match matches.subcommand() {
            Some(("real", real)) => Ok(ExampleCommand::Real(R::from_arg_matches(real)?)),
            Some(("list-bugs", _)) => Ok(ExampleCommand::ListBugs),
            Some((name, _)) => Err(clap::Error::raw(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("unrecognized subcommand '{name}'"),
            )),
            None => Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "a subcommand is required",
            )),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = ExampleCommand::from_arg_matches(matches)?;
        Ok(())
    }
}

impl<R: RealRun> Subcommand for ExampleCommand<R> {
    fn augment_subcommands(command: Command) -> Command {
        command
            // Derived arguments set the about text from their doc comment: ours
            // is set after it.
            .subcommand(
                R::augment_args(Command::new("real"))
                    .about(R::ABOUT)
                    .long_about(None),
            )
            .subcommand(
                Command::new("list-bugs")
                    .long_flag("list-bugs")
                    .about("List the bugs --bug can plant"),
            )
    }

    fn augment_subcommands_for_update(command: Command) -> Command {
        ExampleCommand::<R>::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        matches!(name, "real" | "list-bugs")
    }
}

/// A directory for a real run's files: the one given (kept), or a fresh
/// temporary one, removed when this is dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
    temporary: bool,
}

impl ScratchDir {
    /// `given`, or a fresh directory under the system's temporary
    /// directory named after `prefix`, this OS process and a counter.
    pub fn new(given: Option<PathBuf>, prefix: &str) -> ScratchDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        match given {
            Some(path) => ScratchDir {
                path,
                temporary: false,
            },
            None => {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("moonpool-{prefix}-{}-{n}", std::process::id()));
                // A leftover of an earlier process with the same id.
                let _ = std::fs::remove_dir_all(&path);
                ScratchDir {
                    path,
                    temporary: true,
                }
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the files are, for a report: the path, or that they were in a
    /// temporary directory.
    pub fn describe(&self) -> String {
        if self.temporary {
            "files in a temporary directory, removed".to_string()
        } else {
            format!("files in {}", self.path.display())
        }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// `n` free loopback addresses for a real run, found by binding port 0
/// (a tiny race with other programs, acceptable for an example).
pub fn free_ports(n: usize) -> Result<Vec<SocketAddr>, String> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("finding free ports: {e}"))?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map_err(|e| format!("finding free ports: {e}"))
        })
        .collect()
}

/// Runs an example's `real` subcommand: prints the report on stdout
/// (exit 0), or the failure on stderr (exit 1).
pub fn run_real<R: RealRun>(example_name: &str, real: &R) -> ExitCode {
    match real.run() {
        Ok(report) => {
            println!("{example_name} real: {report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{example_name} real: FAILED: {message}");
            ExitCode::from(1)
        }
    }
}

/// The command line of an example binary: `sim` with every runner flag
/// plus `--bug NAME`, `merge`, `--list-bugs`, and `real`.
fn cli<B: PlantedBug, R: RealRun>(
    example: &'static Example<B, R>,
) -> SimCli<BugFlag<B>, ExampleCommand<R>> {
    SimCli::new(example.name)
        .about(example.about)
        .default_chaos(true)
        .flags::<BugFlag<B>>()
        .commands(move |command: ExampleCommand<R>| match command {
            ExampleCommand::Real(real) => run_real(example.name, &real),
            ExampleCommand::ListBugs => {
                for line in bug_list::<B>() {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
        })
}

/// The whole clap command of an example binary (help, completions, and
/// tests that check a CI file only uses flags that exist).
pub fn command<B: PlantedBug, R: RealRun>(example: &'static Example<B, R>) -> Command {
    cli(example).command()
}

/// The `main` of an example binary: `sim` with every runner flag plus
/// `--bug NAME`, `merge`, `--list-bugs`, and `real`.
pub fn main<B: PlantedBug, R: RealRun>(example: &'static Example<B, R>) -> ExitCode {
    cli(example).run(move |flags, _| (example.simulation)(flags.bug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_scratch_dir_is_removed_and_a_given_one_kept() {
        let scratch = ScratchDir::new(None, "harness-test");
        std::fs::create_dir_all(scratch.path()).expect("mkdir");
        let path = scratch.path().to_path_buf();
        drop(scratch);
        assert!(!path.exists());
        let kept_path =
            std::env::temp_dir().join(format!("moonpool-harness-kept-{}", std::process::id()));
        std::fs::create_dir_all(&kept_path).expect("mkdir");
        drop(ScratchDir::new(Some(kept_path.clone()), "unused"));
        assert!(kept_path.exists());
        let _ = std::fs::remove_dir_all(&kept_path);
    }
}
