//! The store on real tokio: three replicas and concurrent clients in one
//! OS process, over loopback TCP, each replica logging to its own
//! directory. Midway, replica 0 is stopped and restarted, so it recovers
//! from its log on a real file system. The same checks as the simulation
//! then run: convergence, durability, linearizability.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::tokio_providers::{self, TokioProviders};
use moonpool_core::{Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_transport::{Transport, TransportConfig};

use super::checker::{CheckStats, History, Op, OpKind, Outcome, check_history};
use super::client::{KvClient, OpError};
use super::storage::RECORD_BYTES;
use super::{Key, LOG_PATH, REPLICAS, Replica, Timestamp, Versioned, serve};
use crate::harness::{RealRun, ScratchDir, free_ports};

/// What the real run does.
#[derive(Clone, Debug)]
pub struct RealConfig {
    /// Concurrent clients. Default 3.
    pub clients: usize,
    /// Operations per client. Default 200.
    pub ops_per_client: u64,
    /// Keys. Default 4.
    pub keys: u64,
}

impl Default for RealConfig {
    fn default() -> Self {
        RealConfig {
            clients: 3,
            ops_per_client: 200,
            keys: 4,
        }
    }
}

/// What the real run saw.
#[derive(Clone, Debug)]
pub struct RealReport {
    /// The real providers' random seed.
    pub seed: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// The checker's figures over the whole history.
    pub check: CheckStats,
    /// Operations that failed (no effect) or ended unknown.
    pub failed: usize,
    /// Unknown outcomes.
    pub unknown: usize,
    /// Records in each replica's log at the end.
    pub log_records: Vec<u64>,
    /// Records replica 0 replayed from its log when it was restarted.
    pub recovered_records: u64,
    /// Wall time of the operations.
    pub elapsed: Duration,
    /// Mean latency of an operation.
    pub mean_latency: Duration,
}

/// Why the real run failed.
#[derive(Debug, thiserror::Error)]
pub enum RealError {
    /// The runtime or a directory could not be set up.
    #[error("setup: {0}")]
    Setup(String),
    /// An invariant did not hold.
    #[error("{0}")]
    Violation(String),
}

impl std::fmt::Display for RealReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} operations by {} clients in {} ms (mean {} us): {} reads, {} puts acknowledged, \
             {} failed, {} unknown; replica 0 restarted midway and replayed {} records from its log; \
             logs hold {:?} records; replicas converged; history linearizable over {} keys (random seed {:#x})",
            self.check.ops,
            self.clients,
            self.elapsed.as_millis(),
            self.mean_latency.as_micros(),
            self.check.reads,
            self.check.writes_ok,
            self.failed,
            self.unknown,
            self.recovered_records,
            self.log_records,
            self.check.keys,
            self.seed,
        )
    }
}

/// `kv real [--ops N] [--dir DIR]`: the report line, or why it failed.
fn command(args: &RealArgs) -> Result<String, String> {
    let config = RealConfig {
        ops_per_client: args.ops,
        ..RealConfig::default()
    };
    let dir = ScratchDir::new(args.dir.clone(), "kv");
    let report = run_real(dir.path(), &config).map_err(|e| e.to_string())?;
    Ok(format!("{report}; {}", dir.describe()))
}

/// The arguments of `kv real`.
#[derive(clap::Args, Clone, Debug)]
pub struct RealArgs {
    /// Operations per client
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    pub ops: u64,
    /// Keep the replicas' logs here [default: a temporary directory, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

impl RealRun for RealArgs {
    const ABOUT: &'static str = "3 replicas and 3 clients over real loopback TCP, replica 0 restarted midway; the same checks";

    fn run(&self) -> Result<String, String> {
        command(self)
    }
}

fn replica_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("replica-{i}"))
}

type Handle = <<TokioProviders as Providers>::Task as TaskProvider>::Handle<()>;

fn start_replica(p: &TokioProviders, dir: &Path, addrs: &[SocketAddr], i: usize) -> Handle {
    let rp = p.clone().with_storage_root(replica_dir(dir, i));
    let peers: Vec<SocketAddr> = addrs
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, a)| *a)
        .collect();
    let me = addrs[i];
    p.task().spawn(&format!("kv-replica-{i}"), async move {
        if let Err(e) = serve(rp, me, peers, None, TransportConfig::default()).await {
            tracing::error!(error = %e, replica = i, "kv replica stopped");
        }
    })
}

