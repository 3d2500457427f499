//! [`CliError`]: every way a command line, an environment variable or a
//! simulation definition can be refused. All of them exit with code 2.

use crate::runner::sweep::PlanError;

/// Bad flags, environment variables or configuration (exit code 2).
///
/// `setting` fields name where a value came from: a flag (`--seed`) or an
/// environment variable (`MOONPOOL_SEED`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// No subcommand was given.
    #[error("no subcommand given (try `sim`)")]
    MissingSubcommand,
    /// The subcommand does not exist.
    #[error("unknown subcommand '{0}'")]
    UnknownSubcommand(String),
    /// A flag that neither the runner nor the binary defines.
    #[error("unknown flag '{flag}'{}", did_you_mean(.suggestion))]
    UnknownFlag {
        /// The flag as given.
        flag: String,
        /// A known flag with a similar name.
        suggestion: Option<String>,
    },
    /// A positional argument where only flags are accepted.
    #[error("unexpected argument '{0}' (flags start with --)")]
    UnexpectedArgument(String),
    /// A flag that needs a value was last, or followed by another flag.
    #[error("{flag} needs a value: {flag} {value_name}")]
    MissingValue {
        /// The flag.
        flag: String,
        /// What the value is (`S`, `N`, `K/N`, ...).
        value_name: &'static str,
    },
    /// `--flag=value` for a flag that takes no value.
    #[error("{flag} takes no value")]
    UnexpectedValue {
        /// The flag.
        flag: String,
    },
    /// The same flag twice.
    #[error("{flag} is given twice")]
    Duplicate {
        /// The flag.
        flag: String,
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
    #[error("{setting}: '{text}' is not a seed (a u64 in decimal or 0x-hex)")]
    InvalidSeed {
        /// Where it came from.
        setting: String,
        /// The text given.
        text: String,
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
    /// The binary refused its options or its simulation is invalid.
    #[error("invalid simulation: {0}")]
    Simulation(String),
    /// The binary declared its command line wrongly (e.g. an option that
    /// shadows a runner flag).
    #[error("invalid command-line definition: {0}")]
    Definition(String),
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> CliError {
        match e {
            PlanError::EmptyShard { shard, count } => CliError::EmptyShard {
                shard: shard.to_string(),
                count,
            },
        }
    }
}

impl CliError {
    /// The process exit code for this error: always 2.
    pub fn exit_code(&self) -> u8 {
        2
    }
}
