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
//! is still there and that nothing was invented. `--bug skip-sync`
//! acknowledges before syncing: a crash then loses acknowledged data, the
//! seed fails, and its replay line reproduces it. Runner flags: `wal --help`
//! (and `docs/runner.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use moonpool_examples::wal::{self, WalBug};
use moonpool_sim::cli::SimCli;

fn main() -> ExitCode {
    SimCli::new("wal")
        .about("a write-ahead-logged store served over the transport, under network chaos, disk faults and process attrition, checked against what it acknowledged")
        .default_chaos(true)
        .option("bug", "NAME", "plant a bug (see --list-bugs)")
        .action_flag("list-bugs", "list the bugs --bug can plant", || {
            for bug in WalBug::ALL {
                println!("{:<24} {}", bug.name(), bug.description());
            }
        })
        .subcommand(
            "real",
            "run the store and a client over real loopback TCP with real files: real [--puts N] [--keys K] [--dir DIR]",
            real,
        )
        .run(|args| {
            let bug = args
                .option("bug")
                .map(str::parse::<WalBug>)
                .transpose()
                .map_err(|e| e.to_string())?;
            wal::simulation(bug).map_err(|e| e.to_string())
        })
}

/// Arguments of `wal real`.
struct RealArgs {
    puts: u64,
    keys: u64,
    dir: Option<PathBuf>,
}

fn parse_real(args: &[String]) -> Result<RealArgs, String> {
    let mut parsed = RealArgs {
        puts: 1_000,
        keys: 16,
        dir: None,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag} expects a number > 0, got {value:?}"))
        };
        match flag.as_str() {
            "--puts" => parsed.puts = number()?,
            "--keys" => parsed.keys = number()?,
            "--dir" => parsed.dir = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    Ok(parsed)
}

/// `wal real [--puts N] [--keys K] [--dir DIR]`.
fn real(args: &[String]) -> ExitCode {
    let args = match parse_real(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wal real: {e} (usage: wal real [--puts N] [--keys K] [--dir DIR])");
            return ExitCode::from(2);
        }
    };
    let providers = match moonpool_core::tokio_providers::TokioProviders::new() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wal real: {e}");
            return ExitCode::from(1);
        }
    };
    let seed = providers.seed();
    // A fresh temporary directory (removed afterwards) unless --dir names one.
    let (dir, temporary) = match args.dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("moonpool-wal-{}-{seed:x}", std::process::id())),
            true,
        ),
    };
    let providers = providers.with_storage_root(&dir);
    let outcome = moonpool_core::tokio_providers::run_with(providers, |p| {
        wal::run_local(p, args.puts, args.keys)
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match outcome {
        Ok(Ok(r)) => {
            let mean_us = r.puts_elapsed.as_micros() / u128::from(r.puts_acked.max(1));
            println!(
                "wal real: {} puts acknowledged (each synced) over loopback {}, mean {mean_us} us, \
                 max {} us; {} key reads checked before and after a restart that recovered {} \
                 records ({} bytes of log) in {}{} (random seed {seed:#x})",
                r.puts_acked,
                r.addr,
                r.put_latency_max.as_micros(),
                r.keys_checked,
                r.recovered_after_restart,
                r.log_bytes,
                dir.display(),
                if temporary {
                    ", removed".to_string()
                } else {
                    format!(
                        ", which held {} records for {} keys before",
                        r.recovered_at_start, r.keys_adopted
                    )
                },
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("wal real: failed: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("wal real: {e}");
            ExitCode::from(1)
        }
    }
}
