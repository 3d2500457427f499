//! [`SimArgs`]: the runner's flags and their `MOONPOOL_*` variables, as a
//! `clap::Args` that [`SimCli`](super::SimCli) uses and that a binary with
//! its own clap parser flattens (`#[command(flatten)]`) into its `sim`
//! subcommand.
//!
//! # Design
//! clap owns the words: which flags exist, which take a value, a flag given
//! twice, a misspelt flag and its suggestion, `--help`, and reading each
//! flag's variable when the flag is absent. Every value is kept as the text
//! given, with where it came from ([`Origin`]: the flag, or its variable,
//! told apart by clap's `ValueSource`); `settings.rs` checks the values
//! afterwards, so a bad value is refused with a [`CliError`](super::CliError)
//! that names the flag or the variable holding it, and the rules between
//! flags and variables (flags win, also across kinds of run) live in one
//! place.
//!
//! [`KEYS`] lists the settings; a unit test checks it against the clap
//! definition ([`Flags`]), so the two cannot drift apart.

use std::fmt;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Command, FromArgMatches};

use crate::runner::sweep::DEFAULT_SEEDS;

/// One runner setting: a flag, and (except `--no-chaos`) its variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Key {
    Seed,
    Seeds,
    FirstSeed,
    Shard,
    TimeBudget,
    CheckDeterminism,
    Chaos,
    NoChaos,
    UntilAllSometimes,
    MaxSeeds,
    Json,
    Trace,
    Quiet,
    Jobs,
    ShardFromEnv,
    SeedsFile,
    SaveFailures,
    FailFast,
    MaxFailures,
    Verbose,
    Faults,
    NoFaults,
    BuggifySites,
    Minimize,
    TraceFilter,
    TraceFrom,
    TraceUntil,
    Timeline,
}

/// Every setting in [`Key`] order (the order of `--help`): its clap id
/// (the field of [`Flags`]; the flag is the id with dashes), the variable
/// that gives it when the flag is absent (`MOONPOOL_CHAOS` holds a boolean
/// and belongs to `--chaos`), and whether the flag takes a value (the
/// others are switches, whose variable holds a boolean).
#[rustfmt::skip]
const KEYS: [(Key, &str, Option<&str>, bool); 28] = [
    (Key::Seed,              "seed",                Some("MOONPOOL_SEED"),                true),
    (Key::Seeds,             "seeds",               Some("MOONPOOL_SEEDS"),               true),
    (Key::FirstSeed,         "first_seed",          Some("MOONPOOL_FIRST_SEED"),          true),
    (Key::Shard,             "shard",               Some("MOONPOOL_SHARD"),               true),
    (Key::TimeBudget,        "time_budget",         Some("MOONPOOL_TIME_BUDGET"),         true),
    (Key::CheckDeterminism,  "check_determinism",   Some("MOONPOOL_CHECK_DETERMINISM"),   false),
    (Key::Chaos,             "chaos",               Some("MOONPOOL_CHAOS"),               false),
    (Key::NoChaos,           "no_chaos",            None,                                 false),
    (Key::UntilAllSometimes, "until_all_sometimes", Some("MOONPOOL_UNTIL_ALL_SOMETIMES"), false),
    (Key::MaxSeeds,          "max_seeds",           Some("MOONPOOL_MAX_SEEDS"),           true),
    (Key::Json,              "json",                Some("MOONPOOL_JSON"),                false),
    (Key::Trace,             "trace",               Some("MOONPOOL_TRACE"),               true),
    (Key::Quiet,             "quiet",               Some("MOONPOOL_QUIET"),               false),
    (Key::Jobs,              "jobs",                Some("MOONPOOL_JOBS"),                true),
    (Key::ShardFromEnv,      "shard_from_env",      Some("MOONPOOL_SHARD_FROM_ENV"),      true),
    (Key::SeedsFile,         "seeds_file",          Some("MOONPOOL_SEEDS_FILE"),          true),
    (Key::SaveFailures,      "save_failures",       Some("MOONPOOL_SAVE_FAILURES"),       true),
    (Key::FailFast,          "fail_fast",           Some("MOONPOOL_FAIL_FAST"),           false),
    (Key::MaxFailures,       "max_failures",        Some("MOONPOOL_MAX_FAILURES"),        true),
    (Key::Verbose,           "verbose",             Some("MOONPOOL_VERBOSE"),             false),
    (Key::Faults,            "faults",              Some("MOONPOOL_FAULTS"),              true),
    (Key::NoFaults,          "no_faults",           Some("MOONPOOL_NO_FAULTS"),           true),
    (Key::BuggifySites,      "buggify_sites",       Some("MOONPOOL_BUGGIFY_SITES"),       true),
    (Key::Minimize,          "minimize",            None,                                 false),
    (Key::TraceFilter,       "trace_filter",        Some("MOONPOOL_TRACE_FILTER"),        true),
    (Key::TraceFrom,         "trace_from",          Some("MOONPOOL_TRACE_FROM"),          true),
    (Key::TraceUntil,        "trace_until",         Some("MOONPOOL_TRACE_UNTIL"),         true),
    (Key::Timeline,          "timeline",            Some("MOONPOOL_TIMELINE"),            true),
];

