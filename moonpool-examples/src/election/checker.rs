//! What the processes record, and the invariants the record must satisfy.
//!
//! # Observations
//! Candidates and the resource hold a [`Recorder`] (shared memory: the
//! processes of a simulation, or of a real run, live in one OS process)
//! and record, stamped with one clock for all ([`Recorder::stamp`]: the
//! simulation's true time, where every process's own clock is skewed; in
//! a real run, the one monotonic clock of the OS process):
//! - a candidate that won a ballot (a majority of grants), with its voters;
//! - a winner that took office (the resource accepted its fence and its
//!   lease was still valid);
//! - each time a leader used its lease (acted as leader): per ballot, the
//!   first and last such time;
//! - every fence and write the resource decided, accepted or refused.
//!
//! # Invariants ([`check`])
//! 1. **One leader per ballot**: no ballot is won twice (by two candidates
//!    or two incarnations of one).
//! 2. **Registered leaders**: a winner is a candidate of the election, its
//!    ballot is its own, and its voters are a majority of distinct
//!    candidates.
//! 3. **Ballots strictly increase**: leaders take office with strictly
//!    increasing ballots.
//! 4. **Fencing**: every write the resource accepted carries the highest
//!    token issued so far (fenced at the resource, at or before the write),
//!    and that token's leader had taken office before it.
//! 5. **Leases never overlap**: no leader used its lease at or after the
//!    time a higher ballot was won.
//!
//! Times are simulated (or, in a real run, one monotonic clock), so "at or
//! after" is exact. An instant shared by two events counts against the
//! system (strict: no event of two leases may coincide).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use moonpool_core::Instant;

use super::Ballot;

/// Resource events the record keeps, at most (a run writes every
/// [`WRITE_INTERVAL`](super::WRITE_INTERVAL), so a 10 s simulation keeps a
/// few hundred).
pub const RESOURCE_EVENTS_MAX: usize = 1_000_000;

/// A ballot won.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Won {
    /// The ballot.
    pub ballot: Ballot,
    /// The winner.
    pub candidate: u32,
    /// The winner's incarnation (random per process start).
    pub incarnation: u64,
    /// The candidates whose grants made the majority.
    pub voters: Vec<u32>,
    /// When.
    pub at: Instant,
}

/// A winner took office.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TookOffice {
    /// Its ballot (its token).
    pub ballot: Ballot,
    /// The leader.
    pub candidate: u32,
    /// Its incarnation.
    pub incarnation: u64,
    /// When.
    pub at: Instant,
}

/// The uses of one ballot's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseUse {
    /// The first use.
    pub first: Instant,
    /// The last use.
    pub last: Instant,
    /// Uses.
    pub count: u64,
}

/// Fence or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceOp {
    /// A new leader's fence.
    Fence,
    /// A leader's write.
    Write,
}

/// A fence or write the resource decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceEvent {
    /// Fence or write.
    pub op: ResourceOp,
    /// The token it carried.
    pub token: Ballot,
    /// Whether the resource accepted it (and made it durable).
    pub accepted: bool,
    /// When the resource answered.
    pub at: Instant,
}

/// Everything recorded in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observations {
    /// Ballots won, in time order.
    pub won: Vec<Won>,
    /// Leaders taking office, in time order.
    pub took_office: Vec<TookOffice>,
    /// Lease uses per ballot.
    pub lease_used: BTreeMap<Ballot, LeaseUse>,
    /// The resource's decisions, in time order.
    pub resource: Vec<ResourceEvent>,
    /// Resource events not kept (beyond [`RESOURCE_EVENTS_MAX`]).
    pub resource_dropped: u64,
}

/// The clock a [`Recorder`] stamps observations with.
type StampClock = Rc<dyn Fn() -> Instant>;

/// A shared handle on a run's [`Observations`].
#[derive(Clone, Default)]
pub struct Recorder {
    obs: Rc<RefCell<Observations>>,
    clock: Option<StampClock>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("obs", &self.obs)
            .field("own_clock", &self.clock.is_some())
            .finish()
    }
}

impl Recorder {
    /// An empty record, stamped with the recording processes' own clocks.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// A handle on the same record that stamps observations with `clock`:
    /// one clock for every process, so that the checker can order what
    /// different processes did (a simulation passes its true time, since
    /// each process's own clock is skewed).
    pub fn with_clock(&self, clock: impl Fn() -> Instant + 'static) -> Recorder {
        Recorder {
            obs: Rc::clone(&self.obs),
            clock: Some(Rc::new(clock)),
        }
    }

