//! The code of the book's chapter "The transport"
//! (`docs/src/transport.md`): a service declared with
//! `moonpool_transport::service!`, served by a loop or by `serve`, and
//! called by a client, in a simulation with a server process and client
//! processes.
//!
//! `cargo run -p moonpool-examples --example book_transport` runs 20 chaos
//! seeds; `cargo test -p moonpool-examples --example book_transport`
//! checks what the chapter says about this code.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::Providers;
use moonpool_sim::{
    ConfigError, SimContext, Simulation, SimulationBuilder, SweepPlan, Workload, WorkloadResult,
};
use moonpool_transport::{Transport, TransportConfig, TransportError};
use serde::{Deserialize, Serialize};

// ANCHOR: service
/// Reads a key.
#[derive(Serialize, Deserialize)]
pub struct Get {
    /// The key.
    pub key: String,
}

/// Writes a key.
#[derive(Serialize, Deserialize)]
pub struct Put {
    /// The key.
    pub key: String,
    /// Its new value.
    pub value: u64,
}

moonpool_transport::service! {
    /// A key-value store.
    pub mod kv {
        get: Get => Option<u64>,
        put: Put => (),
    }
}
// ANCHOR_END: service

/// The server's address, and the first well-known token index of its
/// service (`get` is index 1, `put` index 2).
const SERVER: &str = "10.0.0.1:4500";
const SERVICE_INDEX: u32 = 1;

fn server_addr() -> SocketAddr {
    SERVER.parse().expect("a socket address")
}

/// A server answering one request at a time, in a loop.
async fn serve_in_a_loop<P: Providers>(p: P) -> Result<(), TransportError> {
    // ANCHOR: bind
    let t = Transport::bind(p.clone(), server_addr(), TransportConfig::default()).await?;
    let server = kv::Server::well_known(&t, SERVICE_INDEX)?; // or kv::Server::new(&t)? (random tokens)
    // ANCHOR_END: bind
    let mut store = BTreeMap::new();
    // ANCHOR: loop
    while let Some(req) = server.next().await {
        match req {
            kv::Request::get(r) => r.reply.send(store.get(&r.request.key).copied()),
            kv::Request::put(r) => {
                store.insert(r.request.key, r.request.value);
                r.reply.send(())
            }
        }
    }
    // ANCHOR_END: loop
    Ok(())
}

/// The same server with handlers that may await, at most 64 at once.
async fn serve_concurrently<P: Providers>(p: P) -> Result<(), TransportError> {
    let t = Transport::bind(p.clone(), server_addr(), TransportConfig::default()).await?;
    let server = kv::Server::well_known(&t, SERVICE_INDEX)?;
    let store = Rc::new(RefCell::new(BTreeMap::new()));
    // ANCHOR: serve
    server
        .serve(64, |req| {
            let store = Rc::clone(&store);
            async move {
                match req {
                    kv::Request::get(r) => {
                        let value = store.borrow().get(&r.request.key).copied();
                        r.reply.send(value)
                    }
                    kv::Request::put(r) => {
                        store.borrow_mut().insert(r.request.key, r.request.value);
                        r.reply.send(())
                    }
                }
            }
        })
        .await;
    // ANCHOR_END: serve
    Ok(())
}

/// One client: puts its own key, reads it back, records what it read.
struct KvUser;

impl Workload for KvUser {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        let key = format!("client-{}", ctx.client_id());
        let value = 100 + ctx.client_id() as u64;
        // ANCHOR: client
        let t = Transport::unbound(p, TransportConfig::default());
        let client = kv::Client::new(&t, kv::Interface::well_known(server_addr(), SERVICE_INDEX));
        let timeout = Duration::from_secs(5);
        client
            .put
            .get_reply(
                &Put {
                    key: key.clone(),
                    value,
                },
                timeout,
            )
            .await?;
        let read = client.get.get_reply(&Get { key }, timeout).await?;
        // ANCHOR_END: client
        if read != Some(value) {
            return Err(format!("wrote {value}, read {read:?}").into());
        }
        Ok(())
    }
}

fn simulation(concurrent: bool) -> Result<Simulation, ConfigError> {
    let builder = SimulationBuilder::new();
    let builder = if concurrent {
        builder.process("kv", [10, 0, 0, 1], serve_concurrently)
    } else {
        builder.process("kv", [10, 0, 0, 1], serve_in_a_loop)
    };
    builder.workload("user", 3, |_| KvUser).build()
}

fn main() -> Result<(), ConfigError> {
    for concurrent in [false, true] {
        let report = simulation(concurrent)?.sweep(&SweepPlan::range(1, 20));
        println!(
            "serve {}: {} seeds, {} failed",
            if concurrent {
                "concurrently"
            } else {
                "in a loop"
            },
            report.seeds_run,
            report.failed
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten quiet seeds: each client's workload fails its seed unless it
    /// read back exactly the value it wrote.
    fn quiet_sweep(concurrent: bool) -> Result<moonpool_sim::SweepReport, ConfigError> {
        let mut plan = SweepPlan::range(1, 10);
        plan.chaos = Some(false);
        Ok(simulation(concurrent)?.sweep(&plan))
    }

    /// Every seed passes, and the transport carried the traffic: three
    /// clients, a put and a get each, in each of the ten seeds.
    fn assert_answered_over_the_transport(report: &moonpool_sim::SweepReport) {
        report.assert_all_passed();
        let sent = report
            .metrics
            .get("transport.frames_sent")
            .copied()
            .unwrap_or(0);
        assert!(sent >= 10 * 3 * 2, "frames sent: {sent}");
    }

    #[test]
    fn a_loop_server_answers_each_client_with_what_it_wrote() -> Result<(), ConfigError> {
        assert_answered_over_the_transport(&quiet_sweep(false)?);
        Ok(())
    }

    #[test]
    fn a_serve_server_answers_each_client_with_what_it_wrote() -> Result<(), ConfigError> {
        assert_answered_over_the_transport(&quiet_sweep(true)?);
        Ok(())
    }
}
