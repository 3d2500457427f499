//! `bank`: accounts sharded over servers, transfers by two-phase commit,
//! simulated or real.
//!
//! ```text
//! bank sim [runner flags] [--bug NAME]       sweep seeds: 3 shards, 3 clients, chaos on by default
//! bank --list-bugs                           list the bugs --bug can plant
//! bank real [--transfers N] [--dir DIR]      3 shards and 3 clients on real loopback TCP
//! ```
//!
//! After quiesce every seed checks: money conserved, every transfer applied
//! on both sides or neither and at most once, no account negative, every
//! acknowledged outcome durable. The design: `docs/src/examples.md`.

fn main() -> std::process::ExitCode {
    moonpool_examples::harness::main(&moonpool_examples::bank::EXAMPLE)
}
