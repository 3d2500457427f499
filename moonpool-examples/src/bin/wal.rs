//! `wal`: the write-ahead-logged store under simulation.
//!
//! ```text
//! wal sim [runner flags] [--bug NAME]    sweep seeds (chaos and attrition on by default)
//! wal --list-bugs                        list the bugs --bug can plant
//! ```
//!
//! The store acknowledges a write only after `sync`; the client remembers
//! every acknowledged write and checks, after the chaos, that each one is
//! still there. `--bug skip-sync` acknowledges before syncing: a crash then
//! loses acknowledged data, the seed fails, and its replay line reproduces
//! it. Runner flags: `wal --help` (and `docs/runner.md`).

use std::process::ExitCode;

use moonpool_examples::wal::{self, WalBug};
use moonpool_sim::cli::SimCli;

fn main() -> ExitCode {
    SimCli::new("wal")
        .about("a write-ahead-logged store under process attrition, checked against what it acknowledged")
        .default_chaos(true)
        .option("bug", "NAME", "plant a bug (see --list-bugs)")
        .action_flag("list-bugs", "list the bugs --bug can plant", || {
            for bug in WalBug::ALL {
                println!("{:<24} {}", bug.name(), bug.description());
            }
        })
        .run(|args| {
            let bug = args
                .option("bug")
                .map(str::parse::<WalBug>)
                .transpose()
                .map_err(|e| e.to_string())?;
            wal::simulation(bug).map_err(|e| e.to_string())
        })
}
