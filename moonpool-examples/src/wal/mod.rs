//! wal: a write-ahead-logged key-value store served over
//! `moonpool-transport`, a client that remembers what was acknowledged, and
//! checks that none of it is ever lost, whatever the network, the disk and
//! process attrition do.
//!
//! # The store ([`WalStore`])
//! Every `put` appends one record to a single log file, syncs the file, and
//! only then applies the write to the in-memory map and acknowledges.
//! Appends are serialized (one writer at a time, at the end of the valid
//! log), so a failed write leaves no hole: the next record overwrites it.
//! On start, recovery replays the log record by record, validating each
//! with its CRC-32; the first record that is short, absurd or fails its
//! checksum (after re-reading it, in case the read itself was corrupted)
//! marks the torn tail, which is cut (truncate + sync) before new records
//! are appended.
//!
//! Writes are **last-writer-wins by version**: a key holds the entry with
//! the highest version ever made durable for it, both in memory and when
//! the log is replayed. That makes a put idempotent (the same `(key,
//! version, value)` applied twice is applied once) and immune to
//! reordering (a stale retransmission of version 5 arriving after version 6
//! changes nothing), which is what lets clients retry puts and lets the
//! transport resend them.
//!
//! Record: `len: u32 LE | crc32(body): u32 LE | body`, with
//! `body = key: u64 LE | version: u64 LE | value`.
//!
//! # The service ([`wal_api`], [`WalServer`])
//! The store process recovers, binds a [`moonpool_transport::Transport`] on
//! its address ([`STORE_PORT`]) and serves the [`wal_api`] service on
//! well-known tokens ([`STORE_TOKEN_FIRST`]): `put`, `get`, and `status`.
//! Replies carry the serving transport's incarnation, so a client notices a
//! rebooted store. Requests are served concurrently, at most
//! [`REQUESTS_IN_FLIGHT_MAX`] at a time.
//!
//! # The client ([`WalClient`]) and its delivery modes
//! Each client owns its keys and writes them sequentially with increasing
//! versions (one counter per client). It keeps a [`History`] of every
//! write it issued and what became of it:
//!
//! - **put: `get_reply` (reliable).** The transport resends the request on
//!   every new connection until the reply arrives or the call times out, so
//!   a put rides out connection kills, clogs and a store reboot without the
//!   client doing anything. That may apply it twice, which is harmless
//!   because puts are idempotent (above). The client retries a put that
//!   failed, with the same version: [`ClientConfig::put_attempts_max`]
//!   calls in all. A put ends **acknowledged** (the store answered `Ok`: the record
//!   was synced), **not applied** (every attempt failed with
//!   `Unreachable`: the failure monitor stopped it before anything was
//!   sent), or **unknown** (a timeout, a broken promise, a disk error
//!   reported by the store, or a refusal of a resent request that an
//!   earlier transmission may have delivered; a lost connection does not
//!   end a reliable call, the request is resent on the next one).
//! - **get and status: `try_get_reply` (at most once).** A read has no
//!   effect, so the cheapest mode is right: a lost connection ends it with
//!   `MaybeDelivered` at once and the client simply asks again.
//!
//! # The checks ([`History::verify`])
//! Every read, during the run and after quiesce, must return for the key:
//! a version the client issued, with exactly the value it wrote (nothing
//! invented or corrupted), not one whose every attempt was refused before
//! sending; at least the highest acknowledged version (no acknowledged
//! write lost); and at least the highest version read before (a read
//! never goes back: what was seen was durable). A put with an unknown
//! outcome stays concurrent with everything after it: any read may or may
//! not show it. The check phase runs after quiesce (network healed, store
//! rebooted): it waits for the store to answer, then reads every key,
//! retrying until answered, within [`ClientConfig::check_deadline`].
//!
//! # Coverage goals
//! `sometimes!`/`reachable!` sites mark the paths a sweep must reach (scope
//! `moonpool_examples::wal`, `wal sim --until-all-sometimes`): recovery
//! found a torn tail; the store was killed with unsynced records; a client
//! reconnected to a rebooted store; a put was resent on a new connection
//! and acknowledged, also by a rebooted store; an acknowledged write was read back from a later incarnation;
//! a put timed out; a put was never sent; a put's outcome was unknown and
//! the check accepted either value; a read showed such a put; a read lost
//! its connection; a put found its version already durable.
//!
//! # Planted bugs ([`WalBug`])
//! Each is a realistic durability mistake the simulation must catch.
//!
//! # Same code, two backends
//! Store, service and client are generic over `Providers`: [`simulation`]
//! runs them on the simulated backend under network chaos, disk faults and
//! attrition; [`run_local`] runs them on the tokio backend over loopback with real
//! files (`wal real`).

