//! Scenarios on who a peer is: an announced listen address must be proven
//! (the connecting IP, a live connection that is not given away, the
//! address dialed).

use std::net::SocketAddr;

use moonpool_core::{JoinHandle, Providers, RandomProvider, TaskProvider};

use super::Harness;
use super::raw::{expect_closed, raw_connect, raw_listener};
use super::support::*;
use crate::wire::{HANDSHAKE_LEN, Handshake};
use crate::{Endpoint, RpcError};

/// A client holds a reliable call on the server; a raw connection from
/// node `impostor` then announces the client's listen address with a new
/// incarnation. The server must refuse it: the impostor gets nothing but
/// the server's handshake, the real client's connection is never replaced,
/// and the held call's reply reaches the real client, processed once.
async fn claimed_address_is_refused<H: Harness>(p: &H::P, impostor: usize) {
    let node0 = H::node(p, 0);
    let server = EchoServer::start(&node0, H::listen_addr(p, 0), H::config(), true).await;
    let client_t = client::<H>(p, 1).await;
    let client_addr = client_t.listen_addr().expect("bound");
    let c = echo_service::Client::new(&client_t, server.interface);
    let call = p.task().spawn("held call", async move {
        c.echo
            .get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT)
            .await
    });
    let held = server.held.clone();
    eventually(p, SOON, "request held", || held.borrow().len() == 1).await;
    let node = H::node(p, impostor);
    let hs = Handshake::new(node.random().next_u64(), Some(client_addr)).encode();
    let mut s = raw_connect(&node, server.addr(), &hs).await;
    let got = expect_closed(&node, &mut s, "the impostor's connection closed").await;
    assert!(
        got.len() <= HANDSHAKE_LEN,
        "the impostor received {} bytes of frames",
        got.len() - HANDSHAKE_LEN
    );
    assert_eq!(server.answer_held(), 1);
    let r = within(p, SOON, "held call", call).await.expect("task");
    assert_eq!(r.expect("reply to the real client").id, 1);
    assert_eq!(
        server.received.get(),
        1,
        "the real client's request was processed twice"
    );
    let m = client_t.peer_metrics(server.addr()).expect("peer");
    assert_eq!(
        (m.connections, m.disconnects),
        (1, 0),
        "the real client's connection was replaced"
    );
    assert!(server.transport.metrics().handshakes_rejected >= 1);
    client_t.shutdown();
}

/// A handshake from another process claiming a live client's listen
/// address is refused (in the simulator its IP differs from the one
/// announced; on loopback it is the live connection that proves the claim
/// false).
pub async fn an_impostor_handshake_is_refused<H: Harness>(p: H::P) {
    claimed_address_is_refused::<H>(&p, 2).await;
}

/// A handshake announcing a live client's listen address from that
/// client's own IP, with another incarnation (as a delayed connection of
/// an older incarnation would), does not replace the live connection.
pub async fn an_older_incarnation_does_not_replace_a_live_connection<H: Harness>(p: H::P) {
    claimed_address_is_refused::<H>(&p, 1).await;
}

/// The dialing side checks that the peer answering is the address it
/// dialed: a listener announcing another address is refused before any
/// request is written to it, and the call ends with an error that says it
/// was certainly not processed.
pub async fn a_peer_answering_as_another_address_is_refused<H: Harness>(p: H::P) {
    let (addr, task, _, read) = raw_listener::<H>(
        &p,
        |a| SocketAddr::new(a.ip(), a.port().wrapping_add(1).max(1)),
        true,
    )
    .await;
    let client_t = client::<H>(&p, 1).await;
    let s = client_t.sender::<EchoReq>(Endpoint::well_known(addr, ECHO_INDEX));
    let r = within(
        &p,
        SOON,
        "call to a liar",
        s.try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(
        r,
        Err(RpcError::ConnectionFailed),
        "the request may have reached a peer that is not the one dialed"
    );
    assert_eq!(read.get(), 0, "a frame was written to the wrong peer");
    let m = client_t.peer_metrics(addr).expect("peer");
    assert!(m.connect_failures >= 1 && m.connections == 0, "{m:?}");
    assert!(client_t.metrics().identities_refused >= 1);
    task.abort();
    client_t.shutdown();
}
