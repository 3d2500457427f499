//! W1, W2, W4: request/response over simulated TCP, as in
//! `peer-bench/` (turmoil, madsim).
//!
//! A server process listens on port 9000 and runs one echo task per
//! accepted connection, echoing fixed 64-byte frames (`read_exact`,
//! `write_all`, `flush`; no length prefix). Clients fill each request from
//! (client id, index) and check the echo is byte-identical. The network is
//! the quiet default (50–100 µs one-way, no faults).
//!
//! - W1: one client, 100,000 sequential round trips, seed 42.
//! - W2: 50 client processes, 2,000 round trips each, concurrently; client
//!   `i` waits `i × 10 ms` before connecting. Seed 42.
//! - W4: seeds 1..=1000, each a fresh world of 2 processes doing 10 round
//!   trips. Throughput is seeds per wall second.
//! - W4-jobs: W4's seeds on every core through `SweepRunner`; `speedup=`
//!   is its seeds per second over W4's, both measured in the same run.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moonpool_core::{Listener, NetworkProvider, TaskProvider, TimeProvider};
use moonpool_sim::runner::sweep::available_jobs;
use moonpool_sim::{
    ConfigError, SimContext, SimProviders, Simulation, SimulationBuilder, SweepPlan, SweepRunner,
    Workload, WorkloadResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BenchResult;

/// Bytes per request and per response.
pub const PAYLOAD: usize = 64;
/// The echo server's port.
pub const PORT: u16 = 9000;
/// The peer benchmarks' seed (W1, W2).
pub const SEED: u64 = 42;
/// W1 round trips.
pub const W1_ROUND_TRIPS: u64 = 100_000;
/// W2 clients.
pub const W2_CLIENTS: usize = 50;
/// W2 round trips per client.
pub const W2_ROUND_TRIPS: u64 = 2_000;
/// W2: client `i` waits `i` times this before connecting.
pub const W2_CONNECT_STAGGER: Duration = Duration::from_millis(10);
/// W4 seeds (1..=W4_SEEDS).
pub const W4_SEEDS: u64 = 1_000;
/// W4 round trips per seed.
pub const W4_ROUND_TRIPS: u64 = 10;

const SERVER_IP: [u8; 4] = [10, 0, 0, 1];

/// Request `i` of `client`, as in the peer benchmarks.
pub fn fill_payload(buf: &mut [u8; PAYLOAD], client: u64, i: u64) {
    buf[..8].copy_from_slice(&i.to_le_bytes());
    buf[8..16].copy_from_slice(&client.to_le_bytes());
    for (k, b) in buf[16..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(k as u8);
    }
}

/// The echo server: listens on port [`PORT`] of its process's IP, accepts
/// forever, one echo task per connection.
pub(crate) async fn echo_server(p: SimProviders) -> io::Result<()> {
    let listener = p.bind(SocketAddr::new(p.ip(), PORT)).await?;
    loop {
        let (mut s, _) = listener.accept().await?;
        p.spawn("echo", async move {
            let mut buf = [0u8; PAYLOAD];
            loop {
                if s.read_exact(&mut buf).await.is_err() {
                    break;
                }
                if s.write_all(&buf).await.is_err() {
                    break;
                }
                let _ = s.flush().await;
            }
        })
        .detach();
    }
}

/// A client doing `round_trips` sequential round trips.
struct Client {
    round_trips: u64,
    stagger: Duration,
}

impl Workload for Client {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let client = ctx.client_id() as u64;
        if client > 0 {
            p.sleep(self.stagger * client as u32).await;
        }
        round_trips(
            p,
            SocketAddr::from((SERVER_IP, PORT)),
            client,
            self.round_trips,
        )
        .await
    }
}

/// Connects to the echo server at `server` (retrying every millisecond
/// until it listens) and makes `count` sequential round trips as client
/// `client`, checking each echo.
pub(crate) async fn round_trips(
    p: &SimProviders,
    server: SocketAddr,
    client: u64,
    count: u64,
) -> WorkloadResult {
    let mut s = loop {
        match p.connect(server).await {
            Ok(s) => break s,
            Err(_) => p.sleep(Duration::from_millis(1)).await,
        }
    };
    let mut req = [0u8; PAYLOAD];
    let mut resp = [0u8; PAYLOAD];
    for i in 0..count {
        fill_payload(&mut req, client, i);
        s.write_all(&req).await?;
        s.flush().await?;
        s.read_exact(&mut resp).await?;
        if req != resp {
            return Err(format!("echo mismatch at round trip {i} of client {client}").into());
        }
    }
    Ok(())
}

/// The simulation of `clients` clients doing `round_trips` each.
pub fn simulation(clients: usize, round_trips: u64) -> Simulation {
    SimulationBuilder::new()
        .chaos(false)
        .process("server", SERVER_IP, echo_server)
        .workload("client", clients, move |_| Client {
            round_trips,
            stagger: W2_CONNECT_STAGGER,
        })
        .build()
        .expect("valid simulation")
}

