//! A shard: the coordinator of the transfers from its accounts and the
//! participant of the transfers to them (see the [bank](super) module
//! documentation for the protocol).
//!
//! # States of a shard process
//! 1. **Recovering**: replays its log (cutting a torn tail), then aborts
//!    every transfer it began and did not decide (presumed abort). Nothing
//!    listens yet.
//! 2. **Serving**: binds its address, serves at most [`HANDLERS_MAX`]
//!    requests at once, resends every unacknowledged commit to its
//!    participant, and asks the coordinator of every credit it holds in
//!    doubt.
//!
//! # Invariants
//! - Admission (the funds check and `Begin`, the cap check and
//!   `Prepared`, a `Local` transfer) is serialized by one lock, so two
//!   transfers never both pass a check the pair would fail.
//! - A reply that promises something (`Committed`, a `Yes` vote, a commit
//!   acknowledgement) is sent only after the record it rests on is
//!   durable (barring [`BankBug::CreditBeforeDebitDurable`]).
//! - A failed sync is retried until it succeeds: a record whose write
//!   completed may become durable at any later sync, so it can never be
//!   reported as not written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::{FutureExt, future::LocalBoxFuture};
use moonpool_core::{
    Codec, Instant, JoinHandle, PostcardCodec, Providers, RandomProvider, TaskProvider,
    TimeProvider,
};
use moonpool_transport::TransportConfig;

use super::storage::{CreditState, LOG_PATH, Record, ShardState};
use super::{
    ACCOUNTS, AbortReason, BALANCE_CAP, BankBug, BankError, CommitCredit, Prepare, Resolution,
    SERVICE_INDEX, ShardDump, Transfer, TransferId, TransferReply, Vote, bank_api, shard_of,
};
use crate::durable::{LogError, RecordLog};
use crate::net::bind_retrying;

/// Requests handled at once, at most.
pub const HANDLERS_MAX: usize = 64;
/// How long a coordinator waits for the participant's vote, in all.
pub const PREPARE_DEADLINE: Duration = Duration::from_millis(600);
/// How long one prepare attempt waits.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(200);
/// Pause between attempts of a prepare, a commit or a resolve.
pub const RETRY_DELAY: Duration = Duration::from_millis(50);
/// How often a participant asks about the credits it holds in doubt
/// (drawn between these), and how old a credit must be to be asked about.
pub const RESOLVE_INTERVAL_MS: (u64, u64) = (200, 400);
/// A credit is asked about once it has been in doubt this long.
pub const RESOLVE_AFTER: Duration = Duration::from_millis(300);
/// Credits asked about per round, at most.
const RESOLVES_PER_ROUND_MAX: usize = 64;
/// The longest stall of a buggified commit sync (fsync stalls of
/// hundreds of milliseconds happen on loaded disks).
const SLOW_SYNC_MS_MAX: u64 = 300;
/// Requests waiting for the outcome of one transfer, at most.
const WAITERS_MAX: usize = 16;
/// Attempts at a write before it is reported as not done.
const WRITE_ATTEMPTS_MAX: u32 = 20;
/// Attempts at a sync before the shard gives up (a failed sync makes
/// nothing durable, a later one still covers the writes: retrying is
/// right, and the simulated disk faults stop at quiesce).
const SYNC_ATTEMPTS_MAX: u32 = 1_000;
/// Attempts to bind the shard's address before giving up.
const BIND_ATTEMPTS_MAX: u32 = 1_000;
/// Pause between bind attempts.
const BIND_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Why a record could not be made durable.
#[derive(Debug)]
enum NotDurable {
    /// Nothing was written: safe to report as not done.
    NotWritten,
    /// Written, but no sync succeeded: the shard cannot go on.
    Unsynced,
}

