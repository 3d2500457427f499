//! `pingpong`: the ping-pong example, simulated or real.
//!
//! ```text
//! pingpong sim [runner flags] [--bug NAME]   sweep seeds: a server and clients over simulated TCP,
//!                                            with network chaos on by default
//! pingpong --list-bugs                       list the bugs --bug can plant
//! pingpong real [--count N]                  a server and a client in this process, real loopback TCP
//! ```
//!
//! Under simulation every client sends its pings through latency, clogs,
//! partitions, resets, bit flips, short reads and writes and clock drift,
//! and the seed fails unless every ping is answered by its own pong. Runner
//! flags: `pingpong --help` (and `docs/src/runner.md`).

fn main() -> std::process::ExitCode {
    moonpool_examples::harness::main(&moonpool_examples::pingpong::EXAMPLE)
}