/// Runs three replicas and `config.clients` clients on real tokio, files
/// under `dir` (which should be empty), then checks the history.
pub fn run_real(dir: &Path, config: &RealConfig) -> Result<RealReport, RealError> {
    let providers = TokioProviders::new().map_err(|e| RealError::Setup(e.to_string()))?;
    let addrs = free_ports(REPLICAS).map_err(RealError::Setup)?;
    let config = config.clone();
    let dir = dir.to_path_buf();
    tokio_providers::run_with(providers, move |p| async move {
        let seed = p.seed();
        let mut replicas: Vec<Handle> = (0..REPLICAS)
            .map(|i| start_replica(&p, &dir, &addrs, i))
            .collect();
        let history = Rc::new(RefCell::new(History::default()));
        let acked = Rc::new(RefCell::new(BTreeMap::<Key, Timestamp>::new()));
        let started = std::time::Instant::now();
        let mut clients = Vec::new();
        for c in 0..config.clients {
            let p = p.clone();
            let (history, acked, addrs, config) = (
                Rc::clone(&history),
                Rc::clone(&acked),
                addrs.clone(),
                config.clone(),
            );
            clients.push(
                p.clone()
                    .task()
                    .spawn(&format!("kv-client-{c}"), async move {
                        let transport = Transport::unbound(p.clone(), TransportConfig::default());
                        let writer = c as u64 + 1;
                        let client = KvClient::new(&transport, &addrs, writer, None);
                        for seq in 1..=config.ops_per_client {
                            let key = p.random().random_range(0..config.keys);
                            let invoke_ns = p.time().now().as_nanos();
                            let (kind, outcome) = if p.random().random_range(0..2u32) == 0 {
                                let outcome = match client.get(key).await {
                                    Ok(got) => Outcome::Read(got.versioned.value),
                                    Err(_) => Outcome::Fail,
                                };
                                (OpKind::Get, outcome)
                            } else {
                                let value = writer << 32 | seq;
                                let outcome = match client.put(key, value).await {
                                    Ok(put) => {
                                        let mut acked = acked.borrow_mut();
                                        let top = acked.entry(key).or_default();
                                        *top = (*top).max(put.ts);
                                        Outcome::Wrote
                                    }
                                    Err(OpError::Failed) => Outcome::Fail,
                                    Err(OpError::Unknown) => Outcome::Unknown,
                                };
                                (OpKind::Put(value), outcome)
                            };
                            history.borrow_mut().push(Op {
                                client: c,
                                key,
                                kind,
                                invoke_ns,
                                complete_ns: p.time().now().as_nanos(),
                                outcome,
                            });
                        }
                        transport.shutdown();
                    }),
            );
        }
        // Midway, stop replica 0 and restart it from its log.
        let total = config.ops_per_client * config.clients as u64;
        while (history.borrow().ops.len() as u64) < total / 2 {
            p.time().sleep(Duration::from_millis(5)).await;
        }
        replicas[0].abort();
        p.time().sleep(Duration::from_millis(200)).await;
        // What the restart will find: replay the stopped replica's log.
        let recovered = match Replica::recover(
            &p.clone().with_storage_root(replica_dir(&dir, 0)),
            None,
        )
        .await
        {
            Ok(replica) => replica.recovery().records,
            Err(e) => {
                return Err(RealError::Violation(format!(
                    "replica 0 cannot recover: {e}"
                )));
            }
        };
        replicas[0] = start_replica(&p, &dir, &addrs, 0);
        for c in clients {
            let _ = c.await;
        }
        let elapsed = started.elapsed();
        let outcome = check_all(&p, &addrs, &history, &acked, config.keys).await;
        for r in &replicas {
            r.abort();
        }
        let check = outcome?;
        let ops = history.borrow().ops.clone();
        let log_records = (0..REPLICAS)
            .map(|i| {
                std::fs::metadata(replica_dir(&dir, i).join(LOG_PATH))
                    .map(|m| m.len() / RECORD_BYTES as u64)
                    .unwrap_or(0)
            })
            .collect();
        let run_ops = ops.len().max(1) as u32;
        Ok(RealReport {
            seed,
            clients: config.clients,
            check,
            failed: ops.iter().filter(|o| o.outcome == Outcome::Fail).count(),
            unknown: ops.iter().filter(|o| o.outcome == Outcome::Unknown).count(),
            log_records,
            recovered_records: recovered,
            elapsed,
            mean_latency: elapsed * config.clients as u32 / run_ops,
        })
    })
    .map_err(|e| RealError::Setup(e.to_string()))?
}

/// Convergence, final reads, durability and linearizability.
async fn check_all(
    p: &TokioProviders,
    addrs: &[SocketAddr],
    history: &Rc<RefCell<History>>,
    acked: &Rc<RefCell<BTreeMap<Key, Timestamp>>>,
    keys: u64,
) -> Result<CheckStats, RealError> {
    let transport = Transport::unbound(p.clone(), TransportConfig::default());
    let client = KvClient::new(&transport, addrs, u64::MAX, None);
    let mut converged: Option<BTreeMap<Key, Versioned>> = None;
    for _ in 0..100 {
        let mut states = Vec::new();
        for i in 0..REPLICAS {
            states.push(client.dump(i, Duration::from_secs(1)).await);
        }
        if let [Ok(first), rest @ ..] = states.as_slice()
            && rest.iter().all(|s| s.as_ref() == Ok(first))
        {
            converged = Some(first.iter().copied().collect());
            break;
        }
        p.time().sleep(Duration::from_millis(100)).await;
    }
    let converged = converged.ok_or_else(|| {
        RealError::Violation("convergence violated: replicas still disagree after 10 s".into())
    })?;
    for key in 0..keys {
        let invoke_ns = p.time().now().as_nanos();
        let got = client
            .get(key)
            .await
            .map_err(|e| RealError::Violation(format!("a final read of key {key} failed: {e}")))?;
        history.borrow_mut().push(Op {
            client: usize::MAX,
            key,
            kind: OpKind::Get,
            invoke_ns,
            complete_ns: p.time().now().as_nanos(),
            outcome: Outcome::Read(got.versioned.value),
        });
    }
    for (key, ts) in acked.borrow().iter() {
        let have = converged.get(key).copied().unwrap_or_default();
        if have.ts < *ts {
            return Err(RealError::Violation(format!(
                "durability violated: key {key}: acknowledged {ts}, converged on {}",
                have.ts
            )));
        }
    }
    transport.shutdown();
    check_history(&history.borrow()).map_err(|e| RealError::Violation(e.to_string()))
}
