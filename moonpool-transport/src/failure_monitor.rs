//! The failure monitor: which addresses are failed, which endpoints are
//! permanently gone, and who waits to hear about it.
//!
//! Type: [`FailureMonitor`], one per transport. "Failed" means what it
//! means in FoundationDB's failure monitor: **continuous failure of
//! connection attempts**. Per address the monitor keeps whether a
//! connection is up and, while the transport wants a connection it does
//! not have, since when it has been failing: from the first failed attempt
//! (or from the loss of a connection the transport still needed). An
//! address is [`AddressState::Failed`] once it has been failing for
//! [`failed_after_ms`](crate::TransportConfig::failed_after_ms). It is
//! available again as soon as a connection is established, **or as soon as
//! nobody is trying to reach it** (the peer's keeper went idle: nothing
//! queued, nothing outstanding, no probe window): an address with no
//! attempt in progress is not failed, however long ago its connection
//! dropped. The state is computed from the clock when asked.
//!
//! Waiters: [`Transport::on_failed`](crate::Transport::on_failed) registers
//! a waker per address; every change of an address's health wakes its
//! waiters, which re-evaluate (and sleep until the threshold if the address
//! is failing). A waiter removes itself when dropped, so the registry holds
//! only live futures.
//!
//! Endpoints answered with "endpoint not found" are remembered (a bounded
//! FIFO set) so later calls to them fail fast; well-known endpoints are
//! never remembered, because a restarting server registers them again.
//!
//! Invariants: all maps are `BTreeMap`s (deterministic iteration); the
//! failed-endpoint set never exceeds its configured size; no waker is
//! called while a borrow is held.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::task::Waker;
use std::time::Duration;

use moonpool_core::Instant;

use crate::endpoint::Endpoint;

/// The health of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressState {
    /// Connected, not being tried, or failing for less than the threshold:
    /// calls go through.
    Available,
    /// Connection attempts have kept failing for longer than the
    /// threshold: calls fail fast with
    /// [`RpcError::Unreachable`](crate::RpcError::Unreachable).
    Failed,
}

/// What the monitor knows of one address.
#[derive(Clone, Copy, Debug, Default)]
struct Health {
    connected: bool,
    /// Since when the transport has wanted a connection and its attempts
    /// (or its connection) kept failing.
    failing_since: Option<Instant>,
}

/// When an address is, or will be, failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not failing: nothing changes without an event.
    Healthy,
    /// Failing: failed at this instant unless something changes.
    FailedAt(Instant),
}

/// Per-address health, permanently failed endpoints, and failure waiters.
#[derive(Debug)]
pub struct FailureMonitor {
    failed_after: Duration,
    endpoints_max: usize,
    addrs: RefCell<BTreeMap<SocketAddr, Health>>,
    endpoints: RefCell<(BTreeSet<Endpoint>, VecDeque<Endpoint>)>,
    /// Wakers of `on_failed` futures, by address and registration id.
    waiters: RefCell<BTreeMap<SocketAddr, BTreeMap<u64, Waker>>>,
    next_waiter: Cell<u64>,
}

impl FailureMonitor {
    /// A monitor that fails an address after `failed_after` of continuous
    /// failure and remembers up to `endpoints_max` missing endpoints.
    pub(crate) fn new(failed_after: Duration, endpoints_max: usize) -> FailureMonitor {
        FailureMonitor {
            failed_after,
            endpoints_max,
            addrs: RefCell::new(BTreeMap::new()),
            endpoints: RefCell::new((BTreeSet::new(), VecDeque::new())),
            waiters: RefCell::new(BTreeMap::new()),
            next_waiter: Cell::new(0),
        }
    }

    /// The state of `addr` at time `now`.
    pub fn state(&self, addr: SocketAddr, now: Instant) -> AddressState {
        match self.verdict(addr) {
            Verdict::FailedAt(at) if now >= at => AddressState::Failed,
            _ => AddressState::Available,
        }
    }