impl Key {
    /// clap's id: the field of [`Flags`].
    fn id(self) -> &'static str {
        KEYS[self as usize].1
    }

    /// The flag, without `--`.
    pub(crate) fn long(self) -> String {
        self.id().replace('_', "-")
    }

    /// The variable that gives the setting when the flag is absent.
    pub(crate) fn env(self) -> Option<&'static str> {
        KEYS[self as usize].2
    }

    /// Whether the flag takes a value.
    pub(crate) fn takes_value(self) -> bool {
        KEYS[self as usize].3
    }

    fn from_long(name: &str) -> Option<Key> {
        KEYS.into_iter()
            .map(|(key, ..)| key)
            .find(|key| key.long() == name)
    }
}

/// Where a value came from: a flag or its environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The command line.
    Flag(Key),
    /// The setting's `MOONPOOL_*` variable.
    Env(Key),
}

impl Origin {
    pub(crate) fn is_flag(self) -> bool {
        matches!(self, Origin::Flag(_))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Origin::Flag(key) => write!(f, "--{}", key.long()),
            Origin::Env(key) => f.write_str(key.env().unwrap_or("?")),
        }
    }
}

/// One value as given, before it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Given {
    pub(crate) key: Key,
    pub(crate) text: String,
    pub(crate) origin: Origin,
}

