//! The command line of every example binary, written once.
//!
//! An example describes itself with an [`Example`]: its name, one line
//! about it, its simulation (a function of the planted bug) and its `real`
//! subcommand ([`RealCommand`]: the options it takes and the function that
//! runs it). [`main`] turns that into the binary:
//!
//! ```text
//! NAME sim [runner flags] [--bug NAME]   the simulation, chaos on by default
//! NAME --list-bugs                       the bugs --bug can plant
//! NAME real [--OPTION VALUE]...          the same processes on loopback, checked the same way
//! ```
//!
//! The runner flags are `moonpool_sim::cli::SimCli`'s (`--seed`, `--seeds`,
//! `--check-determinism`, `--json`, ...). Exit codes: 0 pass, 1 a seed (or
//! the real run) failed, 2 bad arguments.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use moonpool_sim::cli::SimCli;
use moonpool_sim::{ConfigError, Simulation};

use super::bugs::{PlantedBug, bug_list};

/// Everything the shared command line needs to know about one example.
pub struct Example<B: PlantedBug> {
    /// The binary's name (`kv`, `election`, ...).
    pub name: &'static str,
    /// One line saying what the example simulates.
    pub about: &'static str,
    /// The simulation, with `bug` planted (chaos on; the runner may turn
    /// it off).
    pub simulation: fn(Option<B>) -> Result<Simulation, ConfigError>,
    /// The `real` subcommand.
    pub real: RealCommand,
}

/// The `real` subcommand of an example: the same processes on loopback.
pub struct RealCommand {
    /// What it runs, in one line.
    pub about: &'static str,
    /// The options it takes, each `--name VALUE`.
    pub options: &'static [RealOption],
    /// Runs it: the one-line report of a run whose checks passed, or why
    /// it could not run or failed its checks.
    pub run: fn(&RealArgs) -> Result<String, RealFailure>,
}

/// One option of a `real` subcommand.
pub struct RealOption {
    /// `--name`.
    pub name: &'static str,
    /// The placeholder in the usage line (`N`, `DIR`).
    pub value_name: &'static str,
    /// What it sets, with its default.
    pub help: &'static str,
}

/// Why a `real` run did not pass.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RealFailure {
    /// Bad arguments (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The run could not be set up, or an invariant did not hold (exit
    /// code 1).
    #[error("{0}")]
    Failed(String),
}

/// The parsed options of a `real` run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealArgs {
    values: BTreeMap<String, String>,
}

impl RealArgs {
    /// Parses `--name VALUE` (or `--name=VALUE`) pairs against `options`.
    pub fn parse(options: &[RealOption], args: &[String]) -> Result<RealArgs, RealFailure> {
        let mut values = BTreeMap::new();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let Some(body) = arg.strip_prefix("--") else {
                return Err(RealFailure::Usage(format!("unexpected argument {arg:?}")));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (body, None),
            };
            if !options.iter().any(|o| o.name == name) {
                return Err(RealFailure::Usage(format!("unknown option --{name}")));
            }
            let value = match value.or_else(|| rest.next().cloned()) {
                Some(v) => v,
                None => return Err(RealFailure::Usage(format!("--{name} needs a value"))),
            };
            if values.insert(name.to_string(), value).is_some() {
                return Err(RealFailure::Usage(format!("--{name} given twice")));
            }
        }
        Ok(RealArgs { values })
    }

    /// The value of `--name`, as given.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `--name` as a count above zero, or `default`.
    pub fn count(&self, name: &str, default: u64) -> Result<u64, RealFailure> {
        match self.text(name) {
            None => Ok(default),
            Some(text) => text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                RealFailure::Usage(format!("--{name} expects a number above 0, got {text:?}"))
            }),
        }
    }

    /// `--name` as a path.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.text(name).map(PathBuf::from)
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

fn usage(example_name: &str, real: &RealCommand) -> String {
    let mut line = format!("{example_name} real");
    for o in real.options {
        line.push_str(&format!(" [--{} {}]", o.name, o.value_name));
    }
    line
}

fn real_help(real: &RealCommand) -> String {
    let mut help = real.about.to_string();
    for o in real.options {
        help.push_str(&format!("; --{} {}: {}", o.name, o.value_name, o.help));
    }
    help
}

/// Runs an example's `real` subcommand on `args`: prints the report on
/// stdout (exit 0), or the failure on stderr (exit 1; 2 with a usage line
/// for bad arguments).
pub fn run_real(example_name: &str, real: &RealCommand, args: &[String]) -> ExitCode {
    let outcome = RealArgs::parse(real.options, args).and_then(|parsed| (real.run)(&parsed));
    match outcome {
        Ok(report) => {
            println!("{example_name} real: {report}");
            ExitCode::SUCCESS
        }
        Err(RealFailure::Usage(message)) => {
            eprintln!("{example_name} real: {message}");
            eprintln!("usage: {}", usage(example_name, real));
            ExitCode::from(2)
        }
        Err(RealFailure::Failed(message)) => {
            eprintln!("{example_name} real: FAILED: {message}");
            ExitCode::from(1)
        }
    }
}

/// The `main` of an example binary: `sim` with every runner flag plus
/// `--bug NAME`, `--list-bugs`, and `real`.
pub fn main<B: PlantedBug>(example: &'static Example<B>) -> ExitCode {
    SimCli::new(example.name)
        .about(example.about)
        .default_chaos(true)
        .option("bug", "NAME", "plant a bug (see --list-bugs)")
        .action_flag("list-bugs", "list the bugs --bug can plant", || {
            for line in bug_list::<B>() {
                println!("{line}");
            }
        })
        .subcommand("real", &real_help(&example.real), move |args| {
            run_real(example.name, &example.real, args)
        })
        .run(move |args| {
            let bug = args
                .option("bug")
                .map(B::parse)
                .transpose()
                .map_err(|e| e.to_string())?;
            (example.simulation)(bug).map_err(|e| e.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[RealOption] = &[
        RealOption {
            name: "ops",
            value_name: "N",
            help: "operations",
        },
        RealOption {
            name: "dir",
            value_name: "DIR",
            help: "directory",
        },
    ];

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn real_options_parse_with_either_spelling() {
        let parsed =
            RealArgs::parse(OPTIONS, &args(&["--ops", "7", "--dir=/tmp/x"])).expect("valid");
        assert_eq!(parsed.count("ops", 1), Ok(7));
        assert_eq!(parsed.path("dir"), Some(PathBuf::from("/tmp/x")));
        assert_eq!(RealArgs::default().count("ops", 5), Ok(5));
    }

    #[test]
    fn bad_real_options_are_usage_errors() {
        for bad in [
            &["--nope", "1"][..],
            &["--ops"],
            &["ops"],
            &["--ops", "1", "--ops", "2"],
        ] {
            assert!(
                matches!(
                    RealArgs::parse(OPTIONS, &args(bad)),
                    Err(RealFailure::Usage(_))
                ),
                "{bad:?}"
            );
        }
        let zero = RealArgs::parse(OPTIONS, &args(&["--ops", "0"])).expect("parsed");
        assert!(matches!(zero.count("ops", 1), Err(RealFailure::Usage(_))));
    }

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
