//! A replica: its state (per key, the value with the highest timestamp it
//! accepted), its log, and the four handlers of the replica service.
//!
//! # States
//! A replica process recovers its state from its log *before* it binds its
//! address, so it never answers a request from a state it has not
//! recovered. It then serves `query`, `store`, `digest` and `dump`
//! requests (at most [`HANDLERS_MAX`] at once) and runs anti-entropy in
//! the background.
//!
//! # Invariants
//! - The in-memory state only holds what the log holds durably: a store is
//!   applied to it after the log's `append` returned (so a query never
//!   answers with data a crash could take back, barring [`KvBug::NoFsync`]).
//! - Per key, the state's timestamp only grows (barring
//!   [`KvBug::NoTimestampCheck`]): a store older than the state is
//!   acknowledged without being logged, since something newer is durable.
//! - A `Stored` reply means the replica durably holds that timestamp or a
//!   newer one.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Providers, RandomProvider, StorageError, TaskProvider, TimeProvider};
use moonpool_transport::{Transport, TransportConfig};

use super::storage::{FLUSH_INTERVAL, Recovery, ReplicaLog};
use super::{
    Digest, KEYS_MAX, Key, KvBug, SERVICE_INDEX, Store, StoreReply, Versioned, replica_service,
};
use crate::net::bind_retrying;