    /// The time to record an observation made now by a process whose own
    /// clock reads `local`: this handle's clock if it has one, else
    /// `local` (in a real run every process reads the same clock).
    pub fn stamp(&self, local: Instant) -> Instant {
        match &self.clock {
            Some(clock) => clock(),
            None => local,
        }
    }

    /// Forgets everything (a new seed).
    pub fn reset(&self) {
        *self.obs.borrow_mut() = Observations::default();
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Observations {
        self.obs.borrow().clone()
    }

    /// Reads the record.
    pub fn with<T>(&self, f: impl FnOnce(&Observations) -> T) -> T {
        f(&self.obs.borrow())
    }

    /// A ballot was won.
    pub fn won(&self, won: Won) {
        self.obs.borrow_mut().won.push(won);
    }

    /// A winner took office.
    pub fn took_office(&self, took: TookOffice) {
        self.obs.borrow_mut().took_office.push(took);
    }

    /// The leader of `ballot` used its lease at `at`.
    pub fn lease_used(&self, ballot: Ballot, at: Instant) {
        let mut obs = self.obs.borrow_mut();
        let entry = obs.lease_used.entry(ballot).or_insert(LeaseUse {
            first: at,
            last: at,
            count: 0,
        });
        entry.last = entry.last.max(at);
        entry.count += 1;
    }

    /// The resource decided a fence or a write.
    pub fn resource(&self, event: ResourceEvent) {
        let mut obs = self.obs.borrow_mut();
        if obs.resource.len() < RESOURCE_EVENTS_MAX {
            obs.resource.push(event);
        } else {
            obs.resource_dropped += 1;
        }
    }
}

/// An invariant the record breaks. The message starts with the invariant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Invariant 1.
    #[error(
        "two leaders with one ballot: ballot {ballot} won by candidate {first_candidate} (incarnation {first_incarnation:#x}) at {first_at} and again by candidate {second_candidate} (incarnation {second_incarnation:#x}) at {second_at}"
    )]
    TwoLeadersOneBallot {
        /// The ballot.
        ballot: Ballot,
        /// The first winner.
        first_candidate: u32,
        /// Its incarnation.
        first_incarnation: u64,
        /// When.
        first_at: Instant,
        /// The second winner.
        second_candidate: u32,
        /// Its incarnation.
        second_incarnation: u64,
        /// When.
        second_at: Instant,
    },
    /// Invariant 2.
    #[error(
        "unregistered leader: ballot {ballot} won by candidate {candidate} with voters {voters:?} ({why})"
    )]
    Unregistered {
        /// The ballot.
        ballot: Ballot,
        /// The winner.
        candidate: u32,
        /// Its voters.
        voters: Vec<u32>,
        /// What is wrong.
        why: &'static str,
    },
    /// Invariant 3.
    #[error(
        "ballots did not strictly increase: ballot {later} took office at {later_at}, after ballot {earlier} at {earlier_at}"
    )]
    NotIncreasing {
        /// The earlier leader's ballot.
        earlier: Ballot,
        /// When it took office.
        earlier_at: Instant,
        /// The later leader's ballot.
        later: Ballot,
        /// When it took office.
        later_at: Instant,
    },
    /// Invariant 4.
    #[error(
        "fencing violated: the resource accepted a {op:?} with token {token} at {at}, when the highest token issued was {highest}"
    )]
    StaleAccepted {
        /// Fence or write.
        op: ResourceOp,
        /// Its token.
        token: Ballot,
        /// When it was accepted.
        at: Instant,
        /// The highest token fenced before.
        highest: Ballot,
    },
    /// Invariant 4: a write whose token no leader in office held.
    #[error(
        "fencing violated: the resource accepted a write with token {token} at {at}, but no leader had taken office with it"
    )]
    WriteWithoutLeader {
        /// Its token.
        token: Ballot,
        /// When it was accepted.
        at: Instant,
    },
    /// Invariant 5.
    #[error(
        "leases overlapped: the leader of ballot {ballot} used its lease at {used_at}, after ballot {higher} was won at {won_at}"
    )]
    LeasesOverlap {
        /// The older leader's ballot.
        ballot: Ballot,
        /// Its last lease use.
        used_at: Instant,
        /// The higher ballot.
        higher: Ballot,
        /// When it was won.
        won_at: Instant,
    },
    /// The record is incomplete.
    #[error("the record dropped {0} resource events")]
    Incomplete(u64),
}

