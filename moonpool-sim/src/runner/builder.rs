//! Declaring a simulation, and running it for one seed.
//!
//! # Types
//! - [`SimulationBuilder`]: declares processes (named async mains with an
//!   IP), workloads (with a client count) and limits; `build` validates it.
//! - [`Simulation`]: the validated definition. [`Simulation::run_seed`]
//!   builds a fresh world for a seed, runs it, tears it down and returns a
//!   [`SeedReport`]; [`Simulation::check_determinism`] runs a seed twice and
//!   compares.
//! - `RunConfig`: limits and model configuration, turned into the kernel's
//!   and the world's configurations for each seed.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::Ratio;

use super::coverage::Coverage;
use super::driver;
use super::panic;
use super::report::{SeedOutcome, SeedReport};
use super::sweep::plan::SweepPlan;
use super::workload::{DynWorkload, Workload};
use crate::kernel::KernelConfig;
use crate::kernel::determinism::Recorder;
use crate::kernel::failure::SeedFailure;
use crate::kernel::faults::FaultSelection;
use crate::model::assertions;
use crate::model::buggify;
use crate::model::clock::ClockConfig;
use crate::model::network::{NetworkConfig, NetworkConfigError};
use crate::model::process::MainFn;
use crate::model::providers::SimProviders;
use crate::model::storage::{StorageConfig, StorageConfigError};
use crate::model::world::{World, WorldConfig};

/// Default limit on virtual time per seed: one simulated hour.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);
/// Default limit on executor steps (polls + events) per seed.
pub const DEFAULT_STEP_LIMIT: u64 = 200_000_000;

/// The ready-order perturbation of chaos seeds unless configured: one poll
/// in ten (when several tasks are ready) runs a random ready task instead
/// of the oldest, shaking out code that assumes an order real schedulers
/// do not promise (FoundationDB gets the same effect from random yields).
pub const DEFAULT_CHAOS_PERTURBATION: Ratio = Ratio::new(1, 10);

/// What a process `main` may return: `()` or `Result<(), E: Display>`.
pub trait ProcessResult {
    /// `Err(message)` fails the seed.
    fn into_result(self) -> Result<(), String>;
}

impl ProcessResult for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

/// Names the never type `!` on stable Rust: the output of a `fn() -> !`.
/// Server mains are often endless loops, whose futures output `!`.
// `pub` only because the `ProcessResult` impl for `!` goes through it.
#[allow(unreachable_pub)]
pub trait FnOutput {
    /// The function's output type.
    type Output;
}

impl<R> FnOutput for fn() -> R {
    type Output = R;
}

/// The never type, `!`.
pub(crate) type Never = <fn() -> ! as FnOutput>::Output;

impl ProcessResult for Never {
    fn into_result(self) -> Result<(), String> {
        match self {}
    }
}

impl<E: std::fmt::Display> ProcessResult for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// A simulation definition that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Two processes share a name.
    #[error("two processes are named {0:?}")]
    DuplicateName(String),
    /// Two processes share an IP.
    #[error("two processes have the IP {0}")]
    DuplicateIp(IpAddr),
    /// A process uses an IP reserved for workload clients (10.254.0.0/16).
    #[error("process {name:?} uses {ip}, reserved for workload clients (10.254.0.0/16)")]
    ReservedIp {
        /// The process.
        name: String,
        /// The IP.
        ip: IpAddr,
    },
    /// A workload with no clients, or too many.
    #[error("workload {name:?} has {count} clients (allowed: 1..=250)")]
    ClientCount {
        /// The workload.
        name: String,
        /// The count given.
        count: usize,
    },
    /// More workloads than there are client subnets.
    #[error("at most 250 workloads are supported")]
    TooManyWorkloads,
    /// Nothing to run.
    #[error("a simulation needs at least one foreground workload (they decide when a seed ends)")]
    NoWorkload,
    /// A limit of zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// The storage configuration is inconsistent.
    #[error(transparent)]
    Storage(#[from] StorageConfigError),
    /// The network configuration is inconsistent.
    #[error(transparent)]
    Network(#[from] NetworkConfigError),
    /// A process or workload name the simulator cannot use: empty, with a
    /// `/` (labels are `process/task`), or the simulator's own.
    #[error("invalid name {name:?}: {why}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// The simulator's own process (the workload driver runs in it).
pub(crate) const SIMULATOR_PROCESS: &str = "simulator";

/// Why `name` cannot name a process or a workload, if it cannot.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a name cannot be empty")
    } else if name.contains('/') {
        Some("a name cannot contain '/' (task labels are process/task)")
    } else if name == SIMULATOR_PROCESS {
        Some("the simulator's own process has this name")
    } else {
        None
    }
}

