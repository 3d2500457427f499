//! wal: a small write-ahead-logged key-value store that acknowledges a
//! write only once it is durable, and a client that remembers what was
//! acknowledged and checks none of it is ever lost.
//!
//! # The store ([`WalStore`])
//! Every `put` appends one record to a single log file, syncs the file,
//! and only then applies the write to the in-memory map and acknowledges.
//! Appends are serialized (one writer at a time, at the end of the valid
//! log), so a failed write leaves no hole: the next record overwrites it.
//! On start, recovery replays the log record by record, validating each
//! with its CRC-32; the first record that is short, absurd or fails its
//! checksum (after re-reading it, in case the read itself was corrupted)
//! marks the torn tail, which is cut (truncate + sync) before new records
//! are appended.
//!
//! Record: `len: u32 LE | crc32(body): u32 LE | body`, with
//! `body = key: u64 LE | version: u64 LE | value`.
//!
//! # The client ([`WalClient`])
//! Each client owns its keys and writes them sequentially with increasing
//! versions. It remembers every write it issued and the highest version
//! acknowledged per key. An unacknowledged write (failed, dropped by a
//! killed server, timed out) may or may not be in the store. The invariant
//! checked during the run and after quiesce: for every key, the store
//! returns a version at least the highest acknowledged one, and the value
//! the client wrote with that version (no lost, no invented data).
//!
//! # The link (for now)
//! Client and store talk through [`WalLink`], an in-simulation channel: the
//! store's current incarnation publishes a `futures` mpsc sender; when it
//! is killed its tasks drop, and with them every in-flight request, which
//! the client sees as [`CallError::Dropped`] (outcome unknown). It will be
//! replaced by simulated TCP.
//!
//! # Planted bugs ([`WalBug`])
//! Each is a realistic durability mistake the simulation must catch.

mod link;
mod sim;
mod store;

use std::time::Duration;

use moonpool_core::StorageError;

pub use link::{Call, CallError, WalLink, serve};
pub use sim::{WalClient, WalSimConfig, simulation, simulation_with};
pub use store::{Record, WalStore, encode_record, parse_record};

/// The log file.
pub const LOG_PATH: &str = "wal/log";
/// Largest value a `put` accepts.
pub const VALUE_BYTES_MAX: usize = 1024;
/// Bytes of a record header (`len` and `crc`).
pub const RECORD_HEADER_BYTES: usize = 8;
/// Bytes of a record body before the value (`key` and `version`).
pub const RECORD_BODY_MIN_BYTES: usize = 16;
/// Largest record.
pub const RECORD_BYTES_MAX: usize = RECORD_HEADER_BYTES + RECORD_BODY_MIN_BYTES + VALUE_BYTES_MAX;
/// Attempts at one storage operation during recovery before giving up.
pub const RECOVERY_ATTEMPTS_MAX: u32 = 50;
/// Pause between recovery attempts.
pub const RECOVERY_RETRY_DELAY: Duration = Duration::from_millis(10);
/// Re-reads of a record that fails its checksum before it is taken as the
/// torn tail (reads can be corrupted in transit; the data is not).
pub const REREADS_MAX: u32 = 3;
/// Requests queued to the store, at most.
pub const QUEUE_CAPACITY: usize = 64;
/// The server process's name in the simulation.
pub const STORE_NAME: &str = "wal-store";

/// A durability bug that can be planted in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WalBug {
    /// Acknowledge a put as soon as its record is written, without `sync`.
    SkipSync,
    /// Recovery stops at the torn tail but new records are appended at the
    /// end of the file, after the garbage: the next recovery never reaches
    /// them.
    AppendAfterTornTail,
    /// The sync is issued together with the record's write instead of
    /// after it completes, so it need not cover the record.
    UnorderedSync,
}

/// An unknown bug name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug {0:?} (try --list-bugs)")]
pub struct UnknownBug(pub String);

impl WalBug {
    /// Every planted bug.
    pub const ALL: [WalBug; 3] = [
        WalBug::SkipSync,
        WalBug::UnorderedSync,
        WalBug::AppendAfterTornTail,
    ];

    /// The command-line name (`--bug NAME`).
    pub fn name(self) -> &'static str {
        match self {
            WalBug::SkipSync => "skip-sync",
            WalBug::AppendAfterTornTail => "append-after-torn-tail",
            WalBug::UnorderedSync => "unordered-sync",
        }
    }

    /// What the bug does, in one line.
    pub fn description(self) -> &'static str {
        match self {
            WalBug::SkipSync => {
                "acknowledges a put once its record is written, without syncing the log: a crash loses acknowledged data"
            }
            WalBug::AppendAfterTornTail => {
                "recovery stops at a torn record but appends after it, at the end of the file: later records are unreachable after the next crash"
            }
            WalBug::UnorderedSync => {
                "issues the sync concurrently with the record's write instead of after it: the sync may not cover the record it acknowledges"
            }
        }
    }
}

impl std::str::FromStr for WalBug {
    type Err = UnknownBug;
    fn from_str(s: &str) -> Result<WalBug, UnknownBug> {
        WalBug::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| UnknownBug(s.to_string()))
    }
}

impl std::fmt::Display for WalBug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// The disk failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// A value longer than [`VALUE_BYTES_MAX`].
    #[error("value of {0} bytes exceeds {VALUE_BYTES_MAX}")]
    ValueTooLarge(usize),
    /// Recovery could not read or repair the log.
    #[error("recovery failed after {RECOVERY_ATTEMPTS_MAX} attempts: {0}")]
    Recovery(StorageError),
}

/// A stored value and the version it was written with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The writer's version.
    pub version: u64,
    /// The value.
    pub value: Vec<u8>,
}

/// A request to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Durably write `value` under `key`, tagged `version`.
    Put {
        /// The key.
        key: u64,
        /// The writer's version.
        version: u64,
        /// The value.
        value: Vec<u8>,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: u64,
    },
}

/// The store's answer.
#[derive(Debug)]
pub enum Response {
    /// `Ok`: the write is durable.
    Put(Result<(), WalError>),
    /// The latest entry of the key, if any.
    Get(Option<Entry>),
}
