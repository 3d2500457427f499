//! The quorum client: coordinates gets and puts over the three replicas.
//!
//! # How a call reaches a majority
//! A phase sends its request to every replica at once; each replica's call
//! is retried (at-most-once attempts of [`ATTEMPT_TIMEOUT`], backoff from
//! [`RETRY_DELAY_MIN`] doubling to [`RETRY_DELAY_MAX`], with jitter) until
//! it succeeds or the operation's deadline passes. The phase ends as soon
//! as a majority answered; the calls still running are dropped (a dropped
//! call is cancelled). Every request is idempotent, so retries are safe.
//!
//! # Outcomes ([`OpError`])
//! - A put whose query phase failed stored nothing: [`OpError::Failed`]
//!   (definitely not applied).
//! - A put whose store phase started but did not reach a majority may be
//!   on some replicas and may show up later: [`OpError::Unknown`].
//! - A get that did not finish has no effect on the register (a write-back
//!   only copies a value that was already stored): [`OpError::Failed`].
//!
//! # Invariants
//! - A put is acknowledged only after a majority stored it (barring
//!   [`KvBug::AckBeforeQuorum`]); a get returns a value only after a
//!   majority holds it (barring [`KvBug::StaleRead`] and
//!   [`KvBug::NoWriteBack`]).
//! - Timestamps of one writer strictly grow: a put's counter is above both
//!   what its quorum reported and this writer's last counter, so two
//!   different puts never share a timestamp.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use moonpool_core::{Instant, Providers, RandomProvider, TimeProvider};
use moonpool_transport::{RpcError, Transport};

use super::{
    ATTEMPT_TIMEOUT, Dump, Key, KvBug, MAJORITY, OP_TIMEOUT, Query, RETRY_DELAY_MAX,
    RETRY_DELAY_MIN, SERVICE_INDEX, Store, StoreReply, Timestamp, Value, Versioned,
    replica_service,
};

/// How an operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The operation certainly had no effect.
    #[error("failed (no effect)")]
    Failed,
    /// The operation may have taken effect, now or later.
    #[error("outcome unknown")]
    Unknown,
}

/// Counters of one client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Calls to one replica retried after an error or a `Failed` store.
    pub retries: u64,
    /// Gets that wrote back the value they return.
    pub write_backs: u64,
}

/// A put that was acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutOk {
    /// The timestamp it was stored with.
    pub ts: Timestamp,
    /// Replicas that acknowledged the store before the put returned.
    pub acks: usize,
}

/// A get that returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetOk {
    /// The value (and its timestamp) read.
    pub versioned: Versioned,
    /// Calls retried during this get.
    pub retries: u64,
}

/// The quorum client. See the [module documentation](self).
pub struct KvClient<P: Providers> {
    p: P,
    replicas: Vec<replica_service::Client<P>>,
    writer: u64,
    last_counter: Cell<u64>,
    bug: Option<KvBug>,
    op_timeout: Duration,
    stats: RefCell<ClientStats>,
}

impl<P: Providers> KvClient<P> {
    /// A client of the replicas at `replicas` through `transport`, writing
    /// as `writer` (unique among writers, so timestamps never collide).
    pub fn new(
        transport: &Transport<P>,
        replicas: &[SocketAddr],
        writer: u64,
        bug: Option<KvBug>,
    ) -> KvClient<P> {
        KvClient {
            p: transport.providers().clone(),
            replicas: replicas
                .iter()
                .map(|addr| {
                    replica_service::Client::new(
                        transport,
                        replica_service::Interface::well_known(*addr, SERVICE_INDEX),
                    )
                })
                .collect(),
            writer,
            last_counter: Cell::new(0),
            bug,
            op_timeout: OP_TIMEOUT,
            stats: RefCell::new(ClientStats::default()),
        }
    }

    /// The same client with another operation deadline.
    pub fn with_op_timeout(mut self, timeout: Duration) -> KvClient<P> {
        self.op_timeout = timeout;
        self
    }

    /// The client's counters.
    pub fn stats(&self) -> ClientStats {
        *self.stats.borrow()
    }

    /// Every entry replica `index` holds (one attempt): for checks.
    pub async fn dump(
        &self,
        index: usize,
        timeout: Duration,
    ) -> Result<Vec<(Key, Versioned)>, RpcError> {
        match self.replicas.get(index) {
            Some(r) => r.dump.try_get_reply(&Dump, timeout).await,
            None => Err(RpcError::EndpointNotFound),
        }
    }

