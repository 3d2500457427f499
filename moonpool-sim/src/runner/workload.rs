//! Workloads: the clients that drive a simulated system and check it.
//!
//! A workload (FoundationDB's `TestWorkload`) has three phases. All
//! instances run `setup`, then all run `run` concurrently (this is when
//! chaos happens), then faults stop and all run `check`, which verifies the
//! invariants against what the system now says. Each instance is one
//! *client* (`client_id` in `0..client_count`) living in its own simulated
//! process with its own IP, so network faults apply to it like to any process.

use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;

use futures::future::LocalBoxFuture;

use crate::model::control::SimControl;
use crate::model::providers::SimProviders;

/// What a workload phase returns: any error fails the seed with its message.
pub type WorkloadResult = Result<(), Box<dyn std::error::Error>>;

/// A client that drives the system under test and checks it.
///
/// ```ignore
/// struct Counter { sent: u64 }
/// impl Workload for Counter {
///     async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
///         // talk to ctx.server_ip("kv") with ctx.providers()
///         Ok(())
///     }
///     async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
///         // compare what the system says with what we know
///         Ok(())
///     }
/// }
/// ```
pub trait Workload: 'static {
    /// Prepares the system (load initial data...). Default: nothing.
    fn setup(&mut self, ctx: &SimContext) -> impl Future<Output = WorkloadResult> {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Drives the system while faults are injected.
    fn run(&mut self, ctx: &SimContext) -> impl Future<Output = WorkloadResult>;

    /// Checks invariants after faults stopped. Default: nothing.
    fn check(&mut self, ctx: &SimContext) -> impl Future<Output = WorkloadResult> {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// The `check` of an [`FnWorkload`] that has none.
pub type NoCheck = fn(SimContext) -> std::future::Ready<WorkloadResult>;

fn no_check(_: SimContext) -> std::future::Ready<WorkloadResult> {
    std::future::ready(Ok(()))
}

/// A workload made of closures: the quickest way to drive a simulation
/// without declaring a type. Each phase closure gets its own clone of the
/// client's [`SimContext`].
///
/// ```
/// use std::time::Duration;
/// use moonpool_core::TimeProvider;
/// use moonpool_sim::{FnWorkload, SimContext, SimulationBuilder};
///
/// let sim = SimulationBuilder::new()
///     .workload("nap", 1, |_| {
///         FnWorkload::new(|ctx: SimContext| async move {
///             ctx.providers().sleep(Duration::from_secs(1)).await;
///             Ok(())
///         })
///     })
///     .build()
///     .expect("valid");
/// assert!(sim.run_seed(1).outcome.is_pass());
/// ```
pub struct FnWorkload<R, C = NoCheck> {
    run: R,
    check: C,
}

impl<R, RF> FnWorkload<R, NoCheck>
where
    R: FnMut(SimContext) -> RF + 'static,
    RF: Future<Output = WorkloadResult>,
{
    /// A workload whose `run` phase is `run` (no setup, no check).
    pub fn new(run: R) -> FnWorkload<R, NoCheck> {
        FnWorkload {
            run,
            check: no_check,
        }
    }

    /// The same workload with `check` as its check phase.
    pub fn with_check<C, CF>(self, check: C) -> FnWorkload<R, C>
    where
        C: FnMut(SimContext) -> CF + 'static,
        CF: Future<Output = WorkloadResult>,
    {
        FnWorkload {
            run: self.run,
            check,
        }
    }
}

impl<R, RF, C, CF> Workload for FnWorkload<R, C>
where
    R: FnMut(SimContext) -> RF + 'static,
    RF: Future<Output = WorkloadResult>,
    C: FnMut(SimContext) -> CF + 'static,
    CF: Future<Output = WorkloadResult>,
{
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        (self.run)(ctx.clone()).await
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        (self.check)(ctx.clone()).await
    }
}

/// The object-safe form of [`Workload`] the runner stores.
pub(crate) trait DynWorkload {
    fn phase<'a>(
        &'a mut self,
        phase: Phase,
        ctx: &'a SimContext,
    ) -> LocalBoxFuture<'a, WorkloadResult>;
}

