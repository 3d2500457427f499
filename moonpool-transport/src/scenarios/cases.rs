//! The RPC scenarios.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures::future::join_all;
use moonpool_core::{JoinHandle, Providers, TaskProvider, TimeProvider};

use super::Harness;
use super::support::*;
use crate::{AddressState, Endpoint, RpcError, Token, Transport, TransportConfig};

/// Echo: `try_get_reply`, `get_reply` and `send` all reach the server;
/// replies match their requests; no checksum failure on a clean network.
pub async fn echo_rpc<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let r = within(
        &p,
        SOON,
        "try_get_reply",
        c.echo.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 1);
    let r = within(
        &p,
        SOON,
        "get_reply",
        c.echo.get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    let r = r.expect("reply");
    assert_eq!((r.id, r.body.clone()), (2, echo(2, EchoMode::Echo).body));
    assert_eq!(r.server_incarnation, server.transport.incarnation());
    c.echo.send(&echo(3, EchoMode::Echo)).expect("send");
    let received = server.received.clone();
    eventually(&p, SOON, "one-way send received", || received.get() == 3).await;
    let m = client_t.metrics();
    assert!(m.frames_sent >= 3 && m.frames_received >= 2, "{m:?}");
    assert_eq!(
        m.checksum_failures + server.transport.metrics().checksum_failures,
        0
    );
    let pm = client_t.peer_metrics(server.addr()).expect("peer");
    assert_eq!(pm.connections, 1, "{pm:?}");
    client_t.shutdown();
}

/// A client without a listener gets its replies over its own connection.
pub async fn echo_rpc_from_an_unbound_client<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t: Transport<H::P> = Transport::unbound(H::node(&p, 1), H::config());
    let c = echo_service::Client::new(&client_t, server.interface);
    for id in 0..5 {
        let r = within(
            &p,
            SOON,
            "get_reply",
            c.echo.get_reply(&echo(id, EchoMode::Echo), CALL_TIMEOUT),
        )
        .await;
        assert_eq!(r.expect("reply").id, id);
    }
    client_t.shutdown();
}

/// Many requests in flight at once from two clients: each gets exactly its
/// own reply.
pub async fn many_concurrent_requests<H: Harness>(p: H::P) {
    const PER_CLIENT: u64 = 500;
    let server = server::<H>(&p).await;
    let mut calls = Vec::new();
    let mut clients = Vec::new();
    for n in 1..=2 {
        let t = client::<H>(&p, n).await;
        clients.push(echo_service::Client::new(&t, server.interface));
    }
    for (n, c) in clients.iter().enumerate() {
        for i in 0..PER_CLIENT {
            let id = n as u64 * 1_000_000 + i;
            let c = c.clone();
            let mode_reliable = i % 2 == 0;
            calls.push(async move {
                let req = echo(id, EchoMode::Echo);
                let r = if mode_reliable {
                    c.echo.get_reply(&req, CALL_TIMEOUT).await
                } else {
                    c.echo.try_get_reply(&req, CALL_TIMEOUT).await
                };
                (id, r)
            });
        }
    }
    let results = within(&p, Duration::from_secs(30), "all requests", join_all(calls)).await;
    assert_eq!(results.len(), 2 * PER_CLIENT as usize);
    for (id, r) in results {
        let r = r.unwrap_or_else(|e| panic!("request {id} failed: {e}"));
        assert_eq!(r.id, id, "a reply went to the wrong request");
        assert_eq!(r.body, echo(id, EchoMode::Echo).body);
    }
    assert_eq!(server.received.get(), 2 * PER_CLIENT);
    for c in clients {
        c.echo.transport().shutdown();
    }
}

