//! The bank on real tokio: three shards and concurrent clients in one OS
//! process, over loopback TCP, each shard logging under its own
//! directory. Midway, shard 0 is stopped and restarted, so it recovers
//! from its log (and presumes the abort of what it had not decided) on a
//! real file system. Then the same checks as the simulation.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::tokio_providers::{self, TokioProviders};
use moonpool_core::{Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_transport::{Transport, TransportConfig};

use super::checker::{CheckStats, ClientOp, check};
use super::sim::{QUIESCE_BOUND, quiescent_dumps};
use super::{ACCOUNTS, BankClient, SHARDS, Transfer, shard};
use crate::harness::{RealRun, ScratchDir, free_ports};

/// Concurrent clients of the real run.
pub const CLIENTS: u64 = 3;

/// What the real run saw.
#[derive(Clone, Debug)]
pub struct RealReport {
    /// The real providers' random seed.
    pub seed: u64,
    /// The checker's figures.
    pub check: CheckStats,
    /// Wall time of the transfers.
    pub elapsed: Duration,
}

impl std::fmt::Display for RealReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} transfers by {CLIENTS} clients in {} ms: {} committed, {} aborted, {} unknown; \
             shard 0 restarted midway; money conserved ({} in {ACCOUNTS} accounts), every \
             acknowledged outcome durable, nothing applied twice, no account negative (random seed {:#x})",
            self.check.transfers,
            self.elapsed.as_millis(),
            self.check.committed,
            self.check.aborted,
            self.check.unknown_applied + self.check.unknown_not_applied,
            self.check.total,
            self.seed,
        )
    }
}

type Handle = <<TokioProviders as Providers>::Task as TaskProvider>::Handle<()>;

fn start_shard(p: &TokioProviders, dir: &Path, addrs: &[SocketAddr], i: u32) -> Handle {
    let sp = p.clone().with_storage_root(dir.join(format!("shard-{i}")));
    let addrs = addrs.to_vec();
    p.task().spawn(&format!("bank-shard-{i}"), async move {
        if let Err(e) = shard(sp, i, addrs, None).await {
            tracing::error!(error = %e, shard = i, "bank shard stopped");
        }
    })
}

/// Runs three shards and [`CLIENTS`] clients of `transfers` transfers each
/// on real tokio, files under `dir` (which should be empty).
pub fn run_real(dir: &Path, transfers: u64) -> Result<RealReport, String> {
    let providers = TokioProviders::new().map_err(|e| e.to_string())?;
    let addrs = free_ports(SHARDS as usize)?;
    let dir = dir.to_path_buf();
    tokio_providers::run_with(providers, move |p| async move {
        let seed = p.seed();
        let mut shards: Vec<Handle> = (0..SHARDS)
            .map(|i| start_shard(&p, &dir, &addrs, i))
            .collect();
        let ops = Rc::new(RefCell::new(Vec::<ClientOp>::new()));
        let started = std::time::Instant::now();
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let (p2, ops, addrs) = (p.clone(), Rc::clone(&ops), addrs.clone());
            clients.push(p.task().spawn(&format!("bank-client-{c}"), async move {
                let transport = Transport::unbound(p2.clone(), TransportConfig::default());
                let client = BankClient::new(&transport, &addrs);
                for seq in 1..=transfers {
                    let from = p2.random().random_range(0..ACCOUNTS);
                    let to = (from + p2.random().random_range(1..ACCOUNTS)) % ACCOUNTS;
                    let t = Transfer {
                        id: (c + 1) << 32 | seq,
                        from,
                        to,
                        amount: p2.random().random_range(1..=60),
                    };
                    let outcome = client.transfer(t).await;
                    ops.borrow_mut().push(ClientOp {
                        transfer: t,
                        outcome,
                    });
                }
                transport.shutdown();
            }));
        }
        // Midway, stop shard 0 and restart it from its log.
        while (ops.borrow().len() as u64) < CLIENTS * transfers / 2 {
            p.time().sleep(Duration::from_millis(5)).await;
        }
        shards[0].abort();
        p.time().sleep(Duration::from_millis(100)).await;
        shards[0] = start_shard(&p, &dir, &addrs, 0);
        for c in clients {
            let _ = c.await;
        }
        let elapsed = started.elapsed();
        let transport = Transport::unbound(p.clone(), TransportConfig::default());
        let checker = BankClient::new(&transport, &addrs);
        let outcome = match quiescent_dumps(&p, &checker, QUIESCE_BOUND).await {
            Ok(dumps) => check(&ops.borrow(), &dumps).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        transport.shutdown();
        for s in &shards {
            s.abort();
        }
        Ok(RealReport {
            seed,
            check: outcome?,
            elapsed,
        })
    })
    .map_err(|e| e.to_string())?
}

/// `bank real [--transfers N] [--dir DIR]`: the report line, or why it
/// failed.
fn command(args: &RealArgs) -> Result<String, String> {
    let transfers = args.transfers;
    let dir = ScratchDir::new(args.dir.clone(), "bank");
    let report = run_real(dir.path(), transfers)?;
    Ok(format!("{report}; {}", dir.describe()))
}

/// The arguments of `bank real`.
#[derive(clap::Args, Clone, Debug)]
pub struct RealArgs {
    /// Transfers per client
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub transfers: u64,
    /// Keep the shards' logs here [default: a temporary directory, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

impl RealRun for RealArgs {
    const ABOUT: &'static str =
        "3 shards and 3 clients over real loopback TCP, shard 0 restarted midway; the same checks";

    fn run(&self) -> Result<String, String> {
        command(self)
    }
}
