//! `wal`: run the write-ahead-log example under simulation.
//!
//! ```text
//! wal sim [--seed S | --seeds N [--first-seed S]] [--bug NAME] [--no-chaos]
//! wal --list-bugs
//! ```
//!
//! Runs seeds until one fails; a failure prints its replay command and
//! exits with 1. Bad usage exits with 2. (A stopgap: the shared simulation
//! command line will replace this parser.)

use std::process::ExitCode;

use moonpool_core::parse_seed;
use moonpool_examples::wal::{self, WalBug};

const USAGE: &str = "usage: wal sim [--seed S | --seeds N [--first-seed S]] [--bug NAME] [--no-chaos]\n       wal --list-bugs";

fn usage(problem: &str) -> ExitCode {
    eprintln!("wal: {problem}\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list-bugs") {
        for bug in WalBug::ALL {
            println!("{:<24} {}", bug.name(), bug.description());
        }
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) != Some("sim") {
        return usage("expected `sim` or `--list-bugs`");
    }
    let mut first_seed = 0u64;
    let mut seeds = 1u64;
    let mut bug = None;
    let mut chaos = true;
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--seed" => match parse_seed(&value()) {
                Ok(s) => (first_seed, seeds) = (s, 1),
                Err(e) => return usage(&e.to_string()),
            },
            "--first-seed" => match parse_seed(&value()) {
                Ok(s) => first_seed = s,
                Err(e) => return usage(&e.to_string()),
            },
            "--seeds" => match value().parse::<u64>() {
                Ok(n) if n > 0 => seeds = n,
                _ => return usage("--seeds takes a positive count"),
            },
            "--bug" => match value().parse::<WalBug>() {
                Ok(b) => bug = Some(b),
                Err(e) => return usage(&e.to_string()),
            },
            "--no-chaos" => chaos = false,
            other => return usage(&format!("unknown flag {other:?}")),
        }
    }
    let mut sim = match wal::simulation(bug) {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("wal: {e}");
            return ExitCode::from(2);
        }
    };
    sim.set_chaos(chaos);
    let started = std::time::Instant::now();
    for seed in first_seed..first_seed.saturating_add(seeds) {
        let report = sim.run_seed(seed);
        if let Some(failure) = report.outcome.failure() {
            let bug_flag = bug.map(|b| format!(" --bug {b}")).unwrap_or_default();
            let chaos_flag = if chaos { "" } else { " --no-chaos" };
            eprintln!(
                "wal sim: seed {seed:#x} FAILED after {} passing seed(s): {failure}",
                seed - first_seed
            );
            eprintln!(
                "  fingerprint {:#018x}, counters {:?}",
                report.fingerprint, report.counters
            );
            eprintln!("  replay: wal sim --seed {seed:#x}{bug_flag}{chaos_flag}");
            return ExitCode::from(1);
        }
    }
    println!(
        "wal sim: {seeds} seed(s) passed from {first_seed:#x} in {} ms",
        started.elapsed().as_millis()
    );
    ExitCode::SUCCESS
}