/// The clap definition of the runner's flags. Switches are declared as
/// optional text with no value on the command line (`num_args = 0`,
/// reading `true`), so their variable can hold any boolean spelling and a
/// bad one is refused by name, like every other value.
#[derive(Args)]
#[group(skip)]
#[command(next_help_heading = "Runner options")]
struct Flags {
    /// Replay exactly seed S (decimal or 0x-hex) and print its chaos timeline
    #[arg(long, value_name = "S", env = "MOONPOOL_SEED")]
    seed: Option<String>,
    /// Run N seeds [default: 100; unbounded with --time-budget alone]
    #[arg(long, value_name = "N", env = "MOONPOOL_SEEDS")]
    seeds: Option<String>,
    /// First seed of the sweep [default: a fresh base, printed]
    #[arg(long, value_name = "S", env = "MOONPOOL_FIRST_SEED")]
    first_seed: Option<String>,
    /// Run only the seeds whose index in the plan is K-1 mod N (K is 1-based; `auto/N` reads K from the CI's variable)
    #[arg(long, value_name = "K/N", env = "MOONPOOL_SHARD")]
    shard: Option<String>,
    /// Start no new seed after DURATION of wall time (500ms, 30s, 2m, 1h)
    #[arg(long, value_name = "DURATION", env = "MOONPOOL_TIME_BUDGET")]
    time_budget: Option<String>,
    /// Run each seed twice; fail it, naming the first diverging step, if the runs differ
    #[arg(
        long,
        env = "MOONPOOL_CHECK_DETERMINISM",
        num_args = 0,
        default_missing_value = "true"
    )]
    check_determinism: Option<String>,
    /// Turn the chaos profile on (fault families and rates sampled per seed)
    #[arg(
        long,
        env = "MOONPOOL_CHAOS",
        num_args = 0,
        default_missing_value = "true"
    )]
    chaos: Option<String>,
    /// Force the quiet configuration: no faults at all
    #[arg(long, num_args = 0, default_missing_value = "true")]
    no_chaos: Option<String>,
    /// Sweep until every sometimes assertion was satisfied (at most --max-seeds seeds)
    #[arg(
        long,
        env = "MOONPOOL_UNTIL_ALL_SOMETIMES",
        num_args = 0,
        default_missing_value = "true"
    )]
    until_all_sometimes: Option<String>,
    /// Seed cap of --until-all-sometimes [default: 10000]
    #[arg(long, value_name = "N", env = "MOONPOOL_MAX_SEEDS")]
    max_seeds: Option<String>,
    /// Print one JSON object per seed and a final summary object on stdout
    #[arg(
        long,
        env = "MOONPOOL_JSON",
        num_args = 0,
        default_missing_value = "true"
    )]
    json: Option<String>,
    /// Write every trace event (seed, simulated time, process, task) to FILE; `-` is stderr
    #[arg(long, value_name = "FILE", env = "MOONPOOL_TRACE")]
    trace: Option<String>,
    /// Print only failures and the summary; no progress
    #[arg(
        long,
        env = "MOONPOOL_QUIET",
        num_args = 0,
        default_missing_value = "true"
    )]
    quiet: Option<String>,
    /// Run seeds on N threads [default: the available cores; 1 for --seed]
    #[arg(long, value_name = "N", env = "MOONPOOL_JOBS")]
    jobs: Option<String>,
    /// Shard K/N with K read from variable VAR, a 0-based index (Kubernetes' JOB_COMPLETION_INDEX)
    #[arg(long, value_name = "VAR/N", env = "MOONPOOL_SHARD_FROM_ENV")]
    shard_from_env: Option<String>,
    /// Run exactly the seeds listed in FILE (one per line, with optional --chaos/--no-chaos and the binary's options; # comments)
    #[arg(long, value_name = "FILE", env = "MOONPOOL_SEEDS_FILE")]
    seeds_file: Option<String>,
    /// Append every failed seed to FILE, in the --seeds-file format
    #[arg(long, value_name = "FILE", env = "MOONPOOL_SAVE_FAILURES")]
    save_failures: Option<String>,
    /// Stop at the first failing seed (in plan order, whatever --jobs)
    #[arg(
        long,
        env = "MOONPOOL_FAIL_FAST",
        num_args = 0,
        default_missing_value = "true"
    )]
    fail_fast: Option<String>,
    /// Stop once N seeds failed (in plan order, whatever --jobs)
    #[arg(long, value_name = "N", env = "MOONPOOL_MAX_FAILURES")]
    max_failures: Option<String>,
    /// List every seed in the human report, not only the failed ones
    #[arg(
        long,
        env = "MOONPOOL_VERBOSE",
        num_args = 0,
        default_missing_value = "true"
    )]
    verbose: Option<String>,
    /// Chaos seeds inject exactly these fault families (comma-separated, or `none`)
    #[arg(long, value_name = "LIST", env = "MOONPOOL_FAULTS")]
    faults: Option<String>,
    /// Chaos seeds never inject these fault families (comma-separated)
    #[arg(long, value_name = "LIST", env = "MOONPOOL_NO_FAULTS")]
    no_faults: Option<String>,
    /// Only these buggify sites (module::path:line, comma-separated, or `none`) may fire
    #[arg(long, value_name = "LIST", env = "MOONPOOL_BUGGIFY_SITES")]
    buggify_sites: Option<String>,
    /// Shrink the failing --seed to the fewest fault families and buggify sites that still fail it the same way
    #[arg(long, num_args = 0, default_missing_value = "true")]
    minimize: Option<String>,
    /// Keep only these trace events: process=NAME, task=NAME, level=LEVEL, TARGET=LEVEL (comma-separated)
    #[arg(long, value_name = "FILTER", env = "MOONPOOL_TRACE_FILTER")]
    trace_filter: Option<String>,
    /// Keep only trace events at or after this simulated time (1.2s, 1500ms)
    #[arg(long, value_name = "TIME", env = "MOONPOOL_TRACE_FROM")]
    trace_from: Option<String>,
    /// Keep only trace events at or before this simulated time
    #[arg(long, value_name = "TIME", env = "MOONPOOL_TRACE_UNTIL")]
    trace_until: Option<String>,
    /// Write the --seed's timeline picture (one self-contained HTML file) to FILE
    #[arg(long, value_name = "FILE", env = "MOONPOOL_TIMELINE")]
    timeline: Option<String>,
}

