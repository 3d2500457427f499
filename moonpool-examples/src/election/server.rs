//! A candidate process: an acceptor that grants prepares, and a candidate
//! that campaigns, fences the resource, leads, renews, and steps down.
//!
//! # States of the candidate
//! 1. **Recovering**: its ballot state is read back from disk; nothing
//!    listens yet. Its acceptor then grants nothing for [`BOOT_WAIT`].
//! 2. **Following**: while its own acceptor holds a lease for another
//!    ballot (a leader is renewing), it waits for that lease to end.
//! 3. **Campaigning**: it reserves its next round (persisted first), sends
//!    the prepare to every acceptor, then (with a majority of promises)
//!    the lease request; it goes on with the next round after a few
//!    milliseconds if refused as `Stale`, after the lease if `Leased`,
//!    after a short random pause otherwise.
//! 4. **Fencing**: with a majority it starts a renewer, which extends the
//!    lease every [`RENEW_INTERVAL`] until the term ends, fences the
//!    resource with its ballot, and takes office if its lease is still
//!    valid.
//! 5. **Leading**: every [`WRITE_INTERVAL`] it checks its lease on its
//!    own clock and writes. It steps down when the lease runs out or the
//!    resource refuses its token, then sits out a moment.
//!
//! # The acceptor (see the [module documentation](super) for the lease
//! rules)
//! Requests are decided one at a time; a promise of a higher ballot is
//! persisted before the grant is sent. The candidate's round reservation
//! takes the same lock, so the two never overwrite each other's state.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Instant, Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_transport::{Transport, TransportConfig, TransportError};

use super::checker::{Recorder, TookOffice, Won};
use super::client::{Acceptors, ResourceClient};
use super::storage::{BALLOT_STATE_PATH, BallotState, Durable};
use super::{
    ACCEPTOR_INDEX, BOOT_WAIT, Ballot, CANDIDATES_MAX, DRIFT_MARGIN, ElectionBug, ElectionError,
    LEASE, LeaseRequest, PROMISE, Prepare, READ_INTERVAL, RENEW_INTERVAL, Refusal, ResourceReply,
    Vote, WRITE_INTERVAL, acceptor_api,
};
use crate::net::bind_retrying;

/// Attempts to bind an address before giving up.
const BIND_ATTEMPTS_MAX: u32 = 1_000;
/// Pause between bind attempts.
const BIND_RETRY_DELAY: Duration = Duration::from_millis(50);
/// Prepares handled at once, at most (the rest wait in the transport's
/// bounded queue).
const HANDLERS_MAX: usize = 64;
/// Campaigns in a row refused as `Stale` before the candidate pauses.
const STALE_RETRIES_MAX: u32 = 1_000;
/// The most a candidate waits, in microseconds, past the end of a lease
/// before it campaigns (candidates waking at once would collide).
const WAKE_JITTER_US: u64 = 3_000;
/// The longest pause a buggified leader takes between checking its lease
/// and writing (a "GC pause").
const PAUSE_MS_MAX: u64 = 1_500;

/// Who a candidate is and how it behaves.
#[derive(Clone, Debug)]
pub struct CandidateConfig {
    /// Its id: its index in `addrs`.
    pub id: u32,
    /// Every candidate's address, by id (3 to [`CANDIDATES_MAX`]).
    pub addrs: Vec<SocketAddr>,
    /// The resource's address.
    pub resource: SocketAddr,
    /// A leader's term, drawn in this range: after it the leader stops
    /// renewing and lets its lease run out.
    pub term: (Duration, Duration),
    /// How long a leader that stepped down waits before campaigning.
    pub sit_out: (Duration, Duration),
    /// The transport's configuration.
    pub transport: TransportConfig,
}