/// A server restart: an at-most-once call in flight ends with
/// `MaybeDelivered`; a retransmit-until-reply call in flight is resent to
/// the new incarnation and answered by it; later calls work.
pub async fn server_restart<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let first = EchoServer::start(&node0, H::listen_addr(&p, 0), H::config(), true).await;
    let addr = first.addr();
    let old_incarnation = first.transport.incarnation();
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, first.interface);
    let held = first.held.clone();
    let at_most_once = {
        let c = c.clone();
        p.task().spawn("at-most-once", async move {
            c.echo
                .try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT)
                .await
        })
    };
    let reliable = {
        let c = c.clone();
        p.task().spawn("reliable", async move {
            c.echo
                .get_reply(&echo(2, EchoMode::Echo), Duration::from_secs(20))
                .await
        })
    };
    eventually(&p, SOON, "both requests held", || held.borrow().len() == 2).await;
    first.crash();
    let r = within(&p, SOON, "at-most-once outcome", at_most_once)
        .await
        .expect("task");
    assert_eq!(r, Err(RpcError::MaybeDelivered));
    let second = EchoServer::start(&node0, addr, H::config(), false).await;
    let r = within(&p, Duration::from_secs(20), "reliable outcome", reliable)
        .await
        .expect("task")
        .expect("reliable request answered after the restart");
    assert_eq!(r.id, 2);
    assert_eq!(r.server_incarnation, second.transport.incarnation());
    assert_ne!(r.server_incarnation, old_incarnation);
    let r = within(
        &p,
        SOON,
        "call after restart",
        c.echo.try_get_reply(&echo(3, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 3);
    let pm = client_t.peer_metrics(addr).expect("peer");
    assert!(pm.reconnects >= 1, "{pm:?}");
    assert!(pm.reliable_resent >= 1, "{pm:?}");
    client_t.shutdown();
}

/// A server that drops the reply promise answers `BrokenPromise`.
pub async fn dropped_reply_promise_is_a_broken_promise<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let r = within(
        &p,
        SOON,
        "try_get_reply",
        c.echo.try_get_reply(&echo(1, EchoMode::Drop), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::BrokenPromise));
    let r = within(
        &p,
        SOON,
        "get_reply",
        c.echo.get_reply(&echo(2, EchoMode::Drop), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::BrokenPromise));
    client_t.shutdown();
}

/// Dropping a request stream breaks the promises of its queued requests,
/// and later requests find no endpoint.
pub async fn dropped_request_stream_breaks_queued_promises<H: Harness>(p: H::P) {
    let server_t = bind_retrying(&H::node(&p, 0), H::listen_addr(&p, 0), H::config()).await;
    let stream = server_t
        .request_stream::<EchoReq>()
        .expect("request stream");
    let ep = stream.endpoint();
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(ep);
    let call = {
        let s = s.clone();
        p.task().spawn("queued", async move {
            s.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT)
                .await
        })
    };
    eventually(&p, SOON, "request queued", || !stream.is_empty()).await;
    drop(stream);
    let r = within(&p, SOON, "queued call", call).await.expect("task");
    assert_eq!(r, Err(RpcError::BrokenPromise));
    let r = within(
        &p,
        SOON,
        "later call",
        s.try_get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::EndpointNotFound));
    client_t.shutdown();
    server_t.shutdown();
}

/// A request to a token nobody registered ends with `EndpointNotFound`,
/// both for random and well-known tokens; the random one is then
/// remembered by the failure monitor and fails fast.
pub async fn unknown_endpoint_is_reported<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let missing = Endpoint::new(server.addr(), Token::random(p.random()));
    let s = client_t.sender::<EchoReq>(missing);
    let r = within(
        &p,
        SOON,
        "call",
        s.get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::EndpointNotFound));
    assert!(client_t.failure_monitor().is_endpoint_failed(&missing));
    let frames_before = client_t.metrics().frames_sent;
    let r = s
        .try_get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT)
        .await;
    assert_eq!(r, Err(RpcError::EndpointNotFound));
    assert_eq!(
        client_t.metrics().frames_sent,
        frames_before,
        "fail-fast call was sent"
    );
    let wk = client_t.sender::<EchoReq>(Endpoint::well_known(server.addr(), 999));
    let r = within(
        &p,
        SOON,
        "call",
        wk.try_get_reply(&echo(3, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::EndpointNotFound));
    assert!(server.transport.metrics().unknown_endpoint_frames >= 2);
    client_t.shutdown();
}