/// Figures of a checked record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Ballots won.
    pub won: u64,
    /// Leaders that took office.
    pub took_office: u64,
    /// Lease uses.
    pub lease_uses: u64,
    /// Writes accepted.
    pub writes_accepted: u64,
    /// Fences and writes refused as stale.
    pub stale_refused: u64,
}

/// Checks `obs` against the invariants for an election among
/// `candidates` candidates.
pub fn check(obs: &Observations, candidates: u32) -> Result<CheckStats, Violation> {
    if obs.resource_dropped > 0 {
        return Err(Violation::Incomplete(obs.resource_dropped));
    }
    let majority = candidates as usize / 2 + 1;
    // 1 and 2.
    let mut winners: BTreeMap<Ballot, &Won> = BTreeMap::new();
    for won in &obs.won {
        let mut voters = won.voters.clone();
        voters.sort_unstable();
        voters.dedup();
        let why = if won.candidate >= candidates {
            Some("not a candidate")
        } else if won.ballot.candidate != won.candidate {
            Some("the ballot is another candidate's")
        } else if voters.len() != won.voters.len() {
            Some("a voter counted twice")
        } else if voters.iter().any(|v| *v >= candidates) {
            Some("a voter is not a candidate")
        } else if voters.len() < majority {
            Some("not a majority")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Violation::Unregistered {
                ballot: won.ballot,
                candidate: won.candidate,
                voters: won.voters.clone(),
                why,
            });
        }
        if let Some(first) = winners.get(&won.ballot) {
            return Err(Violation::TwoLeadersOneBallot {
                ballot: won.ballot,
                first_candidate: first.candidate,
                first_incarnation: first.incarnation,
                first_at: first.at,
                second_candidate: won.candidate,
                second_incarnation: won.incarnation,
                second_at: won.at,
            });
        }
        winners.insert(won.ballot, won);
    }
    // 3.
    for pair in obs.took_office.windows(2) {
        if pair[1].ballot <= pair[0].ballot {
            return Err(Violation::NotIncreasing {
                earlier: pair[0].ballot,
                earlier_at: pair[0].at,
                later: pair[1].ballot,
                later_at: pair[1].at,
            });
        }
    }
    // 4.
    let mut stats = CheckStats {
        won: obs.won.len() as u64,
        took_office: obs.took_office.len() as u64,
        lease_uses: obs.lease_used.values().map(|u| u.count).sum(),
        ..CheckStats::default()
    };
    let mut highest = Ballot::ZERO;
    for event in &obs.resource {
        if !event.accepted {
            stats.stale_refused += 1;
            continue;
        }
        let in_office = || {
            obs.took_office
                .iter()
                .any(|t| t.ballot == event.token && t.at <= event.at)
        };
        match event.op {
            ResourceOp::Fence if event.token < highest => {
                return Err(Violation::StaleAccepted {
                    op: event.op,
                    token: event.token,
                    at: event.at,
                    highest,
                });
            }
            ResourceOp::Fence => highest = event.token,
            ResourceOp::Write if event.token != highest => {
                return Err(Violation::StaleAccepted {
                    op: event.op,
                    token: event.token,
                    at: event.at,
                    highest,
                });
            }
            ResourceOp::Write if !in_office() => {
                return Err(Violation::WriteWithoutLeader {
                    token: event.token,
                    at: event.at,
                });
            }
            ResourceOp::Write => stats.writes_accepted += 1,
        }
    }
    // 5.
    for (ballot, used) in &obs.lease_used {
        if let Some(won) = obs
            .won
            .iter()
            .filter(|w| w.ballot > *ballot && w.at <= used.last)
            .min_by_key(|w| w.at)
        {
            return Err(Violation::LeasesOverlap {
                ballot: *ballot,
                used_at: used.last,
                higher: won.ballot,
                won_at: won.at,
            });
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    fn b(round: u64, candidate: u32) -> Ballot {
        Ballot { round, candidate }
    }

    fn won(ballot: Ballot, incarnation: u64, voters: &[u32], at: u64) -> Won {
        Won {
            ballot,
            candidate: ballot.candidate,
            incarnation,
            voters: voters.to_vec(),
            at: t(at),
        }
    }

    fn office(ballot: Ballot, at: u64) -> TookOffice {
        TookOffice {
            ballot,
            candidate: ballot.candidate,
            incarnation: 1,
            at: t(at),
        }
    }

    fn event(op: ResourceOp, token: Ballot, accepted: bool, at: u64) -> ResourceEvent {
        ResourceEvent {
            op,
            token,
            accepted,
            at: t(at),
        }
    }

    /// Two terms, the second fencing the first out.
    fn healthy() -> Observations {
        let recorder = Recorder::new();
        recorder.won(won(b(1, 0), 1, &[0, 1], 10));
        recorder.resource(event(ResourceOp::Fence, b(1, 0), true, 11));
        recorder.took_office(office(b(1, 0), 12));
        recorder.lease_used(b(1, 0), t(20));
        recorder.resource(event(ResourceOp::Write, b(1, 0), true, 21));
        recorder.lease_used(b(1, 0), t(800));
        recorder.won(won(b(2, 1), 1, &[1, 2], 1_100));
        recorder.resource(event(ResourceOp::Fence, b(2, 1), true, 1_101));
        recorder.took_office(office(b(2, 1), 1_102));
        // The first leader's late write is refused.
        recorder.resource(event(ResourceOp::Write, b(1, 0), false, 1_103));
        recorder.lease_used(b(2, 1), t(1_110));
        recorder.resource(event(ResourceOp::Write, b(2, 1), true, 1_111));
        recorder.snapshot()
    }

    #[test]
    fn a_healthy_record_passes() {
        let stats = check(&healthy(), 3).expect("healthy");
        assert_eq!(stats.won, 2);
        assert_eq!(stats.took_office, 2);
        assert_eq!(stats.writes_accepted, 2);
        assert_eq!(stats.stale_refused, 1);
        assert_eq!(stats.lease_uses, 3);
    }

    #[test]
    fn a_ballot_won_twice_is_caught() {
        let mut obs = healthy();
        obs.won.push(won(b(2, 1), 2, &[0, 1], 1_500));
        assert!(matches!(
            check(&obs, 3),
            Err(Violation::TwoLeadersOneBallot { ballot, .. }) if ballot == b(2, 1)
        ));
    }

    #[test]
    fn winners_must_be_candidates_with_a_majority_of_distinct_voters() {
        for (w, why) in [
            (won(b(3, 7), 1, &[0, 1], 2_000), "not a candidate"),
            (won(b(3, 1), 1, &[1, 1], 2_000), "a voter counted twice"),
            (won(b(3, 1), 1, &[1], 2_000), "not a majority"),
            (
                won(b(3, 1), 1, &[1, 9], 2_000),
                "a voter is not a candidate",
            ),
        ] {
            let mut obs = healthy();
            obs.won.push(w);
            assert!(
                matches!(check(&obs, 3), Err(Violation::Unregistered { why: got, .. }) if got == why),
                "{why}"
            );
        }
        let mut obs = healthy();
        obs.won.push(Won {
            candidate: 2,
            ..won(b(3, 1), 1, &[1, 2], 2_000)
        });
        assert!(matches!(
            check(&obs, 3),
            Err(Violation::Unregistered { .. })
        ));
    }

    #[test]
    fn a_lower_ballot_taking_office_later_is_caught() {
        let mut obs = healthy();
        obs.took_office.push(office(b(1, 2), 1_200));
        assert!(matches!(
            check(&obs, 3),
            Err(Violation::NotIncreasing { .. })
        ));
    }

    #[test]
    fn a_stale_write_or_fence_accepted_is_caught() {
        let mut obs = healthy();
        obs.resource
            .push(event(ResourceOp::Write, b(1, 0), true, 1_200));
        assert!(matches!(
            check(&obs, 3),
            Err(Violation::StaleAccepted { token, highest, .. }) if token == b(1, 0) && highest == b(2, 1)
        ));
        let mut obs = healthy();
        obs.resource
            .push(event(ResourceOp::Fence, b(1, 2), true, 1_200));
        assert!(matches!(
            check(&obs, 3),
            Err(Violation::StaleAccepted { .. })
        ));
    }

    #[test]
    fn a_write_before_its_leader_took_office_is_caught() {
        let mut obs = healthy();
        obs.resource
            .insert(2, event(ResourceOp::Write, b(1, 0), true, 11));
        assert!(matches!(
            check(&obs, 3),
            Err(Violation::WriteWithoutLeader { .. })
        ));
    }

    #[test]
    fn a_lease_used_after_a_higher_ballot_won_is_caught() {
        let obs = healthy();
        let recorder = Recorder {
            obs: Rc::new(RefCell::new(obs)),
            clock: None,
        };
        recorder.lease_used(b(1, 0), t(1_100));
        assert!(matches!(
            check(&recorder.snapshot(), 3),
            Err(Violation::LeasesOverlap { ballot, higher, .. }) if ballot == b(1, 0) && higher == b(2, 1)
        ));
    }
}
