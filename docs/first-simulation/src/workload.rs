//! The workload: a client that adds to the counter, retrying each addition
//! until it is acknowledged, then checks that the counter holds exactly
//! the additions it made.

// ANCHOR: workload
use std::time::Duration;

use moonpool_core::TimeProvider;
use moonpool_sim::{SimContext, SimProviders, Workload, WorkloadResult};
use moonpool_transport::{RetryPolicy, Transport, TransportConfig};

use crate::server::{Add, Get, SERVER, counter};

/// Additions the client makes.
const ADDS: u64 = 100;

/// The client: counts the additions the server acknowledged.
#[derive(Default)]
pub struct Client {
    acknowledged: u64,
}

impl Workload for Client {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let counter = connect(ctx);
        // Each attempt waits 1 s for its reply; at most 100 attempts.
        let retries = RetryPolicy {
            attempts_max: 100,
            ..RetryPolicy::default()
        };
        let client = ctx.client_id() as u64;
        for seq in 1..=ADDS {
            let add = Add { client, seq };
            counter.add.get_reply_idempotent(&add, &retries).await?;
            self.acknowledged += 1;
            ctx.providers().sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        // Chaos has stopped and the network has healed: the read gets through.
        let total = connect(ctx)
            .get
            .get_reply(&Get, Duration::from_secs(10))
            .await?;
        if total != self.acknowledged {
            return Err(format!(
                "the counter holds {total}, but {} additions were acknowledged",
                self.acknowledged
            )
            .into());
        }
        Ok(())
    }
}

/// A client of the counter service, on a transport of its own.
fn connect(ctx: &SimContext) -> counter::Client<SimProviders> {
    let transport = Transport::unbound(ctx.providers().clone(), TransportConfig::default());
    counter::Client::new(&transport, counter::Interface::well_known(SERVER, 1))
}
// ANCHOR_END: workload
