//! RPC benchmarks on real tokio over loopback.
//!
//! ```text
//! cargo run --release -p moonpool-transport --example rpc_bench -- [ops] [workload...]
//! ```
//!
//! `ops` defaults to 100000; workloads are `rpc-tokio` (sequential round
//! trips) and `rpc-tokio-64` (64 in flight), both by default. Prints one
//! line per workload:
//! `framework=moonpool workload=rpc-tokio wall_ms=... sim_ms=0 ops=... ops_per_sec=...`

use moonpool_transport::bench::{TokioWorkload, run_tokio};

fn main() {
    let mut args = std::env::args().skip(1);
    let ops: u64 = match args.next() {
        Some(a) => match a.parse() {
            Ok(n) => n,
            Err(_) => {
                eprintln!("usage: rpc_bench [ops] [rpc-tokio|rpc-tokio-64]...");
                std::process::exit(2);
            }
        },
        None => 100_000,
    };
    let mut workloads: Vec<TokioWorkload> = Vec::new();
    for name in args {
        match name.as_str() {
            "rpc-tokio" => workloads.push(TokioWorkload::Sequential),
            "rpc-tokio-64" => workloads.push(TokioWorkload::InFlight64),
            other => {
                eprintln!("unknown workload {other}");
                std::process::exit(2);
            }
        }
    }
    if workloads.is_empty() {
        workloads = vec![TokioWorkload::Sequential, TokioWorkload::InFlight64];
    }
    for w in workloads {
        match run_tokio(w, ops) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{}: {e}", w.name());
                std::process::exit(1);
            }
        }
    }
}
