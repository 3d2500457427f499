//! `pingpong`: the ping-pong example, simulated or real.
//!
//! ```text
//! pingpong sim [runner flags]       sweep seeds: a server and clients over simulated TCP,
//!                                   with network chaos on by default
//! pingpong real [--count N]         a server and a client in this process, real loopback TCP
//! ```
//!
//! Under simulation every client sends its pings through latency, clogs,
//! partitions, resets, bit flips, short reads and writes and clock drift,
//! and the seed fails unless every ping is answered by its own pong. Runner
//! flags: `pingpong sim --help` (and `docs/runner.md`).

use std::process::ExitCode;

use moonpool_examples::pingpong;
use moonpool_sim::cli::SimCli;

/// pingpong's own subcommands.
#[derive(clap::Subcommand)]
enum Commands {
    /// Run a server and a client over real loopback TCP
    Real {
        /// Round trips to make
        #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..))]
        count: u64,
    },
}

fn main() -> ExitCode {
    SimCli::new("pingpong")
        .about("a checksummed echo service and clients that must see every ping answered, whatever the network does")
        .default_chaos(true)
        .commands(|Commands::Real { count }| real(count))
        .run(|_, _| pingpong::simulation(pingpong::SIM_CLIENTS, pingpong::SIM_PINGS))
}

/// `pingpong real [--count N]`.
fn real(count: u64) -> ExitCode {
    let outcome = moonpool_core::tokio_providers::run(|p| async move {
        let seed = p.seed();
        (seed, pingpong::run_local(p, count).await)
    });
    match outcome {
        Ok((seed, Ok(r))) => {
            let mean_us = r.rtt_total.as_micros() / r.round_trips.max(1) as u128;
            println!(
                "pingpong real: {} round trips over loopback, {} connection(s), {} retries, \
                 mean rtt {mean_us} us, max rtt {} us (random seed {seed:#x})",
                r.round_trips,
                r.connections,
                r.retries,
                r.rtt_max.as_micros()
            );
            ExitCode::SUCCESS
        }
        Ok((_, Err(e))) => {
            eprintln!("pingpong real: failed: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("pingpong real: {e}");
            ExitCode::from(1)
        }
    }
}