pub(crate) struct ProcessSpec {
    pub(crate) name: Rc<str>,
    pub(crate) ip: IpAddr,
    pub(crate) main: MainFn,
}

type WorkloadFactory = Rc<dyn Fn(usize) -> Box<dyn DynWorkload>>;

pub(crate) struct WorkloadSpec {
    pub(crate) name: Rc<str>,
    pub(crate) count: usize,
    pub(crate) factory: WorkloadFactory,
    /// Runs until the foreground workloads' `run` phases end (a nemesis).
    pub(crate) background: bool,
}

/// Declares a simulation: server processes (named async `main`s with an
/// IP), workloads (with a client count), background workloads (nemeses),
/// limits and the models' configuration; [`build`](Self::build) validates
/// it into a [`Simulation`].
///
/// Each seed then runs in a fresh world: the simulator's own process
/// (id 0), the servers and one process per workload client are created in
/// declaration order; every server's `main` is spawned, then the driver,
/// which runs all clients' `setup`, then all `run`, then all `check`; the
/// loop runs until the driver finishes or the seed fails (a panic, a
/// process or workload error, a deadlock, or a limit); then everything is
/// dropped.
#[must_use]
pub struct SimulationBuilder {
    assertion_scope: Vec<String>,
    processes: Vec<ProcessSpec>,
    workloads: Vec<WorkloadSpec>,
    config: RunConfig,
    defaults: SeedSettings,
}

/// What is decided once for every seed of a run, and read from here by
/// everything below: whether chaos is on, and whether the timeline is
/// kept. A sweep decides it from its plan ([`Simulation::settings_for`]);
/// [`Simulation::run_seed`] uses the simulation's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeedSettings {
    /// The chaos profile (faults sampled per seed, ready-order perturbation)
    /// or the quiet configuration. The models read it from the world's
    /// configuration, the kernel gets the perturbation it implies, the
    /// reports and replay lines get it from the sweep report.
    pub(crate) chaos: bool,
    /// Keep the chaos timeline (for a single replayed seed).
    pub(crate) record_timeline: bool,
    /// Overrides of each chaos seed's fault decisions.
    pub(crate) faults: FaultSelection,
    /// Keep the marks of the timeline picture.
    pub(crate) record_marks: bool,
}

/// Limits and model configuration of every seed of a simulation.
#[derive(Clone, Debug)]
pub(crate) struct RunConfig {
    pub(crate) time_limit: Duration,
    pub(crate) step_limit: u64,
    /// Probability that the next task polled is a random ready task rather
    /// than the oldest one; `None`: [`DEFAULT_CHAOS_PERTURBATION`] in chaos
    /// seeds, zero in quiet ones.
    pub(crate) perturb_ready_order: Option<Ratio>,
    pub(crate) network: NetworkConfig,
    pub(crate) storage: StorageConfig,
    pub(crate) clocks: ClockConfig,
    /// The fault model: server processes that may be down at once.
    pub(crate) max_down: Option<usize>,
}

