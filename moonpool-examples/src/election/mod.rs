//! election: lease-based leader election with ballots and fencing tokens,
//! and a fenced resource that refuses deposed leaders.
//!
//! # The system
//! `N` candidate processes (3 to 5) elect a leader among themselves; the
//! leader writes to a [resource] process, a durable register. Each
//! candidate is also an *acceptor* (a voter). A ballot is `(round,
//! candidate)`, ordered by round then candidate, so no two candidates ever
//! campaign with the same ballot; the ballot a leader was elected with is
//! its *fencing token*.
//!
//! - **Campaign** ([`server`]), in two phases like Paxos (and
//!   PaxosLease): a candidate picks the next round of its own (persisted,
//!   synced, *before* it is used: Lamport's rule that a proposer never
//!   reuses a proposal number) and sends a *prepare* to every acceptor;
//!   with a majority of promises it stamps a *lease request* with its local
//!   clock (`start`) and sends that to every acceptor. An acceptor grants
//!   either for a ballot at least as high as the one it promised (equal:
//!   the same candidate asking again, or a leader renewing), unless it
//!   holds an unexpired lease for another ballot; a higher promise is
//!   persisted (synced) before the reply. A refusal says why (`Stale`:
//!   the ballot is too low, the candidate tries its next round at once;
//!   `Leased`: try again when the lease ends). A majority of lease grants
//!   *wins* the ballot. Leases are granted only to a candidate that
//!   already holds a majority of promises, so two candidates campaigning
//!   at once do not block each other for a whole lease.
//! - **Fencing** ([`resource`]): the winner first *fences* the resource
//!   with its token; the resource accepts a fence or a write only with a
//!   token at least the highest it has accepted, persisted before the
//!   reply. Only then does the winner take office (if its lease is still
//!   valid) and write, with its token, every few milliseconds. A deposed
//!   leader's late write carries a lower token and is refused.
//! - **Leases**: a leader serves lease reads (from what it wrote,
//!   asking no one) every [`READ_INTERVAL`], valid only while no other
//!   leader can exist. From the moment it wins, it renews its lease every
//!   [`RENEW_INTERVAL`] with a lease request of the same ballot; after a
//!   term of a few seconds it stops renewing and lets the lease run out
//!   (so leadership rotates), still acting until it expires.
//!
//! # Leases under clock drift
//! Each process reads its own clock (`TimeProvider::timer`), which may be
//! off by up to ε from any other process's. An acceptor that grants a
//! prepare stamped `start` promises every other ballot nothing until *its*
//! clock reads `start + PROMISE`; the leader acts only while *its* clock
//! reads before `start + PROMISE − DRIFT_MARGIN` (`start` of the last
//! prepare a majority granted). With `DRIFT_MARGIN ≥ ε` two leases never
//! overlap: a higher ballot wins only with the grant of an acceptor `A` of
//! the leader's last majority, given when `A`'s clock read at least `start
//! + PROMISE`; the leader's clock then read at least that minus ε, past
//! the end of its lease. (Raft's leader lease, §6.4.1 of Ongaro's thesis,
//! bounds the lease by the clock drift the same way; FoundationDB's
//! simulator lets `timer()` run up to 0.1 s ahead, moonpool's chaos draws
//! at most 100 ms, so [`DRIFT_MARGIN`] is 150 ms.)
//!
//! # Leases against round trips
//! A lease is only of use if it outlasts what its winner must do with it
//! (Raft's timing rule: broadcast time ≪ election timeout). The winner
//! learns it won one round trip after `start`, fences the resource in a
//! second, then writes; meanwhile it renews (from the moment it wins),
//! each renewal granted a round trip after its own `start`. So `LEASE`
//! exceeds two [`ROUND_TRIP_MAX`] plus a write or renewal interval, and
//! every call waits at least `ROUND_TRIP_MAX`. With a shorter lease a
//! candidate far from the others and the resource wins ballots it cannot
//! use (its lease runs out before its first write) and, winning ties by
//! its id, keeps out the candidates that could lead.
//!
//! Leases live in memory. A restarted acceptor grants nothing for
//! [`BOOT_WAIT`] (`PROMISE + DRIFT_MARGIN`): every lease it granted before
//! the crash has run out on every clock by then. An acceptor refuses a
//! prepare whose `start` is more than `DRIFT_MARGIN` ahead of its own
//! clock (the clocks are outside the bound the argument assumes).
//!
//! # What is checked ([`checker`], every seed)
//! Processes record what they did (a ballot won, a leader taking office,
//! a lease used, a fence or write accepted or refused, with the canonical
//! time); the checker holds the record to: at most one leader per ballot;
//! leaders take office with strictly increasing ballots; every write the
//! resource accepted carries the highest token issued (fenced) so far, by
//! a leader in office; a leader is a registered candidate elected by a
//! majority of distinct candidates; no lease is used after a higher ballot
//! won. Liveness: a leader takes office and writes within
//! [`sim::LIVENESS_BOUND`] after the faults stop.
//!
//! # Modules
//! - [`server`]: a candidate process: acceptor, campaigns, leadership.
//! - [`client`]: the calls a candidate makes (prepare to all acceptors,
//!   fence and write to the resource).
//! - [`resource`]: the fenced register process.
//! - `storage`: the ballot state and the register, each a durable cell.
//! - [`checker`]: observations and the invariants.
//! - [`sim`]: candidates and the resource under attrition and network
//!   chaos; the checks after quiesce.
//! - [`real`]: the same processes on tokio over loopback.