    /// When `addr` is or will be failed, unless something changes.
    pub(crate) fn verdict(&self, addr: SocketAddr) -> Verdict {
        match self.addrs.borrow().get(&addr) {
            Some(Health {
                connected: false,
                failing_since: Some(since),
            }) => Verdict::FailedAt(since.saturating_add(self.failed_after)),
            _ => Verdict::Healthy,
        }
    }

    /// Every address failed at `now`, in address order.
    pub fn failed_addresses(&self, now: Instant) -> Vec<SocketAddr> {
        let addrs: Vec<SocketAddr> = self.addrs.borrow().keys().copied().collect();
        addrs
            .into_iter()
            .filter(|a| self.state(*a, now) == AddressState::Failed)
            .collect()
    }

    /// Whether `endpoint` answered "not found" before.
    pub fn is_endpoint_failed(&self, endpoint: &Endpoint) -> bool {
        self.endpoints.borrow().0.contains(endpoint)
    }

    /// Updates `addr`'s health and wakes its waiters if it changed.
    fn update(&self, addr: SocketAddr, f: impl FnOnce(&mut Health)) {
        let changed = {
            let mut m = self.addrs.borrow_mut();
            let h = m.entry(addr).or_default();
            let before = (h.connected, h.failing_since);
            f(h);
            before != (h.connected, h.failing_since)
        };
        if changed {
            self.wake(addr);
        }
    }

    /// A connection to `addr` is established.
    pub(crate) fn connected(&self, addr: SocketAddr) {
        self.update(addr, |h| {
            h.connected = true;
            h.failing_since = None;
        });
    }

    /// An attempt to connect to `addr` failed: it is failing since now,
    /// unless it already was.
    pub(crate) fn attempt_failed(&self, addr: SocketAddr, now: Instant) {
        self.update(addr, |h| {
            h.connected = false;
            h.failing_since.get_or_insert(now);
        });
    }

    /// The connection to `addr` ended. If the transport still wants one
    /// (`retrying`), the address is failing from now until a connection is
    /// back; otherwise it is merely idle.
    pub(crate) fn disconnected(&self, addr: SocketAddr, now: Instant, retrying: bool) {
        self.update(addr, |h| {
            h.connected = false;
            if retrying {
                h.failing_since.get_or_insert(now);
            } else {
                h.failing_since = None;
            }
        });
    }

    /// Nobody is trying to reach `addr` any more: whatever failed before,
    /// it is not failing now.
    pub(crate) fn idle(&self, addr: SocketAddr) {
        let known = self.addrs.borrow().contains_key(&addr);
        if known {
            self.update(addr, |h| h.failing_since = None);
        }
    }

    /// Drops what is known about `addr` (its peer was forgotten).
    pub(crate) fn forget(&self, addr: SocketAddr) {
        let removed = self.addrs.borrow_mut().remove(&addr);
        if removed.is_some() {
            self.wake(addr);
        }
    }

    /// `endpoint` does not exist at its address.
    pub(crate) fn endpoint_not_found(&self, endpoint: Endpoint) {
        if endpoint.token.is_well_known() || self.endpoints_max == 0 {
            return;
        }
        let mut e = self.endpoints.borrow_mut();
        if !e.0.insert(endpoint) {
            return;
        }
        e.1.push_back(endpoint);
        while e.1.len() > self.endpoints_max {
            if let Some(old) = e.1.pop_front() {
                e.0.remove(&old);
            }
        }
    }

