//! kv: a replicated key-value store (three replicas, quorum reads and
//! writes) and a linearizability checker that holds it to account.
//!
//! # The system
//! Each key is an atomic register replicated on three [replicas](server)
//! with the multi-writer ABD protocol (Attiya, Bar-Noy, Dolev): every
//! stored value carries a [`Timestamp`] `(counter, writer)`, a replica
//! keeps the value with the highest timestamp it has seen, and the
//! [client] coordinates each operation in two quorum phases.
//!
//! - **put(key, value)**: *query* a majority for their timestamps, pick
//!   `(max counter + 1, writer id)`, then *store* `(timestamp, value)` on a
//!   majority. Acknowledged only once two replicas answered the store.
//! - **get(key)**: *query* a majority, take the value with the highest
//!   timestamp, and *write it back* to a majority (skipped when the
//!   majority already agreed) before returning it, so no later read can
//!   return anything older.
//! - **Replicas** append every accepted store to a CRC-32'd log on their own
//!   disk and `sync` before acknowledging; recovery replays the log and cuts
//!   a torn tail. A background anti-entropy task pulls newer entries from a
//!   random peer now and then, so replicas converge once the network heals.
//!
//! There is no leader and no epoch: timestamps do the fencing. A replica
//! refuses (ignores) a store older than what it holds, so a delayed or
//! retransmitted store from a slow writer can never overwrite a newer
//! value. Every message is idempotent (a store carries its timestamp), so
//! clients retry freely.
//!
//! Fault model: any number of message losses, delays, disconnections and
//! partitions (one-way too); at most one replica down at a time (a kill
//! loses what was not synced); disk I/O errors, bit rot and a full disk.
//! Safety (linearizability) holds under all of them; liveness needs a
//! majority of replicas up and reachable from the client.
//!
//! # Modules
//! - [`server`]: a replica (its log, recovery, the query/store/anti-entropy
//!   handlers).
//! - [`client`]: the quorum client ([`KvClient`]): get and put, retries,
//!   operation deadlines, outcomes ([`OpError`]).
//! - `storage`: a replica's log (CRC'd records) and its recovery.
//! - [`checker`]: histories and the checker ([`check_history`]): per key,
//!   linearizability of a register with unique values.
//! - [`sim`]: the simulation: three replicas, clients recording a history,
//!   attrition, the network nemeses, and the checks after quiesce.
//! - [`real`]: the same code on tokio over loopback, files in a directory.
//!
//! # Planted bugs ([`KvBug`])
//! Each is a realistic replication mistake that the simulation catches.

pub mod checker;
pub mod client;
pub mod real;
pub mod server;
pub mod sim;
mod storage;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::harness::Example;

pub use checker::{CheckError, CheckStats, History, Op, OpKind, Outcome, check_history};
pub use client::{KvClient, OpError};
pub use server::{Replica, serve};
pub use sim::{SimConfig, simulation, simulation_with};

/// Number of replicas.
pub const REPLICAS: usize = 3;
/// A majority of [`REPLICAS`].
pub const MAJORITY: usize = REPLICAS / 2 + 1;
/// The port replicas listen on.
pub const PORT: u16 = 4600;
/// The first well-known endpoint index of the replica service.
pub const SERVICE_INDEX: u32 = 1;
/// The replica's log file.
pub const LOG_PATH: &str = "kv/log";
/// Keys a `Digest` or `Dump` may carry, at most (the key space of a
/// replica is bounded by it: stores of further keys are refused).
pub const KEYS_MAX: usize = 4096;

/// A key.
pub type Key = u64;
/// A value. The simulation writes unique values, so a read names the write
/// it saw.
pub type Value = u64;

/// The version of a stored value: ordered by `counter`, then `writer`.
/// `Timestamp::ZERO` is the initial state of every key (no value).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp {
    /// Logical counter: one more than the highest seen by the writer.
    pub counter: u64,
    /// The writer's id: breaks ties between concurrent writers.
    pub writer: u64,
}