    /// One replica's call, retried until `accept` takes the reply or the
    /// deadline passes.
    async fn call_until<T, Fut>(
        &self,
        deadline: Instant,
        mut attempt: impl FnMut(Duration) -> Fut,
        accept: impl Fn(&T) -> bool,
    ) -> Option<T>
    where
        Fut: std::future::Future<Output = Result<T, RpcError>>,
    {
        let mut delay = RETRY_DELAY_MIN;
        loop {
            let left = deadline.saturating_duration_since(self.p.time().now());
            if left.is_zero() {
                return None;
            }
            match attempt(left.min(ATTEMPT_TIMEOUT)).await {
                // Rarely, act as if the reply was lost: the request took
                // effect, and the retry must be harmless.
                Ok(reply) if accept(&reply) && !moonpool_core::buggify!() => return Some(reply),
                Ok(_) => {}
                // A request the replica cannot decode never will be.
                Err(RpcError::BadRequest | RpcError::Codec(_)) => return None,
                Err(_) => {}
            }
            self.stats.borrow_mut().retries += 1;
            let jitter = self
                .p
                .random()
                .random_range(0..=delay.as_micros() as u64 / 4);
            let pause = delay + Duration::from_micros(jitter);
            let left = deadline.saturating_duration_since(self.p.time().now());
            self.p.time().sleep(pause.min(left)).await;
            delay = (delay * 2).min(RETRY_DELAY_MAX);
        }
    }

    /// Sends a query to every replica; the answers of the first `need`.
    async fn query_phase(
        &self,
        deadline: Instant,
        key: Key,
        need: usize,
    ) -> Option<Vec<Versioned>> {
        let query = Query { key };
        let mut calls: FuturesUnordered<_> = self
            .replicas
            .iter()
            .map(|r| self.call_until(deadline, |t| r.query.try_get_reply(&query, t), |_| true))
            .collect();
        let mut answers = Vec::with_capacity(need);
        while let Some(answer) = calls.next().await {
            if let Some(v) = answer {
                answers.push(v);
                if answers.len() >= need {
                    return Some(answers);
                }
            }
        }
        None
    }

    /// Sends a store to every replica; the number of acknowledgements once
    /// `need` were received.
    async fn store_phase(&self, deadline: Instant, store: &Store, need: usize) -> Option<usize> {
        let mut calls: FuturesUnordered<_> = self
            .replicas
            .iter()
            .map(|r| async move {
                // Rarely, a store leaves late (a slow writer): the write
                // then sits on a minority for a while.
                if moonpool_core::buggify!() {
                    let ms = self.p.random().random_range(1..=100);
                    self.p.time().sleep(Duration::from_millis(ms)).await;
                }
                self.call_until(
                    deadline,
                    |t| r.store.try_get_reply(store, t),
                    |reply| matches!(reply, StoreReply::Stored { .. }),
                )
                .await
            })
            .collect();
        let mut acks = 0;
        while let Some(answer) = calls.next().await {
            if answer.is_some() {
                acks += 1;
                if acks >= need {
                    return Some(acks);
                }
            }
        }
        None
    }

    /// Writes `value` under `key`. `Ok` once a majority stored it.
    pub async fn put(&self, key: Key, value: Value) -> Result<PutOk, OpError> {
        let deadline = self.p.time().now() + self.op_timeout;
        let answers = self
            .query_phase(deadline, key, MAJORITY)
            .await
            .ok_or(OpError::Failed)?;
        let highest = answers.iter().map(|v| v.ts.counter).max().unwrap_or(0);
        let counter = highest.max(self.last_counter.get()) + 1;
        self.last_counter.set(counter);
        let ts = Timestamp {
            counter,
            writer: self.writer,
        };
        let need = if self.bug == Some(KvBug::AckBeforeQuorum) {
            1
        } else {
            MAJORITY
        };
        let acks = self
            .store_phase(deadline, &Store { key, ts, value }, need)
            .await
            .ok_or(OpError::Unknown)?;
        Ok(PutOk { ts, acks })
    }

    /// Reads `key`: the newest value of a majority, written back to a
    /// majority unless one already holds it.
    pub async fn get(&self, key: Key) -> Result<GetOk, OpError> {
        let retries_before = self.stats.borrow().retries;
        let deadline = self.p.time().now() + self.op_timeout;
        let need = if self.bug == Some(KvBug::StaleRead) {
            1
        } else {
            MAJORITY
        };
        let answers = self
            .query_phase(deadline, key, need)
            .await
            .ok_or(OpError::Failed)?;
        let newest = answers
            .iter()
            .copied()
            .max_by_key(|v| v.ts)
            .unwrap_or_default();
        let agreed = answers.iter().all(|v| v.ts == newest.ts);
        let skip_write_back = matches!(self.bug, Some(KvBug::StaleRead | KvBug::NoWriteBack));
        if !agreed
            && !skip_write_back
            && let Some(value) = newest.value
        {
            let store = Store {
                key,
                ts: newest.ts,
                value,
            };
            self.store_phase(deadline, &store, MAJORITY)
                .await
                .ok_or(OpError::Failed)?;
            self.stats.borrow_mut().write_backs += 1;
            moonpool_core::reachable!("a read found its quorum disagreeing and wrote back");
        }
        let retries = self.stats.borrow().retries - retries_before;
        moonpool_core::sometimes!(
            retries > 0,
            "a read had to retry a replica and still returned"
        );
        Ok(GetOk {
            versioned: newest,
            retries,
        })
    }
}