/// One shard process's state.
struct Shard<P: Providers> {
    p: P,
    id: u32,
    bug: Option<BankBug>,
    log: RecordLog<P>,
    state: RefCell<ShardState>,
    /// Serializes admission (checks and the records they justify).
    admission: futures::lock::Mutex<()>,
    /// Requests waiting for the outcome of a transfer in progress.
    waiters: RefCell<BTreeMap<TransferId, Vec<oneshot::Sender<TransferReply>>>>,
    /// When each credit in doubt was prepared (or found at recovery).
    doubt_since: RefCell<BTreeMap<TransferId, Instant>>,
    /// Every shard's service, by id (this one's included).
    shards: Vec<bank_api::Client<P>>,
    /// Background tasks (commit pushes), dropped with the shard.
    tasks: RefCell<Vec<<P::Task as TaskProvider>::Handle<()>>>,
    /// Set when a record could not be synced: the shard stops serving.
    broken: RefCell<Option<String>>,
    /// Fired once, when `broken` is first set.
    on_broken: RefCell<Option<oneshot::Sender<()>>>,
}

fn encode(record: &Record) -> Vec<u8> {
    // A record is a few small integers: encoding cannot fail.
    PostcardCodec.to_vec(record).unwrap_or_default()
}

impl<P: Providers> Shard<P> {
    /// Appends `record`; with `sync`, makes it durable (retrying a failed
    /// sync, which may not report a written record as not written).
    async fn append(&self, record: &Record, sync: bool) -> Result<(), NotDurable> {
        let bytes = encode(record);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.log.append(&bytes, false).await {
                Ok(()) => break,
                Err(LogError::Storage(_)) if attempts < WRITE_ATTEMPTS_MAX => {
                    self.p.time().sleep(RETRY_DELAY).await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "bank: a record could not be written");
                    return Err(NotDurable::NotWritten);
                }
            }
        }
        if sync {
            self.sync().await?;
        }
        Ok(())
    }

    async fn sync(&self) -> Result<(), NotDurable> {
        for _ in 0..SYNC_ATTEMPTS_MAX {
            if self.log.sync().await.is_ok() {
                return Ok(());
            }
            self.p.time().sleep(RETRY_DELAY).await;
        }
        self.broken
            .borrow_mut()
            .get_or_insert_with(|| "the log could not be synced".to_string());
        if let Some(stop) = self.on_broken.borrow_mut().take() {
            let _ = stop.send(());
        }
        Err(NotDurable::Unsynced)
    }

    fn decided(&self, id: TransferId, reply: TransferReply) -> TransferReply {
        self.state.borrow_mut().outcomes.entry(id).or_insert(reply);
        for waiter in self.waiters.borrow_mut().remove(&id).unwrap_or_default() {
            let _ = waiter.send(reply);
        }
        reply
    }

    /// The outcome of `id` if decided, or a wait for it if in progress.
    fn known(&self, id: TransferId) -> Option<LocalBoxFuture<'static, TransferReply>> {
        if self.bug == Some(BankBug::NonIdempotentRetry) {
            return None;
        }
        if let Some(reply) = self.state.borrow().outcomes.get(&id).copied() {
            moonpool_core::reachable!("a resent transfer got its first answer (idempotency key)");
            return Some(async move { reply }.boxed_local());
        }
        if !self.state.borrow().coordinating.contains_key(&id) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.borrow_mut();
        let list = waiters.entry(id).or_default();
        if list.len() < WAITERS_MAX {
            list.push(tx);
        }
        // A dropped sender (too many waiters, or the shard killed) answers
        // nothing: the client's call times out and it asks again.
        Some(
            async move {
                rx.await
                    .unwrap_or(TransferReply::Aborted(AbortReason::Timeout))
            }
            .boxed_local(),
        )
    }

    /// A client's transfer, coordinated by this shard.
    async fn on_transfer(self: &Rc<Self>, t: Transfer) -> TransferReply {
        let valid = t.from < ACCOUNTS && t.to < ACCOUNTS && t.from != t.to && t.amount > 0;
        if !valid {
            return TransferReply::Invalid;
        }
        if shard_of(t.from) != self.id {
            return TransferReply::WrongShard;
        }
        if let Some(wait) = self.known(t.id) {
            return wait.await;
        }
        let admission = self.admission.lock().await;
        // A duplicate may have been admitted while this one waited.
        if let Some(wait) = self.known(t.id) {
            drop(admission);
            return wait.await;
        }
        let available = if self.bug == Some(BankBug::NoReservation) {
            self.state.borrow().balance(t.from)
        } else {
            self.state.borrow().available(t.from)
        };
        if available < t.amount {
            return self.decided(t.id, TransferReply::Aborted(AbortReason::InsufficientFunds));
        }
        if shard_of(t.to) == self.id {
            if self.state.borrow().with_pending(t.to) + t.amount > BALANCE_CAP {
                return self.decided(t.id, TransferReply::Aborted(AbortReason::CapExceeded));
            }
            if self.append(&Record::Local(t), true).await.is_err() {
                return self.decided(t.id, TransferReply::Aborted(AbortReason::Disk));
            }
            self.state.borrow_mut().apply(&Record::Local(t));
            return self.decided(t.id, TransferReply::Committed);
        }
        if self.append(&Record::Begin(t), true).await.is_err() {
            // Not written: nothing happened. (Written but unsynced: the
            // shard stops, and its recovery presumes the abort.)
            return self.decided(t.id, TransferReply::Aborted(AbortReason::Disk));
        }
        self.state.borrow_mut().apply(&Record::Begin(t));
        drop(admission);
        self.two_phase(t).await
    }

    /// Asks the participant to prepare, then commits or aborts.
    async fn two_phase(self: &Rc<Self>, t: Transfer) -> TransferReply {
        let participant = &self.shards[shard_of(t.to) as usize];
        let prepare = Prepare {
            id: t.id,
            to: t.to,
            amount: t.amount,
            coordinator: self.id,
        };
        let deadline = self.p.time().now() + PREPARE_DEADLINE;
        let vote = loop {
            let left = deadline.saturating_duration_since(self.p.time().now());
            if left.is_zero() {
                break None;
            }
            match participant
                .prepare
                .try_get_reply(&prepare, left.min(ATTEMPT_TIMEOUT))
                .await
            {
                Ok(vote) => break Some(vote),
                Err(_) => {
                    let left = deadline.saturating_duration_since(self.p.time().now());
                    self.p.time().sleep(RETRY_DELAY.min(left)).await;
                }
            }
        };
        match vote {
            Some(Vote::Yes) => self.commit(t).await,
            Some(Vote::No(reason)) => self.abort(t, reason),
            None => {
                moonpool_core::reachable!(
                    "a coordinator aborted a transfer whose vote did not come"
                );
                self.abort(t, AbortReason::Timeout)
            }
        }
    }

    /// Presumed abort: no record, no message; the participant will ask.
    fn abort(&self, t: Transfer, reason: AbortReason) -> TransferReply {
        self.state.borrow_mut().apply(&Record::Abort(t.id));
        self.decided(t.id, TransferReply::Aborted(reason))
    }

    /// Makes the commit durable, then answers and credits.
    async fn commit(self: &Rc<Self>, t: Transfer) -> TransferReply {
        // Rarely, a slow fsync: the commit is in the log but not yet durable.
        let slow_sync = moonpool_core::buggify!()
            .then(|| Duration::from_millis(self.p.random().random_range(1..=SLOW_SYNC_MS_MAX)));
        if self.append(&Record::Commit(t.id), false).await.is_err() {
            return self.abort(t, AbortReason::Disk);
        }
        let early = self.bug == Some(BankBug::CreditBeforeDebitDurable);
        if early {
            // The bug: act on the commit (debit, tell the participant to
            // credit) before it is durable.
            self.state.borrow_mut().apply(&Record::Commit(t.id));
            self.push_commit(t);
        }
        if let Some(pause) = slow_sync {
            self.p.time().sleep(pause).await;
        }
        if self.sync().await.is_err() {
            // Unknown: the shard stops; its recovery decides.
            return TransferReply::Aborted(AbortReason::Disk);
        }
        if !early {
            self.state.borrow_mut().apply(&Record::Commit(t.id));
            self.push_commit(t);
        }
        self.decided(t.id, TransferReply::Committed)
    }

    /// Tells the participant to credit, until it acknowledges.
    fn push_commit(self: &Rc<Self>, t: Transfer) {
        let shard = Rc::clone(self);
        let task = self.p.task().spawn("bank-commit", async move {
            let participant = &shard.shards[shard_of(t.to) as usize];
            let commit = CommitCredit { id: t.id };
            while participant
                .commit
                .try_get_reply(&commit, ATTEMPT_TIMEOUT)
                .await
                .is_err()
            {
                shard.p.time().sleep(RETRY_DELAY).await;
            }
            // Not synced: losing it only means sending the commit again.
            if shard.append(&Record::Acked(t.id), false).await.is_ok() {
                shard.state.borrow_mut().apply(&Record::Acked(t.id));
            }
        });
        let mut tasks = self.tasks.borrow_mut();
        tasks.retain(|h| !h.is_finished());
        tasks.push(task);
    }

    /// A coordinator's request to prepare a credit.
    async fn on_prepare(&self, prepare: Prepare) -> Vote {
        let _admission = self.admission.lock().await;
        match self.state.borrow().credits.get(&prepare.id) {
            Some((_, CreditState::Prepared | CreditState::Credited)) => return Vote::Yes,
            Some((_, CreditState::Dropped)) => return Vote::No(AbortReason::Timeout),
            None => {}
        }
        // A credit this shard cannot hold (not its account) is refused
        // like one over the cap.
        if shard_of(prepare.to) != self.id || prepare.to >= ACCOUNTS || prepare.amount <= 0 {
            return Vote::No(AbortReason::CapExceeded);
        }
        if self.state.borrow().with_pending(prepare.to) + prepare.amount > BALANCE_CAP {
            return Vote::No(AbortReason::CapExceeded);
        }
        if self.append(&Record::Prepared(prepare), true).await.is_err() {
            return Vote::No(AbortReason::Disk);
        }
        self.state.borrow_mut().apply(&Record::Prepared(prepare));
        self.doubt_since
            .borrow_mut()
            .insert(prepare.id, self.p.time().now());
        Vote::Yes
    }

    /// Applies the decision on a prepared credit; true once it is durable.
    async fn settle(&self, id: TransferId, commit: bool) -> bool {
        let state = self.state.borrow().credits.get(&id).map(|(_, s)| *s);
        match state {
            Some(CreditState::Prepared) => {
                let record = if commit {
                    Record::Credited(id)
                } else {
                    Record::Dropped(id)
                };
                if self.append(&record, true).await.is_err() {
                    return false;
                }
                self.state.borrow_mut().apply(&record);
                self.doubt_since.borrow_mut().remove(&id);
                true
            }
            Some(CreditState::Credited) | Some(CreditState::Dropped) => true,
            None => {
                tracing::warn!(id, commit, "bank: a decision for a credit never prepared");
                true
            }
        }
    }

    /// A coordinator's question about a transfer it coordinates.
    fn on_resolve(&self, id: TransferId) -> Resolution {
        match self.state.borrow().coordinating.get(&id) {
            Some(c) if c.committed => Resolution::Committed,
            Some(_) => Resolution::Pending,
            // Presumed abort: a transfer the coordinator does not know was
            // aborted (or never began).
            None if self.bug == Some(BankBug::LostAbort) => Resolution::Pending,
            None => Resolution::Aborted,
        }
    }

    fn dump(&self) -> ShardDump {
        self.state.borrow().dump()
    }
}

