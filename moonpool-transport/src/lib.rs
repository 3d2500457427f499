//! # moonpool-transport
//!
//! FoundationDB-style RPC (FlowTransport + fdbrpc) written against
//! `moonpool-core`'s provider traits, so the very same code runs in
//! `moonpool-sim`'s deterministic simulation and on real tokio. A
//! [`Transport`] listens on an address, keeps one peer per remote
//! address (an outgoing queue that survives disconnections, reconnection
//! with jittered exponential backoff, keepalive pings), routes checksummed
//! frames to 128-bit [endpoint](Endpoint) tokens, and offers request/reply
//! with FDB's delivery modes ([`RequestSender::send`],
//! [`try_get_reply`](RequestSender::try_get_reply),
//! [`get_reply`](RequestSender::get_reply),
//! [`get_reply_unless_failed`](RequestSender::get_reply_unless_failed)),
//! typed failures ([`RpcError`]: broken promise, maybe delivered,
//! connection failed, timeout, unreachable...), and a [failure
//! monitor](FailureMonitor) whose verdicts ([`Transport::on_failed`]) mean
//! that connection attempts keep failing. Peers prove the address they
//! announce; replies are never dropped for a queue limit; every queue is
//! bounded by bytes. [`service!`] declares a service in a few lines.
//!
//! ```
//! use std::time::Duration;
//! use moonpool_core::{JoinHandle, Providers, TaskProvider};
//! use moonpool_transport::{Transport, TransportConfig};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! pub struct Echo(pub String);
//!
//! moonpool_transport::service! {
//!     /// Echoes strings.
//!     pub mod echo { echo: Echo => String }
//! }
//!
//! async fn demo<P: Providers>(p: P) -> String {
//!     let local = "127.0.0.1:0".parse().unwrap();
//!     let server_t = Transport::bind(p.clone(), local, TransportConfig::default()).await.unwrap();
//!     let server = echo::Server::new(&server_t).unwrap();
//!     let iface = server.interface();
//!     let serving = p.task().spawn("echo-server", async move {
//!         while let Some(echo::Request::echo(req)) = server.next().await {
//!             req.reply.send(req.request.0.to_uppercase());
//!         }
//!     });
//!     let client_t = Transport::unbound(p.clone(), TransportConfig::default());
//!     let client = echo::Client::new(&client_t, iface);
//!     let reply = client.echo.get_reply(&Echo("hi".into()), Duration::from_secs(5)).await;
//!     drop(serving);
//!     server_t.shutdown();
//!     client_t.shutdown();
//!     reply.unwrap()
//! }
//!
//! fn main() {
//!     let reply = moonpool_core::tokio_providers::run(demo).unwrap();
//!     assert_eq!(reply, "HI");
//! }
//! ```
//!
//! Crate map (one public path per item: everything is re-exported here,
//! except the pure wire format in [`wire`]): `wire` (encode/decode of
//! handshakes and frames), `endpoint` (tokens, endpoints), `peer` (queue,
//! backoff, connections), `transport` ([`Transport`]), `rpc` (request
//! streams, reply promises, delivery modes, retries), `failure_monitor`,
//! `service` ([`service!`]), `metrics`, `error`. Features: `scenarios`
//! (the transport scenario suite every backend runs), `bench` (the RPC
//! benchmark workloads, for `moonpool-examples`' `bench` binary), `fuzz`
//! (`wire::fuzz`, the decoder fuzzer behind the `decoder_fuzz` example).
//!
//! Determinism: all time, tasks, I/O and randomness (tokens, incarnations,
//! jitter) come from the providers; maps that are iterated are `BTreeMap`s
//! or slabs (in index order).
//! See `docs/src/transport.md` for the wire format, the delivery guarantees and
//! the failure semantics.

#![forbid(unsafe_code)]

// Lets `service!`'s serde attributes name this crate from inside it too.
extern crate self as moonpool_transport;

#[cfg(any(test, feature = "bench"))]
pub mod bench;
mod config;
mod endpoint;
mod error;
mod failure_monitor;
mod metrics;
mod peer;
mod rpc;
#[cfg(feature = "scenarios")]
pub mod scenarios;
mod service;
mod transport;
pub mod wire;

pub use config::TransportConfig;
pub use endpoint::{Endpoint, Token};
pub use error::{ConnectionError, RemoteError, RpcError, TransportError, WireError};
pub use failure_monitor::{AddressState, FailureMonitor};
pub use metrics::{PeerMetrics, TransportMetrics};
pub use rpc::retry::{DedupCache, IdempotencyKey, RetryPolicy, retry};
pub use rpc::{Incoming, ReplyPromise, Request, RequestSender, RequestStream};
pub use transport::{OnFailed, Transport};

#[doc(hidden)]
pub mod __private {
    pub use crate::rpc::{WaitSlot, serve};
    pub use moonpool_core::{Codec, PostcardCodec, Providers};
    pub use serde;
}