impl CandidateConfig {
    /// Candidate `id` of the election among `addrs`, with the default
    /// timing (terms of 0.5 to 2 s, sitting out 100 to 300 ms).
    pub fn new(id: u32, addrs: Vec<SocketAddr>, resource: SocketAddr) -> CandidateConfig {
        CandidateConfig {
            id,
            addrs,
            resource,
            term: (Duration::from_millis(500), Duration::from_secs(2)),
            sit_out: (Duration::from_millis(100), Duration::from_millis(300)),
            transport: TransportConfig::default(),
        }
    }
}

/// Binds `me` with the default transport configuration, retrying.
pub(crate) async fn bind<P: Providers>(
    p: &P,
    me: SocketAddr,
) -> Result<Transport<P>, TransportError> {
    let config = TransportConfig::default();
    bind_retrying(p, me, &config, BIND_ATTEMPTS_MAX, BIND_RETRY_DELAY).await
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos() as u64
}

fn random_in<P: Providers>(p: &P, (lo, hi): (Duration, Duration)) -> Duration {
    Duration::from_micros(
        p.random()
            .random_range(lo.as_micros() as u64..=hi.as_micros().max(lo.as_micros()) as u64),
    )
}

/// One candidate process's state.
struct Node<P: Providers> {
    p: P,
    id: u32,
    incarnation: u64,
    bug: Option<ElectionBug>,
    recorder: Recorder,
    durable: Durable<P, BallotState>,
    /// The state on disk (with [`ElectionBug::BallotReuse`]: the round is
    /// only here).
    state: RefCell<BallotState>,
    /// Serializes changes of `state` (promises and round reservations).
    state_lock: futures::lock::Mutex<()>,
    /// The lease this acceptor granted last: its ballot and end, on this
    /// process's clock (nanoseconds).
    lease: Cell<Option<(Ballot, u64)>>,
    /// The acceptor grants nothing before this (canonical clock).
    boot_until: Instant,
}

/// How a campaign ended.
enum Campaign {
    /// A majority granted the ballot; the lease runs until this local time.
    Won { ballot: Ballot, lease_end_ns: u64 },
    /// Some acceptor promised a higher ballot: try the next round now.
    Stale,
    /// An acceptor holds a lease for another ballot this much longer.
    Leased(Duration),
    /// Anything else (timeouts, booting acceptors, a disk error).
    Failed,
}

impl<P: Providers> Node<P> {
    /// What is written to disk: the round is left out by the bug.
    fn persisted(&self, state: BallotState) -> BallotState {
        if self.bug == Some(ElectionBug::BallotReuse) {
            BallotState { round: 0, ..state }
        } else {
            state
        }
    }

    /// The lease the acceptor holds for another ballot, still running on
    /// this process's clock: how long it has left.
    fn lease_left(&self) -> Duration {
        match self.lease.get() {
            Some((_, until)) => {
                Duration::from_nanos(until.saturating_sub(self.p.time().timer().as_nanos()))
            }
            None => Duration::ZERO,
        }
    }

    /// The acceptor's rule for both phases: `lease` is `Some(start_ns)`
    /// for a lease request, `None` for a prepare.
    async fn on_request(&self, ballot: Ballot, lease: Option<u64>) -> Vote {
        let _guard = self.state_lock.lock().await;
        let now = self.p.time().now();
        if now < self.boot_until {
            let left = self.boot_until.saturating_duration_since(now);
            return Vote::Refused(Refusal::Booting {
                remaining_ms: left.as_millis() as u64 + 1,
            });
        }
        let local = self.p.time().timer().as_nanos();
        let promised = self.state.borrow().promised;
        if ballot < promised {
            return Vote::Refused(Refusal::Stale);
        }
        if let Some(start_ns) = lease
            && start_ns > local.saturating_add(nanos(DRIFT_MARGIN))
        {
            return Vote::Refused(Refusal::ClockSkew);
        }
        if let Some((held, until)) = self.lease.get()
            && held != ballot
            && local < until
        {
            return Vote::Refused(Refusal::Leased {
                remaining_ms: (until - local) / 1_000_000 + 1,
            });
        }
        if ballot > promised {
            let next = BallotState {
                promised: ballot,
                ..*self.state.borrow()
            };
            if let Err(e) = self.durable.store(&self.persisted(next)).await {
                tracing::debug!(error = %e, "election: a promise could not be persisted");
                return Vote::Refused(Refusal::Disk);
            }
            self.state.borrow_mut().promised = ballot;
        }
        if let Some(start_ns) = lease {
            let until = start_ns.saturating_add(nanos(PROMISE));
            let until = match self.lease.get() {
                Some((held, old)) if held == ballot => old.max(until),
                _ => until,
            };
            self.lease.set(Some((ballot, until)));
        }
        Vote::Granted
    }

