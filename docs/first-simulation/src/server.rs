//! The system under test: a counter server. Clients add to it over the
//! network; an addition is named `(client, seq)`, so one that arrives twice
//! is applied once.

// ANCHOR: service
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use moonpool_core::{Providers, TimeProvider, sometimes};
use moonpool_transport::{Transport, TransportConfig, TransportError};
use serde::{Deserialize, Serialize};

/// Add one to the counter: addition number `seq` of `client`.
#[derive(Serialize, Deserialize)]
pub struct Add {
    pub client: u64,
    pub seq: u64,
}

/// Read the counter.
#[derive(Serialize, Deserialize)]
pub struct Get;

moonpool_transport::service! {
    /// The counter's two methods: `add` replies `()`, `get` the total.
    pub mod counter {
        add: Add => (),
        get: Get => u64,
    }
}

/// Where the server listens.
pub const SERVER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const SERVER: SocketAddr = SocketAddr::new(SERVER_IP, 4500);
// ANCHOR_END: service

// ANCHOR: serve
/// The server process's `main`. With `bug`, it forgets to check whether an
/// addition was already applied.
pub async fn serve<P: Providers>(p: P, bug: bool) -> Result<(), TransportError> {
    let transport = bind(&p).await?;
    let server = counter::Server::well_known(&transport, 1)?;
    let mut total: u64 = 0;
    // The last addition applied, per client: an older one is a retry.
    let mut applied: BTreeMap<u64, u64> = BTreeMap::new();
    while let Some(request) = server.next().await {
        match request {
            counter::Request::add(r) => {
                let Add { client, seq } = r.request;
                let last = applied.get(&client).copied().unwrap_or(0);
                sometimes!(seq <= last, "an addition arrives twice");
                if seq > last || bug {
                    total += 1;
                    applied.insert(client, seq);
                    tracing::info!(client, seq, total, "applied");
                } else {
                    tracing::info!(client, seq, total, "already applied");
                }
                r.reply.send(());
            }
            counter::Request::get(r) => r.reply.send(total),
        }
    }
    Ok(())
}

/// Binds the server's address. Under chaos a bind can fail: retry a
/// bounded number of times.
async fn bind<P: Providers>(p: &P) -> Result<Transport<P>, TransportError> {
    let mut attempts = 1;
    loop {
        match Transport::bind(p.clone(), SERVER, TransportConfig::default()).await {
            Err(e) if attempts < 100 => {
                tracing::debug!(%e, attempts, "bind failed; retrying");
                attempts += 1;
                p.time().sleep(Duration::from_millis(50)).await;
            }
            result => return result,
        }
    }
}
// ANCHOR_END: serve
