//! [`WalClient`]: a client of the store over the transport, generic over
//! the providers, that keeps a [`History`] of what it wrote and checks
//! every read against it.
//!
//! # Delivery modes (see the [`wal`](super) module documentation)
//! - `put` uses `get_reply` (reliable: resent on every new connection until
//!   answered or timed out). Safe because puts are idempotent; each failed
//!   call is retried with the same version, up to
//!   [`ClientConfig::put_attempts_max`] calls.
//! - `get` and `status` use `try_get_reply` (at most once): a read has no
//!   effect, so a lost connection just means asking again.
//!
//! # What a put's outcome is
//! | last result of the attempts | outcome |
//! |---|---|
//! | the store answered `Ok` | acknowledged |
//! | every attempt failed with `Unreachable` (the failure monitor refused it before anything was sent) or `ValueTooLarge` | not applied |
//! | anything else: `Timeout`, `MaybeDelivered`, `BrokenPromise`, a disk error the store reported, or `EndpointNotFound`/`Overloaded` (a reliable request may have been delivered by an earlier transmission before a resend was refused) | unknown |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Instant, Providers, TimeProvider};
use moonpool_transport::{Endpoint, RpcError, Transport, TransportConfig};

use super::checker::ReadVerdict;
use super::{
    CheckError, Entry, GetRequest, History, PutRejected, PutReply, PutRequest, STORE_TOKEN_FIRST,
    StatusRequest, StoreStatus, WriteOutcome, wal_api,
};

/// The client's timeouts and limits.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Deadline of one put call (the transport resends it within it).
    /// Default 1 s.
    pub put_timeout: Duration,
    /// Put calls for one write before its outcome is settled. Default 3.
    pub put_attempts_max: u32,
    /// Deadline of one get or status call. Default 500 ms.
    pub read_timeout: Duration,
    /// Pause after a failed call before the next attempt. Default 50 ms.
    pub retry_delay: Duration,
    /// How long the check phase waits for the store and its answers, in
    /// all. Default 60 s (far above a reboot plus reconnection, and the
    /// failure monitor's probing).
    pub check_deadline: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            put_timeout: Duration::from_secs(1),
            put_attempts_max: 3,
            read_timeout: Duration::from_millis(500),
            retry_delay: Duration::from_millis(50),
            check_deadline: Duration::from_secs(60),
        }
    }
}

/// How a put ended (the rules are in the [`wal`](super) module
/// documentation, under delivery modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The store acknowledged it: durable.
    Acked,
    /// It may or may not have been applied.
    Unknown,
    /// It was never sent.
    NotApplied,
}

/// Counts of what a client did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Puts acknowledged.
    pub puts_acked: u64,
    /// Puts whose outcome is unknown.
    pub puts_unknown: u64,
    /// Puts never sent.
    pub puts_not_applied: u64,
    /// Put calls that failed and were retried.
    pub put_retries: u64,
    /// Reads answered and checked.
    pub reads_checked: u64,
    /// Read calls that got no answer.
    pub reads_failed: u64,
    /// Times a reply came from a store incarnation other than the last one
    /// seen (the store rebooted and the client reconnected to it).
    pub store_reboots_seen: u64,
}

/// Why a client gave up or failed its check.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A read broke the history's rules: a real bug.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The store did not answer in time after quiesce.
    #[error("the store never answered {what} within {waited_ms} ms (last error: {last})")]
    Unavailable {
        /// What was asked.
        what: String,
        /// How long the client tried.
        waited_ms: u64,
        /// The last error.
        last: RpcError,
    },
}

/// A client of the store. See the [`wal`](super) module documentation.
pub struct WalClient<P: Providers> {
    p: P,
    api: wal_api::Client<P>,
    config: ClientConfig,
    history: History,
    next_version: u64,
    store_incarnation: Option<u64>,
    /// Key → the store incarnation that acknowledged its highest
    /// acknowledged version.
    acked_by: BTreeMap<u64, u64>,
    stats: ClientStats,
}

impl<P: Providers> WalClient<P> {
    /// A client of the store at `store`, over its own unbound transport.
    pub fn new(p: P, store: SocketAddr, config: ClientConfig) -> WalClient<P> {
        let transport = Transport::unbound(p.clone(), TransportConfig::default());
        WalClient::with_transport(&transport, store, config)
    }

