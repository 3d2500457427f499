//! `pingpong`: run the ping-pong example.
//!
//! `pingpong real [--count N]` runs a server and a client in this process
//! over real loopback TCP and prints what the client saw.

use std::process::ExitCode;

use moonpool_examples::pingpong;

fn usage() -> ExitCode {
    eprintln!("usage: pingpong real [--count N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("real") => {}
        _ => return usage(),
    }
    let mut count = 1_000u64;
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        match (flag.as_str(), rest.next().map(|v| v.parse::<u64>())) {
            ("--count", Some(Ok(n))) if n > 0 => count = n,
            _ => return usage(),
        }
    }
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
