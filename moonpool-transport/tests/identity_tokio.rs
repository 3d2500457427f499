//! Identity on real tokio, where a forced seed (`MOONPOOL_REAL_SEED`,
//! `TokioProviders::with_seed`) gives every process the same random
//! stream: transports must still get distinct incarnations and reply
//! tokens, a late reply meant for an earlier incarnation must never
//! complete a new call, and a token collision is its own error.
//!
//! These cases need two providers with the same seed in one test, which
//! only the tokio backend has (the simulator draws every process's
//! randomness from one seeded generator), so they live here rather than
//! in the scenario suite.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::tokio_providers::{
    TokioNetwork, TokioProviders, TokioStorage, TokioTask, TokioTime, run_with,
};
use moonpool_core::{Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_transport::scenarios::{
    CALL_TIMEOUT, EchoMode, EchoRep, EchoReq, EchoServer, SOON, bind_retrying, echo, echo_service,
    eventually, within,
};
use moonpool_transport::{RpcError, Transport, TransportConfig};

/// The seed every "process" of these tests is forced to.
const FORCED_SEED: u64 = 0x5EED;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[test]
fn transports_started_with_the_same_seed_have_distinct_identities() {
    run_with(TokioProviders::with_seed(1), |_| async {
        let a = TokioProviders::with_seed(FORCED_SEED);
        let b = TokioProviders::with_seed(FORCED_SEED);
        let server = EchoServer::start(&a, loopback(), TransportConfig::fast(), false).await;
        let client_t = Transport::bind(b, loopback(), TransportConfig::fast())
            .await
            .expect("bind");
        assert_ne!(server.transport.incarnation(), client_t.incarnation());
        let c = echo_service::Client::new(&client_t, server.interface);
        let r = c
            .echo
            .try_get_reply(&echo(1, EchoMode::Echo), CALL_TIMEOUT)
            .await;
        assert_eq!(r.expect("the two transports talk").id, 1);
        client_t.shutdown();
    })
    .expect("runtime");
}

#[test]
fn a_late_reply_for_an_earlier_incarnation_never_completes_a_new_call() {
    run_with(TokioProviders::with_seed(1), |p| async move {
        let fast = TransportConfig::fast();
        let server = EchoServer::start(&p, loopback(), fast.clone(), true).await;
        let held = server.held.clone();
        // The first incarnation of a client holds a call, then dies.
        let first_p = TokioProviders::with_seed(FORCED_SEED);
        let first = Transport::bind(first_p, loopback(), fast.clone())
            .await
            .expect("bind");
        let addr = first.listen_addr().expect("bound");
        let c = echo_service::Client::new(&first, server.interface);
        let call = p.task().spawn("first call", async move {
            c.echo.try_get_reply(&echo(1, EchoMode::Echo), SOON).await
        });
        eventually(&p, SOON, "first request held", || held.borrow().len() == 1).await;
        first.shutdown();
        drop(first);
        let r = within(&p, SOON, "first call", call).await.expect("task");
        assert_eq!(r, Err(RpcError::Shutdown));
        // The second incarnation, same address, same forced seed: it draws
        // what the first drew.
        let second_p = TokioProviders::with_seed(FORCED_SEED);
        let second = bind_retrying(&second_p, addr, fast).await;
        let c = echo_service::Client::new(&second, server.interface);
        let call = p.task().spawn("second call", async move {
            c.echo.try_get_reply(&echo(2, EchoMode::Echo), SOON).await
        });
        eventually(&p, SOON, "second request held", || held.borrow().len() == 2).await;
        // The reply meant for the dead incarnation's call goes out first.
        let (request, reply) = held.borrow_mut().remove(0);
        assert_eq!(request.id, 1);
        reply.send(EchoRep {
            id: request.id,
            body: request.body,
            server_incarnation: 0,
        });
        p.time().sleep(Duration::from_millis(200)).await;
        assert_eq!(server.answer_held(), 1);
        let r = within(&p, SOON, "second call", call).await.expect("task");
        assert_eq!(
            r.expect("the second call gets a reply").id,
            2,
            "the reply of the earlier incarnation's call completed a new call"
        );
        second.shutdown();
    })
    .expect("runtime");
}

/// Random draws that never change: every token drawn collides.
#[derive(Clone, Debug)]
struct StuckRandom;

impl RandomProvider for StuckRandom {
    fn next_u64(&self) -> u64 {
        0x0123_4567_89AB_CDEF
    }
}

/// The tokio providers with a stuck random generator.
#[derive(Clone)]
struct StuckProviders {
    inner: TokioProviders,
    random: StuckRandom,
}

impl Providers for StuckProviders {
    type Time = TokioTime;
    type Task = TokioTask;
    type Network = TokioNetwork;
    type Random = StuckRandom;
    type Storage = TokioStorage;

    fn time(&self) -> &TokioTime {
        self.inner.time()
    }
    fn task(&self) -> &TokioTask {
        self.inner.task()
    }
    fn network(&self) -> &TokioNetwork {
        self.inner.network()
    }
    fn random(&self) -> &StuckRandom {
        &self.random
    }
    fn storage(&self) -> &TokioStorage {
        self.inner.storage()
    }
}

#[test]
fn a_token_collision_is_its_own_error() {
    run_with(TokioProviders::with_seed(1), |p| async move {
        let server = EchoServer::start(&p, loopback(), TransportConfig::fast(), true).await;
        let stuck = StuckProviders {
            inner: p.clone(),
            random: StuckRandom,
        };
        let t = Transport::unbound(stuck, TransportConfig::fast());
        let c = echo_service::Client::new(&t, server.interface);
        // Two calls at once draw the same reply token.
        let c1 = c.clone();
        let first = p.task().spawn("first", async move {
            c1.echo.try_get_reply(&echo(1, EchoMode::Echo), SOON).await
        });
        let held = server.held.clone();
        eventually(&p, SOON, "first request held", || held.borrow().len() == 1).await;
        let second = c
            .echo
            .try_get_reply(&echo(2, EchoMode::Echo), CALL_TIMEOUT)
            .await;
        assert_eq!(second, Err(RpcError::TokenCollision));
        server.answer_held();
        let r = within(&p, SOON, "first call", first).await.expect("task");
        assert_eq!(r.expect("the first call is unharmed").id, 1);
        // Two request streams on a stuck generator collide too.
        let _stream = t.request_stream::<EchoReq>().expect("first stream");
        assert!(matches!(
            t.request_stream::<EchoReq>(),
            Err(moonpool_transport::TransportError::TokenCollision(_))
        ));
        t.shutdown();
    })
    .expect("runtime");
}
