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
//! seed fails, and its replay line reproduces it. Runner flags: `wal sim --help`
//! (and `docs/runner.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use moonpool_examples::wal::{self, WalBug};
use moonpool_sim::cli::{SimCli, named_values};

/// wal's own `sim` flags.
#[derive(clap::Args)]
struct WalFlags {
    /// Plant a bug (`wal --list-bugs` describes them)
    #[arg(long, value_name = "NAME", value_parser = named_values::<WalBug>(WalBug::ALL.map(|b| (b.name(), b.description()))))]
    bug: Option<WalBug>,
}

/// wal's own subcommands.
#[derive(clap::Subcommand)]
enum WalCommands {
    /// Run the store and a client over real loopback TCP with real files
    Real(RealArgs),
    /// List the bugs --bug can plant
    #[command(long_flag = "list-bugs")]
    ListBugs,
}

/// Arguments of `wal real`.
#[derive(clap::Args)]
struct RealArgs {
    /// Puts to make
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
    puts: u64,
    /// Distinct keys to write
    #[arg(long, value_name = "K", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    keys: u64,
    /// Where the store keeps its log [default: a temporary directory, removed]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    SimCli::new("wal")
        .about("a write-ahead-logged store served over the transport, under network chaos, disk faults and process attrition, checked against what it acknowledged")
        .default_chaos(true)
        .flags::<WalFlags>()
        .commands(|command| match command {
            WalCommands::Real(args) => real(args),
            WalCommands::ListBugs => {
                for bug in WalBug::ALL {
                    println!("{:<24} {}", bug.name(), bug.description());
                }
                ExitCode::SUCCESS
            }
        })
        .run(|flags, _| wal::simulation(flags.bug))
}

/// `wal real [--puts N] [--keys K] [--dir DIR]`.
fn real(args: RealArgs) -> ExitCode {
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
