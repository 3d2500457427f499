//! `election`: lease-based leader election with fencing tokens, simulated
//! or real.
//!
//! ```text
//! election sim [runner flags] [--bug NAME]   sweep seeds: 3 candidates and a fenced resource,
//!                                            chaos on by default (attrition, network, clock drift)
//! election --list-bugs                       list the bugs --bug can plant
//! election real [--seconds S] [--dir DIR]    the same processes over real loopback TCP
//! ```
//!
//! Every seed checks: one leader per ballot, leaders taking office with
//! strictly increasing ballots, every accepted write carrying the highest
//! token issued, leaders that are registered candidates elected by a
//! majority, leases that never overlap, and a leader in office within a
//! bound after the faults stop. The design: `docs/src/examples.md`.

fn main() -> std::process::ExitCode {
    moonpool_examples::harness::main(&moonpool_examples::election::EXAMPLE)
}