impl<W: Workload> DynWorkload for W {
    fn phase<'a>(
        &'a mut self,
        phase: Phase,
        ctx: &'a SimContext,
    ) -> LocalBoxFuture<'a, WorkloadResult> {
        match phase {
            Phase::Setup => Box::pin(self.setup(ctx)),
            Phase::Run => Box::pin(self.run(ctx)),
            Phase::Check => Box::pin(self.check(ctx)),
        }
    }
}

/// The three phases, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Setup,
    Run,
    Check,
}

impl Phase {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Run => "run",
            Phase::Check => "check",
        }
    }
}

/// A server process as workloads see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRef {
    /// Its name.
    pub name: Rc<str>,
    /// Its IP.
    pub ip: IpAddr,
}

/// What a workload phase gets: its providers, who it is, and where the
/// servers are.
#[derive(Clone)]
pub struct SimContext {
    pub(crate) providers: SimProviders,
    pub(crate) workload: Rc<str>,
    pub(crate) client_id: usize,
    pub(crate) client_count: usize,
    pub(crate) servers: Rc<[ProcessRef]>,
}

impl SimContext {
    /// The providers of this client's process.
    pub fn providers(&self) -> &SimProviders {
        &self.providers
    }

    /// This client's index, in `0..client_count()`.
    pub fn client_id(&self) -> usize {
        self.client_id
    }

    /// How many clients this workload has.
    pub fn client_count(&self) -> usize {
        self.client_count
    }

    /// The workload's name.
    pub fn workload_name(&self) -> &str {
        &self.workload
    }

    /// The server processes, in declaration order.
    pub fn servers(&self) -> &[ProcessRef] {
        &self.servers
    }

    /// The IP of the server process named `name`.
    pub fn server_ip(&self, name: &str) -> Option<IpAddr> {
        self.servers.iter().find(|s| &*s.name == name).map(|s| s.ip)
    }

    /// The seed being run.
    pub fn seed(&self) -> u64 {
        self.providers.seed()
    }

    /// Whether every foreground workload's `run` phase has returned: a
    /// background workload's `run` should return once this is true.
    pub fn run_phase_done(&self) -> bool {
        self.providers.world.run_phase_done()
    }

    /// Resolves when every foreground workload's `run` phase has returned.
    pub fn wait_run_phase_done(&self) -> impl Future<Output = ()> + 'static {
        self.providers.run_phase_done()
    }

    /// Sleeps for `duration`, or until every foreground workload's `run`
    /// phase has returned, whichever comes first. True if the whole pause
    /// elapsed (a nemesis may act), false if the run phase is over (a
    /// background workload must then stop). The building block of a
    /// nemesis loop: `while ctx.pause(interval).await { act() }`.
    pub async fn pause(&self, duration: std::time::Duration) -> bool {
        self.providers.pause(duration).await
    }

    /// Records the value `name` for this seed's report (`SeedReport::values`,
    /// and `values` in its JSON line): a gauge, the last value set wins.
    /// For checks across runs of values that are not sums (a leader's
    /// term, a final balance). Recording never changes the execution. At
    /// most 256 names per seed; past that (or if `name` holds a map) the
    /// value is dropped and counted as `sim.values_dropped`.
    pub fn record_value(&self, name: &str, value: i64) {
        let world = &self.providers.world;
        if !world.values.borrow_mut().set(name, value) {
            world.count("sim.values_dropped", 1);
        }
    }

    /// Records `key` = `value` in the map `name` of this seed's report (a
    /// small map: each key's last value; at most 256 keys). Dropped and
    /// counted as `sim.values_dropped` past the bounds, or if `name` holds
    /// a gauge.
    pub fn record_entry(&self, name: &str, key: &str, value: i64) {
        let world = &self.providers.world;
        if !world.values.borrow_mut().set_entry(name, key, value) {
            world.count("sim.values_dropped", 1);
        }
    }

    /// A handle for nemesis operations on the seed's world (kill and
    /// reboot processes, partition and clog the network).
    pub fn control(&self) -> SimControl {
        SimControl::of(&self.providers)
    }
}