impl Flags {
    fn into_values(self) -> [(Key, Option<String>); 28] {
        [
            (Key::Seed, self.seed),
            (Key::Seeds, self.seeds),
            (Key::FirstSeed, self.first_seed),
            (Key::Shard, self.shard),
            (Key::TimeBudget, self.time_budget),
            (Key::CheckDeterminism, self.check_determinism),
            (Key::Chaos, self.chaos),
            (Key::NoChaos, self.no_chaos),
            (Key::UntilAllSometimes, self.until_all_sometimes),
            (Key::MaxSeeds, self.max_seeds),
            (Key::Json, self.json),
            (Key::Trace, self.trace),
            (Key::Quiet, self.quiet),
            (Key::Jobs, self.jobs),
            (Key::ShardFromEnv, self.shard_from_env),
            (Key::SeedsFile, self.seeds_file),
            (Key::SaveFailures, self.save_failures),
            (Key::FailFast, self.fail_fast),
            (Key::MaxFailures, self.max_failures),
            (Key::Verbose, self.verbose),
            (Key::Faults, self.faults),
            (Key::NoFaults, self.no_faults),
            (Key::BuggifySites, self.buggify_sites),
            (Key::Minimize, self.minimize),
            (Key::TraceFilter, self.trace_filter),
            (Key::TraceFrom, self.trace_from),
            (Key::TraceUntil, self.trace_until),
            (Key::Timeline, self.timeline),
        ]
    }
}

/// The runner's flags (`--seed`, `--seeds`, `--chaos`, `--json`, ...) and
/// their `MOONPOOL_*` variables, as parsed by clap.
///
/// [`SimCli`](super::SimCli) puts them in its `sim` subcommand. A binary
/// with its own clap parser flattens them next to its own flags and runs
/// the whole sweep with one call:
///
/// ```no_run
/// use std::process::ExitCode;
/// use clap::Parser;
/// use moonpool_sim::cli::SimArgs;
/// # fn build(bug: bool, chaos: bool) -> Result<moonpool_sim::Simulation, String> { unimplemented!() }
///
/// #[derive(Parser)]
/// enum Cli {
///     /// Run seeds in the simulator
///     Sim {
///         /// Plant the bug
///         #[arg(long)]
///         bug: bool,
///         #[command(flatten)]
///         sim: SimArgs,
///     },
/// }
///
/// fn main() -> ExitCode {
///     let argv: Vec<_> = std::env::args_os().collect();
///     match Cli::parse_from(&argv) {
///         Cli::Sim { bug, sim } => sim.run("mine", &argv, |run| build(bug, run.chaos())),
///     }
/// }
/// ```
///
/// Values are checked by [`SimArgs::resolve`] (which [`SimArgs::run`]
/// calls): a malformed value, or flags that exclude each other, are a
/// [`CliError`](super::CliError), exit code 2.
#[derive(Clone, Debug)]
pub struct SimArgs {
    pub(crate) given: Vec<Given>,
    pub(crate) default_chaos: bool,
    pub(crate) default_seeds: u64,
    /// The shard index variables as read by [`SimArgs::with_env`]
    /// (`None`: read the process environment when resolving).
    pub(crate) index_vars: Option<Vec<(String, String)>>,
}

impl Default for SimArgs {
    /// Nothing given; chaos on and [`DEFAULT_SEEDS`] seeds by default.
    fn default() -> SimArgs {
        SimArgs {
            given: Vec::new(),
            default_chaos: true,
            default_seeds: DEFAULT_SEEDS,
            index_vars: None,
        }
    }
}

impl SimArgs {
    /// Whether chaos is on when neither `--chaos`, `--no-chaos` nor
    /// `MOONPOOL_CHAOS` says (default: on).
    #[must_use]
    pub fn default_chaos(mut self, on: bool) -> SimArgs {
        self.default_chaos = on;
        self
    }

    /// Seeds a sweep runs when neither a count, a budget nor a goal is
    /// given (default [`DEFAULT_SEEDS`]; 0 is refused by
    /// [`SimArgs::resolve`]).
    #[must_use]
    pub fn default_seeds(mut self, count: u64) -> SimArgs {
        self.default_seeds = count;
        self
    }