/// Requests handled at once, at most; further requests wait in the
/// transport's request queues (themselves bounded).
pub const HANDLERS_MAX: usize = 64;
/// Anti-entropy pulls from a random peer every 300 ms to 1 s.
pub const ANTI_ENTROPY_INTERVAL_MS: (u64, u64) = (300, 1_000);
/// How long an anti-entropy pull waits for its answer.
pub const ANTI_ENTROPY_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts to bind the replica's address before giving up.
const BIND_ATTEMPTS_MAX: u32 = 1_000;
/// Pause between bind attempts.
const BIND_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Why a replica stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Recovery could not read or repair the log.
    #[error("recovery failed: {0}")]
    Recovery(#[from] StorageError),
    /// The replica could not bind its address.
    #[error("bind failed: {0}")]
    Transport(#[from] moonpool_transport::TransportError),
}

/// One replica's state and log.
pub struct Replica<P: Providers> {
    log: ReplicaLog<P>,
    state: RefCell<BTreeMap<Key, Versioned>>,
    bug: Option<KvBug>,
    recovery: Recovery,
}

impl<P: Providers> Replica<P> {
    /// Recovers a replica from its log.
    pub async fn recover(p: &P, bug: Option<KvBug>) -> Result<Replica<P>, StorageError> {
        let (log, state, recovery) = ReplicaLog::open(p, bug).await?;
        moonpool_core::sometimes!(
            recovery.records > 0,
            "a rebooted replica recovered its state by replaying its log"
        );
        moonpool_core::sometimes!(recovery.cut_bytes > 0, "recovery cut a torn log tail");
        tracing::debug!(
            records = recovery.records,
            cut_bytes = recovery.cut_bytes,
            keys = state.len(),
            "kv replica recovered"
        );
        Ok(Replica {
            log,
            state: RefCell::new(state),
            bug,
            recovery,
        })
    }

    /// What recovery found.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    /// The replica's entry for `key`.
    pub fn get(&self, key: Key) -> Versioned {
        self.state.borrow().get(&key).copied().unwrap_or_default()
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Vec<(Key, Versioned)> {
        self.state.borrow().iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Durably applies a store unless the replica holds something newer.
    pub async fn store(&self, key: Key, incoming: Versioned) -> StoreReply {
        let current = {
            let state = self.state.borrow();
            if !state.contains_key(&key) && state.len() >= KEYS_MAX {
                return StoreReply::Failed;
            }
            state.get(&key).copied().unwrap_or_default()
        };
        let check = self.bug != Some(KvBug::NoTimestampCheck);
        if check && incoming.ts <= current.ts {
            moonpool_core::sometimes!(
                incoming.ts < current.ts,
                "a replica refused a store older than its value (timestamp fencing)"
            );
            return StoreReply::Stored { applied: false };
        }
        if let Err(e) = self.log.append(key, incoming).await {
            tracing::debug!(error = %e, key, "kv store not logged");
            return StoreReply::Failed;
        }
        let mut state = self.state.borrow_mut();
        let slot = state.entry(key).or_default();
        let applied = !check || incoming.ts > slot.ts;
        if applied {
            *slot = incoming;
        }
        StoreReply::Stored { applied }
    }

    /// Anti-entropy, responder side: the entries newer than the digest's.
    pub fn newer_than(&self, digest: &Digest) -> Vec<(Key, Versioned)> {
        let theirs: BTreeMap<Key, _> = digest.entries.iter().copied().collect();
        self.state
            .borrow()
            .iter()
            .filter(|(k, v)| theirs.get(k).is_none_or(|ts| *ts < v.ts))
            .map(|(k, v)| (*k, *v))
            .collect()
    }

    async fn handle<C: moonpool_core::Codec>(&self, p: &P, request: replica_service::Request<C>) {
        // Rarely, answer late: replies then race retries and other writers.
        if moonpool_core::buggify!() {
            p.time()
                .sleep(Duration::from_millis(p.random().random_range(1..=200)))
                .await;
        }
        match request {
            replica_service::Request::query(r) => {
                let v = self.get(r.request.key);
                r.reply.send(v)
            }
            replica_service::Request::store(r) => {
                let Store { key, ts, value } = r.request;
                let reply = self.store(
                    key,
                    Versioned {
                        ts,
                        value: Some(value),
                    },
                );
                r.reply.send(reply.await)
            }
            replica_service::Request::digest(r) => {
                let newer = self.newer_than(&r.request);
                r.reply.send(newer)
            }
            replica_service::Request::dump(r) => r.reply.send(self.entries()),
        }
    }
}

/// Pulls newer entries from a random peer, forever.
async fn anti_entropy<P: Providers>(
    p: P,
    replica: Rc<Replica<P>>,
    transport: Transport<P>,
    peers: Vec<SocketAddr>,
) {
    if peers.is_empty() {
        return;
    }
    // A buggified replica runs anti-entropy rarely (every 3 to 6 s), so
    // replicas that missed writes stay behind longer.
    let (lo, hi) = moonpool_core::buggify_knob!(ANTI_ENTROPY_INTERVAL_MS, (3_000, 6_000));
    loop {
        let ms = p.random().random_range(lo..=hi);
        p.time().sleep(Duration::from_millis(ms)).await;
        let peer = peers[p.random().random_range(0..peers.len())];
        let iface = replica_service::Interface::well_known(peer, SERVICE_INDEX);
        let client = replica_service::Client::new(&transport, iface);
        let digest = Digest {
            entries: replica
                .entries()
                .into_iter()
                .map(|(k, v)| (k, v.ts))
                .collect(),
        };
        let Ok(newer) = client
            .digest
            .try_get_reply(&digest, ANTI_ENTROPY_TIMEOUT)
            .await
        else {
            continue;
        };
        for (key, versioned) in newer.into_iter().take(KEYS_MAX) {
            if versioned.ts > replica.get(key).ts {
                let reply = replica.store(key, versioned).await;
                moonpool_core::sometimes!(
                    matches!(reply, StoreReply::Stored { applied: true }),
                    "anti-entropy repaired a replica that missed a write"
                );
            }
        }
    }
}

/// With [`KvBug::NoFsync`]: syncs the log now and then.
async fn flush_forever<P: Providers>(p: P, replica: Rc<Replica<P>>) {
    loop {
        p.time().sleep(FLUSH_INTERVAL).await;
        if let Err(e) = replica.log.flush().await {
            tracing::debug!(error = %e, "kv flush failed");
        }
    }
}

/// Runs a replica at `me` until the process is killed: recovers from the
/// log, binds, serves the replica service, pulls from `peers` in the
/// background. Returns only on an error.
pub async fn serve<P: Providers>(
    p: P,
    me: SocketAddr,
    peers: Vec<SocketAddr>,
    bug: Option<KvBug>,
    config: TransportConfig,
) -> Result<(), ReplicaError> {
    let replica = Rc::new(Replica::recover(&p, bug).await?);
    let transport = bind_retrying(&p, me, &config, BIND_ATTEMPTS_MAX, BIND_RETRY_DELAY).await?;
    let server = replica_service::Server::well_known(&transport, SERVICE_INDEX)?;
    // Background tasks are owned here: they die with the replica.
    let _anti_entropy = p.task().spawn(
        "kv-anti-entropy",
        anti_entropy(p.clone(), Rc::clone(&replica), transport.clone(), peers),
    );
    let _flush = (bug == Some(KvBug::NoFsync)).then(|| {
        p.task()
            .spawn("kv-flush", flush_forever(p.clone(), Rc::clone(&replica)))
    });
    server.serve(HANDLERS_MAX, |r| replica.handle(&p, r)).await;
    Ok(())
}
