//! Keepalive and buffers under simulation: what an idle connection costs
//! (its pings and nothing else), that a connection with traffic in one
//! direction only stays up, and that buffers grow for a large frame and
//! shrink back once the connection idles.
//!
//! Each test is one seed with two processes, `server` (10.0.0.1) and
//! `client` (10.0.0.2), each binding a transport; the workload drives both
//! through their providers. Quiet network, default configuration
//! (`ping_interval_ms` 1 s, `ping_timeout_ms` 2 s).

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{
    FnWorkload, SeedReport, SimContext, SimProviders, SimulationBuilder, WorkloadResult,
};
use moonpool_transport::{PeerMetrics, Transport, TransportConfig};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Echo(Vec<u8>);

moonpool_transport::service! {
    /// Echoes bytes.
    mod echo { echo: Echo => Vec<u8> }
}

const PORT: u16 = 4600;
const SERVER_IP: [u8; 4] = [10, 0, 0, 1];
const CLIENT_IP: [u8; 4] = [10, 0, 0, 2];
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Both ends of one connection, as a test sees them.
struct Ends {
    server_t: Transport<SimProviders>,
    client_t: Transport<SimProviders>,
    client: echo::Client<SimProviders>,
    client_p: SimProviders,
}

impl Ends {
    /// The server's counters about the client, and the client's about the
    /// server.
    fn metrics(&self) -> (PeerMetrics, PeerMetrics) {
        let server_side = self
            .server_t
            .peer_metrics(SocketAddr::from((CLIENT_IP, PORT)))
            .expect("the server knows the client");
        let client_side = self
            .client_t
            .peer_metrics(SocketAddr::from((SERVER_IP, PORT)))
            .expect("the client knows the server");
        (server_side, client_side)
    }
}

/// Binds a server and a client transport, serves echoes, runs `body`.
async fn with_ends<F, Fut>(ctx: SimContext, body: F) -> WorkloadResult
where
    F: FnOnce(Rc<Ends>) -> Fut,
    Fut: Future<Output = WorkloadResult>,
{
    let control = ctx.control();
    let of = |name: &str| {
        control
            .process_by_name(name)
            .and_then(|id| control.providers_of(id))
            .ok_or(format!("no process {name}"))
    };
    let (server_p, client_p) = (of("server")?, of("client")?);
    let server_t = Transport::bind(
        server_p.clone(),
        SocketAddr::from((SERVER_IP, PORT)),
        TransportConfig::default(),
    )
    .await?;
    let client_t = Transport::bind(
        client_p.clone(),
        SocketAddr::from((CLIENT_IP, PORT)),
        TransportConfig::default(),
    )
    .await?;
    let server = echo::Server::new(&server_t)?;
    let client = echo::Client::new(&client_t, server.interface());
    let serving = server_p.spawn("echo", async move {
        while let Some(echo::Request::echo(r)) = server.next().await {
            r.reply.send(r.request.0);
        }
    });
    let ends = Rc::new(Ends {
        server_t,
        client_t,
        client,
        client_p,
    });
    let result = body(Rc::clone(&ends)).await;
    serving.abort();
    result
}

/// Runs seed `seed` of a simulation whose workload is `with_ends(body)`.
fn run<F, Fut>(seed: u64, body: F) -> SeedReport
where
    F: Fn(Rc<Ends>) -> Fut + Clone + 'static,
    Fut: Future<Output = WorkloadResult> + 'static,
{
    let idle = |p: SimProviders| async move {
        std::future::pending::<()>().await;
        drop(p);
    };
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", SERVER_IP, idle)
        .process("client", CLIENT_IP, idle)
        .time_limit(Duration::from_secs(7200))
        .workload("drive", 1, move |_| {
            let body = body.clone();
            FnWorkload::new(move |ctx: SimContext| with_ends(ctx, body.clone()))
        })
        .build()
        .expect("valid simulation");
    let report = sim.run_seed(seed);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    report
}

