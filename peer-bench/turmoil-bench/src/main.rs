//! turmoil 0.7 implementation of the peer DST benchmark workloads.
//!
//! turmoil runs every host on its own tokio current-thread runtime and
//! advances simulated time in fixed ticks (default 1 ms); network latency is
//! the default model (Exp(5) scaled into 0..100 ms per message).

use bench_common::{
    fill_payload, run_workload, timer_durations, Params, Report, TraceHash, PAYLOAD, PORT,
    W2_CONNECT_STAGGER,
};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};

const FW: &str = "turmoil";
const FW_1MS: &str = "turmoil-1ms";

/// `TURMOIL_LATENCY=1ms` switches from turmoil's default latency model
/// (0..100 ms, Exp-distributed, mean ~20 ms per message) to a fixed 1 ms per
/// message, so that turmoil's tick-driven cost is not dominated by simulated
/// network delay. Reported as framework `turmoil-1ms`.
fn fixed_1ms() -> bool {
    std::env::var("TURMOIL_LATENCY")
        .map(|v| v == "1ms")
        .unwrap_or(false)
}

fn fw() -> &'static str {
    if fixed_1ms() {
        FW_1MS
    } else {
        FW
    }
}

fn builder(seed: u64) -> turmoil::Sim<'static> {
    let mut b = turmoil::Builder::new();
    b.rng_seed(seed)
        // long enough for 100k round trips at the default latency model
        .simulation_duration(Duration::from_secs(10_000_000));
    if fixed_1ms() {
        b.min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(1));
    }
    b.build()
}

/// Echo server: accept forever, one task per connection, echo fixed 64-byte frames.
fn add_server(sim: &mut turmoil::Sim<'static>) {
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        loop {
            let (mut s, _) = listener.accept().await?;
            tokio::spawn(async move {
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
            });
        }
    });
}

async fn connect() -> std::io::Result<TcpStream> {
    loop {
        match TcpStream::connect(("server", PORT)).await {
            Ok(s) => return Ok(s),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// `n` sequential request/response round trips on one connection.
async fn client_loop(client: u64, n: u64, trace: Rc<Cell<u64>>) -> turmoil::Result {
    if client > 0 {
        tokio::time::sleep(W2_CONNECT_STAGGER * client as u32).await;
    }
    let mut s = connect().await?;
    let mut req = [0u8; PAYLOAD];
    let mut resp = [0u8; PAYLOAD];
    let mut h = TraceHash::default();
    for i in 0..n {
        fill_payload(&mut req, client, i);
        s.write_all(&req).await?;
        s.flush().await?;
        s.read_exact(&mut resp).await?;
        assert_eq!(req, resp, "echo mismatch");
        h.mix_time(turmoil::sim_elapsed().unwrap_or_default());
    }
    trace.set(trace.get().wrapping_add(h.0));
    Ok(())
}

fn w1(seed: u64, p: &Params) -> Report<'static> {
    let start = Instant::now();
    let mut sim = builder(seed);
    add_server(&mut sim);
    let n = p.w1_round_trips;
    let trace = Rc::new(Cell::new(0));
    sim.client("client", client_loop(0, n, trace.clone()));
    sim.run().expect("sim failed");
    Report {
        framework: fw(),
        workload: "W1",
        seed,
        wall: start.elapsed(),
        sim: sim.elapsed(),
        ops: n,
        scale: p.scale,
        extra: format!("trace={:016x}", trace.get()),
    }
}

fn w2(seed: u64, p: &Params) -> Report<'static> {
    let start = Instant::now();
    let mut sim = builder(seed);
    add_server(&mut sim);
    let trace = Rc::new(Cell::new(0));
    for c in 0..p.w2_clients {
        sim.client(
            format!("client-{c}"),
            client_loop(c, p.w2_round_trips, trace.clone()),
        );
    }
    sim.run().expect("sim failed");
    Report {
        framework: fw(),
        workload: "W2",
        seed,
        wall: start.elapsed(),
        sim: sim.elapsed(),
        ops: p.w2_clients * p.w2_round_trips,
        scale: p.scale,
        extra: format!("clients={} trace={:016x}", p.w2_clients, trace.get()),
    }
}

fn w3(seed: u64, p: &Params) -> Report<'static> {
    let start = Instant::now();
    let mut sim = builder(seed);
    let fired = Rc::new(Cell::new(0u64));
    let f2 = fired.clone();
    let (tasks, sleeps) = (p.w3_tasks, p.w3_sleeps);
    sim.client("timers", async move {
        let mut handles = Vec::with_capacity(tasks as usize);
        for t in 0..tasks {
            let durs = timer_durations(seed, t, sleeps);
            let f = f2.clone();
            handles.push(tokio::task::spawn_local(async move {
                for d in durs {
                    tokio::time::sleep(d).await;
                    f.set(f.get() + 1);
                }
            }));
        }
        for h in handles {
            h.await?;
        }
        Ok(())
    });
    sim.run().expect("sim failed");
    assert_eq!(fired.get(), tasks * sleeps);
    Report {
        framework: fw(),
        workload: "W3",
        seed,
        wall: start.elapsed(),
        sim: sim.elapsed(),
        ops: fired.get(),
        scale: p.scale,
        extra: String::new(),
    }
}

fn w4(p: &Params) -> Report<'static> {
    let start = Instant::now();
    let mut sim_total = Duration::ZERO;
    for seed in 1..=p.w4_seeds {
        let mut sim = builder(seed);
        add_server(&mut sim);
        sim.client(
            "client",
            client_loop(0, p.w4_round_trips, Rc::new(Cell::new(0))),
        );
        sim.run().expect("sim failed");
        sim_total += sim.elapsed();
    }
    Report {
        framework: fw(),
        workload: "W4",
        seed: 1,
        wall: start.elapsed(),
        sim: sim_total,
        ops: p.w4_seeds,
        scale: p.scale,
        extra: format!("round_trips_per_seed={} mode=in-process", p.w4_round_trips),
    }
}

fn main() {
    run_workload([w1, w2, w3, |_, p| w4(p)]);
}