impl RunConfig {
    /// The kernel's and the world's configurations of one seed run with
    /// `settings`.
    fn split(&self, settings: &SeedSettings) -> (KernelConfig, WorldConfig) {
        let perturb = self.perturb_ready_order.unwrap_or(if settings.chaos {
            DEFAULT_CHAOS_PERTURBATION
        } else {
            Ratio::ZERO
        });
        (
            KernelConfig {
                time_limit: self.time_limit,
                step_limit: self.step_limit,
                perturb_ready_order: perturb,
                record_timeline: settings.record_timeline,
                record_marks: settings.record_marks,
                // A quiet seed draws no faults: there is nothing to select.
                faults: if settings.chaos {
                    settings.faults.clone()
                } else {
                    FaultSelection::default()
                },
            },
            WorldConfig {
                chaos: settings.chaos,
                network: self.network.clone(),
                storage: self.storage.clone(),
                clocks: self.clocks.clone(),
                max_down: self.max_down,
            },
        )
    }
}

impl Default for SimulationBuilder {
    fn default() -> Self {
        SimulationBuilder::new()
    }
}

impl SimulationBuilder {
    /// An empty simulation with default limits, chaos on.
    pub fn new() -> SimulationBuilder {
        SimulationBuilder {
            assertion_scope: Vec::new(),
            processes: Vec::new(),
            workloads: Vec::new(),
            config: RunConfig {
                time_limit: DEFAULT_TIME_LIMIT,
                step_limit: DEFAULT_STEP_LIMIT,
                perturb_ready_order: None,
                network: NetworkConfig::default(),
                storage: StorageConfig::default(),
                clocks: ClockConfig::default(),
                max_down: None,
            },
            defaults: SeedSettings {
                chaos: true,
                record_timeline: false,
                faults: FaultSelection::default(),
                record_marks: false,
            },
        }
    }

    /// Adds a server process named `name` at `ip`, running `main`. `main`
    /// is called again on every reboot, with the providers of the new
    /// incarnation. If it returns an error, the seed fails.
    pub fn process<F, Fut>(
        mut self,
        name: impl Into<String>,
        ip: impl Into<IpAddr>,
        main: F,
    ) -> Self
    where
        F: Fn(SimProviders) -> Fut + 'static,
        Fut: Future + 'static,
        Fut::Output: ProcessResult,
    {
        let main: MainFn = Rc::new(move |p| {
            let fut = main(p);
            Box::pin(async move { fut.await.into_result() })
        });
        self.processes.push(ProcessSpec {
            name: name.into().into(),
            ip: ip.into(),
            main,
        });
        self
    }

    /// Adds a workload named `name` with `count` clients; `factory(client_id)`
    /// makes each client's fresh state for every seed.
    pub fn workload<W, F>(mut self, name: impl Into<String>, count: usize, factory: F) -> Self
    where
        W: Workload,
        F: Fn(usize) -> W + 'static,
    {
        self.workloads.push(WorkloadSpec {
            name: name.into().into(),
            count,
            factory: Rc::new(move |id| Box::new(factory(id))),
            background: false,
        });
        self
    }

    /// Adds a *background* workload: its `run` phase starts with the others
    /// but the seed does not wait for it. When every foreground workload's
    /// `run` has returned, [`SimContext::run_phase_done`](crate::SimContext::run_phase_done) turns true (and
    /// [`SimContext::wait_run_phase_done`](crate::SimContext::wait_run_phase_done) resolves), and the background
    /// `run` must return soon after. Chaos nemeses (partitioners, process
    /// attrition) are background workloads. `setup` and `check` run as for
    /// any workload.
    pub fn background_workload<W, F>(
        mut self,
        name: impl Into<String>,
        count: usize,
        factory: F,
    ) -> Self
    where
        W: Workload,
        F: Fn(usize) -> W + 'static,
    {
        self = self.workload(name, count, factory);
        if let Some(last) = self.workloads.last_mut() {
            last.background = true;
        }
        self
    }