    /// Registers (or refreshes) waiter `id` of `addr`; `None` takes a new id.
    pub(crate) fn watch(&self, addr: SocketAddr, id: Option<u64>, waker: &Waker) -> u64 {
        let id = id.unwrap_or_else(|| {
            let id = self.next_waiter.get();
            self.next_waiter.set(id + 1);
            id
        });
        let mut w = self.waiters.borrow_mut();
        let slot = w.entry(addr).or_default().entry(id);
        match slot {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if !e.get().will_wake(waker) {
                    e.insert(waker.clone());
                }
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(waker.clone());
            }
        }
        id
    }

    /// Removes waiter `id` of `addr`.
    pub(crate) fn unwatch(&self, addr: SocketAddr, id: u64) {
        let mut w = self.waiters.borrow_mut();
        if let Some(m) = w.get_mut(&addr) {
            m.remove(&id);
            if m.is_empty() {
                w.remove(&addr);
            }
        }
    }

    /// Wakes the waiters of `addr` (they stay registered until dropped).
    fn wake(&self, addr: SocketAddr) {
        let wakers: Vec<Waker> = self
            .waiters
            .borrow()
            .get(&addr)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for w in wakers {
            w.wake();
        }
    }

    /// Wakes every waiter (the transport shut down).
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> = self
            .waiters
            .borrow()
            .values()
            .flat_map(|m| m.values().cloned())
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Registered waiters (for tests: futures that were dropped are gone).
    #[cfg(test)]
    pub(crate) fn waiter_count(&self) -> usize {
        self.waiters.borrow().values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;

    fn addr() -> SocketAddr {
        "10.0.0.1:1".parse().expect("addr")
    }

    #[test]
    fn an_address_fails_only_after_attempts_kept_failing_and_recovers_on_connect() {
        let m = FailureMonitor::new(Duration::from_secs(4), 10);
        let t0 = Instant::from_nanos(1_000);
        assert_eq!(m.state(addr(), t0), AddressState::Available);
        m.attempt_failed(addr(), t0);
        assert_eq!(
            m.state(addr(), t0 + Duration::from_millis(3_999)),
            AddressState::Available
        );
        m.attempt_failed(addr(), t0 + Duration::from_secs(2));
        assert_eq!(
            m.state(addr(), t0 + Duration::from_secs(4)),
            AddressState::Failed,
            "a later failure must not restart the clock"
        );
        assert_eq!(
            m.failed_addresses(t0 + Duration::from_secs(5)),
            vec![addr()]
        );
        m.connected(addr());
        assert_eq!(
            m.state(addr(), t0 + Duration::from_secs(9)),
            AddressState::Available
        );
    }

    #[test]
    fn an_address_nobody_tries_to_reach_is_not_failed() {
        let m = FailureMonitor::new(Duration::from_secs(4), 10);
        let t0 = Instant::from_nanos(1_000);
        m.connected(addr());
        m.disconnected(addr(), t0, false);
        assert_eq!(
            m.state(addr(), t0 + Duration::from_secs(60)),
            AddressState::Available,
            "a quiet disconnect is not a failure"
        );
        m.disconnected(addr(), t0, true);
        m.attempt_failed(addr(), t0 + Duration::from_secs(1));
        assert_eq!(
            m.state(addr(), t0 + Duration::from_secs(5)),
            AddressState::Failed
        );
        m.idle(addr());
        assert_eq!(
            m.state(addr(), t0 + Duration::from_secs(6)),
            AddressState::Available,
            "the keeper stopped trying: not failed any more"
        );
    }

    #[test]
    fn missing_endpoints_are_remembered_boundedly_but_well_known_never() {
        let m = FailureMonitor::new(Duration::from_secs(1), 2);
        let ep = |t: u128| Endpoint::new(addr(), Token::from_u128(t));
        m.endpoint_not_found(ep(1));
        m.endpoint_not_found(ep(2));
        m.endpoint_not_found(ep(3));
        assert!(!m.is_endpoint_failed(&ep(1)), "oldest entry evicted");
        assert!(m.is_endpoint_failed(&ep(2)) && m.is_endpoint_failed(&ep(3)));
        let wk = Endpoint::well_known(addr(), 5);
        m.endpoint_not_found(wk);
        assert!(!m.is_endpoint_failed(&wk));
    }

    #[test]
    fn waiters_are_woken_on_changes_and_gone_once_unwatched() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let m = FailureMonitor::new(Duration::from_secs(1), 2);
        let count = std::sync::Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let id = m.watch(addr(), None, &waker);
        m.attempt_failed(addr(), Instant::ZERO);
        m.attempt_failed(addr(), Instant::ZERO);
        assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        m.unwatch(addr(), id);
        assert_eq!(m.waiter_count(), 0);
        m.connected(addr());
        assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
