//! The election on real tokio: three candidates and the resource in one
//! OS process, over loopback TCP, each with its files in its own
//! directory. Midway, candidate 1 is stopped and restarted (it recovers
//! its ballot state and waits out its boot wait). Then the same checks as
//! the simulation: the five invariants, and a leader in office and
//! writing after the restart.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use moonpool_core::tokio_providers::{self, TokioProviders};
use moonpool_core::{Providers, TaskProvider, TimeProvider};

use super::checker::{CheckStats, check};
use super::sim::{LIVENESS_BOUND, led_since};
use super::{CandidateConfig, Recorder, candidate, resource};
use crate::harness::{RealRun, ScratchDir, free_ports};

/// Candidates of the real run.
pub const CANDIDATES: usize = 3;
/// The candidate the real run restarts.
const RESTARTED: usize = 1;

/// What the real run saw.
#[derive(Clone, Debug)]
pub struct RealReport {
    /// The real providers' random seed.
    pub seed: u64,
    /// The checker's figures.
    pub check: CheckStats,
    /// The ballots of the leaders that took office, in order.
    pub leaders: Vec<String>,
    /// How long after the restart a leader was in office and writing.
    pub led_after_restart: Duration,
}

impl std::fmt::Display for RealReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ballots won, {} leaders took office (ballots {}), {} writes accepted, {} refused as stale; \
             candidate {RESTARTED} restarted midway, a leader was in office and writing {} ms later; \
             every invariant holds (random seed {:#x})",
            self.check.won,
            self.check.took_office,
            self.leaders.join(", "),
            self.check.writes_accepted,
            self.check.stale_refused,
            self.led_after_restart.as_millis(),
            self.seed,
        )
    }
}

type Handle = <<TokioProviders as Providers>::Task as TaskProvider>::Handle<()>;

fn start_candidate(
    p: &TokioProviders,
    dir: &Path,
    addrs: &[SocketAddr],
    resource: SocketAddr,
    recorder: &Recorder,
    i: usize,
) -> Handle {
    let cp = p
        .clone()
        .with_storage_root(dir.join(format!("candidate-{i}")));
    let config = CandidateConfig::new(i as u32, addrs.to_vec(), resource);
    let recorder = recorder.clone();
    p.task().spawn(&format!("candidate-{i}"), async move {
        if let Err(e) = candidate(cp, config, recorder, None).await {
            tracing::error!(error = %e, candidate = i, "election candidate stopped");
        }
    })
}

/// Runs the election for `run` on real tokio, files under `dir`.
pub fn run_real(dir: &Path, run: Duration) -> Result<RealReport, String> {
    let providers = TokioProviders::new().map_err(|e| e.to_string())?;
    let ports = free_ports(CANDIDATES + 1)?;
    let (addrs, resource_addr) = (ports[..CANDIDATES].to_vec(), ports[CANDIDATES]);
    let dir = dir.to_path_buf();
    tokio_providers::run_with(providers, move |p| async move {
        let seed = p.seed();
        let recorder = Recorder::new();
        let rp = p.clone().with_storage_root(dir.join("resource"));
        let r = recorder.clone();
        let resource_task = p.task().spawn("resource", async move {
            if let Err(e) = resource::resource(rp, resource_addr, r, None).await {
                tracing::error!(error = %e, "election resource stopped");
            }
        });
        let mut candidates: Vec<Handle> = (0..CANDIDATES)
            .map(|i| start_candidate(&p, &dir, &addrs, resource_addr, &recorder, i))
            .collect();
        p.time().sleep(run / 2).await;
        candidates[RESTARTED].abort();
        p.time().sleep(Duration::from_millis(100)).await;
        candidates[RESTARTED] = start_candidate(&p, &dir, &addrs, resource_addr, &recorder, RESTARTED);
        let restarted = p.time().now();
        p.time().sleep(run / 2).await;
        let deadline = restarted + LIVENESS_BOUND;
        let led_after_restart = loop {
            if let Some(at) = recorder.with(|obs| {
                led_since(obs, restarted).then(|| {
                    obs.took_office
                        .iter()
                        .find(|t| t.at >= restarted)
                        .map_or(restarted, |t| t.at)
                })
            }) {
                break Ok(at - restarted);
            }
            if p.time().now() >= deadline {
                break Err(format!(
                    "liveness violated: no leader took office and wrote within {LIVENESS_BOUND:?} of the restart"
                ));
            }
            p.time().sleep(Duration::from_millis(50)).await;
        };
        for c in &candidates {
            c.abort();
        }
        resource_task.abort();
        let obs = recorder.snapshot();
        let stats = check(&obs, CANDIDATES as u32).map_err(|e| e.to_string())?;
        Ok(RealReport {
            seed,
            check: stats,
            leaders: obs.took_office.iter().map(|t| t.ballot.to_string()).collect(),
            led_after_restart: led_after_restart?,
        })
    })
    .map_err(|e| e.to_string())?
}

/// `election real [--seconds S] [--dir DIR]`: the report line, or why it
/// failed.
fn command(args: &RealArgs) -> Result<String, String> {
    let seconds = args.seconds;
    let dir = ScratchDir::new(args.dir.clone(), "election");
    let report = run_real(dir.path(), Duration::from_secs(seconds))?;
    Ok(format!("{report}; {}", dir.describe()))
}

/// The arguments of `election real`.
#[derive(clap::Args, Clone, Debug)]
pub struct RealArgs {
    /// How long the election runs, in seconds
    #[arg(long, value_name = "S", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Keep the processes' files here [default: a temporary directory, removed]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

impl RealRun for RealArgs {
    const ABOUT: &'static str = "3 candidates and the resource over real loopback TCP, one candidate restarted midway; the same checks";

    fn run(&self) -> Result<String, String> {
        command(self)
    }
}