impl Timestamp {
    /// The timestamp of a key never written.
    pub const ZERO: Timestamp = Timestamp {
        counter: 0,
        writer: 0,
    };
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.counter, self.writer)
    }
}

/// A value with its timestamp; `value` is `None` for a key never written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    /// The version.
    pub ts: Timestamp,
    /// The value.
    pub value: Option<Value>,
}

/// Phase 1 of a get or a put: what does the replica hold for `key`?
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Query {
    /// The key.
    pub key: Key,
}

/// Phase 2 of a put, or a get's write-back: hold `(ts, value)` for `key`
/// unless you already hold something newer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Store {
    /// The key.
    pub key: Key,
    /// The version.
    pub ts: Timestamp,
    /// The value.
    pub value: Value,
}

/// A replica's answer to a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreReply {
    /// The replica durably holds this timestamp or a newer one.
    Stored {
        /// Whether this store replaced the replica's value (false: it held
        /// the same or a newer timestamp already).
        applied: bool,
    },
    /// The replica could not log the store (disk error, disk full, too
    /// many keys): it does not count towards the quorum.
    Failed,
}

/// Anti-entropy: the requester's timestamps; the answer is every entry the
/// responder holds with a newer timestamp.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Digest {
    /// `(key, timestamp)` of every key the requester holds.
    pub entries: Vec<(Key, Timestamp)>,
}

/// The checker's view of a replica: every entry it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dump;

moonpool_transport::service! {
    /// The replica service.
    pub mod replica_service {
        query: Query => Versioned,
        store: Store => StoreReply,
        digest: Digest => Vec<(Key, Versioned)>,
        dump: Dump => Vec<(Key, Versioned)>,
    }
}

/// How long a client waits for one attempt of one call to one replica.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between a client's attempts at one replica (doubled per failure up
/// to [`RETRY_DELAY_MAX`]).
pub const RETRY_DELAY_MIN: Duration = Duration::from_millis(20);
/// Longest pause between attempts.
pub const RETRY_DELAY_MAX: Duration = Duration::from_millis(320);
/// Default deadline of one get or put.
pub const OP_TIMEOUT: Duration = Duration::from_secs(3);

crate::harness::planted_bugs! {
    /// A replication bug that can be planted (`kv sim --bug NAME`).
    pub enum KvBug {
        /// The writer acknowledges a put once one replica stored it.
        AckBeforeQuorum = "ack-before-quorum":
            "a put is acknowledged once one replica stored it, not a majority: a read quorum can miss an acknowledged write",
        /// Replicas acknowledge a store once it is written to their log, and
        /// sync the log later, in the background.
        NoFsync = "no-fsync":
            "replicas acknowledge a store before syncing their log (a background flush syncs later): a crash loses acknowledged copies",
        /// Reads are served by whichever replica answers first.
        StaleRead = "stale-read":
            "a get returns the first replica's answer instead of a majority's: a replica that missed writes serves stale data",
        /// Reads never write back what they return.
        NoWriteBack = "no-write-back":
            "a get returns the newest value of its quorum without writing it back: a later get can return an older value (new-old inversion)",
        /// Replicas apply stores in arrival order, without comparing
        /// timestamps.
        NoTimestampCheck = "no-timestamp-check":
            "replicas apply every store in arrival order: a delayed or retried old store overwrites a newer value",
    }
}

/// The `kv` binary: its simulation and its real run.
pub const EXAMPLE: Example<KvBug, real::RealArgs> = Example {
    name: "kv",
    about: "a 3-replica quorum key-value store under attrition and network chaos, checked for linearizability",
    simulation,
    real: std::marker::PhantomData,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_by_counter_then_writer() {
        let a = Timestamp {
            counter: 1,
            writer: 9,
        };
        let b = Timestamp {
            counter: 2,
            writer: 1,
        };
        let c = Timestamp {
            counter: 2,
            writer: 3,
        };
        assert!(Timestamp::ZERO < a && a < b && b < c);
    }
}