/// A call whose reply never comes ends with `Timeout`, at its deadline; the
/// late reply afterwards is harmless.
pub async fn timeout_ends_a_call_that_gets_no_reply<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let limit = Duration::from_millis(200);
    for reliable in [false, true] {
        let start = p.time().now();
        let req = echo(1, EchoMode::Hold);
        let r = if reliable {
            c.echo.get_reply(&req, limit).await
        } else {
            c.echo.try_get_reply(&req, limit).await
        };
        let took = p.time().now() - start;
        assert_eq!(r, Err(RpcError::Timeout));
        assert!(took >= limit && took < limit * 10, "took {took:?}");
    }
    // Answer the held promises after the clients gave up.
    assert_eq!(server.answer_held(), 2);
    let r = within(
        &p,
        SOON,
        "call",
        c.echo.try_get_reply(&echo(5, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 5);
    assert_eq!(client_t.endpoint_count(), 0, "reply endpoints leaked");
    client_t.shutdown();
}

/// Calls to an address where nothing listens end promptly; once the
/// failure monitor marks it failed they fail fast with `Unreachable`; when
/// a server appears there, the address recovers and calls succeed.
pub async fn failed_address_fails_fast_and_recovers<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let addr = dead_address::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let mut unreachable = false;
    for _ in 0..200 {
        let r = within(
            &p,
            SOON,
            "call to a dead address",
            s.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
        )
        .await;
        match r {
            // Nothing was sent: the connect failed first.
            Err(RpcError::ConnectionFailed) => p.time().sleep(Duration::from_millis(20)).await,
            Err(RpcError::Unreachable) => {
                unreachable = true;
                break;
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert!(unreachable, "the address was never marked failed");
    assert_eq!(client_t.address_state(addr), AddressState::Failed);
    let start = p.time().now();
    assert_eq!(
        s.try_get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT)
            .await,
        Err(RpcError::Unreachable)
    );
    assert_eq!(
        s.get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT).await,
        Err(RpcError::Unreachable)
    );
    assert_eq!(s.send(&echo(2, EchoMode::Echo)), Err(RpcError::Unreachable));
    assert!(
        p.time().now() - start < Duration::from_millis(300),
        "fail fast was slow"
    );
    let server = EchoServer::start(&node0, addr, H::config(), false).await;
    let ct = client_t.clone();
    eventually(&p, SOON, "address recovers", || {
        ct.address_state(addr) == AddressState::Available
    })
    .await;
    let r = within(
        &p,
        SOON,
        "call after recovery",
        s.try_get_reply(&echo(3, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 3);
    drop(server);
    client_t.shutdown();
}

/// Calls to the transport's own address are delivered without a
/// connection, still through the codec.
pub async fn self_calls_are_delivered_locally<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let c = echo_service::Client::new(&server.transport, server.interface);
    let r = within(
        &p,
        SOON,
        "self call",
        c.echo.try_get_reply(&echo(7, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 7);
    let r = within(
        &p,
        SOON,
        "self call",
        c.echo.get_reply(&echo(8, EchoMode::Drop), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::BrokenPromise));
    c.echo.send(&echo(9, EchoMode::Echo)).expect("send");
    let missing = server
        .transport
        .sender::<EchoReq>(Endpoint::new(server.addr(), Token::random(p.random())));
    assert_eq!(
        missing
            .try_get_reply(&echo(10, EchoMode::Echo), CALL_TIMEOUT)
            .await,
        Err(RpcError::EndpointNotFound)
    );
    assert!(
        server.transport.peer_metrics_all().is_empty(),
        "a self call opened a connection"
    );
}

/// Reliable requests issued while the server is down wait in the queue and
/// arrive once it is up (reliable frames survive failed connection attempts).
pub async fn reliable_requests_sent_while_disconnected_arrive_after_reconnect<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let probe = bind_retrying(&node0, H::listen_addr(&p, 0), H::config()).await;
    let addr = probe.listen_addr().expect("bound");
    probe.shutdown();
    drop(probe);
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let calls: Vec<_> = (0..20u64)
        .map(|id| {
            let s = s.clone();
            p.task().spawn("reliable", async move {
                (
                    id,
                    s.get_reply(&echo(id, EchoMode::Echo), Duration::from_secs(20))
                        .await,
                )
            })
        })
        .collect();
    let ct = client_t.clone();
    eventually(&p, SOON, "connection attempts fail", || {
        ct.peer_metrics(addr)
            .is_some_and(|m| m.connect_failures >= 2)
    })
    .await;
    let server = EchoServer::start(&node0, addr, H::config(), false).await;
    for c in calls {
        let (id, r) = within(&p, Duration::from_secs(20), "reliable call", c)
            .await
            .expect("task");
        assert_eq!(r.expect("reply after reconnect").id, id);
    }
    assert_eq!(
        server.received.get(),
        20,
        "each request processed once here"
    );
    client_t.shutdown();
}

/// Two listening transports calling each other at the same moment open a
/// connection each; both sides keep the same one (the one opened by the
/// smaller listen address), so at most one connection is ever replaced, and
/// calls work both ways.
pub async fn simultaneous_connect_keeps_both_directions_working<H: Harness>(p: H::P) {
    let a = EchoServer::start(&H::node(&p, 0), H::listen_addr(&p, 0), H::config(), false).await;
    let b = EchoServer::start(&H::node(&p, 1), H::listen_addr(&p, 1), H::config(), false).await;
    let a_to_b = echo_service::Client::new(&a.transport, b.interface);
    let b_to_a = echo_service::Client::new(&b.transport, a.interface);
    for round in 0..5u64 {
        // Both directions start in the same instant: in round 0 each side
        // opens a connection to the other.
        let calls = (0..20u64).map(|i| {
            let (x, y) = (a_to_b.clone(), b_to_a.clone());
            async move {
                let id = round * 100 + i;
                let req = echo(id, EchoMode::Echo);
                let (r1, r2) = futures::join!(
                    x.echo.get_reply(&req, CALL_TIMEOUT),
                    y.echo.get_reply(&req, CALL_TIMEOUT)
                );
                (id, r1, r2)
            }
        });
        for (id, r1, r2) in within(
            &p,
            Duration::from_secs(20),
            "calls both ways",
            join_all(calls),
        )
        .await
        {
            assert_eq!(r1.expect("a->b").id, id);
            assert_eq!(r2.expect("b->a").id, id);
        }
    }
    let (ab, ba) = (a.transport.clone(), b.transport.clone());
    let (a_addr, b_addr) = (a.addr(), b.addr());
    eventually(&p, SOON, "both sides connected", || {
        ab.is_connected(b_addr) && ba.is_connected(a_addr)
    })
    .await;
    let ma = a.transport.peer_metrics(b_addr).expect("peer b");
    let mb = b.transport.peer_metrics(a_addr).expect("peer a");
    assert!(
        ma.disconnects + mb.disconnects <= 1,
        "the two sides disagreed on which connection to keep: {ma:?} {mb:?}"
    );
}

/// A request stream at its queue limit answers `Overloaded` instead of
/// growing.
pub async fn full_request_stream_answers_overloaded<H: Harness>(p: H::P) {
    let config = TransportConfig {
        request_stream_requests_max: 4,
        ..H::config()
    };
    let (server_t, stream, overloaded, timeouts) =
        flood_a_request_stream::<H>(&p, config, 10, |id| echo(id, EchoMode::Echo)).await;
    assert_eq!((overloaded, timeouts), (6, 4));
    assert_eq!(stream.len(), 4);
    assert_eq!(server_t.metrics().requests_overloaded, 6);
    server_t.shutdown();
}

/// The outgoing queue is bounded: fire-and-forget sends beyond the limit
/// fail with `QueueFull`, while calls wait for room and all complete.
pub async fn back_pressure_bounds_the_outgoing_queue<H: Harness>(p: H::P) {
    let config = TransportConfig {
        peer_queue_frames_max: 8,
        ..H::config()
    };
    let server = server::<H>(&p).await;
    let client_t = bind_retrying(&H::node(&p, 1), H::listen_addr(&p, 1), config).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    // Nothing is connected yet, so these all wait in the queue.
    let sent = (0..20u64)
        .filter(|id| c.echo.send(&echo(*id, EchoMode::Echo)).is_ok())
        .count();
    assert_eq!(sent, 8, "the queue accepted more than its limit");
    assert!(
        client_t
            .peer_metrics(server.addr())
            .expect("peer")
            .unreliable_dropped
            >= 12
    );
    let calls = (100..200u64).map(|id| {
        let c = c.clone();
        async move {
            (
                id,
                c.echo
                    .get_reply(&echo(id, EchoMode::Echo), CALL_TIMEOUT)
                    .await,
            )
        }
    });
    for (id, r) in within(&p, Duration::from_secs(20), "calls", join_all(calls)).await {
        assert_eq!(r.expect("reply").id, id);
    }
    let received = server.received.clone();
    eventually(&p, SOON, "all delivered", || received.get() == 108).await;
    client_t.shutdown();
}

/// The `service!` macro: one server dispatches several request types, the
/// typed client calls each, and the interface survives serialization.
pub async fn service_macro_dispatches_several_methods<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let bytes = moonpool_core::Codec::to_vec(&moonpool_core::PostcardCodec, &server.interface)
        .expect("encode");
    let iface: echo_service::Interface =
        moonpool_core::Codec::decode(&moonpool_core::PostcardCodec, &bytes).expect("decode");
    assert_eq!(
        iface,
        echo_service::Interface::well_known(server.addr(), super::ECHO_INDEX)
    );
    let c = echo_service::Client::new(&client_t, iface);
    let sum = within(
        &p,
        SOON,
        "add",
        c.add.get_reply(&AddReq { a: 40, b: 2 }, CALL_TIMEOUT),
    )
    .await;
    assert_eq!(sum, Ok(42));
    let r = within(
        &p,
        SOON,
        "echo",
        c.echo.get_reply(&echo(4, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 4);
    // Interleaved load on both methods is served fairly.
    let done = Rc::new(Cell::new(0u32));
    let calls = (0..50u64).map(|i| {
        let (c, done) = (c.clone(), done.clone());
        async move {
            let s = c.add.get_reply(&AddReq { a: i, b: i }, CALL_TIMEOUT).await;
            let e = c
                .echo
                .get_reply(&echo(i, EchoMode::Echo), CALL_TIMEOUT)
                .await;
            assert_eq!(s, Ok(2 * i));
            assert_eq!(e.expect("echo").id, i);
            done.set(done.get() + 1);
        }
    });
    within(&p, SOON, "mixed calls", join_all(calls)).await;
    assert_eq!(done.get(), 50);
    client_t.shutdown();
}

/// A peer that stops answering (no data, no pings) is detected by the ping
/// timeout: the connection is closed and at-most-once calls end with
/// `MaybeDelivered`.
pub async fn dead_peer_is_detected_by_ping_timeout<H: Harness>(p: H::P) {
    let client_t = client::<H>(&p, 1).await;
    let (addr, _listener_task, accepted) = super::raw::silent_listener::<H>(&p).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let start = p.time().now();
    let r = within(
        &p,
        SOON,
        "call to a silent peer",
        s.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::MaybeDelivered));
    let cfg = H::config();
    assert!(
        p.time().now() - start >= Duration::from_millis(cfg.ping_timeout_ms),
        "ended before the ping timeout"
    );
    let m = client_t.peer_metrics(addr).expect("peer");
    assert!(m.ping_timeouts >= 1 && m.pings_sent >= 1, "{m:?}");
    assert!(accepted.get() >= 1);
    client_t.shutdown();
}

/// Keeps `JoinHandle` in scope for the generic task handles above.
#[allow(dead_code)]
fn _uses<P: Providers>(h: <P::Task as TaskProvider>::Handle<()>) {
    h.detach();
}

/// A peer with no connection and nothing to do is forgotten after the idle
/// time, keeping its counters in the transport's totals; calling again
/// recreates it.
pub async fn idle_peers_are_forgotten<H: Harness>(p: H::P) {
    let config = TransportConfig {
        peer_idle_ms: 200,
        probe_window_ms: 50,
        ..H::config()
    };
    let server = server::<H>(&p).await;
    let addr = server.addr();
    let client_t = bind_retrying(&H::node(&p, 1), H::listen_addr(&p, 1), config).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let r = within(
        &p,
        SOON,
        "call",
        c.echo.get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 1);
    let sent = client_t.metrics().frames_sent;
    // While connected, the peer stays however long it is idle.
    p.time().sleep(Duration::from_millis(400)).await;
    assert!(
        client_t.peer_metrics(addr).is_some(),
        "a connected peer was forgotten"
    );
    drop(server);
    let ct = client_t.clone();
    eventually(&p, SOON, "peer forgotten", || {
        ct.peer_metrics(addr).is_none()
    })
    .await;
    assert!(
        client_t.metrics().frames_sent >= sent,
        "forgetting a peer lost its counters"
    );
    assert_eq!(client_t.address_state(addr), AddressState::Available);
    client_t.shutdown();
}

/// A transport runs while any handle on it lives, request streams
/// included: with the `Transport` dropped, its stream still serves; once
/// the stream goes too, the transport shuts down and its address can be
/// bound again.
pub async fn dropping_the_last_handle_shuts_the_transport_down<H: Harness>(p: H::P) {
    let node = H::node(&p, 0);
    let t = bind_retrying(&node, H::listen_addr(&p, 0), H::config()).await;
    let addr = t.listen_addr().expect("bound");
    let stream = t.request_stream::<EchoReq>().expect("request stream");
    drop(t);
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(stream.endpoint());
    let call = p.task().spawn("call", async move {
        s.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT)
            .await
    });
    let req = within(&p, SOON, "request", stream.next())
        .await
        .expect("the stream kept its transport running");
    req.reply.send(EchoRep {
        id: req.request.id,
        body: req.request.body,
        server_incarnation: 0,
    });
    let r = within(&p, SOON, "call", call).await.expect("task");
    assert_eq!(r.expect("reply").id, 1);
    assert!(
        crate::Transport::bind(node.clone(), addr, H::config())
            .await
            .is_err(),
        "the address was free while a stream lived"
    );
    drop(stream);
    let again = within(&p, SOON, "rebind", bind_retrying(&node, addr, H::config())).await;
    assert_eq!(again.listen_addr(), Some(addr));
    client_t.shutdown();
}

/// `get_reply_idempotent` retries with backoff through the errors of a
/// server that is not up yet, and gets the reply once it is.
pub async fn idempotent_retries_ride_out_a_late_server<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let probe = bind_retrying(&node0, H::listen_addr(&p, 0), H::config()).await;
    let addr = probe.listen_addr().expect("bound");
    drop(probe);
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let policy = crate::RetryPolicy {
        attempts_max: 200,
        attempt_timeout_ms: 200,
        delay_ms_initial: 10,
        delay_ms_max: 40,
        ..crate::RetryPolicy::default()
    };
    let call = p.task().spawn("idempotent", async move {
        s.get_reply_idempotent(&echo(1, EchoMode::Echo), &policy)
            .await
    });
    p.time().sleep(Duration::from_millis(150)).await;
    let server = EchoServer::start(&node0, addr, H::config(), false).await;
    let r = within(&p, Duration::from_secs(20), "idempotent call", call)
        .await
        .expect("task");
    assert_eq!(r.expect("reply after retries").id, 1);
    assert!(server.received.get() >= 1);
    let m = client_t.peer_metrics(addr).expect("peer");
    assert!(
        m.connect_failures >= 1,
        "no attempt failed before the server came: {m:?}"
    );
    client_t.shutdown();
}

/// A request the stream cannot decode as its type is answered with
/// `BadRequest` (the reply token is read from the envelope's head), and is
/// not processed.
pub async fn mistyped_request_is_a_bad_request<H: Harness>(p: H::P) {
    let server = server::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    // The echo method's endpoint, called with the add method's type.
    let wrong = client_t.sender::<AddReq>(server.interface.echo);
    let r = within(
        &p,
        SOON,
        "mistyped call",
        wrong.try_get_reply(&AddReq { a: 1, b: 7 }, CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::BadRequest));
    assert_eq!(
        server.received.get(),
        0,
        "an undecodable request was processed"
    );
    client_t.shutdown();
}
