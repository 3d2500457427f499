//! Scenarios on limits by bytes and by connections: a request stream's
//! bytes, a peer's outstanding reliable bytes, the established
//! connections of a transport.

use std::time::Duration;

use futures::future::join_all;
use moonpool_core::{Providers, TimeProvider};

use super::Harness;
use super::support::*;
use crate::{RpcError, TransportConfig};

/// An echo request with a body of `len` bytes.
fn sized(id: u64, mode: EchoMode, len: usize) -> EchoReq {
    EchoReq {
        id,
        mode,
        body: vec![id as u8; len],
    }
}

/// A request stream holds at most `request_stream_bytes_max` bytes of
/// requests: with 1000 bytes and requests of about 320, three wait and the
/// rest are answered `Overloaded`.
pub async fn a_request_stream_is_bounded_by_bytes<H: Harness>(p: H::P) {
    let config = TransportConfig {
        request_stream_bytes_max: 1000,
        ..H::config()
    };
    let (server_t, stream, overloaded, timeouts) =
        flood_a_request_stream::<H>(&p, config, 10, |id| sized(id, EchoMode::Echo, 300)).await;
    assert_eq!((overloaded, timeouts), (7, 3));
    assert_eq!(stream.len(), 3);
    assert!(stream.queued_bytes() <= 1000, "{}", stream.queued_bytes());
    assert_eq!(server_t.metrics().requests_overloaded, 7);
    server_t.shutdown();
}

/// A peer keeps at most `peer_reliable_bytes_max` bytes of outstanding
/// reliable requests: further `get_reply` calls wait (and are not sent)
/// until replies release room; then they all complete.
pub async fn outstanding_reliable_requests_are_bounded_by_bytes<H: Harness>(p: H::P) {
    let config = TransportConfig {
        peer_reliable_bytes_max: 2000,
        ..H::config()
    };
    let server = EchoServer::start(&H::node(&p, 0), H::listen_addr(&p, 0), H::config(), true).await;
    let client_t = bind_retrying(&H::node(&p, 1), H::listen_addr(&p, 1), config).await;
    let c = echo_service::Client::new(&client_t, server.interface);
    let calls = (0..10u64).map(|id| {
        let c = c.clone();
        async move {
            let r = c
                .echo
                .get_reply(&sized(id, EchoMode::Echo, 400), CALL_TIMEOUT)
                .await;
            (id, r)
        }
    });
    let held = server.held.clone();
    let answering = async {
        // Four frames of about 450 bytes fit in 2000: the server never
        // holds more than four at once.
        let mut answered = 0;
        while answered < 10 {
            let ready = held.borrow().len();
            assert!(ready <= 4, "{ready} reliable requests outstanding");
            if ready == 4 || ready + answered == 10 {
                p.time().sleep(Duration::from_millis(20)).await;
                assert!(held.borrow().len() <= 4);
                answered += server.answer_held();
            }
            p.time().sleep(Duration::from_millis(5)).await;
        }
    };
    let (results, ()) = within(
        &p,
        Duration::from_secs(20),
        "calls",
        futures::future::join(join_all(calls), answering),
    )
    .await;
    for (id, r) in results {
        assert_eq!(r.expect("reply").id, id);
    }
    assert_eq!(server.received.get(), 10, "a waiting call was sent anyway");
    client_t.shutdown();
}

/// A transport keeps at most `connections_max` connections: a second
/// client is refused (its call ends with `ConnectionFailed`: nothing was
/// sent) while the first keeps working.
pub async fn established_connections_are_capped<H: Harness>(p: H::P) {
    let config = TransportConfig {
        connections_max: 1,
        ..H::config()
    };
    let server = EchoServer::start(&H::node(&p, 0), H::listen_addr(&p, 0), config, false).await;
    let first = client::<H>(&p, 1).await;
    let c1 = echo_service::Client::new(&first, server.interface);
    let r = within(
        &p,
        SOON,
        "first client",
        c1.echo
            .try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 1);
    let second = client::<H>(&p, 2).await;
    let c2 = echo_service::Client::new(&second, server.interface);
    let r = within(
        &p,
        SOON,
        "second client",
        c2.echo
            .try_get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r, Err(RpcError::ConnectionFailed));
    assert!(server.transport.metrics().connections_refused >= 1);
    assert_eq!(server.transport.connection_count(), 1);
    let r = within(
        &p,
        SOON,
        "first client again",
        c1.echo
            .try_get_reply(&echo(3, EchoMode::Echo), CALL_TIMEOUT),
    )
    .await;
    assert_eq!(r.expect("reply").id, 3);
    first.shutdown();
    second.shutdown();
}
