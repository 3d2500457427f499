//! Ecosystem code in simulation: a hyper HTTP/1 server and client, unchanged,
//! exchange requests over simulated TCP streams — on a quiet network and on
//! one that splits every read and write.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use moonpool_core::{Listener, NetworkProvider, Ratio, TaskProvider, TimeProvider};
use moonpool_sim::{
    NetworkConfig, NetworkFaults, SeedReport, SimContext, SimProviders, SimulationBuilder,
    Workload, WorkloadResult,
};

const SERVER_IP: [u8; 4] = [10, 0, 0, 80];
const REQUESTS: usize = 20;

/// Answers `POST /echo/N` with the body reversed and `x-request: N`.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let n = path.trim_start_matches("/echo/").to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let mut reversed = body.to_vec();
    reversed.reverse();
    let response = Response::builder()
        .status(if path.starts_with("/echo/") {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        })
        .header("x-request", n)
        .body(Full::new(Bytes::from(reversed)));
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

async fn http_server(p: SimProviders) -> std::io::Result<()> {
    let listener = p.bind(SocketAddr::from((SERVER_IP, 80))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        p.spawn("http-conn", async move {
            let service = hyper::service::service_fn(handle);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                panic!("server connection failed: {e}");
            }
        })
        .detach();
    }
}

struct HttpClient;

impl Workload for HttpClient {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        p.sleep(Duration::from_millis(1)).await;
        let stream = p.connect(SocketAddr::from((SERVER_IP, 80))).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        let driver = p.spawn("http-client-conn", conn);
        for i in 0..REQUESTS {
            // Bodies large enough to need several reads and writes.
            let body: Vec<u8> = (0..(100 + i * 997)).map(|k| (k % 253) as u8).collect();
            let req = Request::post(format!("/echo/{i}"))
                .header("host", "server")
                .body(Full::new(Bytes::from(body.clone())))?;
            let resp = sender.send_request(req).await?;
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(
                resp.headers().get("x-request").map(|v| v.as_bytes()),
                Some(i.to_string().as_bytes())
            );
            let got = resp.into_body().collect().await?.to_bytes();
            let mut want = body;
            want.reverse();
            assert_eq!(got.as_ref(), want.as_slice(), "body of request {i}");
        }
        drop(sender);
        driver.await??;
        Ok(())
    }
}

fn run(config: NetworkConfig, seed: u64) -> SeedReport {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .network(config)
        .process("http", SERVER_IP, http_server)
        .workload("client", 1, |_| HttpClient)
        .build()
        .expect("valid");
    let a = sim.run_seed(seed);
    assert!(a.outcome.is_pass(), "{:?}", a.outcome);
    let b = sim.check_determinism(seed);
    assert!(b.outcome.is_pass(), "{:?}", b.outcome);
    assert_eq!(a.fingerprint, b.fingerprint);
    a
}

#[test]
fn hyper_client_and_server_exchange_requests_over_simulated_streams() {
    let r = run(NetworkConfig::default(), 1);
    assert!(r.sim_time > Duration::ZERO);
}

#[test]
fn hyper_copes_with_short_reads_and_short_writes() {
    let config = NetworkConfig {
        faults: NetworkFaults {
            short_read: Ratio::new(1, 2),
            short_write: Ratio::new(1, 2),
            ..NetworkFaults::NONE
        },
        ..NetworkConfig::default()
    };
    for seed in 1..=5 {
        let r = run(config.clone(), seed);
        let splits = r.counters.get("net.short_read").copied().unwrap_or(0)
            + r.counters.get("net.short_write").copied().unwrap_or(0);
        assert!(splits > 10, "seed {seed}: only {splits} short reads/writes");
    }
}
