//! `scale-5000` and `idle-conns`: what many processes and many idle
//! connections cost.
//!
//! - `scale-5000`: 5,000 server processes (`server-i` at 10.1.0.0 + i + 1,
//!   each the W1 echo server) and 5,000 workload clients, client `i`
//!   connecting to server `i` and making 10 sequential round trips over
//!   simulated TCP; quiet network, seed 42. The same workload at 100
//!   processes runs in the same invocation, repeated until it has made as
//!   many round trips (50 runs), so both figures cover the same work:
//!   `ns_per_rt` (5,000 processes) and `ns_per_rt_100`. Wall time covers
//!   each whole seed (building the simulation, the run, teardown), as
//!   W1's does. When the cost per round trip does not grow with the number
//!   of processes, the two are close. On a machine shared with other
//!   work, wall time includes waiting for a CPU: `cpu_ns_per_rt` and
//!   `cpu_ns_per_rt_100` are the same figures in the thread's own CPU time
//!   (Linux `/proc/thread-self/schedstat`; absent elsewhere).
//! - `idle-conns`: 100 server processes, each bound to a transport at
//!   `10.2.0.(i+1):4500` serving an echo request stream, each calling its 3
//!   successors (`i+1`, `i+2`, `i+3` mod 100) once: 300 connections. Then
//!   the simulation stays idle for one simulated hour and checks every
//!   connection is still up (none closed, no ping timeout). The same seed
//!   runs once more without the idle hour; the difference in executor
//!   steps (polls + events), divided by the connections, is
//!   `events_per_conn_hour`: what keeping one idle connection costs per
//!   simulated hour.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{
    SimContext, SimProviders, Simulation, SimulationBuilder, Workload, WorkloadResult,
};
use moonpool_transport::bench::BenchEcho;
use moonpool_transport::{Endpoint, Token, Transport, TransportConfig};

use super::BenchResult;
use super::network::{PORT, echo_server, round_trips};

/// Server processes (and clients) of `scale-5000`.
pub const SCALE_PROCESSES: usize = 5_000;
/// Server processes (and clients) of the comparison run.
pub const SCALE_PROCESSES_SMALL: usize = 100;
/// Round trips per client.
pub const SCALE_ROUND_TRIPS: u64 = 10;
/// The seed of every scale run.
pub const SEED: u64 = super::network::SEED;
/// Clients per workload (the runner's limit is 250).
const CLIENTS_PER_WORKLOAD: usize = 250;

/// Processes of `idle-conns`.
pub const IDLE_PROCESSES: usize = 100;
/// Successors each process calls once (and so stays connected to).
pub const IDLE_PEERS: usize = 3;
/// How long the connections stay idle.
pub const IDLE_TIME: Duration = Duration::from_secs(3600);
const IDLE_PORT: u16 = 4500;

/// The IP of `scale-5000` server `i`.
fn scale_server_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(10, 1, 0, 0)) + i as u32 + 1,
    ))
}

/// One scale client: round trips with its own server.
struct ScaleClient {
    server: usize,
}

impl Workload for ScaleClient {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let server = SocketAddr::new(scale_server_ip(self.server), PORT);
        round_trips(
            ctx.providers(),
            server,
            self.server as u64,
            SCALE_ROUND_TRIPS,
        )
        .await
    }
}

/// `processes` echo servers, each with its own client.
pub fn scale_simulation(processes: usize) -> Simulation {
    let mut b = SimulationBuilder::new().chaos(false);
    for i in 0..processes {
        b = b.process(format!("server-{i}"), scale_server_ip(i), echo_server);
    }
    for (w, first) in (0..processes).step_by(CLIENTS_PER_WORKLOAD).enumerate() {
        let count = CLIENTS_PER_WORKLOAD.min(processes - first);
        b = b.workload(format!("client-{w}"), count, move |c| ScaleClient {
            server: first + c,
        });
    }
    b.build().expect("valid simulation")
}

/// The CPU time this thread has used, where the OS tells it (Linux).
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// What [`scale_runs`] measured.
struct ScaleRuns {
    wall: Duration,
    /// The thread's CPU time, if known.
    cpu: Option<Duration>,
    sim: Duration,
    events: u64,
    fingerprint: u64,
}