    /// Fails a seed whose virtual time would pass `limit`
    /// (default [`DEFAULT_TIME_LIMIT`]).
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.config.time_limit = limit;
        self
    }

    /// Fails a seed that takes more than `limit` executor steps
    /// (default [`DEFAULT_STEP_LIMIT`]).
    pub fn step_limit(mut self, limit: u64) -> Self {
        self.config.step_limit = limit;
        self
    }

    /// With probability `p` per poll (when several tasks are ready), runs a
    /// random ready task instead of the oldest, to shake out code that
    /// assumes an order real schedulers do not promise. Default:
    /// [`DEFAULT_CHAOS_PERTURBATION`]
    /// in chaos seeds, zero in quiet ones; this sets it for both.
    pub fn perturb_ready_order(mut self, p: Ratio) -> Self {
        self.config.perturb_ready_order = Some(p);
        self
    }

    /// Turns the chaos profile on or off by default (default: **on**, as on
    /// the command line: a `#[test]` gets the faults unless it turns them
    /// off; off is the quiet configuration, no faults at all). A sweep plan
    /// that says otherwise ([`SweepPlan::chaos`](crate::SweepPlan::chaos),
    /// set by the CLI's `--chaos`/`--no-chaos` and `MOONPOOL_CHAOS`)
    /// decides for its seeds.
    pub fn chaos(mut self, on: bool) -> Self {
        self.defaults.chaos = on;
        self
    }

    /// Sets the simulated network's configuration.
    pub fn network(mut self, config: NetworkConfig) -> Self {
        self.config.network = config;
        self
    }

    /// Sets the simulated storage's configuration.
    pub fn storage(mut self, config: StorageConfig) -> Self {
        self.config.storage = config;
        self
    }

    /// Sets the simulated clocks' configuration (default: perfect clocks
    /// without chaos, the [`ClockChaos`](crate::clock::ClockChaos) profile
    /// with it).
    pub fn clocks(mut self, config: ClockConfig) -> Self {
        self.config.clocks = config;
        self
    }

    /// Declares the system's fault model: at most `max_down` server
    /// processes may be down at once. Kills beyond it (by any nemesis, or
    /// by [`SimControl::kill`](crate::SimControl::kill)) are refused and
    /// counted as `process.kill_refused`. Default: no limit.
    pub fn max_down(mut self, max_down: usize) -> Self {
        self.config.max_down = Some(max_down);
        self
    }

    /// Limits the assertion coverage of sweep reports (and the goal of
    /// `--until-all-sometimes`) to sites whose module path is one of
    /// `prefixes` or inside one (`"kv"` covers `kv::store`). A binary links
    /// the sites of every crate it uses; this keeps the report to the system
    /// under test. Default: every site.
    pub fn assertion_scope(mut self, prefixes: &[&str]) -> Self {
        self.assertion_scope = prefixes.iter().map(|p| p.to_string()).collect();
        self
    }

    /// Validates the definition.
    pub fn build(self) -> Result<Simulation, ConfigError> {
        let mut names = BTreeSet::new();
        let mut ips = BTreeSet::new();
        let named = self.processes.iter().map(|p| &p.name);
        for name in named.chain(self.workloads.iter().map(|w| &w.name)) {
            if let Some(why) = name_problem(name) {
                return Err(ConfigError::InvalidName {
                    name: name.to_string(),
                    why,
                });
            }
        }
        for p in &self.processes {
            if !names.insert(p.name.to_string()) {
                return Err(ConfigError::DuplicateName(p.name.to_string()));
            }
            if !ips.insert(p.ip) {
                return Err(ConfigError::DuplicateIp(p.ip));
            }
            if is_client_ip(p.ip) {
                return Err(ConfigError::ReservedIp {
                    name: p.name.to_string(),
                    ip: p.ip,
                });
            }
        }
        if self.workloads.iter().all(|w| w.background) {
            return Err(ConfigError::NoWorkload);
        }
        if self.workloads.len() > 250 {
            return Err(ConfigError::TooManyWorkloads);
        }
        for w in &self.workloads {
            if !(1..=250).contains(&w.count) {
                return Err(ConfigError::ClientCount {
                    name: w.name.to_string(),
                    count: w.count,
                });
            }
            for i in 0..w.count {
                let name = format!("{}#{i}", w.name);
                if !names.insert(name.clone()) {
                    return Err(ConfigError::DuplicateName(name));
                }
            }
        }
        if self.config.time_limit.is_zero() {
            return Err(ConfigError::ZeroLimit("time limit"));
        }
        if self.config.step_limit == 0 {
            return Err(ConfigError::ZeroLimit("step limit"));
        }
        self.config.storage.validate()?;
        self.config.network.validate()?;
        Ok(Simulation {
            assertion_scope: self.assertion_scope,
            processes: Rc::new(self.processes),
            workloads: Rc::new(self.workloads),
            config: self.config,
            defaults: self.defaults,
        })
    }
}