fn one_seed(workload: &'static str, clients: usize, round_trips: u64) -> BenchResult {
    let start = Instant::now();
    let report = simulation(clients, round_trips).run_seed(SEED);
    let wall = start.elapsed();
    assert!(
        report.outcome.is_pass(),
        "{workload} failed: {:?}",
        report.outcome
    );
    BenchResult {
        workload,
        wall,
        sim: report.sim_time,
        ops: clients as u64 * round_trips,
        extra: format!(
            "clients={clients} events={} fingerprint={:#018x}",
            report.events, report.fingerprint
        ),
    }
}

/// W1: 100,000 sequential round trips on one connection.
pub fn w1() -> BenchResult {
    one_seed("W1", 1, W1_ROUND_TRIPS)
}

/// W2: 50 concurrent clients × 2,000 round trips.
pub fn w2() -> BenchResult {
    one_seed("W2", W2_CLIENTS, W2_ROUND_TRIPS)
}

/// W4: 1,000 seeds of 10 round trips each.
pub fn w4() -> BenchResult {
    let start = Instant::now();
    let sim = simulation(1, W4_ROUND_TRIPS);
    let mut sim_total = Duration::ZERO;
    let mut events = 0;
    for seed in 1..=W4_SEEDS {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "W4 seed {seed} failed: {:?}",
            report.outcome
        );
        sim_total += report.sim_time;
        events += report.events;
    }
    BenchResult {
        workload: "W4",
        wall: start.elapsed(),
        sim: sim_total,
        ops: W4_SEEDS,
        extra: format!("round_trips_per_seed={W4_ROUND_TRIPS} events={events} mode=in-process"),
    }
}

/// W4-jobs: W4's seeds swept on every core (`SweepRunner`, one simulation
/// per job thread; `MOONPOOL_JOBS` sets another job count). The line
/// carries `speedup=`: this run's seeds per second over W4's, measured
/// just before in the same process.
pub fn w4_jobs() -> BenchResult {
    let jobs = match std::env::var("MOONPOOL_JOBS") {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(jobs) if jobs > 0 => jobs,
            _ => panic!("W4-jobs: MOONPOOL_JOBS={text:?} is not a positive count"),
        },
        Err(_) => available_jobs(),
    };
    w4_jobs_with(jobs)
}

/// Rounds of W4 and W4-jobs a W4-jobs line measures (alternating); each
/// side keeps its fastest round, so a stray pause of the machine does not
/// decide the ratio.
pub const W4_JOBS_ROUNDS: u32 = 20;

/// W4-jobs on `jobs` threads.
pub fn w4_jobs_with(jobs: usize) -> BenchResult {
    let mut w4_best = Duration::MAX;
    let mut best = Duration::MAX;
    let mut report = None;
    for _ in 0..W4_JOBS_ROUNDS {
        w4_best = w4_best.min(w4().wall);
        let start = Instant::now();
        let runner =
            SweepRunner::new(|| Ok::<_, ConfigError>(simulation(1, W4_ROUND_TRIPS))).jobs(jobs);
        let sweep = match runner.sweep(&SweepPlan::range(1, W4_SEEDS)) {
            Ok(sweep) => sweep,
            Err(e) => panic!("W4-jobs: {e}"),
        };
        best = best.min(start.elapsed());
        assert!(
            sweep.all_passed(),
            "W4-jobs: {} seed(s) failed",
            sweep.failed
        );
        assert_eq!(sweep.seeds_run, W4_SEEDS);
        report = Some(sweep);
    }
    let (sim, events) = report.map_or((Duration::ZERO, 0), |r| (r.sim_time, r.events));
    let speedup = w4_best.as_secs_f64() / best.as_secs_f64().max(f64::MIN_POSITIVE);
    BenchResult {
        workload: "W4-jobs",
        wall: best,
        sim,
        ops: W4_SEEDS,
        extra: format!(
            "jobs={jobs} speedup={speedup:.2} w4_wall_ms={:.1} rounds={W4_JOBS_ROUNDS} round_trips_per_seed={W4_ROUND_TRIPS} events={events}",
            w4_best.as_secs_f64() * 1000.0,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w4_jobs_runs_every_seed_of_w4_on_several_jobs() {
        let line = w4_jobs_with(2).line();
        assert!(
            line.contains("workload=W4-jobs") && line.contains(" ops=1000 "),
            "{line}"
        );
        assert!(line.contains(" jobs=2 speedup="), "{line}");
    }

    #[test]
    fn small_runs_pass_and_replay() {
        let sim = simulation(3, 20);
        let a = sim.run_seed(7);
        let b = sim.run_seed(7);
        assert!(a.outcome.is_pass(), "{:?}", a.outcome);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert!(
            a.counters.keys().all(|k| !k.starts_with("net.")),
            "{:?}",
            a.counters
        );
    }
}
