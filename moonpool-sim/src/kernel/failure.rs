//! Why a seed failed.
//!
//! # Hangs name their cause
//! A hang ([`SeedFailure::Deadlock`], [`SeedFailure::TimeLimit`],
//! [`SeedFailure::StepLimit`]) lists every live task as a [`StuckTask`]:
//! when it last ran and what it waits on. The list starts with the prime
//! suspects, the tasks waiting on something other than a timer or another
//! task (a channel, a lock, a socket: where a lost wakeup leaves a task),
//! longest-waiting first; then the tasks awaiting another task's join
//! handle, then those waiting on a timer (they will run again: a periodic
//! task is alive, not stuck), then those ready to run. A step limit also
//! names the task that spun the most without letting time move.

use std::fmt;
use std::time::Duration;

/// Tasks shown in a failure's one-line message; the rest are counted.
const TASKS_SHOWN_MAX: usize = 10;

/// What a live task waits on when a hang is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Something other than a timer or a task: a channel, a lock, a
    /// socket, a future nobody will complete. A lost wakeup shows here.
    Other,
    /// The join handle of another task (`process/task`).
    Task(String),
    /// A timer of its own: it will run again when it fires.
    Timer,
    /// Nothing: it is in the ready queue.
    Ready,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Other => f.write_str("waits on something other than a timer"),
            Waiting::Task(task) => write!(f, "waits on task {task}"),
            Waiting::Timer => f.write_str("waits on a timer"),
            Waiting::Ready => f.write_str("ready to run"),
        }
    }
}

/// A live task, as a hang report lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckTask {
    /// `process/task`.
    pub task: String,
    /// Virtual time of its last poll (of its spawn, if it never ran).
    pub last_ran: Duration,
    /// What it waits on.
    pub waiting: Waiting,
}

impl fmt::Display for StuckTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = moonpool_core::Instant::from_nanos(
            self.last_ran.as_nanos().min(u64::MAX as u128) as u64
        );
        write!(f, "{} (last ran at t={t}, {})", self.task, self.waiting)
    }
}

/// The first tasks of `tasks` joined for a message, the rest counted.
fn list(tasks: &[StuckTask]) -> String {
    let mut text = tasks
        .iter()
        .take(TASKS_SHOWN_MAX)
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if tasks.len() > TASKS_SHOWN_MAX {
        text.push_str(&format!(" and {} more", tasks.len() - TASKS_SHOWN_MAX));
    }
    text
}

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
    #[error("deadlock at {sim_time:?}: no task is runnable and no event is scheduled; {} task(s) stuck: {}", stuck.len(), list(stuck))]
    Deadlock {
        /// Virtual time when it was detected.
        sim_time: Duration,
        /// Every live task, prime suspects first (see [`StuckTask`]).
        stuck: Vec<StuckTask>,
    },
    /// Virtual time passed the configured limit.
    #[error("simulated time limit of {limit:?} reached with workloads unfinished; {} task(s) alive: {}", alive.len(), list(alive))]
    TimeLimit {
        /// The limit.
        limit: Duration,
        /// Every live task, prime suspects first (see [`StuckTask`]).
        alive: Vec<StuckTask>,
    },
    /// The executor took more steps than the configured limit.
    #[error("step limit of {limit} reached at {sim_time:?} with workloads unfinished; {}{} task(s) alive: {}", spinning.as_ref().map(|s| format!("spinning: {s}; ")).unwrap_or_default(), alive.len(), list(alive))]
    StepLimit {
        /// The limit.
        limit: u64,
        /// Virtual time when it was reached.
        sim_time: Duration,
        /// The task polled most often at that instant without time moving
        /// (`process/task (N polls)`), if one was polled more than once.
        spinning: Option<String>,
        /// Every live task, prime suspects first (see [`StuckTask`]).
        alive: Vec<StuckTask>,
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
    /// A task's waker was called from another OS thread (a thread pool,
    /// tokio's runtime, a `std::thread`). The simulation runs on one
    /// thread and ignores such a wake, so the task would have hung.
    #[error(
        "task '{task}' was woken from another OS thread: a simulation runs on one thread and ignores such wakes, so the task would hang silently; wake it from simulated code instead (a channel fed by a simulated task, the providers' timers and network)"
    )]
    ForeignWake {
        /// `process/task` (or its id, if it has finished).
        task: String,
    },
    /// Replaying the seed did not reproduce the same execution.
    #[error("nondeterminism: {0}")]
    Nondeterminism(String),
}
