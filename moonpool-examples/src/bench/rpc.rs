//! The transport's benchmarks: `rpc-sim`, `rpc-tokio`, `rpc-tokio-64`.
//!
//! All three run `moonpool_transport::bench::rpc_workload`: a server
//! transport answering a request stream by echoing 64 bytes, and a client
//! transport making round trips with `get_reply`, every reply checked byte
//! for byte.
//!
//! - `rpc-sim`: the W1 shape through the transport, in simulation: two
//!   processes (`server` at 10.0.0.1, the client workload), 100,000
//!   sequential round trips, quiet network, seed 42. Wall time covers the
//!   whole seed (world, run, teardown), as W1's does.
//! - `rpc-tokio`: 100,000 sequential round trips on real tokio over
//!   loopback (one current-thread runtime).
//! - `rpc-tokio-64`: 100,000 round trips with 64 requests in flight.
//!
//! For the tokio workloads, wall time runs from the first measured request
//! to the last reply (runtime setup, binds and a warm-up round trip are
//! excluded); `sim_ms` is 0.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use moonpool_core::TimeProvider;
use moonpool_sim::{
    SimContext, SimProviders, Simulation, SimulationBuilder, Workload, WorkloadResult,
};
use moonpool_transport::bench::{TokioWorkload, rpc_workload, run_tokio};

use super::BenchResult;

/// Round trips of every RPC workload.
pub const RPC_ROUND_TRIPS: u64 = 100_000;
/// The seed of `rpc-sim` (W1's).
pub const SEED: u64 = super::network::SEED;

const SERVER_IP: [u8; 4] = [10, 0, 0, 1];
const PORT: u16 = 4500;

/// The client workload: runs the RPC workload with the server side on the
/// `server` process and the client side on its own.
struct RpcClient {
    round_trips: u64,
    done: Rc<std::cell::Cell<u64>>,
}

impl Workload for RpcClient {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let control = ctx.control();
        let server = control
            .process_by_name("server")
            .ok_or("no server process")?;
        let server_p = control.providers_of(server).ok_or("server process dead")?;
        let client_p = ctx.providers().clone();
        let client_addr = SocketAddr::new(client_p.ip(), PORT);
        let result = rpc_workload(
            server_p,
            client_p,
            SocketAddr::from((SERVER_IP, PORT)),
            client_addr,
            self.round_trips,
            1,
        )
        .await?;
        self.done.set(result.ops);
        Ok(())
    }
}

/// The `rpc-sim` simulation: an idle `server` process (the workload runs
/// the server transport as it) and one client doing `round_trips`
/// sequential round trips. `done` receives the count completed.
pub fn simulation(round_trips: u64, done: Rc<std::cell::Cell<u64>>) -> Simulation {
    SimulationBuilder::new()
        .chaos(false)
        .process("server", SERVER_IP, |p: SimProviders| async move {
            loop {
                p.sleep(Duration::from_secs(3600)).await;
            }
        })
        .workload("client", 1, move |_| RpcClient {
            round_trips,
            done: done.clone(),
        })
        .build()
        .expect("valid simulation")
}

/// `rpc-sim`: 100,000 sequential round trips through the transport, in
/// simulation.
pub fn rpc_sim() -> BenchResult {
    rpc_sim_with(RPC_ROUND_TRIPS)
}

/// `rpc-sim` with another count of round trips.
pub fn rpc_sim_with(round_trips: u64) -> BenchResult {
    let done = Rc::new(std::cell::Cell::new(0));
    let start = Instant::now();
    let report = simulation(round_trips, done.clone()).run_seed(SEED);
    let wall = start.elapsed();
    assert!(
        report.outcome.is_pass(),
        "rpc-sim failed: {:?}",
        report.outcome
    );
    assert_eq!(done.get(), round_trips, "rpc-sim: round trips missing");
    BenchResult {
        workload: "rpc-sim",
        wall,
        sim: report.sim_time,
        ops: round_trips,
        extra: format!(
            "events={} fingerprint={:#018x}",
            report.events, report.fingerprint
        ),
    }
}

fn tokio(workload: TokioWorkload) -> BenchResult {
    let line = match run_tokio(workload, RPC_ROUND_TRIPS) {
        Ok(line) => line,
        Err(e) => panic!("{}: {e}", workload.name()),
    };
    BenchResult {
        workload: workload.name(),
        wall: Duration::from_secs_f64(line.wall_ms / 1000.0),
        sim: Duration::ZERO,
        ops: line.ops,
        extra: String::new(),
    }
}

/// `rpc-tokio`: sequential round trips on real tokio over loopback.
pub fn rpc_tokio() -> BenchResult {
    tokio(TokioWorkload::Sequential)
}

/// `rpc-tokio-64`: 64 requests in flight on real tokio over loopback.
pub fn rpc_tokio_64() -> BenchResult {
    tokio(TokioWorkload::InFlight64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_sim_completes_and_replays() {
        let a = rpc_sim_with(500);
        let b = rpc_sim_with(500);
        assert_eq!(a.ops, 500);
        assert_eq!(a.sim, b.sim);
        assert_eq!(a.extra, b.extra, "same events and fingerprint");
        assert!(
            a.line()
                .starts_with("framework=moonpool workload=rpc-sim wall_ms=")
        );
    }
}
