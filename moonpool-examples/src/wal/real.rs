//! [`run_local`]: the store and a client in one real process, over real
//! loopback TCP and real files — the same code the simulation runs.
//!
//! Steps: start the store on `127.0.0.1:0` (recovering whatever its
//! directory holds), adopt what it already has for the client's keys, put
//! `puts` values round-robin over the keys (each must be acknowledged: no
//! faults here), read every key back and check it; then shut the store
//! down, start it again **on the same port** from the same files, and check
//! every key again through the same client, which reconnects to the new
//! incarnation by itself.

use std::net::SocketAddr;
use std::time::Duration;

use moonpool_core::{Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_transport::TransportConfig;

use super::client::ClientError;
use super::{ClientConfig, PutOutcome, WalClient, WalError, WalServer};
use crate::harness::{RealRun, ScratchDir};

/// What [`run_local`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealReport {
    /// Where the store listened.
    pub addr: SocketAddr,
    /// Records the store recovered when it first started (0 in a fresh
    /// directory).
    pub recovered_at_start: u64,
    /// Keys that already held data then.
    pub keys_adopted: u64,
    /// Puts acknowledged (all of them).
    pub puts_acked: u64,
    /// Keys read back and checked, before and after the restart.
    pub keys_checked: u64,
    /// Records the restarted store recovered.
    pub recovered_after_restart: u64,
    /// Bytes of log after the restart.
    pub log_bytes: u64,
    /// Times the client saw a new store incarnation (1: the restart).
    pub store_reboots_seen: u64,
    /// Wall time of the puts.
    pub puts_elapsed: Duration,
    /// Slowest put.
    pub put_latency_max: Duration,
}

/// Why the real run failed.
#[derive(Debug, thiserror::Error)]
pub enum RealError {
    /// The store could not start.
    #[error("store: {0}")]
    Store(#[from] WalError),
    /// A put was not acknowledged on a healthy loopback.
    #[error("put {index} of key {key} was not acknowledged ({outcome:?})")]
    NotAcknowledged {
        /// Which put.
        index: u64,
        /// Its key.
        key: u64,
        /// How it ended.
        outcome: PutOutcome,
    },
    /// A read failed its check, or the store did not answer.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// Nothing to do.
    #[error("at least one key is needed")]
    NoKeys,
}

/// Runs a store and a client over loopback; files go wherever `p`'s
/// storage is rooted.
///
/// Starts the store on `127.0.0.1:0` (recovering whatever is there), adopts
/// what it already holds for keys `0..keys`, puts `puts` values round-robin
/// over the keys (each must be acknowledged), reads every key back and
/// checks it; then shuts the store down, starts it again on the same port
/// from the same files, and checks every key again through the same
/// client, which reconnects to the new incarnation by itself.
pub async fn run_local<P: Providers>(p: P, puts: u64, keys: u64) -> Result<RealReport, RealError> {
    if keys == 0 {
        return Err(RealError::NoKeys);
    }
    let config = ClientConfig::default();
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = WalServer::start(p.clone(), any_port, None, TransportConfig::default()).await?;
    let addr = server.local_addr()?;
    let recovered_at_start = server.store().recovered_records() as u64;
    let transport = server.transport().clone();
    let serving = p.task().spawn("wal-store", server.run());

    let keys: Vec<u64> = (0..keys).collect();
    let mut client = WalClient::new(p.clone(), addr, config.clone());
    let keys_adopted = client
        .adopt_existing(&keys, p.time().now() + config.check_deadline)
        .await?;
    let started = p.time().timer();
    let mut put_latency_max = Duration::ZERO;
    for index in 0..puts {
        let key = keys[(index % keys.len() as u64) as usize];
        let len = p.random().random_range(1..=64usize);
        let value: Vec<u8> = (0..len).map(|_| p.random().next_u64() as u8).collect();
        let put_started = p.time().timer();
        let outcome = client.put(key, value).await;
        put_latency_max = put_latency_max.max(p.time().timer() - put_started);
        if outcome != PutOutcome::Acked {
            return Err(RealError::NotAcknowledged {
                index,
                key,
                outcome,
            });
        }
    }
    let puts_elapsed = p.time().timer() - started;
    client.check_all(&keys).await?;

    // Restart the store from its files, on the same address.
    transport.shutdown();
    let _ = serving.await;
    drop(transport);
    let server = WalServer::start(p.clone(), addr, None, TransportConfig::default()).await?;
    let recovered_after_restart = server.store().recovered_records() as u64;
    let log_bytes = server.store().log_end();
    let transport = server.transport().clone();
    let serving = p.task().spawn("wal-store", server.run());
    client.check_all(&keys).await?;
    transport.shutdown();
    let _ = serving.await;

    let stats = client.stats();
    Ok(RealReport {
        addr,
        recovered_at_start,
        keys_adopted,
        puts_acked: stats.puts_acked,
        keys_checked: 2 * keys.len() as u64,
        recovered_after_restart,
        log_bytes,
        store_reboots_seen: stats.store_reboots_seen,
        puts_elapsed,
        put_latency_max,
    })
}

/// `wal real [--puts N] [--keys K] [--dir DIR]`: the report line, or why
/// it failed.
fn command(args: &RealArgs) -> Result<String, String> {
    let puts = args.puts;
    let keys = args.keys;
    let dir = ScratchDir::new(args.dir.clone(), "wal");
    let providers =
        moonpool_core::tokio_providers::TokioProviders::new().map_err(|e| e.to_string())?;
    let seed = providers.seed();
    let providers = providers.with_storage_root(dir.path());
    let r = moonpool_core::tokio_providers::run_with(providers, |p| run_local(p, puts, keys))
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mean_us = r.puts_elapsed.as_micros() / u128::from(r.puts_acked.max(1));
    Ok(format!(
        "{} puts acknowledged (each synced) over loopback {}, mean {mean_us} us, max {} us; \
         {} key reads checked before and after a restart that recovered {} records ({} bytes of log); \
         the directory held {} records for {} keys before the run (random seed {seed:#x}; {})",
        r.puts_acked,
        r.addr,
        r.put_latency_max.as_micros(),
        r.keys_checked,
        r.recovered_after_restart,
        r.log_bytes,
        r.recovered_at_start,
        r.keys_adopted,
        dir.describe(),
    ))
}

/// The arguments of `wal real`.
#[derive(clap::Args, Clone, Debug)]
pub struct RealArgs {
    /// Puts to make
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub puts: u64,
    /// Keys to spread them over
    #[arg(long, value_name = "K", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: u64,
    /// Keep (and reuse) the store's log here [default: a temporary directory, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

impl RealRun for RealArgs {
    const ABOUT: &'static str = "the store and a client over real loopback TCP with real files, the store restarted once; the same checks";

    fn run(&self) -> Result<String, String> {
        command(self)
    }
}
