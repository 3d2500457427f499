//! The calls a candidate makes: a prepare or a lease request to every
//! acceptor at once ([`Acceptors::prepare_all`], [`Acceptors::lease_all`]),
//! and fences and writes to the resource ([`ResourceClient`]).
//!
//! Every call is at-most-once (`try_get_reply`) with a short timeout: a
//! prepare or a write that is lost is simply made again later (a prepare
//! is idempotent for its ballot, and a write with a stale token is
//! refused), and a late reply must not stretch a lease or a term.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use moonpool_core::Providers;
use moonpool_transport::{RpcError, Transport};

use super::{
    ACCEPTOR_INDEX, Ballot, Fence, LeaseRequest, Prepare, RESOURCE_INDEX, ROUND_TRIP_MAX,
    ReadRegister, Refusal, Register, ResourceReply, Vote, Write, acceptor_api, resource_api,
};

/// How long a prepare or a lease request waits for each acceptor's answer
/// (the longest round trip the timing is built for).
pub const PREPARE_TIMEOUT: Duration = ROUND_TRIP_MAX;
/// How long a fence or a write waits for the resource.
pub const RESOURCE_TIMEOUT: Duration = Duration::from_millis(300);

/// What a prepare to every acceptor gathered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// The acceptors that granted it.
    pub granted: Vec<u32>,
    /// Acceptors that promised a higher ballot.
    pub stale: usize,
    /// The longest lease an acceptor still holds for another ballot, in
    /// milliseconds, if one refused for that reason.
    pub leased_ms: Option<u64>,
    /// Other refusals, errors and timeouts.
    pub other: usize,
}

/// Every acceptor of the election, as seen from one candidate.
pub struct Acceptors<P: Providers> {
    clients: Vec<acceptor_api::Client<P>>,
}

impl<P: Providers> Acceptors<P> {
    /// The acceptors at `addrs` (candidate `i` at `addrs[i]`).
    pub fn new(transport: &Transport<P>, addrs: &[SocketAddr]) -> Acceptors<P> {
        Acceptors {
            clients: addrs
                .iter()
                .map(|addr| {
                    acceptor_api::Client::new(
                        transport,
                        acceptor_api::Interface::well_known(*addr, ACCEPTOR_INDEX),
                    )
                })
                .collect(),
        }
    }

    /// A majority of the acceptors.
    pub fn majority(&self) -> usize {
        self.clients.len() / 2 + 1
    }

    /// Phase 1: sends `prepare` to every acceptor at once.
    pub async fn prepare_all(&self, prepare: Prepare) -> Tally {
        self.gather(|c| async move { c.prepare.try_get_reply(&prepare, PREPARE_TIMEOUT).await })
            .await
    }

    /// Phase 2, or a renewal: sends `lease` to every acceptor at once.
    pub async fn lease_all(&self, lease: LeaseRequest) -> Tally {
        self.gather(|c| async move { c.lease.try_get_reply(&lease, PREPARE_TIMEOUT).await })
            .await
    }

    /// Makes `call` to every acceptor at once; returns as soon as a
    /// majority granted it, or every acceptor answered (or timed out).
    async fn gather<'a, F, Fut>(&'a self, call: F) -> Tally
    where
        F: Fn(&'a acceptor_api::Client<P>) -> Fut,
        Fut: std::future::Future<Output = Result<Vote, RpcError>>,
    {
        let mut calls: FuturesUnordered<_> = self
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let reply = call(c);
                async move { (i as u32, reply.await) }
            })
            .collect();
        let mut tally = Tally::default();
        while let Some((acceptor, reply)) = calls.next().await {
            match reply {
                Ok(Vote::Granted) => {
                    tally.granted.push(acceptor);
                    if tally.granted.len() >= self.majority() {
                        break;
                    }
                }
                Ok(Vote::Refused(Refusal::Stale)) => tally.stale += 1,
                Ok(Vote::Refused(Refusal::Leased { remaining_ms })) => {
                    tally.leased_ms = Some(tally.leased_ms.unwrap_or(0).max(remaining_ms));
                }
                Ok(Vote::Refused(_)) | Err(_) => tally.other += 1,
            }
        }
        tally
    }
}

/// The resource, as seen from one candidate.
pub struct ResourceClient<P: Providers> {
    api: resource_api::Client<P>,
}

impl<P: Providers> ResourceClient<P> {
    /// The resource at `addr`.
    pub fn new(transport: &Transport<P>, addr: SocketAddr) -> ResourceClient<P> {
        ResourceClient {
            api: resource_api::Client::new(
                transport,
                resource_api::Interface::well_known(addr, RESOURCE_INDEX),
            ),
        }
    }

    /// Fences the resource with `token`.
    pub async fn fence(&self, token: Ballot) -> Result<ResourceReply, RpcError> {
        self.api
            .fence
            .try_get_reply(&Fence { token }, RESOURCE_TIMEOUT)
            .await
    }

    /// Writes `value` with `token`.
    pub async fn write(&self, token: Ballot, value: u64) -> Result<ResourceReply, RpcError> {
        self.api
            .write
            .try_get_reply(&Write { token, value }, RESOURCE_TIMEOUT)
            .await
    }

    /// Reads the register.
    pub async fn read(&self, timeout: Duration) -> Result<Register, RpcError> {
        self.api.read.try_get_reply(&ReadRegister, timeout).await
    }
}