pub mod checker;
pub mod client;
pub mod real;
pub mod resource;
pub mod server;
pub mod sim;
mod storage;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use checker::{CheckStats, Observations, Recorder, Violation, check};
pub use server::{CandidateConfig, candidate};
pub use sim::{SimConfig, simulation, simulation_with};

use crate::harness::Example;

/// The port candidates and the resource listen on.
pub const PORT: u16 = 4700;
/// The well-known endpoint index of the acceptor service.
pub const ACCEPTOR_INDEX: u32 = 1;
/// The well-known endpoint index of the resource service's first method.
pub const RESOURCE_INDEX: u32 = 1;
/// The longest round trip the election's timing is built for: a request,
/// its handling (a synced write at most) and the reply. In the simulation
/// a pair of processes may be up to 100 ms apart each way
/// (`net.pair_latency`, which outlives the chaos), about 200 ms a round
/// trip.
pub const ROUND_TRIP_MAX: Duration = Duration::from_millis(250);
/// How long an acceptor's promise lasts, from the prepare's `start`, on
/// the acceptor's own clock.
pub const PROMISE: Duration = Duration::from_millis(1_000);
/// What the leader's lease gives up to clock disagreement: more than the
/// largest offset between two processes' clocks (ε; 100 ms in the
/// simulation).
pub const DRIFT_MARGIN: Duration = Duration::from_millis(150);
/// The leader's lease, from `start`, on its own clock.
pub const LEASE: Duration = Duration::from_millis(1_000 - 150);
/// How long a (re)started acceptor grants nothing.
pub const BOOT_WAIT: Duration = Duration::from_millis(1_000 + 150);
/// How often a leader renews its lease.
pub const RENEW_INTERVAL: Duration = Duration::from_millis(100);
/// How often a leader serves a lease read (from what it wrote, without
/// asking anyone).
pub const READ_INTERVAL: Duration = Duration::from_millis(5);
/// How often a leader writes to the resource.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(20);
/// The most candidates an election may have.
pub const CANDIDATES_MAX: usize = 5;

/// A ballot: ordered by round, then candidate. The fencing token of the
/// leader elected with it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ballot {
    /// The candidate's round (from 1).
    pub round: u64,
    /// The candidate.
    pub candidate: u32,
}

impl Ballot {
    /// Below every ballot a candidate uses.
    pub const ZERO: Ballot = Ballot {
        round: 0,
        candidate: 0,
    };
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.round, self.candidate)
    }
}

/// Phase 1 of a campaign: promise no lower ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepare {
    /// The ballot.
    pub ballot: Ballot,
}

/// Phase 2 of a campaign, and every renewal: promise `ballot` a lease from
/// `start_ns`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// The ballot.
    pub ballot: Ballot,
    /// The candidate's local clock when it sent this, in nanoseconds.
    pub start_ns: u64,
}

/// Why an acceptor refused a prepare or a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The acceptor promised a higher ballot.
    Stale,
    /// The acceptor holds a lease for another ballot for this long.
    Leased {
        /// Milliseconds left, on the acceptor's clock.
        remaining_ms: u64,
    },
    /// The acceptor restarted and grants nothing for this long.
    Booting {
        /// Milliseconds left.
        remaining_ms: u64,
    },
    /// The request's `start` is further ahead of the acceptor's clock than
    /// [`DRIFT_MARGIN`].
    ClockSkew,
    /// The acceptor could not persist its promise.
    Disk,
}

