//! `sim-demo`: a tiny timers-and-channels system driven by the runner's
//! command line, with bugs to plant. It is the runnable example of
//! [`moonpool_sim::cli::SimCli`] with flags (`--bug`, a `clap::ValueEnum`)
//! and subcommands (`real`, `--list-bugs`) of its own, and the binary the
//! CLI tests run.
//!
//! ```text
//! cargo run -p moonpool-sim --bin sim-demo -- sim --seeds 1000 --check-determinism
//! cargo run -p moonpool-sim --bin sim-demo -- sim --bug lost-message --seeds 50
//! cargo run -p moonpool-sim --bin sim-demo -- --list-bugs
//! cargo run -p moonpool-sim --bin sim-demo -- real
//! ```
//!
//! Each workload client runs [`exchange`]: three worker tasks send twenty
//! random values each over a channel, sleeping a random 1–20 ms before each
//! send; a collector task sums them, and the check phase compares what was
//! sent with what was received. With chaos on, a `ticker` server process
//! ticks 50 times and a nemesis kills and reboots it up to three times.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use moonpool_core::{Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_sim::cli::SimCli;
use moonpool_sim::{SimContext, Simulation, SimulationBuilder, Workload, WorkloadResult};

const WORKERS: u64 = 3;
const ROUNDS: u64 = 20;

/// The bugs `--bug` can plant (listed with their help by `--help` and
/// `--list-bugs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Bug {
    /// worker-1 panics halfway, in about one seed in four
    Panic,
    /// the collector waits for a message nobody sends, in about one seed in four
    Deadlock,
    /// worker-1 drops a message, in about one seed in four; the check phase notices
    LostMessage,
    /// sleeps depend on a static counter that survives from run to run; --check-determinism catches it
    Nondeterminism,
}

// ANCHOR: flags
/// The demo's own `sim` flags.
#[derive(clap::Args)]
struct DemoFlags {
    /// Plant a bug (`sim-demo --list-bugs` describes them)
    #[arg(long, value_name = "NAME")]
    bug: Option<Bug>,
}

/// The demo's own subcommands.
#[derive(clap::Subcommand)]
enum DemoCommands {
    /// Run the same code on tokio, with real timers
    Real,
    /// List the bugs --bug can plant
    #[command(long_flag = "list-bugs")]
    ListBugs,
}
// ANCHOR_END: flags

/// Leaks state across runs: exactly what the determinism rules forbid.
static LEAK: AtomicU64 = AtomicU64::new(0);

/// Sums sent and received by one [`exchange`].
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    sent: u64,
    received: u64,
}

/// The demo's logic, generic over the providers, so the same code runs in
/// simulation and (`sim-demo real`) on tokio.
async fn exchange<P: Providers>(p: &P, bug: Option<Bug>) -> Result<Totals, String> {
    // Whether this client's bug fires is drawn from the seed.
    let planted = bug.is_some() && p.random().random_range(0..4u64) == 0;
    let (tx, mut rx) = mpsc::unbounded::<u64>();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let p2 = p.clone();
        let tx = tx.clone();
        workers.push(p.task().spawn(&format!("worker-{w}"), async move {
            let mut sent = 0u64;
            for round in 0..ROUNDS {
                let mut ms = p2.random().random_range(1..=20u64);
                if bug == Some(Bug::Nondeterminism) {
                    ms += LEAK.fetch_add(1, Ordering::Relaxed) % 7;
                }
                p2.time().sleep(Duration::from_millis(ms)).await;
                let value = p2.random().random_range(0..1_000u64);
                // Rare (about one seed in four): `--until-all-sometimes` sweeps
                // until some seed has seen it.
                moonpool_sim::sometimes!(value >= 995, "a worker sends a value of at least 995");
                sent += value;
                if planted && w == 1 && round == ROUNDS / 2 {
                    match bug {
                        Some(Bug::Panic) => {
                            panic!("planted bug: worker-{w} panics at round {round}")
                        }
                        Some(Bug::LostMessage) => continue,
                        _ => {}
                    }
                }
                tracing::trace!(round, value, "sent");
                let _ = tx.unbounded_send(value);
            }
            sent
        }));
    }
    // The deadlock bug keeps a sender alive in the collector, which then
    // waits for one message more than will ever come.
    let keep_open = (planted && bug == Some(Bug::Deadlock)).then(|| tx.clone());
    drop(tx);
    let expected = WORKERS * ROUNDS + u64::from(keep_open.is_some());
    let collector = p.task().spawn("collector", async move {
        let _keep_open = keep_open;
        let mut received = 0u64;
        for _ in 0..expected {
            match rx.next().await {
                Some(v) => received += v,
                None => break,
            }
        }
        moonpool_sim::reachable!("the collector finished collecting");
        tracing::debug!(received, "collector done");
        received
    });
    let mut totals = Totals::default();
    for worker in workers {
        totals.sent += worker.await.map_err(|e| e.to_string())?;
    }
    totals.received = collector.await.map_err(|e| e.to_string())?;
    Ok(totals)
}

