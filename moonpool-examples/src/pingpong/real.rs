//! Ping-pong over real loopback TCP: a server and a client in one OS
//! process, the same code and the same check as the simulation.

use std::net::SocketAddr;

use moonpool_core::{JoinHandle, NetworkProvider, Providers, TaskProvider};

use super::client::{ClientConfig, ClientReport, run_client};
use super::{PingError, check_answers, serve};
use crate::harness::RealRun;

/// Runs a server on a free loopback port and one client sending `count`
/// pings, then checks every answer.
pub async fn run_local<P: Providers>(p: P, count: u64) -> Result<ClientReport, PingError> {
    // Find a free port, then let the server bind it.
    let probe = p
        .network()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
    let listen = moonpool_core::Listener::local_addr(&probe)?;
    drop(probe);
    let server = p.task().spawn("pingpong-server", serve(p.clone(), listen));
    p.task().yield_now().await;
    let report = run_client(&p, listen, 0, count, &ClientConfig::default(), None).await;
    server.abort();
    let report = report?;
    check_answers(0, count, &report.answers)?;
    Ok(report)
}

/// `pingpong real [--count N]`: the report line, or why it failed.
fn command(args: &RealArgs) -> Result<String, String> {
    let count = args.count;
    let outcome = moonpool_core::tokio_providers::run(|p| async move {
        let seed = p.seed();
        (seed, run_local(p, count).await)
    })
    .map_err(|e| e.to_string())?;
    let (seed, report) = outcome;
    let r = report.map_err(|e| e.to_string())?;
    let mean_us = r.rtt_total.as_micros() / r.answers.len().max(1) as u128;
    Ok(format!(
        "{} pings each answered by its own pong over loopback, {} connection(s), {} retries, \
         mean rtt {mean_us} us, max rtt {} us (random seed {seed:#x})",
        r.answers.len(),
        r.connections,
        r.retries,
        r.rtt_max.as_micros()
    ))
}

/// The arguments of `pingpong real`.
#[derive(clap::Args, Clone, Debug)]
pub struct RealArgs {
    /// Pings to send
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
}

impl RealRun for RealArgs {
    const ABOUT: &'static str = "a server and a client over real loopback TCP; the same check";

    fn run(&self) -> Result<String, String> {
        command(self)
    }
}