/// An acceptor's answer to a prepare or a lease request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Vote {
    /// Granted: for a prepare, no lower ballot from now on; for a lease,
    /// also no other ballot until `start + PROMISE` on the acceptor's
    /// clock.
    Granted,
    /// Refused.
    Refused(Refusal),
}

moonpool_transport::service! {
    /// The acceptor service of every candidate.
    pub mod acceptor_api {
        prepare: Prepare => Vote,
        lease: LeaseRequest => Vote,
    }
}

/// Make `token` the resource's highest token (a new leader, before it
/// writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    /// The leader's token.
    pub token: Ballot,
}

/// Write `value` to the register, with `token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// The leader's token.
    pub token: Ballot,
    /// The value.
    pub value: u64,
}

/// Read the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRegister;

/// The resource's answer to a fence or a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceReply {
    /// Accepted and durable.
    Accepted,
    /// Refused: the resource accepted a higher token.
    Stale {
        /// The highest token accepted.
        highest: Ballot,
    },
    /// The resource could not persist it (nothing acknowledged).
    Disk,
}

/// The register's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// The highest token accepted.
    pub highest: Ballot,
    /// The last value written.
    pub value: u64,
    /// Writes accepted since the register was created.
    pub writes: u64,
}

moonpool_transport::service! {
    /// The fenced resource.
    pub mod resource_api {
        fence: Fence => ResourceReply,
        write: Write => ResourceReply,
        read: ReadRegister => Register,
    }
}

/// Why a candidate or the resource stopped.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// Recovery could not read the durable state.
    #[error("recovery failed: {0}")]
    Recovery(#[from] moonpool_core::StorageError),
    /// The durable state does not decode.
    #[error("durable state is corrupt: {0}")]
    Corrupt(#[from] moonpool_core::CodecError),
    /// The process could not bind its address or register its service.
    #[error("transport: {0}")]
    Transport(#[from] moonpool_transport::TransportError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

crate::harness::planted_bugs! {
    /// A bug that can be planted (`election sim --bug NAME`).
    pub enum ElectionBug {
        /// The resource does not compare tokens.
        NoFencing = "no-fencing":
            "the resource accepts every write whatever its token: a deposed leader's late write lands after a new leader took office",
        /// The leader's lease ignores the drift margin.
        LeaseNoMargin = "lease-no-margin":
            "the leader holds its lease until start + PROMISE on its own clock, without the drift margin: with its clock behind the acceptors', it acts after they promised a new leader",
        /// A candidate's round is not persisted.
        BallotReuse = "ballot-reuse":
            "a candidate keeps its last round in memory only: after a reboot it campaigns again with a ballot it already used, which acceptors take for a renewal, so two incarnations lead with one ballot",
    }
}

/// The `election` binary: its simulation and its real run.
pub const EXAMPLE: Example<ElectionBug, real::RealArgs> = Example {
    name: "election",
    about: "lease-based leader election with ballots and fencing tokens, and a fenced register, under attrition, network chaos and clock drift",
    simulation,
    real: std::marker::PhantomData,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballots_order_by_round_then_candidate() {
        let a = Ballot {
            round: 1,
            candidate: 4,
        };
        let b = Ballot {
            round: 2,
            candidate: 0,
        };
        let c = Ballot {
            round: 2,
            candidate: 1,
        };
        assert!(Ballot::ZERO < a && a < b && b < c);
    }

    #[test]
    fn the_lease_leaves_the_drift_margin_and_the_boot_wait_covers_it() {
        assert_eq!(LEASE + DRIFT_MARGIN, PROMISE);
        assert_eq!(BOOT_WAIT, PROMISE + DRIFT_MARGIN);
        assert!(
            RENEW_INTERVAL * 3 < LEASE,
            "a lease survives two lost renewals"
        );
    }

    #[test]
    fn a_lease_outlasts_winning_fencing_and_renewing_at_the_longest_round_trip() {
        assert!(
            ROUND_TRIP_MAX * 2 + WRITE_INTERVAL < LEASE,
            "won a round trip after start, fenced one later, then the first write"
        );
        assert!(
            ROUND_TRIP_MAX * 2 + RENEW_INTERVAL < LEASE,
            "each renewal starts an interval after the previous one was granted and is granted a round trip later"
        );
        assert!(client::PREPARE_TIMEOUT >= ROUND_TRIP_MAX);
        assert!(client::RESOURCE_TIMEOUT >= ROUND_TRIP_MAX);
    }
}
