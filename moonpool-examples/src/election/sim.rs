//! The simulation: candidates and the resource as processes, under
//! attrition (one process down at a time), the network nemeses, the clock
//! nemesis and every network and clock fault family, disk faults and
//! buggify; an observer workload that lets the election run, then checks
//! the record and liveness after quiesce. Every process reads its own
//! skewed clock; the record is stamped with the simulation's true time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use moonpool_core::{Instant, TimeProvider};
use moonpool_sim::{
    Attrition, ClockConfig, ConfigError, NetworkConfig, SimContext, SimControl, SimProviders,
    Simulation, SimulationBuilder, Workload, WorkloadResult,
};

use super::checker::{Observations, ResourceOp, check};
use super::{CANDIDATES_MAX, CandidateConfig, ElectionBug, PORT, Recorder, candidate, resource};

/// How long after quiesce a leader must have taken office and written.
pub const LIVENESS_BOUND: Duration = Duration::from_secs(10);
/// The resource process's name.
pub const RESOURCE_NAME: &str = "election-resource";
/// Pause between the observer's looks at the record.
const POLL: Duration = Duration::from_millis(50);

/// The name of candidate `i`'s process.
pub fn candidate_name(i: usize) -> String {
    format!("election-candidate-{i}")
}

/// The address of candidate `i` (10.0.3.`i+1`).
pub fn candidate_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 3, i as u8 + 1], PORT))
}

/// The resource's address (10.0.3.100).
pub fn resource_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 3, 100], PORT))
}

/// Knobs of the simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Candidates (3 to 5). Default 3.
    pub candidates: usize,
    /// How long the election runs under chaos. Default 15 s.
    pub run: Duration,
    /// The network: the default.
    pub network: NetworkConfig,
    /// The clocks: the default, whose chaos profile keeps every clock
    /// within ε ≤ 100 ms of true time (offsets, rate errors, jumps), and
    /// the clock nemesis within the same bound.
    pub clocks: ClockConfig,
    /// The attrition nemesis. Default: candidates and the resource, one
    /// down at most, a kill every 500 ms to 3 s, rebooted after 0 to
    /// 500 ms.
    pub attrition: Attrition,
}

impl SimConfig {
    /// The default configuration with `candidates` candidates.
    pub fn with_candidates(candidates: usize) -> SimConfig {
        SimConfig {
            candidates,
            run: Duration::from_secs(15),
            network: NetworkConfig::default(),
            clocks: ClockConfig::default(),
            attrition: Attrition::new()
                .targets(
                    (0..candidates)
                        .map(candidate_name)
                        .chain([RESOURCE_NAME.to_string()]),
                )
                .max_down(1)
                .interval(Duration::from_millis(500), Duration::from_secs(3))
                .reboot_delay(Duration::ZERO, Duration::from_millis(500)),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig::with_candidates(3)
    }
}

/// The `election` simulation with the default configuration, chaos on.
pub fn simulation(bug: Option<ElectionBug>) -> Result<Simulation, ConfigError> {
    simulation_with(bug, SimConfig::default())
}

/// The `election` simulation: `config.candidates` candidates and the
/// resource, attrition, the network nemeses, the clock nemesis, an
/// observer; chaos on (the runner may turn it off).
pub fn simulation_with(
    bug: Option<ElectionBug>,
    config: SimConfig,
) -> Result<Simulation, ConfigError> {
    let n = config.candidates.clamp(3, CANDIDATES_MAX);
    let recorder = Recorder::new();
    let addrs: Vec<SocketAddr> = (0..n).map(candidate_addr).collect();
    let mut builder = SimulationBuilder::new()
        .chaos(true)
        .max_down(1)
        .network(config.network.clone())
        .clocks(config.clocks.clone());
    for i in 0..n {
        let (addrs, recorder) = (addrs.clone(), recorder.clone());
        let ip: IpAddr = addrs[i].ip();
        builder = builder.process(candidate_name(i), ip, move |p: SimProviders| {
            let config = CandidateConfig::new(i as u32, addrs.clone(), resource_addr());
            let recorder = stamped_with_true_time(&recorder, &p);
            candidate(p, config, recorder, bug)
        });
    }
    let resource_recorder = recorder.clone();
    let attrition = config.attrition.clone();
    builder
        .process(
            RESOURCE_NAME,
            resource_addr().ip(),
            move |p: SimProviders| {
                let recorder = stamped_with_true_time(&resource_recorder, &p);
                resource::resource(p, resource_addr(), recorder, bug)
            },
        )
        .workload("election-observer", 1, move |_| {
            // Workloads are made before any process of the seed runs: the
            // record starts empty for every seed.
            recorder.reset();
            Observer {
                recorder: recorder.clone(),
                candidates: n as u32,
                run: config.run,
            }
        })
        .background_workload("attrition", 1, move |_| attrition.clone())
        .network_nemeses()
        .clock_nemesis()
        .assertion_scope(&["moonpool_examples::election"])
        .build()
}

/// `recorder` stamping with the simulation's true time: every process's
/// own clock is skewed, the checker compares what different processes did.
fn stamped_with_true_time(recorder: &Recorder, p: &SimProviders) -> Recorder {
    let control = SimControl::of(p);
    recorder.with_clock(move || control.now())
}

/// Whether a leader took office at or after `since` and the resource then
/// accepted one of its writes.
pub fn led_since(obs: &Observations, since: Instant) -> bool {
    obs.took_office.iter().filter(|t| t.at >= since).any(|t| {
        obs.resource
            .iter()
            .any(|e| e.op == ResourceOp::Write && e.accepted && e.token == t.ballot && e.at >= t.at)
    })
}

/// Lets the election run, then checks the record and liveness.
struct Observer {
    recorder: Recorder,
    candidates: u32,
    run: Duration,
}

impl Workload for Observer {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        ctx.providers().sleep(self.run).await;
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        // The record's clock: true time.
        let control = ctx.control();
        let quiesced = control.now();
        let deadline = quiesced + LIVENESS_BOUND;
        let mut live = false;
        while control.now() < deadline {
            if self.recorder.with(|obs| led_since(obs, quiesced)) {
                live = true;
                break;
            }
            p.sleep(POLL).await;
        }
        let obs = self.recorder.snapshot();
        let stats = check(&obs, self.candidates)?;
        moonpool_core::sometimes!(
            stats.stale_refused > 0,
            "the resource refused a deposed leader in some seed"
        );
        if !live {
            return Err(format!(
                "liveness violated: no leader took office and wrote within {LIVENESS_BOUND:?} after the faults stopped at {quiesced} ({} ballots won, {} leaders in all)",
                stats.won, stats.took_office
            )
            .into());
        }
        tracing::debug!(?stats, "election checked");
        Ok(())
    }
}