    /// Reserves the next round: persisted before it is used (barring
    /// [`ElectionBug::BallotReuse`]).
    async fn next_round(&self) -> Option<u64> {
        let _guard = self.state_lock.lock().await;
        let mut next = *self.state.borrow();
        next.round += 1;
        if self.bug != Some(ElectionBug::BallotReuse)
            && let Err(e) = self.durable.store(&next).await
        {
            tracing::debug!(error = %e, "election: a round could not be reserved");
            return None;
        }
        self.state.borrow_mut().round = next.round;
        Some(next.round)
    }

    /// Drops the lease this acceptor holds for `ballot`, this candidate's
    /// own lost ballot.
    async fn release_own(&self, ballot: Ballot) {
        let _guard = self.state_lock.lock().await;
        if self.lease.get().is_some_and(|(held, _)| held == ballot) {
            self.lease.set(None);
        }
    }

    /// The end of a lease that started at `start_ns`, on this clock.
    fn lease_end(&self, start_ns: u64) -> u64 {
        let length = if self.bug == Some(ElectionBug::LeaseNoMargin) {
            PROMISE
        } else {
            LEASE
        };
        start_ns.saturating_add(nanos(length))
    }

    /// One campaign with the next round.
    async fn campaign(&self, acceptors: &Acceptors<P>) -> Campaign {
        let Some(round) = self.next_round().await else {
            return Campaign::Failed;
        };
        let ballot = Ballot {
            round,
            candidate: self.id,
        };
        let promises = acceptors.prepare_all(Prepare { ballot }).await;
        let tally = if promises.granted.len() >= acceptors.majority() {
            let start_ns = self.p.time().timer().as_nanos();
            let leases = acceptors.lease_all(LeaseRequest { ballot, start_ns }).await;
            if leases.granted.len() >= acceptors.majority() {
                tracing::debug!(%ballot, ?leases, "election: won");
                self.recorder.won(Won {
                    ballot,
                    candidate: self.id,
                    incarnation: self.incarnation,
                    voters: leases.granted,
                    at: self.recorder.stamp(self.p.time().now()),
                });
                return Campaign::Won {
                    ballot,
                    lease_end_ns: self.lease_end(start_ns),
                };
            }
            // Lost: the lease this candidate's own acceptor just granted
            // it would only keep the others out (the candidate will not
            // act on it).
            self.release_own(ballot).await;
            leases
        } else {
            promises
        };
        tracing::debug!(%ballot, ?tally, "election: campaign lost");
        if tally.stale > 0 {
            Campaign::Stale
        } else if let Some(ms) = tally.leased_ms {
            Campaign::Leased(Duration::from_millis(ms))
        } else {
            Campaign::Failed
        }
    }

    /// Holds the office `ballot` won: renews its lease from now until the
    /// term ends (a far winner needs the renewals while it fences), fences
    /// the resource, and leads if the fence was accepted in time.
    async fn hold_office(
        self: &Rc<Self>,
        acceptors: &Rc<Acceptors<P>>,
        resource: &ResourceClient<P>,
        ballot: Ballot,
        lease_end_ns: u64,
        term: Duration,
    ) {
        let lease_end = Rc::new(Cell::new(lease_end_ns));
        let term_end = self.p.time().now() + term;
        let _renewer = self.p.task().spawn(
            "election-renew",
            renew(
                Rc::clone(self),
                Rc::clone(acceptors),
                ballot,
                Rc::clone(&lease_end),
                term_end,
            ),
        );
        if self.fence(resource, ballot, &lease_end).await {
            tracing::debug!(%ballot, ?term, "election: took office");
            self.lead(resource, ballot, &lease_end).await;
        }
    }