/// One call, then `idle` of nothing; the pings each end sent meanwhile.
fn idle_for(seed: u64, idle: Duration) -> (SeedReport, (u64, u64)) {
    let pings = Rc::new(RefCell::new((0, 0)));
    let out = Rc::clone(&pings);
    let report = run(seed, move |ends: Rc<Ends>| {
        let out = Rc::clone(&out);
        async move {
            ends.client
                .echo
                .get_reply(&Echo(vec![1]), CALL_TIMEOUT)
                .await?;
            let (before_s, before_c) = ends.metrics();
            ends.client_p.sleep(idle).await;
            let (after_s, after_c) = ends.metrics();
            assert_eq!((after_s.disconnects, after_c.disconnects), (0, 0));
            assert_eq!((after_s.ping_timeouts, after_c.ping_timeouts), (0, 0));
            *out.borrow_mut() = (
                after_s.pings_sent - before_s.pings_sent,
                after_c.pings_sent - before_c.pings_sent,
            );
            Ok(())
        }
    });
    let sent = *pings.borrow();
    (report, sent)
}

#[test]
fn an_idle_connection_costs_its_pings_and_nothing_else() {
    let idle = Duration::from_secs(600);
    let (quiet, _) = idle_for(3, Duration::ZERO);
    let (report, (server_pings, client_pings)) = idle_for(3, idle);
    // One ping per interval (1 s plus a latency), alternately from each end:
    // each answers the other's one interval later.
    let pings = server_pings + client_pings;
    assert!((590..=601).contains(&pings), "{pings} pings in {idle:?}");
    assert!(
        server_pings.abs_diff(client_pings) <= 1,
        "server {server_pings}, client {client_pings}: the ends alternate"
    );
    // Each ping is one timer event, one delivery event and the two polls
    // they cause: nothing else happens on the idle connection.
    let steps = report.events - quiet.events;
    assert!(
        steps <= 4 * pings + 4,
        "{steps} executor steps for {pings} pings"
    );
}

#[test]
fn a_busy_connection_sends_no_pings() {
    run(4, |ends: Rc<Ends>| async move {
        for i in 0..300u32 {
            let body = i.to_le_bytes().to_vec();
            let reply = ends
                .client
                .echo
                .get_reply(&Echo(body.clone()), CALL_TIMEOUT)
                .await?;
            assert_eq!(reply, body);
            ends.client_p.sleep(Duration::from_millis(100)).await;
        }
        let (server_side, client_side) = ends.metrics();
        assert_eq!(
            (server_side.pings_sent, client_side.pings_sent),
            (0, 0),
            "30 s of calls every 100 ms"
        );
        Ok(())
    });
}

#[test]
fn a_connection_with_traffic_one_way_only_stays_up() {
    run(5, |ends: Rc<Ends>| async move {
        // Only the client writes requests, one-way, for a minute: the server
        // receives all the time and writes nothing but its answers to the
        // client's pings, which hears nothing else.
        ends.client
            .echo
            .get_reply(&Echo(vec![0]), CALL_TIMEOUT)
            .await?;
        for i in 0..600u32 {
            ends.client.echo.send(&Echo(i.to_le_bytes().to_vec()))?;
            ends.client_p.sleep(Duration::from_millis(100)).await;
        }
        let (server_side, client_side) = ends.metrics();
        assert_eq!((server_side.disconnects, client_side.disconnects), (0, 0));
        assert_eq!(client_side.ping_timeouts, 0);
        assert!(
            client_side.pings_sent >= 20 && server_side.pings_sent >= 20,
            "the silent direction is kept alive by answered pings: {client_side:?} {server_side:?}"
        );
        Ok(())
    });
}

#[test]
fn buffers_grow_for_a_large_frame_and_are_given_back_when_the_connection_idles() {
    run(6, |ends: Rc<Ends>| async move {
        let held = |e: &Ends| e.server_t.buffer_bytes() + e.client_t.buffer_bytes();
        ends.client
            .echo
            .get_reply(&Echo(vec![7; 16]), CALL_TIMEOUT)
            .await?;
        let small = held(&ends);
        assert!(small <= 8 * 1024, "{small} bytes after a small call");
        let large = vec![9u8; 300 * 1024];
        let reply = ends
            .client
            .echo
            .get_reply(&Echo(large.clone()), CALL_TIMEOUT)
            .await?;
        assert_eq!(reply, large);
        let busy = held(&ends);
        assert!(busy >= 64 * 1024, "{busy} bytes right after a 300 KiB echo");
        // Idle for the idle thresholds: each end pings and releases.
        ends.client_p.sleep(Duration::from_secs(3)).await;
        let idle = held(&ends);
        assert!(
            idle <= 16 * 1024,
            "{idle} bytes held by an idle connection (was {busy})"
        );
        Ok(())
    });
}
