//! `bench`: moonpool's benchmark workloads, one line each.
//!
//! `bench [WORKLOAD...]` runs the named workloads (default: all) and prints
//! `framework=moonpool workload=W3 wall_ms=... sim_ms=... ops=... ops_per_sec=...`
//! per workload, the format of the peer benchmarks in `peer-bench/`.
//! Workloads: `W1`–`W4` and `W4-jobs` (the simulator, `bench::network`,
//! `bench::timers`; `W4-jobs` sweeps W4's seeds on every core and prints
//! `speedup=` over W4 measured in the same run),
//! `rpc-sim`, `rpc-tokio`, `rpc-tokio-64` (the transport, `bench::rpc`),
//! `scale-5000` and `idle-conns` (cost at scale, `bench::scale`) and
//! `spawn-1m` (a million tasks, `bench::timers`).
//! `--repeat N` runs each workload N times (one line per run).

use std::process::ExitCode;

use moonpool_examples::bench;

const ALL: &[&str] = &[
    "W1",
    "W2",
    "W3",
    "W4",
    "W4-jobs",
    "rpc-sim",
    "rpc-tokio",
    "rpc-tokio-64",
    "scale-5000",
    "idle-conns",
    "spawn-1m",
];

fn main() -> ExitCode {
    let mut names: Vec<String> = Vec::new();
    let mut repeat = 1u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--repeat" {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => repeat = n,
                _ => {
                    eprintln!("bench: --repeat takes a positive count");
                    return ExitCode::from(2);
                }
            }
        } else {
            names.push(arg);
        }
    }
    if names.is_empty() {
        names = ALL.iter().map(|s| s.to_string()).collect();
    }
    for name in names
        .iter()
        .flat_map(|n| std::iter::repeat_n(n, repeat as usize))
    {
        let result = match name.to_ascii_uppercase().as_str() {
            "W1" => bench::network::w1(),
            "W2" => bench::network::w2(),
            "W3" => bench::timers::run(bench::timers::TASKS),
            "W4" => bench::network::w4(),
            "W4-JOBS" => bench::network::w4_jobs(),
            "RPC-SIM" => bench::rpc::rpc_sim(),
            "RPC-TOKIO" => bench::rpc::rpc_tokio(),
            "RPC-TOKIO-64" => bench::rpc::rpc_tokio_64(),
            "SCALE-5000" => bench::scale::scale_5000(),
            "IDLE-CONNS" => bench::scale::idle_conns(),
            "SPAWN-1M" => bench::timers::spawn(bench::timers::SPAWN_TASKS),
            _ => {
                eprintln!(
                    "bench: unknown workload {name:?} (known: {})",
                    ALL.join(", ")
                );
                return ExitCode::from(2);
            }
        };
        println!("{}", result.line());
    }
    ExitCode::SUCCESS
}
