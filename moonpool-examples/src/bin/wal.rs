//! `wal`: the write-ahead-logged store and its clients, simulated or real.
//!
//! ```text
//! wal sim [runner flags] [--bug NAME]    sweep seeds (chaos on by default: network
//!                                        nemeses and faults, disk faults, attrition)
//! wal real [--puts N] [--keys K] [--dir DIR]
//!                                        the store and a client in this process over
//!                                        real loopback TCP, with real files
//! wal --list-bugs                        list the bugs --bug can plant
//! ```
//!
//! The store serves puts and gets over `moonpool-transport` and acknowledges
//! a put only after `sync`; each client remembers what was acknowledged and
//! checks, during the run and after the chaos, that each acknowledged write
//! is still there and that nothing was invented. Runner flags: `wal --help`
//! (and `docs/src/runner.md`); the design: `docs/src/examples.md`.

fn main() -> std::process::ExitCode {
    moonpool_examples::harness::main(&moonpool_examples::wal::EXAMPLE)
}
