//! bank: accounts sharded over servers, transfers by two-phase commit with
//! presumed abort, clients retrying with idempotency keys, and a checker
//! that money is conserved and every acknowledged outcome durable.
//!
//! # The system
//! [`SHARDS`] shard processes each own the accounts `a` with `a % SHARDS`
//! equal to their id; every account starts with [`INITIAL_BALANCE`] and
//! may not hold more than [`BALANCE_CAP`]. A shard's only state is its log
//! ([`storage`]): balances, reservations and pending credits are replayed
//! from it.
//!
//! A client sends `transfer(id, from, to, amount)` to the shard of `from`,
//! the *coordinator*; `id` is the idempotency key, unique per transfer, and
//! the client resends the same `id` after a timeout or a lost connection
//! until it gets an answer (or gives up: outcome unknown).
//!
//! - **Same shard**: one `Local` record (debit and credit together),
//!   synced, then the answer.
//! - **Across shards** ([`server`]): the coordinator checks the funds
//!   (balance minus what transfers in progress reserved), logs `Begin`
//!   (the reservation, synced), and asks the shard of `to`, the
//!   *participant*, to `prepare` the credit. The participant votes yes only
//!   if the credit fits under the cap counting the credits it already holds
//!   pending, after logging `Prepared` (synced). On yes the coordinator
//!   logs `Commit` (the debit), **syncs, and only then** answers the client
//!   and tells the participant to credit (resent until acknowledged; the
//!   participant logs `Credited`, synced, then acknowledges). On no, or
//!   when the participant does not answer in time, it aborts: releases the
//!   reservation, answers `Aborted`, and forgets the transfer.
//! - **Presumed abort**: an abort needs no record and no message. A
//!   participant holding a prepared credit it has not heard about asks the
//!   coordinator (`resolve`) now and then; a coordinator that does not know
//!   the transfer answers *aborted*. A coordinator that restarts aborts
//!   every transfer it began and did not decide.
//! - **Idempotency**: the coordinator remembers the outcome of every
//!   transfer id (replayed from its log after a restart): a resent
//!   transfer gets the first answer, or waits for it. The participant keys
//!   its records by id, so a repeated prepare or commit changes nothing.
//!
//! Fault model: any message loss, delay, duplication by resends,
//! disconnection or partition; shard crashes (one at a time) losing what
//! was not synced; disk errors and a full disk. Safety holds under all of
//! them; a transfer completes when its shards can talk.
//!
//! # What is checked ([`checker`], after quiesce)
//! Once every shard has resolved every transfer (within
//! [`sim::QUIESCE_BOUND`]), the checker compares the shards' ledgers and
//! balances with what the clients were told: total money conserved; every
//! transfer applied on both sides or neither, and at most once; no
//! account ever negative; every acknowledged commit applied, every
//! acknowledged abort not; every balance equal to its ledger.
//!
//! # Modules
//! - [`server`]: a shard (coordinator and participant).
//! - [`client`]: transfers with retries and outcomes.
//! - [`storage`]: the shard's log records and their replay.
//! - [`checker`]: the invariants over the shards' dumps and the clients'
//!   outcomes.
//! - [`sim`]: shards and clients under attrition and network chaos.
//! - [`real`]: the same on tokio over loopback.

pub mod checker;
pub mod client;
pub mod real;
pub mod server;
pub mod sim;
pub mod storage;

use serde::{Deserialize, Serialize};

pub use checker::{CheckStats, ClientOp, TransferOutcome, Violation, check};
pub use client::BankClient;
pub use server::shard;
pub use sim::{SimConfig, simulation, simulation_with};

use crate::harness::Example;

/// Shards.
pub const SHARDS: u32 = 3;
/// Accounts (account `a` lives on shard `a % SHARDS`).
pub const ACCOUNTS: u32 = 9;
/// What every account holds at the start.
pub const INITIAL_BALANCE: i64 = 100;
/// The most an account may hold: a credit beyond it is refused.
pub const BALANCE_CAP: i64 = 250;
/// The port shards listen on.
pub const PORT: u16 = 4800;
/// The well-known endpoint index of the shard service's first method.
pub const SERVICE_INDEX: u32 = 1;

/// An account.
pub type Account = u32;
/// A transfer's idempotency key (unique per transfer).
pub type TransferId = u64;

/// The shard that owns `account`.
pub fn shard_of(account: Account) -> u32 {
    account % SHARDS
}

/// Move `amount` from `from` to `to`, once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The idempotency key.
    pub id: TransferId,
    /// The account debited.
    pub from: Account,
    /// The account credited.
    pub to: Account,
    /// How much.
    pub amount: i64,
}