/// Runs the scale workload at `processes` `runs` times.
fn scale_runs(processes: usize, runs: u64) -> ScaleRuns {
    let (mut wall, mut sim, mut events, mut fingerprint) = (Duration::ZERO, Duration::ZERO, 0, 0);
    let cpu_start = thread_cpu_time();
    for _ in 0..runs {
        let start = Instant::now();
        let report = scale_simulation(processes).run_seed(SEED);
        wall += start.elapsed();
        assert!(
            report.outcome.is_pass(),
            "scale run of {processes} processes failed: {:?}",
            report.outcome
        );
        sim += report.sim_time;
        events += report.events;
        fingerprint = report.fingerprint;
    }
    let cpu = cpu_start.and_then(|start| Some(thread_cpu_time()?.saturating_sub(start)));
    ScaleRuns {
        wall,
        cpu,
        sim,
        events,
        fingerprint,
    }
}

/// `scale-5000`: cost per round trip at 5,000 processes, and at 100.
pub fn scale_5000() -> BenchResult {
    let small_runs = (SCALE_PROCESSES / SCALE_PROCESSES_SMALL) as u64;
    let small = scale_runs(SCALE_PROCESSES_SMALL, small_runs);
    let large = scale_runs(SCALE_PROCESSES, 1);
    let ops = SCALE_PROCESSES as u64 * SCALE_ROUND_TRIPS;
    let small_ops = small_runs * SCALE_PROCESSES_SMALL as u64 * SCALE_ROUND_TRIPS;
    let per_rt = |d: Duration, ops: u64| d.as_nanos() as f64 / ops as f64;
    let mut extra = format!(
        "ns_per_rt={:.0} ns_per_rt_100={:.0}",
        per_rt(large.wall, ops),
        per_rt(small.wall, small_ops)
    );
    if let (Some(cpu), Some(small_cpu)) = (large.cpu, small.cpu) {
        extra += &format!(
            " cpu_ns_per_rt={:.0} cpu_ns_per_rt_100={:.0}",
            per_rt(cpu, ops),
            per_rt(small_cpu, small_ops)
        );
    }
    extra += &format!(
        " events={} fingerprint={:#018x}",
        large.events, large.fingerprint
    );
    BenchResult {
        workload: "scale-5000",
        wall: large.wall,
        sim: large.sim,
        ops,
        extra,
    }
}

/// The address of `idle-conns` process `i`.
fn idle_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 2, 0, i as u8 + 1)), IDLE_PORT)
}

/// What the `idle-conns` processes share with its checking workload.
#[derive(Default)]
struct IdleState {
    /// Processes whose calls all succeeded.
    called: Cell<usize>,
    /// Every process's transport.
    transports: RefCell<Vec<Transport<SimProviders>>>,
}

/// Process `i`: bind, serve echoes, call the successors once each, then
/// hold everything (and do nothing) forever.
async fn idle_process(p: SimProviders, i: usize, state: Rc<IdleState>) -> Result<(), String> {
    let t: Transport<SimProviders> =
        Transport::bind(p.clone(), idle_addr(i), TransportConfig::default())
            .await
            .map_err(|e| e.to_string())?;
    let stream = t
        .well_known_stream::<BenchEcho>(1)
        .map_err(|e| e.to_string())?;
    let serving = p.spawn("echo", async move {
        while let Some(req) = stream.next().await {
            req.reply.send(req.request);
        }
    });
    // Every process binds at time 0; calls start once all listen.
    p.sleep(Duration::from_millis(10)).await;
    for k in 1..=IDLE_PEERS {
        let to = idle_addr((i + k) % IDLE_PROCESSES);
        let sender = t.sender::<BenchEcho>(Endpoint::new(to, Token::well_known(1)));
        let request = BenchEcho::new(i as u64, k as u64);
        let reply = sender
            .get_reply(&request, Duration::from_secs(10))
            .await
            .map_err(|e| format!("call {i} -> {to}: {e}"))?;
        if reply != request {
            return Err(format!("call {i} -> {to}: wrong echo"));
        }
    }
    state.transports.borrow_mut().push(t);
    state.called.set(state.called.get() + 1);
    std::future::pending::<()>().await;
    drop(serving);
    Ok(())
}