/// The participant's resolver: asks the coordinator of every credit held
/// in doubt for long enough.
async fn resolve_in_doubt<P: Providers>(shard: Rc<Shard<P>>) {
    let (lo, hi) = RESOLVE_INTERVAL_MS;
    loop {
        let ms = shard.p.random().random_range(lo..=hi);
        shard.p.time().sleep(Duration::from_millis(ms)).await;
        let now = shard.p.time().now();
        let asked: Vec<(TransferId, u32)> = shard
            .state
            .borrow()
            .credits
            .iter()
            .filter(|(_, (_, s))| *s == CreditState::Prepared)
            .filter(|(id, _)| {
                shard
                    .doubt_since
                    .borrow()
                    .get(id)
                    .is_none_or(|since| now.saturating_duration_since(*since) >= RESOLVE_AFTER)
            })
            .map(|(id, (p, _))| (*id, p.coordinator))
            .take(RESOLVES_PER_ROUND_MAX)
            .collect();
        for (id, coordinator) in asked {
            let Some(api) = shard.shards.get(coordinator as usize) else {
                continue;
            };
            match api
                .resolve
                .try_get_reply(&super::Resolve { id }, ATTEMPT_TIMEOUT)
                .await
            {
                Ok(Resolution::Committed) => {
                    shard.settle(id, true).await;
                }
                Ok(Resolution::Aborted) => {
                    moonpool_core::reachable!(
                        "a participant in doubt learned of an abort by asking"
                    );
                    shard.settle(id, false).await;
                }
                Ok(Resolution::Pending) | Err(_) => {}
            }
        }
    }
}