/// Why a transfer was aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbortReason {
    /// `from` does not hold the amount (counting reservations).
    InsufficientFunds,
    /// The credit would take `to` past [`BALANCE_CAP`].
    CapExceeded,
    /// The participant did not vote in time.
    Timeout,
    /// A shard could not log the transfer.
    Disk,
}

/// The answer to a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferReply {
    /// Done, durably: `from` was debited and `to` will be credited.
    Committed,
    /// Not done, and never will be.
    Aborted(AbortReason),
    /// Malformed (unknown account, zero amount, same account): never done.
    Invalid,
    /// Sent to a shard that does not own `from`: never done.
    WrongShard,
}

/// Coordinator to participant: hold a credit of `amount` to `to` for
/// transfer `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepare {
    /// The transfer.
    pub id: TransferId,
    /// The account credited.
    pub to: Account,
    /// How much.
    pub amount: i64,
    /// The coordinator's shard.
    pub coordinator: u32,
}

/// The participant's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vote {
    /// The credit is prepared (durably).
    Yes,
    /// It cannot be.
    No(AbortReason),
}

/// Coordinator to participant: transfer `id` committed; credit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCredit {
    /// The transfer.
    pub id: TransferId,
}

/// Participant to coordinator: what became of transfer `id`?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolve {
    /// The transfer.
    pub id: TransferId,
}

/// The coordinator's answer to [`Resolve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// Committed: credit it.
    Committed,
    /// Aborted (or unknown: presumed aborted): drop it.
    Aborted,
    /// Still being decided: ask again later.
    Pending,
}

/// The checker's view of a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump;

/// One applied change to one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The transfer.
    pub id: TransferId,
    /// The account.
    pub account: Account,
    /// The change (negative: a debit).
    pub delta: i64,
}

/// A shard's state, for the checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardDump {
    /// The shard.
    pub shard: u32,
    /// Every account it owns, with its balance.
    pub balances: Vec<(Account, i64)>,
    /// Every change it applied, in order.
    pub ledger: Vec<LedgerEntry>,
    /// Transfers it coordinates and has not decided, or whose commit the
    /// participant has not acknowledged.
    pub coordinating: Vec<TransferId>,
    /// Prepared credits it holds undecided.
    pub in_doubt: Vec<TransferId>,
    /// Funds reserved by transfers in progress.
    pub reserved: i64,
    /// Credits prepared and undecided.
    pub pending: i64,
}

moonpool_transport::service! {
    /// A shard's service: clients' transfers, and two-phase commit between
    /// shards.
    pub mod bank_api {
        transfer: Transfer => TransferReply,
        prepare: Prepare => Vote,
        commit: CommitCredit => (),
        resolve: Resolve => Resolution,
        dump: Dump => ShardDump,
    }
}

/// Why a shard stopped.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// Recovery could not read or repair the log.
    #[error("recovery failed: {0}")]
    Recovery(#[from] moonpool_core::StorageError),
    /// A record of the log does not decode.
    #[error("log record {index} is corrupt: {error}")]
    Corrupt {
        /// Its position in the log.
        index: usize,
        /// The decoding error.
        error: moonpool_core::CodecError,
    },
    /// The shard could not bind its address or register its service.
    #[error("transport: {0}")]
    Transport(#[from] moonpool_transport::TransportError),
}

crate::harness::planted_bugs! {
    /// A bug that can be planted (`bank sim --bug NAME`).
    pub enum BankBug {
        /// The coordinator ignores the idempotency key.
        NonIdempotentRetry = "non-idempotent-retry":
            "the coordinator ignores the transfer id: a resent transfer (a lost reply, a client retry) runs again and moves the money twice",
        /// The credit is sent before the debit is durable.
        CreditBeforeDebitDurable = "credit-before-debit-durable":
            "the coordinator tells the participant to credit before its commit record (the debit) is synced: a crash then aborts the transfer by presumption while the credit stands",
        /// The presumption of abort is lost.
        LostAbort = "lost-abort":
            "the coordinator answers a participant asking about a transfer it aborted and forgot with 'pending' instead of presuming abort: the prepared credit stays in doubt forever",
        /// Funds reserved by transfers in progress are not counted.
        NoReservation = "no-reservation":
            "the coordinator checks the balance but not the funds reserved by transfers in progress: concurrent transfers overdraw an account",
    }
}

/// The `bank` binary: its simulation and its real run.
pub const EXAMPLE: Example<BankBug, real::RealArgs> = Example {
    name: "bank",
    about: "accounts sharded over 3 servers, transfers by two-phase commit with presumed abort, under attrition and network chaos, checked for conservation of money",
    simulation,
    real: std::marker::PhantomData,
};
