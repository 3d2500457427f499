//! The failure monitor: which addresses are failed, which endpoints are
//! permanently gone.
//!
//! Type: [`FailureMonitor`], one per transport. State per address: whether
//! a connection is up, and since when it has been continuously failing.
//! An address is [`AddressState::Failed`] once it has been failing (no
//! established connection; connects failing or connections dropping) for
//! [`failed_after_ms`](crate::TransportConfig::failed_after_ms); it is
//! available again as soon as a connection to it is established. The state
//! is computed from the clock when asked, so no timer is needed.
//!
//! Endpoints answered with "endpoint not found" are remembered (a bounded
//! FIFO set) so later calls to them fail fast; well-known endpoints are
//! never remembered, because a restarting server registers them again.
//!
//! Invariants: all maps are `BTreeMap`s (deterministic iteration); the
//! failed-endpoint set never exceeds its configured size.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::Instant;

use crate::endpoint::Endpoint;

/// The health of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressState {
    /// Connected, or not failing for long: calls go through.
    Available,
    /// Failing for longer than the threshold: calls fail fast with
    /// [`RpcError::Unreachable`](crate::RpcError::Unreachable).
    Failed,
}

#[derive(Clone, Copy, Debug, Default)]
struct Health {
    connected: bool,
    failing_since: Option<Instant>,
}

/// Per-address health and permanently failed endpoints.
#[derive(Debug)]
pub struct FailureMonitor {
    failed_after: Duration,
    endpoints_max: usize,
    addrs: RefCell<BTreeMap<SocketAddr, Health>>,
    endpoints: RefCell<(BTreeSet<Endpoint>, VecDeque<Endpoint>)>,
}

impl FailureMonitor {
    /// A monitor that fails an address after `failed_after` of continuous
    /// failure and remembers up to `endpoints_max` missing endpoints.
    pub fn new(failed_after: Duration, endpoints_max: usize) -> FailureMonitor {
        FailureMonitor {
            failed_after,
            endpoints_max,
            addrs: RefCell::new(BTreeMap::new()),
            endpoints: RefCell::new((BTreeSet::new(), VecDeque::new())),
        }
    }

    /// The state of `addr` at time `now`.
    pub fn state(&self, addr: SocketAddr, now: Instant) -> AddressState {
        match self.addrs.borrow().get(&addr) {
            Some(Health {
                connected: false,
                failing_since: Some(since),
            }) if now.saturating_duration_since(*since) >= self.failed_after => {
                AddressState::Failed
            }
            _ => AddressState::Available,
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

    /// A connection to `addr` is established.
    pub(crate) fn connected(&self, addr: SocketAddr) {
        let mut m = self.addrs.borrow_mut();
        let h = m.entry(addr).or_default();
        h.connected = true;
        h.failing_since = None;
    }

    /// A connection to `addr` ended, or an attempt failed.
    pub(crate) fn failed(&self, addr: SocketAddr, now: Instant) {
        let mut m = self.addrs.borrow_mut();
        let h = m.entry(addr).or_default();
        h.connected = false;
        h.failing_since.get_or_insert(now);
    }

    /// Drops what is known about `addr` (its peer was forgotten).
    pub(crate) fn forget(&self, addr: SocketAddr) {
        self.addrs.borrow_mut().remove(&addr);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Token;

    fn addr() -> SocketAddr {
        "10.0.0.1:1".parse().expect("addr")
    }

    #[test]
    fn an_address_fails_only_after_the_threshold_and_recovers_on_connect() {
        let m = FailureMonitor::new(Duration::from_secs(4), 10);
        let t0 = Instant::from_nanos(1_000);
        assert_eq!(m.state(addr(), t0), AddressState::Available);
        m.failed(addr(), t0);
        assert_eq!(
            m.state(addr(), t0 + Duration::from_millis(3_999)),
            AddressState::Available
        );
        m.failed(addr(), t0 + Duration::from_secs(2));
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
}