    /// These flags with the `MOONPOOL_*` variables read through `env`
    /// instead of the process environment clap read: for tests, which
    /// should not change the process environment. As with clap, a
    /// variable counts only when its flag was not given.
    #[must_use]
    pub fn with_env(mut self, env: &dyn Fn(&str) -> Option<String>) -> SimArgs {
        self.given.retain(|g| g.origin.is_flag());
        for (key, _, var, _) in KEYS {
            let Some(var) = var else { continue };
            if self.given.iter().any(|g| g.key == key) {
                continue;
            }
            if let Some(text) = env(var) {
                self.set(key, text, Origin::Env(key));
            }
        }
        // The shard index variables are read through `env` too.
        let mut names: Vec<String> = super::settings::SHARD_INDEX_VARIABLES
            .iter()
            .map(|(name, _)| name.to_string())
            .collect();
        if let Some(g) = self.given.iter().find(|g| g.key == Key::ShardFromEnv)
            && let Some((var, _)) = g.text.rsplit_once('/')
        {
            names.push(var.trim().to_string());
        }
        self.index_vars = Some(
            names
                .into_iter()
                .filter_map(|name| env(&name).map(|value| (name, value)))
                .collect(),
        );
        self
    }

    /// Reads a shard index variable: from what [`SimArgs::with_env`] read,
    /// or from the process environment.
    pub(crate) fn index_var(&self, name: &str) -> Option<String> {
        match &self.index_vars {
            Some(vars) => vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
            None => std::env::var(name).ok(),
        }
    }

    /// Records `text` for `key`, replacing an earlier value. A variable
    /// that is empty (or only whitespace) counts as unset; a variable's
    /// value is trimmed.
    fn set(&mut self, key: Key, text: String, origin: Origin) {
        self.given.retain(|g| g.key != key);
        let text = match origin {
            Origin::Flag(_) => text,
            Origin::Env(_) if text.trim().is_empty() => return,
            Origin::Env(_) => text.trim().to_string(),
        };
        self.given.push(Given { key, text, origin });
    }
}

impl FromArgMatches for SimArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<SimArgs, clap::Error> {
        let mut args = SimArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for (key, value) in Flags::from_arg_matches(matches)?.into_values() {
            let Some(text) = value else { continue };
            let origin = match matches.value_source(key.id()) {
                Some(ValueSource::EnvVariable) => Origin::Env(key),
                _ => Origin::Flag(key),
            };
            self.set(key, text, origin);
        }
        Ok(())
    }
}

impl Args for SimArgs {
    fn augment_args(cmd: Command) -> Command {
        Flags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Flags::augment_args_for_update(cmd)
    }
}

/// Whether `name` (a flag without `--`) is one of the runner's.
pub(crate) fn is_runner_flag(name: &str) -> bool {
    Key::from_long(name).is_some()
}

/// `words` (a command line after the program) without the runner's flags
/// and their values: what a replay line keeps of the invocation. Words
/// after `--` are kept as they are.
pub(crate) fn without_runner_flags(words: &[String]) -> Vec<String> {
    let mut kept = Vec::with_capacity(words.len());
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        if word == "--" {
            kept.push(word.clone());
            kept.extend(rest.cloned());
            break;
        }
        let runner_flag = word.strip_prefix("--").and_then(|body| {
            let (name, inline) = match body.split_once('=') {
                Some((name, _)) => (name, true),
                None => (body, false),
            };
            Key::from_long(name).map(|key| (key, inline))
        });
        match runner_flag {
            Some((key, inline)) => {
                if key.takes_value() && !inline {
                    rest.next();
                }
            }
            None => kept.push(word.clone()),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_clap_definition() {
        let cmd = Flags::augment_args(Command::new("sim"));
        let args: Vec<&clap::Arg> = cmd.get_arguments().collect();
        assert_eq!(args.len(), KEYS.len());
        for (i, (arg, (key, ..))) in args.iter().zip(KEYS).enumerate() {
            assert_eq!(key as usize, i, "KEYS is in Key order");
            assert_eq!(arg.get_id().as_str(), key.id());
            assert_eq!(arg.get_long(), Some(key.long().as_str()));
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env.as_deref(), key.env(), "{key:?}");
            let switch = arg.get_num_args().is_some_and(|n| !n.takes_values());
            assert_eq!(!switch, key.takes_value(), "{key:?}");
        }
    }

    #[test]
    fn replay_words_drop_every_runner_flag_and_keep_the_rest() {
        let words: Vec<String> = [
            "sim",
            "--bug",
            "skip-sync",
            "--seeds",
            "30",
            "--first-seed=7",
            "--json",
            "-v",
            "--trace",
            "t.log",
            "--system=raft",
            "--chaos",
            "--",
            "--seed",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            without_runner_flags(&words),
            [
                "sim",
                "--bug",
                "skip-sync",
                "-v",
                "--system=raft",
                "--",
                "--seed"
            ]
        );
    }
}