    /// A client of the store at `store`, over `transport`.
    pub fn with_transport(
        transport: &Transport<P>,
        store: SocketAddr,
        config: ClientConfig,
    ) -> WalClient<P> {
        let interface = wal_api::Interface::well_known(store, STORE_TOKEN_FIRST);
        WalClient {
            p: transport.providers().clone(),
            api: wal_api::Client::new(transport, interface),
            config,
            history: History::new(),
            next_version: 1,
            store_incarnation: None,
            acked_by: BTreeMap::new(),
            stats: ClientStats::default(),
        }
    }

    /// The store's `put` endpoint.
    pub fn endpoint(&self) -> Endpoint {
        self.api.put.endpoint()
    }

    /// What this client wrote and read.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// What this client did.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Makes the next put use a version above `version` (for a client that
    /// finds data of an earlier run in the store).
    pub fn versions_after(&mut self, version: u64) {
        self.next_version = self.next_version.max(version.saturating_add(1));
    }

    /// Reliable frames the transport resent to the store so far.
    fn reliable_resent(&self) -> u64 {
        let transport = self.api.put.transport();
        let store = self.api.put.endpoint().addr;
        transport
            .peer_metrics(store)
            .map_or(0, |m| m.reliable_resent)
    }

    /// Notes which store incarnation answered.
    fn answered_by(&mut self, incarnation: u64) {
        match self.store_incarnation.replace(incarnation) {
            Some(previous) if previous != incarnation => {
                self.stats.store_reboots_seen += 1;
                moonpool_core::reachable!("a client reconnected to a rebooted store");
            }
            _ => {}
        }
    }

    /// Writes `value` under `key` with the next version; retries failed
    /// calls with the same version; records the outcome in the history.
    pub async fn put(&mut self, key: u64, value: Vec<u8>) -> PutOutcome {
        let version = self.next_version;
        self.next_version += 1;
        self.history.issue(key, version, value.clone());
        let request = PutRequest {
            key,
            version,
            value,
        };
        let known_before = self.store_incarnation;
        let resent_before = self.reliable_resent();
        let mut maybe_sent = false;
        let attempts = self.config.put_attempts_max.max(1);
        let mut outcome = PutOutcome::NotApplied;
        for attempt in 0..attempts {
            if attempt > 0 {
                self.stats.put_retries += 1;
                self.p.time().sleep(self.config.retry_delay).await;
            }
            match self
                .api
                .put
                .get_reply(&request, self.config.put_timeout)
                .await
            {
                Ok(PutReply {
                    incarnation,
                    outcome: Ok(()),
                }) => {
                    self.answered_by(incarnation);
                    // Resent frames to the store's peer can only be this
                    // put's: it is this client's only reliable call.
                    let resent = self.reliable_resent() > resent_before;
                    moonpool_core::sometimes!(
                        resent,
                        "a put was resent by the transport on a new connection and acknowledged"
                    );
                    moonpool_core::sometimes!(
                        resent && known_before.is_some_and(|k| k != incarnation),
                        "a put survived a store reboot: resent, then acknowledged by the new incarnation"
                    );
                    if version > self.history.acked_max(key) {
                        self.acked_by.insert(key, incarnation);
                    }
                    outcome = PutOutcome::Acked;
                    break;
                }
                Ok(PutReply {
                    incarnation,
                    outcome: Err(rejected),
                }) => {
                    self.answered_by(incarnation);
                    // A disk error may leave the record to a later sync.
                    if matches!(rejected, PutRejected::Storage { .. }) {
                        maybe_sent = true;
                    }
                }
                Err(RpcError::Unreachable) => {}
                Err(e) => {
                    moonpool_core::sometimes!(
                        e == RpcError::Timeout,
                        "a put timed out (outcome unknown)"
                    );
                    maybe_sent = true;
                }
            }
            outcome = if maybe_sent {
                PutOutcome::Unknown
            } else {
                PutOutcome::NotApplied
            };
        }
        let (resolved, count) = match outcome {
            PutOutcome::Acked => (WriteOutcome::Acked, &mut self.stats.puts_acked),
            PutOutcome::Unknown => (WriteOutcome::Unknown, &mut self.stats.puts_unknown),
            PutOutcome::NotApplied => (WriteOutcome::NotApplied, &mut self.stats.puts_not_applied),
        };
        *count += 1;
        if outcome == PutOutcome::NotApplied {
            moonpool_core::reachable!("a put was never sent: the failure monitor refused it");
        }
        self.history.resolve(key, version, resolved);
        outcome
    }

    /// One read of `key`, unchecked.
    pub async fn get(&mut self, key: u64) -> Result<Option<Entry>, RpcError> {
        Ok(self.get_from(key).await?.0)
    }

