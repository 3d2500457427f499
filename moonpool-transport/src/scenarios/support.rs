//! Shared pieces of the scenarios: the echo service, a server that can
//! echo, drop or hold requests, and bounded waits.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Providers, TaskProvider, TimeProvider};
use serde::{Deserialize, Serialize};

use super::Harness;
use crate::{ReplyPromise, Transport, TransportConfig};

/// What the echo server does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EchoMode {
    /// Reply at once.
    Echo,
    /// Drop the reply promise.
    Drop,
    /// Keep the reply promise without answering.
    Hold,
    /// Reply with the body repeated to [`LARGE_REPLY_BYTES`] bytes.
    Large,
}

/// The body length of an [`EchoMode::Large`] reply: 64 KiB.
pub const LARGE_REPLY_BYTES: usize = 64 * 1024;

/// A request of the echo service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoReq {
    /// Request id, echoed back.
    pub id: u64,
    /// What the server should do.
    pub mode: EchoMode,
    /// Bytes echoed back.
    pub body: Vec<u8>,
}

/// The echo service's reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoRep {
    /// The request's id.
    pub id: u64,
    /// The request's body.
    pub body: Vec<u8>,
    /// The incarnation of the server transport that answered.
    pub server_incarnation: u64,
}

/// A second request type, for multi-method services.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddReq {
    /// Left operand.
    pub a: u64,
    /// Right operand.
    pub b: u64,
}

crate::service! {
    /// The scenarios' echo service: `echo` (with modes) and `add`.
    pub mod echo_service {
        echo: EchoReq => EchoRep,
        add: AddReq => u64,
    }
}

/// The well-known index the echo service is registered at.
pub const ECHO_INDEX: u32 = 1;

/// Requests an echo server holds, with their promises.
pub type Held = Rc<RefCell<Vec<(EchoReq, ReplyPromise<EchoRep>)>>>;

/// A running echo server.
pub struct EchoServer<P: Providers> {
    /// Its transport.
    pub transport: Transport<P>,
    /// Its interface.
    pub interface: echo_service::Interface,
    /// Requests received (all methods).
    pub received: Rc<Cell<u64>>,
    /// Requests held by `Hold` (or by `hold_all`), with their promises.
    pub held: Held,
    task: Option<<P::Task as TaskProvider>::Handle<()>>,
}

