//! Why a seed failed.

use std::time::Duration;

/// What failed a seed. Each variant's message is one line, precise enough
/// to start debugging from: what happened, where, in which task and process.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeedFailure {
    /// User code panicked.
    #[error("panic in task '{task}' of process '{process}' at {location}: {message}")]
    Panic {
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic.
        location: String,
        /// The task being polled.
        task: String,
        /// Its process.
        process: String,
    },
    /// A process's `main` returned an error.
    #[error("process '{process}' ({ip}) failed: {message}")]
    ProcessFailed {
        /// The process.
        process: String,
        /// Its IP.
        ip: String,
        /// The error it returned.
        message: String,
    },
    /// A workload phase returned an error.
    #[error("workload '{workload}' client {client_id} failed in {phase}: {message}")]
    WorkloadFailed {
        /// The workload's name.
        workload: String,
        /// Which client instance.
        client_id: usize,
        /// `setup`, `run` or `check`.
        phase: &'static str,
        /// The error it returned.
        message: String,
    },
    /// Nothing can run and nothing is scheduled, but workloads have not
    /// finished.
    #[error("deadlock at {sim_time:?}: no task is runnable and no event is scheduled; {} task(s) stuck: {}", stuck.len(), stuck.join(", "))]
    Deadlock {
        /// Virtual time when it was detected.
        sim_time: Duration,
        /// `process/task` names of every live task.
        stuck: Vec<String>,
    },
    /// Virtual time passed the configured limit.
    #[error("simulated time limit of {limit:?} reached with workloads unfinished; {} task(s) alive: {}", alive.len(), alive.join(", "))]
    TimeLimit {
        /// The limit.
        limit: Duration,
        /// `process/task` names of every live task.
        alive: Vec<String>,
    },
    /// The executor took more steps than the configured limit.
    #[error("step limit of {limit} reached at {sim_time:?} with workloads unfinished")]
    StepLimit {
        /// The limit.
        limit: u64,
        /// Virtual time when it was reached.
        sim_time: Duration,
    },
    /// An `always`-style assertion was violated, or an `unreachable` one reached.
    #[error("assertion '{name}' failed at {location}: {message}")]
    Assertion {
        /// The assertion's message/name.
        name: String,
        /// `file:line:column` of the assertion.
        location: String,
        /// Details (values compared...).
        message: String,
    },
    /// Replaying the seed did not reproduce the same execution.
    #[error("nondeterminism: {0}")]
    Nondeterminism(String),
}
