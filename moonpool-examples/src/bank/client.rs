//! The client: sends a transfer to the shard of its `from` account and
//! resends it, with the same id, until it gets an answer.
//!
//! # Outcomes ([`TransferOutcome`])
//! - The shard answered: `Committed` or `Aborted` (a malformed transfer
//!   counts as aborted: it never happens).
//! - Every attempt failed (timeouts, lost connections, a shard down):
//!   `Unknown`. The transfer may have happened, or may still happen: its
//!   coordinator decides it (or presumes its abort) on its own.
//!
//! Calls use `get_reply` (resent on every new connection), so a transfer
//! may reach its coordinator several times: the idempotency key makes
//! that harmless.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Providers, TimeProvider};
use moonpool_transport::{RpcError, Transport};

use super::checker::TransferOutcome;
use super::{Dump, SERVICE_INDEX, ShardDump, Transfer, TransferReply, bank_api, shard_of};

/// How long one attempt at a transfer waits.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts at one transfer before its outcome is unknown.
pub const TRANSFER_ATTEMPTS_MAX: u32 = 4;
/// Pause between attempts.
pub const RETRY_DELAY: Duration = Duration::from_millis(100);

/// A client of the bank's shards.
pub struct BankClient<P: Providers> {
    p: P,
    shards: Vec<bank_api::Client<P>>,
}

impl<P: Providers> BankClient<P> {
    /// A client of the shards at `addrs` (shard `i` at `addrs[i]`).
    pub fn new(transport: &Transport<P>, addrs: &[SocketAddr]) -> BankClient<P> {
        BankClient {
            p: transport.providers().clone(),
            shards: addrs
                .iter()
                .map(|a| {
                    bank_api::Client::new(
                        transport,
                        bank_api::Interface::well_known(*a, SERVICE_INDEX),
                    )
                })
                .collect(),
        }
    }

    /// Moves the money, once, whatever the retries.
    pub async fn transfer(&self, t: Transfer) -> TransferOutcome {
        let Some(coordinator) = self.shards.get(shard_of(t.from) as usize) else {
            return TransferOutcome::Aborted;
        };
        for attempt in 1..=TRANSFER_ATTEMPTS_MAX {
            match coordinator.transfer.get_reply(&t, TRANSFER_TIMEOUT).await {
                // Rarely, act as if the answer was lost: the transfer
                // happened, and the retry must not do it again.
                Ok(_) if attempt < TRANSFER_ATTEMPTS_MAX && moonpool_core::buggify!() => {}
                Ok(TransferReply::Committed) => return TransferOutcome::Committed,
                Ok(_) => return TransferOutcome::Aborted,
                Err(RpcError::BadRequest | RpcError::Codec(_)) => return TransferOutcome::Unknown,
                Err(_) => {}
            }
            self.p.time().sleep(RETRY_DELAY).await;
        }
        TransferOutcome::Unknown
    }

    /// Shard `shard`'s state (one attempt).
    pub async fn dump(&self, shard: u32, timeout: Duration) -> Result<ShardDump, RpcError> {
        match self.shards.get(shard as usize) {
            Some(api) => api.dump.try_get_reply(&Dump, timeout).await,
            None => Err(RpcError::EndpointNotFound),
        }
    }
}