/// The IP of client `client` of workload number `workload`: 10.254.w.(c+1).
pub(crate) fn client_ip(workload: usize, client: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 254, workload as u8, client as u8 + 1))
}

fn is_client_ip(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [10, 254])
}

/// A validated simulation, ready to run any number of seeds.
pub struct Simulation {
    /// Module-path prefixes of the assertion and buggify sites its reports
    /// cover (empty: every site linked into the binary).
    pub(crate) assertion_scope: Vec<String>,
    pub(crate) processes: Rc<Vec<ProcessSpec>>,
    pub(crate) workloads: Rc<Vec<WorkloadSpec>>,
    config: RunConfig,
    defaults: SeedSettings,
}

impl Simulation {
    /// A fresh coverage accumulator over this simulation's assertion scope.
    pub fn coverage(&self) -> Coverage {
        let prefixes: Vec<&str> = self.assertion_scope.iter().map(String::as_str).collect();
        Coverage::for_modules(&prefixes)
    }

    /// Turns the chaos profile on or off by default, for [`run_seed`] and
    /// for sweeps whose plan does not decide.
    ///
    /// [`run_seed`]: Simulation::run_seed
    pub fn set_chaos(&mut self, on: bool) {
        self.defaults.chaos = on;
    }

    /// Whether the chaos profile is on by default.
    pub fn chaos(&self) -> bool {
        self.defaults.chaos
    }

    /// Keeps the chaos timeline of the seeds run from now on (meant for
    /// replaying one seed: it costs memory).
    pub fn set_record_timeline(&mut self, on: bool) {
        self.defaults.record_timeline = on;
    }

    /// What a sweep with `plan` decides for every one of its seeds: the
    /// plan's chaos if it says, else this simulation's default; the
    /// timeline if either asks for it. The one place chaos is decided.
    pub(crate) fn settings_for(&self, plan: &SweepPlan) -> SeedSettings {
        SeedSettings {
            chaos: plan.chaos.unwrap_or(self.defaults.chaos),
            record_timeline: self.defaults.record_timeline || plan.record_timeline,
            faults: plan.faults.clone(),
            record_marks: plan.record_marks,
        }
    }

    /// Runs one seed in a fresh world and reports how it went. A panic in
    /// user code fails the seed; it does not unwind out of here.
    pub fn run_seed(&self, seed: u64) -> SeedReport {
        self.run_seed_with(seed, &self.defaults)
    }

    /// Runs `seed` twice and compares the executions. If the fingerprints
    /// differ, the report fails with [`SeedFailure::Nondeterminism`] naming
    /// the first step where the runs diverged.
    pub fn check_determinism(&self, seed: u64) -> SeedReport {
        self.check_determinism_with(seed, &self.defaults)
    }

    /// [`Simulation::check_determinism`] with the settings a sweep decided.
    pub(crate) fn check_determinism_with(&self, seed: u64, settings: &SeedSettings) -> SeedReport {
        let (first, recorder) = self.run_world(seed, settings, Some(Recorder::record()));
        let Some(recorder) = recorder else {
            return first;
        };
        let (second, comparer) = self.run_world(seed, settings, Some(Recorder::compare(recorder)));
        let divergence = comparer.and_then(Recorder::divergence);
        if first.fingerprint == second.fingerprint && divergence.is_none() {
            return first;
        }
        let detail = match divergence {
            Some(d) => d.to_string(),
            None => "fingerprints differ after the recorded steps".to_string(),
        };
        SeedReport {
            outcome: SeedOutcome::Fail(SeedFailure::Nondeterminism(format!(
                "fingerprint {:#018x} then {:#018x}; {detail}",
                first.fingerprint, second.fingerprint
            ))),
            ..first
        }
    }