    /// One read of `key`, and the store incarnation that answered.
    async fn get_from(&mut self, key: u64) -> Result<(Option<Entry>, u64), RpcError> {
        let reply = self
            .api
            .get
            .try_get_reply(&GetRequest { key }, self.config.read_timeout)
            .await?;
        self.answered_by(reply.incarnation);
        Ok((reply.entry, reply.incarnation))
    }

    /// One attempt at reading `key` and checking the answer against the
    /// history. `Ok(None)`: no answer (nothing learned).
    pub async fn read_checked(&mut self, key: u64) -> Result<Option<ReadVerdict>, CheckError> {
        let (got, incarnation) = match self.get_from(key).await {
            Ok(answer) => answer,
            Err(e) => {
                self.stats.reads_failed += 1;
                moonpool_core::sometimes!(
                    e == RpcError::MaybeDelivered,
                    "a read lost its connection and was retried"
                );
                return Ok(None);
            }
        };
        let verdict = self.history.verify(key, got.as_ref())?;
        self.stats.reads_checked += 1;
        moonpool_core::sometimes!(
            verdict.ambiguous,
            "a put's outcome was unknown and the check accepted either value"
        );
        moonpool_core::sometimes!(
            verdict.showed_unknown,
            "a read showed a put whose outcome was unknown"
        );
        // The point of the store: acknowledged, then the store died, and
        // the write came back from the log.
        moonpool_core::sometimes!(
            self.acked_by.get(&key).is_some_and(|&by| by != incarnation),
            "an acknowledged write was read back from a later store incarnation"
        );
        Ok(Some(verdict))
    }

    /// Asks the store's status, retrying until it answers or `deadline`.
    pub async fn wait_for_store(&mut self, deadline: Instant) -> Result<StoreStatus, ClientError> {
        let started = self.p.time().now();
        loop {
            let err = match self
                .api
                .status
                .try_get_reply(&StatusRequest, self.config.read_timeout)
                .await
            {
                Ok(status) => {
                    self.answered_by(status.incarnation);
                    return Ok(status);
                }
                Err(e) => e,
            };
            if self.p.time().now() + self.config.retry_delay >= deadline {
                return Err(ClientError::Unavailable {
                    what: "status".to_string(),
                    waited_ms: self.waited_ms(started),
                    last: err,
                });
            }
            self.p.time().sleep(self.config.retry_delay).await;
        }
    }

    /// Reads and checks `key`, retrying until the store answers or
    /// `deadline`.
    pub async fn check_key(&mut self, key: u64, deadline: Instant) -> Result<(), ClientError> {
        let started = self.p.time().now();
        loop {
            if self.read_checked(key).await?.is_some() {
                return Ok(());
            }
            if self.p.time().now() + self.config.retry_delay >= deadline {
                return Err(ClientError::Unavailable {
                    what: format!("a read of key {key}"),
                    waited_ms: self.waited_ms(started),
                    last: RpcError::Timeout,
                });
            }
            self.p.time().sleep(self.config.retry_delay).await;
        }
    }

    /// The final check: waits for the store, then reads and checks every
    /// one of `keys`, all within [`ClientConfig::check_deadline`].
    pub async fn check_all(&mut self, keys: &[u64]) -> Result<StoreStatus, ClientError> {
        let deadline = self.p.time().now() + self.config.check_deadline;
        let status = self.wait_for_store(deadline).await?;
        for &key in keys {
            self.check_key(key, deadline).await?;
        }
        Ok(status)
    }

    /// Reads each of `keys` (retrying until answered or `deadline`) and
    /// takes what the store already holds, e.g. from an earlier run, as
    /// acknowledged; later puts use higher versions. Returns how many keys
    /// held something.
    pub async fn adopt_existing(
        &mut self,
        keys: &[u64],
        deadline: Instant,
    ) -> Result<u64, ClientError> {
        let mut adopted = 0;
        for &key in keys {
            let started = self.p.time().now();
            let entry = loop {
                match self.get(key).await {
                    Ok(entry) => break entry,
                    Err(e) if self.p.time().now() + self.config.retry_delay >= deadline => {
                        return Err(ClientError::Unavailable {
                            what: format!("a read of key {key}"),
                            waited_ms: self.waited_ms(started),
                            last: e,
                        });
                    }
                    Err(_) => self.p.time().sleep(self.config.retry_delay).await,
                }
            };
            if let Some(entry) = entry {
                self.versions_after(entry.version);
                self.history.adopt(key, entry);
                adopted += 1;
            }
        }
        Ok(adopted)
    }

    fn waited_ms(&self, since: Instant) -> u64 {
        (self.p.time().now() - since).as_millis() as u64
    }
}