/// Waits for every call, stays idle for `idle`, then checks the
/// connections all survived.
struct IdleCheck {
    idle: Duration,
    state: Rc<IdleState>,
}

impl Workload for IdleCheck {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        while self.state.called.get() < IDLE_PROCESSES {
            p.sleep(Duration::from_millis(1)).await;
        }
        p.sleep(self.idle).await;
        let transports = self.state.transports.borrow();
        let ends: usize = transports.iter().map(|t| t.connection_count()).sum();
        if ends != 2 * IDLE_PROCESSES * IDLE_PEERS {
            return Err(format!("{ends} connection ends up after the idle time").into());
        }
        let lost: u64 = transports.iter().map(|t| t.metrics().disconnects).sum();
        if lost > 0 {
            return Err(format!("{lost} connections lost while idle").into());
        }
        Ok(())
    }
}

/// The `idle-conns` simulation, idle for `idle`; `state` is fresh per seed.
fn idle_simulation(idle: Duration) -> Simulation {
    let state = Rc::new(RefCell::new(Rc::new(IdleState::default())));
    let mut b = SimulationBuilder::new().chaos(false);
    for i in 0..IDLE_PROCESSES {
        let state = Rc::clone(&state);
        b = b.process(format!("p{i}"), idle_addr(i).ip(), move |p| {
            let state = Rc::clone(&state);
            // Read at the first poll, after the workload factory made this
            // seed's state.
            async move {
                let state = Rc::clone(&state.borrow());
                idle_process(p, i, state).await
            }
        });
    }
    b.time_limit(idle + Duration::from_secs(60))
        .workload("idle", 1, move |_| {
            let fresh = Rc::new(IdleState::default());
            *state.borrow_mut() = Rc::clone(&fresh);
            IdleCheck { idle, state: fresh }
        })
        .build()
        .expect("valid simulation")
}

/// `idle-conns`: executor steps per idle connection per simulated hour.
pub fn idle_conns() -> BenchResult {
    let baseline = idle_simulation(Duration::ZERO).run_seed(SEED);
    assert!(
        baseline.outcome.is_pass(),
        "idle-conns (no idle time) failed: {:?}",
        baseline.outcome
    );
    let start = Instant::now();
    let report = idle_simulation(IDLE_TIME).run_seed(SEED);
    let wall = start.elapsed();
    assert!(
        report.outcome.is_pass(),
        "idle-conns failed: {:?}",
        report.outcome
    );
    let conns = (IDLE_PROCESSES * IDLE_PEERS) as u64;
    let idle_events = report.events.saturating_sub(baseline.events);
    let hours = IDLE_TIME.as_secs_f64() / 3600.0;
    let per_conn_hour = idle_events as f64 / conns as f64 / hours;
    BenchResult {
        workload: "idle-conns",
        wall,
        sim: report.sim_time,
        ops: conns,
        extra: format!(
            "events_per_conn_hour={per_conn_hour:.0} events={} pings={} fingerprint={:#018x}",
            report.events,
            report
                .counters
                .get("transport.pings_sent")
                .copied()
                .unwrap_or(0),
            report.fingerprint
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_run_over_two_workloads_passes_and_replays() {
        let sim = scale_simulation(300);
        let a = sim.run_seed(3);
        let b = sim.run_seed(3);
        assert!(a.outcome.is_pass(), "{:?}", a.outcome);
        assert_eq!(a.fingerprint, b.fingerprint);
    }

    #[test]
    fn idle_connections_survive_a_simulated_minute() {
        let report = idle_simulation(Duration::from_secs(60)).run_seed(5);
        assert!(report.outcome.is_pass(), "{:?}", report.outcome);
        assert_eq!(
            report.counters.get("transport.connections").copied(),
            Some(2 * (IDLE_PROCESSES * IDLE_PEERS) as u64)
        );
    }
}
