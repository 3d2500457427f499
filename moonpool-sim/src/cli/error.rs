//! [`CliError`]: every way a command line, an environment variable or a
//! simulation definition can be refused. All of them exit with code 2.
//!
//! clap's refusals arrive as [`CliError::CommandLine`]; the others are
//! what clap cannot check: values (seeds, counts, shards, durations,
//! booleans in variables), settings that exclude each other, a shard that
//! selects nothing, a trace file, the binary's own definition.

use crate::runner::sweep::PlanError;

/// Bad flags, environment variables or configuration (exit code 2).
///
/// `setting` fields name where a value came from: a flag (`--seed`) or an
/// environment variable (`MOONPOOL_SEED`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// clap refused the command line: an unknown or misspelt flag or
    /// subcommand (with a suggestion when one is close), a missing or
    /// unexpected value, a flag given twice, a missing subcommand.
    #[error("{message}")]
    CommandLine {
        /// clap's message and suggestion, on one line.
        message: String,
        /// clap's usage line for the (sub)command, if it gave one.
        usage: Option<String>,
    },
    /// Two settings that exclude each other.
    #[error("{first} and {second} cannot be combined: {why}")]
    Conflict {
        /// The first setting.
        first: String,
        /// The second setting.
        second: String,
        /// Why.
        why: &'static str,
    },
    /// A setting that only makes sense with another one.
    #[error("{setting} needs {needs}")]
    Requires {
        /// The setting given.
        setting: String,
        /// What it needs.
        needs: &'static str,
    },
    /// Not a `u64` in decimal or `0x` hex.
    #[error("{setting}: '{text}' is not a seed: {reason} (a u64 in decimal or 0x-hex)")]
    InvalidSeed {
        /// Where it came from.
        setting: String,
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: moonpool_core::SeedSyntaxError,
    },
    /// Not a count of at least 1.
    #[error("{setting}: '{text}' is not a count (a whole number of at least 1)")]
    InvalidCount {
        /// Where it came from.
        setting: String,
        /// The text given.
        text: String,
    },
    /// Not `K/N` with `1 <= K <= N`.
    #[error("{setting}: '{text}' is not a shard: {reason} (expected K/N with 1 <= K <= N)")]
    InvalidShard {
        /// Where it came from.
        setting: String,
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Not a positive duration with a unit.
    #[error("{setting}: '{text}' is not a duration: {reason} (examples: 500ms, 30s, 2m, 1h)")]
    InvalidDuration {
        /// Where it came from.
        setting: String,
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An environment variable that should be a boolean.
    #[error("{setting}: '{text}' is not a boolean (use 1/0, on/off, true/false or yes/no)")]
    InvalidBool {
        /// The variable.
        setting: String,
        /// The text given.
        text: String,
    },
    /// The shard index variable of `--shard auto/N` or
    /// `--shard-from-env VAR/N` is missing, malformed or out of range.
    #[error("{setting}: cannot read the shard index: {reason}")]
    ShardIndex {
        /// Where the shard came from.
        setting: String,
        /// What is wrong.
        reason: String,
    },
    /// A seeds file that cannot be read.
    #[error("cannot read seeds file '{path}': {message}")]
    SeedsFileRead {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A line of a seeds file that cannot be used.
    #[error("{path}:{line}: {message}")]
    SeedsFile {
        /// The path.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A report given to `merge` that cannot be read.
    #[error("cannot read '{path}': {message}")]
    MergeRead {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A line of a report given to `merge` that is not what `sim --json`
    /// prints, or a report cut short.
    #[error("{path}:{line}: {message}")]
    MergeInput {
        /// The path.
        path: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The list of seeds (after sharding) is empty.
    #[error("the seeds file '{0}' lists no seed")]
    NoSeeds(String),
    /// The shard selects no seed of the plan.
    #[error("shard {shard} of a {count}-seed plan selects no seed")]
    EmptyShard {
        /// The shard, `K/N`.
        shard: String,
        /// Seeds in the plan.
        count: u64,
    },
    /// The trace file could not be created.
    #[error("cannot create trace file '{path}': {message}")]
    TraceFile {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// `RUST_LOG` holds directives that do not parse.
    #[error("RUST_LOG: {0}")]
    LogFilter(#[from] crate::trace::TraceFilterError),
    /// A `--trace-filter` or trace window that cannot be read.
    #[error("{setting}: '{text}' is not a trace filter: {reason}")]
    InvalidTraceFilter {
        /// Where it came from.
        setting: String,
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A fault selection (`--faults`, `--no-faults`, `--buggify-sites`, or
    /// their variables) names a family or site that does not exist.
    #[error("{0}")]
    UnknownFault(String),
    /// `--minimize` cannot run: not one seed, a quiet seed, a seed that
    /// passes, or one that does not reproduce.
    #[error("cannot minimize: {0}")]
    Minimize(String),
    /// The timeline picture could not be written.
    #[error("cannot write timeline '{path}': {message}")]
    TimelineFile {
        /// The path.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The binary refused its options or its simulation is invalid.
    #[error("invalid simulation: {0}")]
    Simulation(String),
    /// The binary declared its command line wrongly (e.g. a flag that
    /// shadows a runner flag, or a subcommand named `sim`).
    #[error("invalid command-line definition: {0}")]
    Definition(String),
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> CliError {
        match e {
            PlanError::EmptyShard { shard, count } => CliError::EmptyShard {
                shard: shard.to_string(),
                count,
            },
            PlanError::EmptyList => CliError::NoSeeds(String::new()),
            e @ (PlanError::UnknownFaultFamily { .. } | PlanError::UnknownBuggifySite { .. }) => {
                CliError::UnknownFault(e.to_string())
            }
        }
    }
}

impl CliError {
    /// The process exit code for this error: always 2.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