mod checker;
mod client;
mod real;
mod server;
mod sim;
mod storage;

use std::time::Duration;

use moonpool_core::StorageError;
use moonpool_transport::TransportError;
use serde::{Deserialize, Serialize};

use crate::harness::Example;

pub use checker::{CheckError, History, ReadVerdict, WriteOutcome};
pub use client::{ClientConfig, ClientError, ClientStats, PutOutcome, WalClient};
pub use real::{RealError, RealReport, run_local};
pub use server::{
    GetReply, GetRequest, PutRejected, PutReply, PutRequest, StatusRequest, StoreStatus, WalServer,
    serve, wal_api,
};
pub use sim::{SimConfig, WalWorkload, simulation, simulation_with, store_addr};
pub use storage::{Record, WalStore, encode_record, parse_record};

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
/// Requests the store serves at once, at most; more wait in the transport's
/// request queue (whose own bound answers `Overloaded`).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 64;
/// The server process's name in the simulation.
pub const STORE_NAME: &str = "wal-store";
/// The store's IP in the simulation.
pub const STORE_IP: [u8; 4] = [10, 0, 0, 1];
/// The port the store listens on (in the simulation; `wal real` binds an
/// ephemeral port).
pub const STORE_PORT: u16 = 4600;
/// The well-known token index of the service's first method (`put`; `get`
/// and `status` follow).
pub const STORE_TOKEN_FIRST: u32 = 1;
/// Attempts at binding the store's address before giving up (a bind can
/// fail transiently).
pub const BIND_ATTEMPTS_MAX: u32 = 1_000;
/// Pause between bind attempts.
pub const BIND_RETRY_DELAY: Duration = Duration::from_millis(20);

crate::harness::planted_bugs! {
    /// A durability bug that can be planted in the store (`wal sim --bug NAME`).
    pub enum WalBug {
        /// Acknowledge a put as soon as its record is written, without `sync`.
        SkipSync = "skip-sync":
            "acknowledges a put once its record is written, without syncing the log: a crash loses acknowledged data",
        /// The sync is issued together with the record's write instead of
        /// after it completes, so it need not cover the record.
        UnorderedSync = "unordered-sync":
            "issues the sync concurrently with the record's write instead of after it: the sync may not cover the record it acknowledges",
        /// Recovery stops at the torn tail but new records are appended at the
        /// end of the file, after the garbage: the next recovery never reaches
        /// them.
        AppendAfterTornTail = "append-after-torn-tail":
            "recovery stops at a torn record but appends after it, at the end of the file: later records are unreachable after the next crash",
    }
}

/// The `wal` binary: its simulation and its real run.
pub const EXAMPLE: Example<WalBug, real::RealArgs> = Example {
    name: "wal",
    about: "a write-ahead-logged store served over the transport, under network chaos, disk faults and process attrition, checked against what it acknowledged",
    simulation,
    real: std::marker::PhantomData,
};

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
    /// The store could not bind its address or register its service.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
}

/// A stored value and the version it was written with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The writer's version.
    pub version: u64,
    /// The value.
    pub value: Vec<u8>,
}