fn handle<P: Providers>(
    shard: &Rc<Shard<P>>,
    request: bank_api::Request,
) -> LocalBoxFuture<'static, ()> {
    let shard = Rc::clone(shard);
    async move {
        match request {
            bank_api::Request::transfer(r) => {
                let reply = shard.on_transfer(r.request).await;
                r.reply.send(reply);
            }
            bank_api::Request::prepare(r) => {
                let vote = shard.on_prepare(r.request).await;
                r.reply.send(vote);
            }
            bank_api::Request::commit(r) => {
                // Acknowledge only once the credit is durable.
                if shard.settle(r.request.id, true).await {
                    r.reply.send(());
                }
            }
            bank_api::Request::resolve(r) => r.reply.send(shard.on_resolve(r.request.id)),
            bank_api::Request::dump(r) => r.reply.send(shard.dump()),
        }
    }
    .boxed_local()
}

/// A shard process: recovers from its log, binds `addrs[id]`, serves
/// until killed. Returns an error if the log cannot be recovered, or
/// once a record could not be synced.
pub async fn shard<P: Providers>(
    p: P,
    id: u32,
    addrs: Vec<SocketAddr>,
    bug: Option<BankBug>,
) -> Result<(), BankError> {
    let (log, recovered) = RecordLog::open(&p, LOG_PATH).await?;
    let mut state = ShardState::new(id);
    for (index, bytes) in recovered.records.iter().enumerate() {
        let record: Record = PostcardCodec
            .decode(bytes)
            .map_err(|error| BankError::Corrupt { index, error })?;
        state.apply(&record);
    }
    let presumed = state.presume_aborts();
    moonpool_core::sometimes!(
        !presumed.is_empty(),
        "a restarted coordinator presumed the abort of transfers it had not decided"
    );
    moonpool_core::sometimes!(
        recovered.cut_bytes > 0,
        "a shard's recovery cut a torn log tail"
    );
    let Some(&me) = addrs.get(id as usize) else {
        return Err(BankError::Transport(
            moonpool_transport::TransportError::Shutdown,
        ));
    };
    let config = TransportConfig::default();
    let transport = bind_retrying(&p, me, &config, BIND_ATTEMPTS_MAX, BIND_RETRY_DELAY).await?;
    let server = bank_api::Server::well_known(&transport, SERVICE_INDEX)?;
    let unacked: Vec<Transfer> = state
        .coordinating
        .values()
        .filter(|c| c.committed)
        .map(|c| c.transfer)
        .collect();
    let now = p.time().now();
    let doubt_since = state
        .credits
        .iter()
        .filter(|(_, (_, s))| *s == CreditState::Prepared)
        .map(|(id, _)| (*id, now))
        .collect();
    let (broken_tx, broken) = oneshot::channel();
    let shard = Rc::new(Shard {
        p: p.clone(),
        id,
        bug,
        log,
        state: RefCell::new(state),
        admission: futures::lock::Mutex::new(()),
        waiters: RefCell::new(BTreeMap::new()),
        doubt_since: RefCell::new(doubt_since),
        shards: addrs
            .iter()
            .map(|a| {
                bank_api::Client::new(
                    &transport,
                    bank_api::Interface::well_known(*a, SERVICE_INDEX),
                )
            })
            .collect(),
        tasks: RefCell::new(Vec::new()),
        broken: RefCell::new(None),
        on_broken: RefCell::new(Some(broken_tx)),
    });
    for t in unacked {
        shard.push_commit(t);
    }
    let _resolver = p
        .task()
        .spawn("bank-resolver", resolve_in_doubt(Rc::clone(&shard)));
    // Serves until a record could not be synced: then it stops at once,
    // dropping the requests in progress.
    let serving = server.serve(HANDLERS_MAX, |r| handle(&shard, r));
    futures::future::select(std::pin::pin!(serving), broken).await;
    match shard.broken.borrow().clone() {
        // A record that might be durable was reported as not: stop, and
        // let recovery decide (the simulator reports the error).
        Some(why) => Err(BankError::Recovery(moonpool_core::StorageError::Io(
            std::io::Error::other(why),
        ))),
        None => Ok(()),
    }
}
