//! `kv`: the replicated key-value store, simulated or real.
//!
//! ```text
//! kv sim [runner flags] [--bug NAME]   sweep seeds: 3 replicas, 3 clients, chaos on by default
//! kv --list-bugs                       list the bugs --bug can plant
//! kv real [--ops N] [--dir DIR]        3 replicas and 3 clients on real loopback TCP
//! kv sim --help                        every flag, with the bugs and the MOONPOOL_* variables
//! ```
//!
//! Under simulation, attrition kills and reboots replicas, the network
//! nemeses clog, partition and cut connections, disks fail and fill up,
//! and buggify widens the rare paths; after quiesce the seed fails unless
//! the replicas converge, no acknowledged write was lost and the whole
//! history is linearizable. Runner flags: `kv sim --help` (and
//! `docs/runner.md`); the design: `docs/examples.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use moonpool_examples::kv::{self, KvBug};
use moonpool_sim::cli::{SimCli, named_values};

/// kv's own `sim` flags.
#[derive(clap::Args)]
struct KvFlags {
    /// Plant a bug (`kv --list-bugs` describes them)
    #[arg(long, value_name = "NAME", value_parser = named_values::<KvBug>(KvBug::ALL.map(|b| (b.name(), b.description()))))]
    bug: Option<KvBug>,
}

/// kv's own subcommands.
#[derive(clap::Subcommand)]
enum KvCommands {
    /// Run 3 replicas and 3 clients over real loopback TCP
    Real {
        /// Operations per client
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        ops: Option<u64>,
        /// Where the replicas keep their logs [default: a temporary directory, removed]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// List the bugs --bug can plant
    #[command(long_flag = "list-bugs")]
    ListBugs,
}

fn main() -> ExitCode {
    SimCli::new("kv")
        .about("a 3-replica quorum key-value store under attrition and network chaos, checked for linearizability")
        .default_chaos(true)
        .flags::<KvFlags>()
        .commands(|command| match command {
            KvCommands::Real { ops, dir } => real(ops, dir),
            KvCommands::ListBugs => {
                for bug in KvBug::ALL {
                    println!("{:<20} {}", bug.name(), bug.description());
                }
                ExitCode::SUCCESS
            }
        })
        .run(|flags, _| kv::simulation(flags.bug))
}

/// `kv real [--ops N] [--dir DIR]`.
fn real(ops: Option<u64>, dir: Option<PathBuf>) -> ExitCode {
    let mut config = kv::real::RealConfig::default();
    if let Some(ops) = ops {
        config.ops_per_client = ops;
    }
    let temporary = dir.is_none();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("moonpool-kv-{}", std::process::id()))
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let outcome = kv::real::run_real(&dir, &config);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match outcome {
        Ok(s) => {
            println!(
                "kv real: {} operations by {} clients in {} ms (mean {} us): {} reads, {} puts acknowledged, \
                 {} failed, {} unknown; replica 0 restarted midway and replayed {} records from its log; logs hold {:?} records; \
                 replicas converged; history linearizable over {} keys (random seed {:#x}; files in {})",
                s.check.ops,
                config.clients,
                s.elapsed.as_millis(),
                s.mean_latency.as_micros(),
                s.check.reads,
                s.check.writes_ok,
                s.failed,
                s.unknown,
                s.recovered_records,
                s.log_records,
                s.check.keys,
                s.seed,
                if temporary {
                    "a temporary directory, removed".to_string()
                } else {
                    dir.display().to_string()
                },
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kv real: {e}");
            ExitCode::from(1)
        }
    }
}