    /// [`Simulation::run_seed`] with the settings a sweep decided.
    pub(crate) fn run_seed_with(&self, seed: u64, settings: &SeedSettings) -> SeedReport {
        self.run_world(seed, settings, None).0
    }

    fn run_world(
        &self,
        seed: u64,
        settings: &SeedSettings,
        recorder: Option<Recorder>,
    ) -> (SeedReport, Option<Recorder>) {
        // Wall time is measured for the report only; it decides nothing.
        let wall_start = std::time::Instant::now();
        let (kernel_config, world_config) = self.config.split(settings);
        let world = World::new(seed, kernel_config, world_config);
        let enter = world.enter();
        if let Some(r) = recorder {
            world.set_recorder(r);
        }
        let capture = panic::CaptureGuard::new();
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
            driver::populate(&world, &self.processes, &self.workloads);
            world.run()
        }));
        let failure = match ran {
            Ok(_) => world.take_failure(),
            Err(payload) => {
                let (mut message, location) = capture.take().unwrap_or_else(|| {
                    (panic::payload_message(&*payload), "<unknown>".to_string())
                });
                if let Some(hint) = panic::misuse_hint(&message) {
                    message = format!("{message} ({hint})");
                }
                let (task, process) = match world.current() {
                    Some((id, _)) => world
                        .task_label(id)
                        .and_then(|l| {
                            l.split_once('/')
                                .map(|(p, t)| (t.to_string(), p.to_string()))
                        })
                        .unwrap_or_else(|| ("?".to_string(), "?".to_string())),
                    None => ("<event loop>".to_string(), "<simulator>".to_string()),
                };
                // The failure the panic interrupted (if any) is less precise,
                // except a violated assertion: the panic is then most likely
                // a consequence of the state the assertion caught.
                match world.take_failure() {
                    Some(f @ SeedFailure::Assertion { .. }) => Some(f),
                    _ => Some(SeedFailure::Panic {
                        message,
                        location,
                        task,
                        process,
                    }),
                }
            }
        };
        let recorder = world.take_recorder();
        let marks_dropped;
        let report = SeedReport {
            seed,
            outcome: match failure {
                None => SeedOutcome::Pass,
                Some(f) => SeedOutcome::Fail(f),
            },
            fingerprint: world.fingerprint(),
            sim_time: world.now(),
            wall_time: std::time::Duration::ZERO,
            events: world.steps(),
            values: world.values.borrow_mut().take(),
            counters: world.counters(),
            faults_on_system: world.system_hits(),
            fault_families: world.fault_families(),
            timeline: world.take_timeline(),
            marks: {
                let (marks, dropped) = world.take_marks();
                marks_dropped = dropped;
                marks
            },
            marks_dropped,
            assertions: assertions::stats(&world),
            buggify: buggify::stats(&world),
        };
        // Dropping user futures (and what they own) may panic: that must
        // not escape, and it fails a seed that had not failed already.
        capture.take();
        let torn_down = std::panic::catch_unwind(AssertUnwindSafe(|| world.teardown()));
        let outcome = match (report.outcome, torn_down) {
            (SeedOutcome::Pass, Err(payload)) => {
                let (message, location) = capture.take().unwrap_or_else(|| {
                    (panic::payload_message(&*payload), "<unknown>".to_string())
                });
                SeedOutcome::Fail(SeedFailure::Panic {
                    message: format!("while dropping the seed's tasks at teardown: {message}"),
                    location,
                    task: "<teardown>".to_string(),
                    process: "<simulator>".to_string(),
                })
            }
            (outcome, _) => outcome,
        };
        drop(capture);
        drop(enter);
        drop(world);
        (
            SeedReport {
                outcome,
                wall_time: wall_start.elapsed(),
                ..report
            },
            recorder,
        )
    }
}
