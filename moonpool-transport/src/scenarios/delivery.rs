//! Scenarios on the server side of delivery: replies are never dropped for
//! a queue limit, a request stream serves several consumers, a server keeps
//! its transport alive, an oversize reply is reported as such.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{JoinHandle, Providers, TaskProvider, TimeProvider};

use super::Harness;
use super::support::*;
use crate::{RpcError, TransportConfig};

/// A server whose per-peer queue holds 2 frames answers 10 held requests
/// from one client all at once: every call gets its reply (replies have
/// their own admission and are never dropped for a queue limit).
pub async fn replies_are_not_dropped_for_a_full_queue<H: Harness>(p: H::P) {
    let config = TransportConfig {
        peer_queue_frames_max: 2,
        ..H::config()
    };
    let server = EchoServer::start(&H::node(&p, 0), H::listen_addr(&p, 0), config, true).await;
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let calls: Vec<_> = (0..10u64)
        .map(|id| {
            let c = c.clone();
            p.task().spawn("held call", async move {
                let r = c
                    .echo
                    .try_get_reply(&echo(id, EchoMode::Echo), Duration::from_secs(3))
                    .await;
                (id, r)
            })
        })
        .collect();
    let held = server.held.clone();
    eventually(&p, SOON, "ten requests held", || held.borrow().len() == 10).await;
    assert_eq!(server.answer_held(), 10);
    for call in calls {
        let (id, r) = within(&p, SOON, "held call", call).await.expect("task");
        assert_eq!(r.expect("every reply arrives").id, id);
    }
    client_t.shutdown();
}

/// Two tasks take requests from one request stream: each request wakes a
/// waiting consumer, so both serve at once (no wakeup is lost when a
/// second reader registers).
pub async fn several_consumers_share_a_request_stream<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let server_t = bind_retrying(&node0, H::listen_addr(&p, 0), H::config()).await;
    let stream = Rc::new(
        server_t
            .request_stream::<EchoReq>()
            .expect("request stream"),
    );
    let endpoint = stream.endpoint();
    let active = Rc::new(Cell::new(0u32));
    let peak = Rc::new(Cell::new(0u32));
    let served_by = Rc::new(RefCell::new(Vec::new()));
    let consumers: Vec<_> = (0..2usize)
        .map(|k| {
            let (stream, active, peak, served_by) = (
                stream.clone(),
                active.clone(),
                peak.clone(),
                served_by.clone(),
            );
            let n = node0.clone();
            node0.task().spawn("consumer", async move {
                while let Some(req) = stream.next().await {
                    served_by.borrow_mut().push(k);
                    active.set(active.get() + 1);
                    peak.set(peak.get().max(active.get()));
                    // Hold the request until both consumers hold one (bounded).
                    let both = async {
                        while active.get() < 2 {
                            n.time().sleep(Duration::from_millis(5)).await;
                        }
                    };
                    let _ = n.time().timeout(Duration::from_secs(2), both).await;
                    req.reply.send(EchoRep {
                        id: req.request.id,
                        body: req.request.body,
                        server_incarnation: 0,
                    });
                    active.set(active.get() - 1);
                }
            })
        })
        .collect();
    // Both consumers are waiting before the first request arrives.
    p.time().sleep(Duration::from_millis(50)).await;
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(endpoint);
    let calls = (0..2u64).map(|id| {
        let s = s.clone();
        async move {
            s.try_get_reply(&echo(id, EchoMode::Echo), CALL_TIMEOUT)
                .await
        }
    });
    let results = within(&p, SOON, "calls", futures::future::join_all(calls)).await;
    for (id, r) in results.into_iter().enumerate() {
        assert_eq!(r.expect("reply").id, id as u64);
    }
    assert_eq!(
        peak.get(),
        2,
        "the second consumer was never woken: served by {:?}",
        served_by.borrow()
    );
    let mut who = served_by.borrow().clone();
    who.sort_unstable();
    assert_eq!(who, vec![0, 1]);
    for c in consumers {
        c.abort();
    }
    client_t.shutdown();
    server_t.shutdown();
}

/// A server built on a transport whose handle is dropped at once
/// (`Server::well_known(&bind(..).await?, ..)`) keeps serving: a live
/// request stream keeps its transport alive.
pub async fn a_live_server_keeps_its_transport_alive<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let server = echo_service::Server::well_known(
        &bind_retrying(&node0, H::listen_addr(&p, 0), H::config()).await,
        ECHO_INDEX,
    )
    .expect("register");
    let interface = server.interface();
    let serving = node0.task().spawn("server", async move {
        while let Some(req) = server.next().await {
            answer(req);
        }
    });
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, interface);
    let r = within(
        &p,
        SOON,
        "call",
        c.echo.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("the server is alive").id, 1);
    serving.abort();
    client_t.shutdown();
}

/// A reply larger than the server's frame limit is reported as such: the
/// request was processed, the promise was not broken.
pub async fn an_oversize_reply_is_reported_as_such<H: Harness>(p: H::P) {
    let config = TransportConfig {
        frame_bytes_max: 16 * 1024,
        ..H::config()
    };
    let server = EchoServer::start(&H::node(&p, 0), H::listen_addr(&p, 0), config, false).await;
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let r = within(
        &p,
        SOON,
        "call",
        c.echo
            .try_get_reply(&echo(1, EchoMode::Large), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::ReplyTooLarge));
    assert!(!RpcError::ReplyTooLarge.certainly_not_processed());
    assert_eq!(server.received.get(), 1);
    client_t.shutdown();
}

/// `Server::serve` runs a handler per request with at most
/// `concurrency_max` at once: 10 slow requests, a bound of 3.
pub async fn serve_bounds_the_handlers_in_flight<H: Harness>(p: H::P) {
    let node0 = H::node(&p, 0);
    let server_t = bind_retrying(&node0, H::listen_addr(&p, 0), H::config()).await;
    let server = echo_service::Server::new(&server_t).expect("register");
    let interface = server.interface();
    let active = Rc::new(Cell::new(0u32));
    let peak = Rc::new(Cell::new(0u32));
    let (a, pk, n) = (active.clone(), peak.clone(), node0.clone());
    let serving = node0.task().spawn("server", async move {
        server
            .serve(3, |req| {
                let (a, pk, n) = (a.clone(), pk.clone(), n.clone());
                async move {
                    a.set(a.get() + 1);
                    pk.set(pk.get().max(a.get()));
                    n.time().sleep(Duration::from_millis(50)).await;
                    answer(req);
                    a.set(a.get() - 1);
                }
            })
            .await
    });
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, interface);
    let calls = (0..10u64).map(|id| {
        let c = c.clone();
        async move {
            (
                id,
                c.echo
                    .try_get_reply(&echo(id, EchoMode::Echo), CALL_TIMEOUT)
                    .await,
            )
        }
    });
    for (id, r) in within(&p, SOON, "calls", futures::future::join_all(calls)).await {
        assert_eq!(r.expect("reply").id, id);
    }
    assert_eq!(peak.get(), 3, "the bound was not reached or not kept");
    serving.abort();
    client_t.shutdown();
    server_t.shutdown();
}