    /// Fences the resource with `ballot` while the lease lasts; true if
    /// the winner took office.
    async fn fence(
        &self,
        resource: &ResourceClient<P>,
        ballot: Ballot,
        lease_end: &Cell<u64>,
    ) -> bool {
        while self.p.time().timer().as_nanos() < lease_end.get() {
            match resource.fence(ballot).await {
                Ok(ResourceReply::Accepted) => {
                    if self.p.time().timer().as_nanos() >= lease_end.get() {
                        moonpool_core::reachable!("a winner's lease ran out while it fenced");
                        return false;
                    }
                    self.recorder.took_office(TookOffice {
                        ballot,
                        candidate: self.id,
                        incarnation: self.incarnation,
                        at: self.recorder.stamp(self.p.time().now()),
                    });
                    return true;
                }
                Ok(ResourceReply::Stale { .. }) => return false,
                Ok(ResourceReply::Disk) | Err(_) => {
                    self.p.time().sleep(WRITE_INTERVAL).await;
                }
            }
        }
        false
    }

    /// Leads with `ballot` until the lease (extended by the renewer of
    /// [`Node::hold_office`]) runs out or the resource refuses the token: a
    /// lease read every [`READ_INTERVAL`], a write every
    /// [`WRITE_INTERVAL`].
    async fn lead(&self, resource: &ResourceClient<P>, ballot: Ballot, lease_end: &Cell<u64>) {
        let mut value = 0u64;
        let reads_per_write =
            (WRITE_INTERVAL.as_micros() / READ_INTERVAL.as_micros()).max(1) as u64;
        for tick in 1u64.. {
            self.p.time().sleep(READ_INTERVAL).await;
            if self.p.time().timer().as_nanos() >= lease_end.get() {
                tracing::debug!(%ballot, value, "election: the lease ran out");
                break;
            }
            // A lease read: the leader answers from what it last wrote,
            // without asking anyone. Only a lease that no other leader
            // holds makes that safe.
            self.recorder
                .lease_used(ballot, self.recorder.stamp(self.p.time().now()));
            if tick % reads_per_write != 0 {
                continue;
            }
            // Rarely, a pause between checking the lease and acting on it
            // (a GC pause, a swapped-out process): the write may leave
            // after a new leader took office. Fencing must refuse it.
            if moonpool_core::buggify!() {
                let ms = self.p.random().random_range(1..=PAUSE_MS_MAX);
                self.p.time().sleep(Duration::from_millis(ms)).await;
            }
            value += 1;
            if let Ok(ResourceReply::Stale { .. }) = resource.write(ballot, value).await {
                moonpool_core::reachable!(
                    "a deposed leader's write was refused and it stepped down"
                );
                break;
            }
        }
    }
}

/// The renewer of a leader's lease: same ballot, a fresh `start`, every
/// [`RENEW_INTERVAL`] until `term_end`.
async fn renew<P: Providers>(
    node: Rc<Node<P>>,
    acceptors: Rc<Acceptors<P>>,
    ballot: Ballot,
    lease_end: Rc<Cell<u64>>,
    term_end: Instant,
) {
    loop {
        node.p.time().sleep(RENEW_INTERVAL).await;
        if node.p.time().now() >= term_end {
            moonpool_core::reachable!("a leader's term ended and it let its lease run out");
            return;
        }
        let start_ns = node.p.time().timer().as_nanos();
        let tally = acceptors.lease_all(LeaseRequest { ballot, start_ns }).await;
        if tally.granted.len() >= acceptors.majority() {
            lease_end.set(lease_end.get().max(node.lease_end(start_ns)));
        }
    }
}

