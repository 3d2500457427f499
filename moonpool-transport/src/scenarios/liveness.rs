//! Scenarios on the failure monitor and the errors of unreachable peers:
//! "failed" means connection attempts keep failing, never mere idleness;
//! a call that was never written says so.

use std::time::Duration;

use moonpool_core::{JoinHandle, Providers, TaskProvider, TimeProvider};

use super::Harness;
use super::support::*;
use crate::{AddressState, Endpoint, RpcError};

/// An address whose connection dropped while nothing was queued, and that
/// nobody tried to reach since, is not failed: once its server is back,
/// even long after `failed_after_ms`, the next call succeeds.
pub async fn a_quiet_disconnect_is_not_a_failure<H: Harness>(p: H::P) {
    let cfg = H::config();
    let server = server::<H>(&p).await;
    let addr = server.addr();
    let client_t = client::<H>(&p, 1).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let r = within(
        &p,
        SOON,
        "first call",
        c.echo.get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 1);
    // Idle past the probe window: nothing wants a connection any more.
    p.time()
        .sleep(Duration::from_millis(cfg.probe_window_ms + 100))
        .await;
    assert!(client_t.is_connected(addr));
    server.crash();
    let ct = client_t.clone();
    eventually(&p, SOON, "disconnection noticed", || !ct.is_connected(addr)).await;
    let _again = EchoServer::start(&H::node(&p, 0), addr, H::config(), false).await;
    p.time()
        .sleep(Duration::from_millis(cfg.failed_after_ms + 100))
        .await;
    assert_eq!(
        client_t.address_state(addr),
        AddressState::Available,
        "an address nobody tried to reach was judged failed"
    );
    let r = within(
        &p,
        SOON,
        "call after a quiet disconnect",
        c.echo.try_get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply after a quiet disconnect").id, 2);
    client_t.shutdown();
}

/// A call to an address where nothing listens, whose connection attempt
/// failed before the request was written, ends with an error that says it
/// was certainly not processed (not `MaybeDelivered`).
pub async fn a_call_whose_connect_failed_is_certainly_not_processed<H: Harness>(p: H::P) {
    let addr = dead_address::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let r = within(
        &p,
        SOON,
        "call to a dead address",
        s.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(
        r,
        Err(RpcError::ConnectionFailed),
        "nothing was sent, yet the error does not say so"
    );
    assert!(RpcError::ConnectionFailed.certainly_not_processed());
    let m = client_t.peer_metrics(addr).expect("peer");
    assert!(m.connect_failures >= 1 && m.frames_sent == 0, "{m:?}");
    client_t.shutdown();
}

/// `Transport::on_failed(addr)` waits while nobody tries to reach the
/// address, and resolves once attempts have kept failing for
/// `failed_after_ms`.
pub async fn on_failed_resolves_once_attempts_keep_failing<H: Harness>(p: H::P) {
    let cfg = H::config();
    let failed_after = Duration::from_millis(cfg.failed_after_ms);
    let addr = dead_address::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let idle = p
        .time()
        .timeout(failed_after * 2, client_t.on_failed(addr))
        .await;
    assert!(
        idle.is_err(),
        "an address nobody tries to reach was judged failed"
    );
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let start = p.time().now();
    let call = p.task().spawn("reliable call", async move {
        s.get_reply(&echo(1, EchoMode::Echo), Duration::from_secs(30))
            .await
    });
    within(&p, SOON, "on_failed", client_t.on_failed(addr)).await;
    assert!(p.time().now() - start >= failed_after);
    assert_eq!(client_t.address_state(addr), AddressState::Failed);
    assert!(!call.is_finished(), "a plain get_reply keeps waiting");
    call.abort();
    client_t.shutdown();
}

/// `get_reply_unless_failed` ends as soon as the address is judged failed:
/// `Unreachable` when the request was never written, `MaybeDelivered` when
/// it was (the server held it, then died).
pub async fn get_reply_unless_failed_ends_when_the_address_fails<H: Harness>(p: H::P) {
    let cfg = H::config();
    let failed_after = Duration::from_millis(cfg.failed_after_ms);
    let addr = dead_address::<H>(&p).await;
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, super::ECHO_INDEX));
    let start = p.time().now();
    let r = within(
        &p,
        SOON,
        "call to a dead address",
        s.get_reply_unless_failed(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    let took = p.time().now() - start;
    assert_eq!(
        r,
        Err(RpcError::Unreachable),
        "never sent: certainly not processed"
    );
    assert!(took >= failed_after && took < CALL_TIMEOUT, "took {took:?}");
    // A server that takes the request, holds it, and dies.
    let server = EchoServer::start(&H::node(&p, 0), addr, H::config(), true).await;
    let ct = client_t.clone();
    eventually(&p, SOON, "address recovers", || {
        ct.address_state(addr) == AddressState::Available
    })
    .await;
    let held = server.held.clone();
    let call = p.task().spawn("held call", async move {
        s.get_reply_unless_failed(&echo(2, EchoMode::Echo), CALL_TIMEOUT)
            .await
    });
    eventually(&p, SOON, "request held", || held.borrow().len() == 1).await;
    server.crash();
    let r = within(&p, SOON, "held call", call).await.expect("task");
    assert_eq!(r, Err(RpcError::MaybeDelivered), "sent: maybe processed");
    client_t.shutdown();
}