impl<P: Providers> EchoServer<P> {
    /// Binds `addr` (retrying while the address is still in use by a
    /// previous incarnation) and serves the echo service at
    /// [`ECHO_INDEX`]. With `hold_all`, every echo request is held.
    pub async fn start(p: &P, addr: SocketAddr, config: TransportConfig, hold_all: bool) -> Self {
        let transport = bind_retrying(p, addr, config).await;
        let server = echo_service::Server::well_known(&transport, ECHO_INDEX)
            .expect("register echo service");
        let interface = server.interface();
        let received = Rc::new(Cell::new(0));
        let held = Rc::new(RefCell::new(Vec::new()));
        let incarnation = transport.incarnation();
        let (r, h) = (received.clone(), held.clone());
        let task = p.task().spawn("echo-server", async move {
            while let Some(req) = server.next().await {
                r.set(r.get() + 1);
                match req {
                    echo_service::Request::add(i) => i.reply.send(i.request.a + i.request.b),
                    echo_service::Request::echo(i) => {
                        let mode = if hold_all {
                            EchoMode::Hold
                        } else {
                            i.request.mode
                        };
                        match mode {
                            EchoMode::Echo => i.reply.send(EchoRep {
                                id: i.request.id,
                                body: i.request.body,
                                server_incarnation: incarnation,
                            }),
                            EchoMode::Large => {
                                let mut body = i.request.body;
                                body.resize(LARGE_REPLY_BYTES, 0xA5);
                                i.reply.send(EchoRep {
                                    id: i.request.id,
                                    body,
                                    server_incarnation: incarnation,
                                })
                            }
                            EchoMode::Drop => drop(i.reply),
                            EchoMode::Hold => h.borrow_mut().push((i.request, i.reply)),
                        }
                    }
                }
            }
        });
        EchoServer {
            transport,
            interface,
            received,
            held,
            task: Some(task),
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.transport.listen_addr().expect("bound")
    }

    /// Answers every held request with its echo, all in one go (no yield
    /// in between); returns how many were answered.
    pub fn answer_held(&self) -> usize {
        let held: Vec<_> = self.held.borrow_mut().drain(..).collect();
        let n = held.len();
        let incarnation = self.transport.incarnation();
        for (request, reply) in held {
            reply.send(EchoRep {
                id: request.id,
                body: request.body,
                server_incarnation: incarnation,
            });
        }
        n
    }

    /// Stops the server like a crash: the transport shuts down first, so
    /// held promises vanish without an answer.
    pub fn crash(mut self) {
        self.transport.shutdown();
        self.held.borrow_mut().clear();
        drop(self.task.take());
    }
}

impl<P: Providers> Drop for EchoServer<P> {
    fn drop(&mut self) {
        self.transport.shutdown();
    }
}

/// Binds a transport, retrying `AddrInUse` for up to 5 s (a previous
/// incarnation's listener may close a moment after its shutdown).
pub async fn bind_retrying<P: Providers>(
    p: &P,
    addr: SocketAddr,
    config: TransportConfig,
) -> Transport<P> {
    for _ in 0..500 {
        match Transport::bind(p.clone(), addr, config.clone()).await {
            Ok(t) => return t,
            Err(e) => {
                tracing::debug!(error = %e, "bind failed, retrying");
                p.time().sleep(Duration::from_millis(10)).await;
            }
        }
    }
    panic!("could not bind {addr}");
}

/// An address on node 0 with nothing behind it (bound, then shut down).
pub async fn dead_address<H: Harness>(p: &H::P) -> SocketAddr {
    let probe = bind_retrying(&H::node(p, 0), H::listen_addr(p, 0), H::config()).await;
    let addr = probe.listen_addr().expect("bound");
    probe.shutdown();
    addr
}

/// Answers a request of the echo service at once: an echo with
/// incarnation 0, or the sum.
pub fn answer(request: echo_service::Request) {
    match request {
        echo_service::Request::echo(i) => i.reply.send(EchoRep {
            id: i.request.id,
            body: i.request.body,
            server_incarnation: 0,
        }),
        echo_service::Request::add(i) => i.reply.send(i.request.a + i.request.b),
    }
}

/// A request stream nobody serves, on node 0 with `config`, sent `count`
/// requests built by `request(id)` at once from node 1, each with a 500 ms
/// timeout. Returns the server transport, the stream, and how many calls
/// ended `Overloaded` and `Timeout` (in that order).
pub async fn flood_a_request_stream<H: Harness>(
    p: &H::P,
    config: TransportConfig,
    count: u64,
    request: impl Fn(u64) -> EchoReq,
) -> (Transport<H::P>, crate::RequestStream<EchoReq>, usize, usize) {
    let server_t = bind_retrying(&H::node(p, 0), H::listen_addr(p, 0), config).await;
    let stream = server_t
        .request_stream::<EchoReq>()
        .expect("request stream");
    let client_t = client::<H>(p, 1).await;
    let s = client_t.sender::<EchoReq>(stream.endpoint());
    let calls = (0..count).map(|id| {
        let (s, req) = (s.clone(), request(id));
        async move { s.try_get_reply(&req, Duration::from_millis(500)).await }
    });
    let results = within(p, SOON, "calls", futures::future::join_all(calls)).await;
    let count_of = |e: crate::RpcError| results.iter().filter(|r| **r == Err(e.clone())).count();
    let tally = (
        count_of(crate::RpcError::Overloaded),
        count_of(crate::RpcError::Timeout),
    );
    assert_eq!(tally.0 + tally.1, results.len(), "{results:?}");
    client_t.shutdown();
    (server_t, stream, tally.0, tally.1)
}

/// A client transport for node `index`, bound to its listen address.
pub async fn client<H: Harness>(p: &H::P, index: usize) -> Transport<H::P> {
    let node = H::node(p, index);
    bind_retrying(&node, H::listen_addr(p, index), H::config()).await
}

/// The echo server of node 0.
pub async fn server<H: Harness>(p: &H::P) -> EchoServer<H::P> {
    let node = H::node(p, 0);
    EchoServer::start(&node, H::listen_addr(p, 0), H::config(), false).await
}

/// An echo request.
pub fn echo(id: u64, mode: EchoMode) -> EchoReq {
    EchoReq {
        id,
        mode,
        body: id.to_le_bytes().repeat(3),
    }
}

/// Awaits `future`, failing the scenario if it takes longer than `limit`.
pub async fn within<P: Providers, T>(
    p: &P,
    limit: Duration,
    what: &str,
    future: impl Future<Output = T>,
) -> T {
    match p.time().timeout(limit, future).await {
        Ok(v) => v,
        Err(_) => panic!("{what} did not complete within {limit:?}"),
    }
}

/// Polls `condition` every 5 ms until it holds, failing after `limit`.
pub async fn eventually<P: Providers>(
    p: &P,
    limit: Duration,
    what: &str,
    mut condition: impl FnMut() -> bool,
) {
    within(p, limit, what, async {
        while !condition() {
            p.time().sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// A generous bound for things that should take milliseconds.
pub const SOON: Duration = Duration::from_secs(10);
/// The per-call timeout the scenarios use when a reply is expected.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