/// Serves the acceptor's prepares and lease requests, at most
/// [`HANDLERS_MAX`] at once.
async fn accept<P: Providers>(node: Rc<Node<P>>, server: acceptor_api::Server) {
    let handle = |request| {
        let node = Rc::clone(&node);
        async move {
            match request {
                acceptor_api::Request::prepare(r) => {
                    let vote = node.on_request(r.request.ballot, None).await;
                    r.reply.send(vote);
                }
                acceptor_api::Request::lease(r) => {
                    let request = r.request;
                    let vote = node
                        .on_request(request.ballot, Some(request.start_ns))
                        .await;
                    r.reply.send(vote);
                }
            }
        }
    };
    server.serve(HANDLERS_MAX, handle).await;
}

/// A candidate process: recovers its ballot state, binds its address,
/// serves as an acceptor and campaigns, until killed.
pub async fn candidate<P: Providers>(
    p: P,
    config: CandidateConfig,
    recorder: Recorder,
    bug: Option<ElectionBug>,
) -> Result<(), ElectionError> {
    let n = config.addrs.len();
    let Some(&me) = config.addrs.get(config.id as usize) else {
        return Err(ElectionError::Config(format!(
            "candidate {} of {n}",
            config.id
        )));
    };
    if !(3..=CANDIDATES_MAX).contains(&n) {
        return Err(ElectionError::Config(format!(
            "{n} candidates (3 to {CANDIDATES_MAX})"
        )));
    }
    let boot_until = p.time().now() + BOOT_WAIT;
    let incarnation = p.random().next_u64();
    let (durable, state) = Durable::<P, BallotState>::open(&p, BALLOT_STATE_PATH).await?;
    moonpool_core::sometimes!(
        state.round > 0,
        "a restarted candidate recovered its round from disk"
    );
    let transport = bind(&p, me).await?;
    let server = acceptor_api::Server::well_known(&transport, ACCEPTOR_INDEX)?;
    let node = Rc::new(Node {
        p: p.clone(),
        id: config.id,
        incarnation,
        bug,
        recorder,
        durable,
        state: RefCell::new(state),
        state_lock: futures::lock::Mutex::new(()),
        lease: Cell::new(None),
        boot_until,
    });
    let _acceptor = p
        .task()
        .spawn("election-acceptor", accept(Rc::clone(&node), server));
    let acceptors = Rc::new(Acceptors::new(&transport, &config.addrs));
    let resource = ResourceClient::new(&transport, config.resource);
    let mut stale_in_a_row = 0u32;
    loop {
        let wait = node.lease_left();
        if !wait.is_zero() {
            let jitter = Duration::from_micros(p.random().random_range(0..=WAKE_JITTER_US));
            p.time().sleep(wait + jitter).await;
            continue;
        }
        match node.campaign(&acceptors).await {
            Campaign::Won {
                ballot,
                lease_end_ns,
            } => {
                stale_in_a_row = 0;
                let term = random_in(&p, config.term);
                node.hold_office(&acceptors, &resource, ballot, lease_end_ns, term)
                    .await;
                p.time().sleep(random_in(&p, config.sit_out)).await;
            }
            Campaign::Stale if stale_in_a_row < STALE_RETRIES_MAX => {
                // A few milliseconds of jitter, so two candidates climbing
                // rounds at once do not duel forever.
                stale_in_a_row += 1;
                let jitter = Duration::from_micros(p.random().random_range(0..=5_000u64));
                p.time().sleep(jitter).await;
            }
            Campaign::Leased(left) => {
                stale_in_a_row = 0;
                let jitter = Duration::from_micros(p.random().random_range(0..=WAKE_JITTER_US));
                p.time().sleep(left + jitter).await;
            }
            Campaign::Stale | Campaign::Failed => {
                stale_in_a_row = 0;
                let pause = Duration::from_millis(p.random().random_range(20..=80u64));
                p.time().sleep(pause).await;
            }
        }
    }
}