/// One workload client: runs [`exchange`], then checks nothing was lost.
struct Demo {
    bug: Option<Bug>,
    totals: Totals,
}

impl Workload for Demo {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        self.totals = exchange(ctx.providers(), self.bug).await?;
        Ok(())
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        let Totals { sent, received } = self.totals;
        if sent != received {
            return Err(format!(
                "lost messages: the workers sent a sum of {sent}, the collector received {received}"
            )
            .into());
        }
        Ok(())
    }
}

/// Kills and reboots the `ticker` server up to three times (chaos only).
struct Nemesis;

impl Workload for Nemesis {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let control = ctx.control();
        let ticker = control
            .process_by_name("ticker")
            .ok_or("no ticker process")?;
        for _ in 0..3 {
            p.sleep(Duration::from_millis(p.random_range(5..=50u64)))
                .await;
            if ctx.run_phase_done() {
                break;
            }
            if control.kill(ticker).is_ok() {
                p.sleep(Duration::from_millis(p.random_range(1..=10u64)))
                    .await;
                control.reboot(ticker)?;
            }
        }
        ctx.wait_run_phase_done().await;
        Ok(())
    }
}

fn build(bug: Option<Bug>, chaos: bool) -> Result<Simulation, String> {
    let mut builder = SimulationBuilder::new()
        .assertion_scope(&["sim_demo"])
        .workload("demo", 2, move |_| Demo {
            bug,
            totals: Totals::default(),
        });
    if chaos {
        builder = builder
            .process("ticker", [10, 0, 0, 1], |p| async move {
                for _ in 0..50 {
                    p.sleep(Duration::from_millis(p.random_range(1..=20u64)))
                        .await;
                }
            })
            .background_workload("nemesis", 1, |_| Nemesis);
    }
    builder.build().map_err(|e| e.to_string())
}

fn list_bugs() -> ExitCode {
    use clap::ValueEnum;
    for bug in Bug::value_variants() {
        if let Some(value) = bug.to_possible_value() {
            let help = value
                .get_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            println!("{:<16} {help}", value.get_name());
        }
    }
    ExitCode::SUCCESS
}

fn real() -> ExitCode {
    match moonpool_core::tokio_providers::run(|p| async move { exchange(&p, None).await }) {
        Ok(Ok(t)) => {
            println!(
                "sim-demo real: sent {}, received {} over real timers",
                t.sent, t.received
            );
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("sim-demo real: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("sim-demo real: {e}");
            ExitCode::from(1)
        }
    }
}

// ANCHOR: main
fn main() -> ExitCode {
    SimCli::new("sim-demo")
        .about("timers and channels, with bugs to plant")
        .default_chaos(true)
        .flags::<DemoFlags>()
        .commands(|command| match command {
            DemoCommands::Real => real(),
            DemoCommands::ListBugs => list_bugs(),
        })
        .run(|flags, settings| build(flags.bug, settings.chaos()))
}
// ANCHOR_END: main
