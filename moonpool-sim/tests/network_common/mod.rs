//! Helpers shared by the network tests.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use moonpool_core::{Listener, NetworkProvider, TaskProvider, TimeProvider};
use moonpool_sim::{
    NetworkConfig, SeedReport, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The echo server's address.
pub const SERVER_IP: [u8; 4] = [10, 0, 0, 1];
/// The echo server's port.
pub const PORT: u16 = 7000;

pub fn server_addr() -> SocketAddr {
    SocketAddr::from((SERVER_IP, PORT))
}

pub fn server_ip() -> IpAddr {
    IpAddr::from(SERVER_IP)
}

/// Echoes whatever arrives, one task per connection, until the peer closes.
pub async fn echo_server(p: SimProviders) -> io::Result<()> {
    let listener = loop {
        // Retry: some tests make binds fail.
        match p.bind(server_addr()).await {
            Ok(l) => break l,
            Err(_) => p.sleep(Duration::from_millis(10)).await,
        }
    };
    loop {
        let (mut s, _) = listener.accept().await?;
        p.spawn("echo", async move {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        })
        .detach();
    }
}

/// A workload whose `run` is a function of the context.
pub struct Run<F>(pub F);

impl<F, Fut> Workload for Run<F>
where
    F: Fn(SimContext) -> Fut + 'static,
    Fut: Future<Output = WorkloadResult>,
{
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        (self.0)(ctx.clone()).await
    }
}

/// An echo server at 10.0.0.1 and one client running `case`.
pub fn echo_sim<F, Fut>(config: NetworkConfig, case: F) -> Simulation
where
    F: Fn(SimContext) -> Fut + Clone + 'static,
    Fut: Future<Output = WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .chaos(false)
        .network(config)
        .process("server", SERVER_IP, echo_server)
        .workload("client", 1, move |_| Run(case.clone()))
        .build()
        .expect("valid simulation")
}

/// Runs `seed`, checks it passed, replays it and checks the replay made the
/// same decisions and counted the same faults.
pub fn run_and_replay(sim: &Simulation, seed: u64) -> SeedReport {
    let a = sim.run_seed(seed);
    assert!(a.outcome.is_pass(), "seed {seed}: {:?}", a.outcome);
    let b = sim.check_determinism(seed);
    assert!(
        b.outcome.is_pass(),
        "replay of seed {seed}: {:?}",
        b.outcome
    );
    assert_eq!(
        a.fingerprint, b.fingerprint,
        "fingerprint differs on replay"
    );
    assert_eq!(a.counters, b.counters, "fault counts differ on replay");
    assert_eq!(a.sim_time, b.sim_time);
    a
}

/// The count of `kind` in a report.
pub fn count(report: &SeedReport, kind: &str) -> u64 {
    report.counters.get(kind).copied().unwrap_or(0)
}

/// Connects to the echo server, retrying refusals.
pub async fn connect(p: &SimProviders) -> io::Result<moonpool_sim::SimTcpStream> {
    for _ in 0..100 {
        match p.connect(server_addr()).await {
            Ok(s) => return Ok(s),
            Err(_) => p.sleep(Duration::from_millis(10)).await,
        }
    }
    Err(io::Error::other("could not connect"))
}

/// Writes `data` and reads back as many bytes (through the echo server).
pub async fn echo(s: &mut moonpool_sim::SimTcpStream, data: &[u8]) -> io::Result<Vec<u8>> {
    s.write_all(data).await?;
    s.flush().await?;
    let mut back = vec![0u8; data.len()];
    s.read_exact(&mut back).await?;
    Ok(back)
}

/// Fails unless `f` completes within `d`.
pub async fn within<T>(
    p: &SimProviders,
    d: Duration,
    f: impl Future<Output = T>,
) -> Result<T, String> {
    p.timeout(d, f)
        .await
        .map_err(|_| format!("did not complete within {d:?}"))
}

/// Quiet network with the given faults.
pub fn with_faults(f: impl FnOnce(&mut moonpool_sim::NetworkFaults)) -> NetworkConfig {
    let mut c = NetworkConfig::default();
    f(&mut c.faults);
    c
}
