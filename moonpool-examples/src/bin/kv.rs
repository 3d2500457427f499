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
//! `docs/runner.md`); the design: `docs/examples.md`.

use std::process::ExitCode;

use moonpool_examples::kv::{self, KvBug};
use moonpool_sim::cli::SimCli;

fn main() -> ExitCode {
    SimCli::new("kv")
        .about("a 3-replica quorum key-value store under attrition and network chaos, checked for linearizability")
        .default_chaos(true)
        .option("bug", "NAME", "plant a bug (see --list-bugs)")
        .action_flag("list-bugs", "list the bugs --bug can plant", || {
            for bug in KvBug::ALL {
                println!("{:<20} {}", bug.name(), bug.description());
            }
        })
        .subcommand(
            "real",
            "run 3 replicas and 3 clients over real loopback TCP: real [--ops N] [--dir DIR]",
            real,
        )
        .run(|args| {
            let bug = args
                .option("bug")
                .map(str::parse::<KvBug>)
                .transpose()
                .map_err(|e| e.to_string())?;
            kv::simulation(bug).map_err(|e| e.to_string())
        })
}

/// `kv real [--ops N] [--dir DIR]`.
fn real(args: &[String]) -> ExitCode {
    let mut config = kv::real::RealConfig::default();
    let mut dir: Option<std::path::PathBuf> = None;
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next()) {
            ("--ops", Some(n)) => match n.parse::<u64>() {
                Ok(n) if n > 0 => config.ops_per_client = n,
                _ => {
                    eprintln!("kv real: --ops expects a number above 0, got {n:?}");
                    return ExitCode::from(2);
                }
            },
            ("--dir", Some(d)) => dir = Some(d.into()),
            _ => {
                eprintln!("kv real: expected `--ops N` or `--dir DIR`, got {flag:?}");
                return ExitCode::from(2);
            }
        }
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
