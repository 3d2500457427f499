//! `kv`: the replicated key-value store, simulated or real.
//!
//! ```text
//! kv sim [runner flags] [--bug NAME]   sweep seeds: 3 replicas, 3 clients, chaos on by default
//! kv --list-bugs                       list the bugs --bug can plant
//! kv real [--ops N] [--dir DIR]        3 replicas and 3 clients on real loopback TCP
//! ```
//!
//! Under simulation, attrition kills and reboots replicas, the network
//! nemeses clog, partition and cut connections, disks fail and fill up,
//! and buggify widens the rare paths; after quiesce the seed fails unless
//! the replicas converge, no acknowledged write was lost and the whole
//! history is linearizable. Runner flags: `kv --help` (and
//! `docs/src/runner.md`); the design: `docs/src/examples.md`.

fn main() -> std::process::ExitCode {
    moonpool_examples::harness::main(&moonpool_examples::kv::EXAMPLE)
}
