//! The transport under chaos, in simulation.
//!
//! Two echo servers (`server0` at 10.0.0.1, `server1` at 10.0.0.2) and three
//! client processes (two bound, one unbound). Each client runs three
//! workers that, for [`RUN_MS`] of simulated time, call a random server
//! with a random delivery mode and a random timeout:
//!
//! | share | call | timeout | the server |
//! |---|---|---|---|
//! | 15% | `send` | — | records it |
//! | 35% | `try_get_reply` | 20 ms – 3 s | echoes (90%), drops the promise (6%) or holds it (4%) |
//! | 35% | `get_reply` | 20 ms – 3 s | same |
//! | 15% | `get_reply`, spawned, awaited in `check` | 120 s | echoes |
//!
//! Chaos is on: every network fault family, sampled per seed with swarm
//! testing (each family off in half the seeds), the three network nemeses
//! (clogs, partitions, connection kills), and, in half the seeds, process
//! attrition killing and rebooting one server at a time.
//!
//! Every transport the seed creates (server incarnations included) is kept
//! in a registry so its counters survive a kill, and every stream is tapped
//! (`chaos_sim/tap.rs`) for an exact bit-flip account. Per seed:
//!
//! 1. **Exactly one outcome by the deadline.** Every call issued ends with
//!    one outcome, no later than its timeout (a watchdog 1 ms past the
//!    timeout catches silence); `Unreachable` only at the call's start;
//!    calls issued = outcomes recorded, none pending after the seed.
//! 2. **The right outcome.** A reply carries its request's id and body
//!    (`reply.id == request.id`), comes from the server called, is
//!    stamped no earlier than the request was sent, and answers an echo
//!    request; `MaybeDelivered` only for at-most-once calls, `BrokenPromise`
//!    only for requests whose promise the server dropped or gave up;
//!    `send` and `try_get_reply` requests are processed at most once; the
//!    servers never see a request that was not issued or whose body
//!    changed.
//! 3. **Every bit flip is caught.** The flips the tap sees equal the
//!    simulator's `net.bit_flip` counter, and the corruptions the
//!    transports detected (`corruptions_detected()`) equal the flips that
//!    reached a check (see `tap.rs`): exact, not a bound. Zero corrupted
//!    messages are delivered (2.).
//! 4. **Reliable calls survive disconnections.** Every 120 s `get_reply`
//!    ends with its reply (or fails fast with `Unreachable`); calls during
//!    which the connection dropped are counted, with the transports'
//!    `reliable_resent` and `reconnects`.
//!
//! Over the sweep: every fault family fired in some seed, servers were
//! killed, flips were injected and detected, reliable calls survived
//! disconnections, and the transport's `sometimes!`/`reachable!` sites
//! were all reached.
//!
//! Commands:
//! - `cargo test -p moonpool-transport --test chaos_sim` (the default
//!   sweep, [`DEFAULT_SEEDS`] seeds)
//! - `cargo test -p moonpool-transport --test chaos_sim -- --ignored
//!   --nocapture` (1,000 seeds, with the totals printed)
//! - `MOONPOOL_SEED=0x2a cargo test -p moonpool-transport --test chaos_sim
//!   chaos_sweep -- --exact --nocapture` (one seed, replayed)

#[path = "chaos_sim/tap.rs"]
mod tap;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{
    Instant, JoinHandle, Providers, RandomProvider, Ratio, TaskProvider, TimeProvider,
};
use moonpool_sim::assertions::{Coverage, SiteStatus};
use moonpool_sim::network::FAULT_FAMILIES;
use moonpool_sim::{
    Attrition, SeedReport, SimContext, SimJoinHandle, SimProviders, Simulation, SimulationBuilder,
    SweepPlan, Workload, WorkloadResult,
};
use moonpool_transport::{RpcError, Transport, TransportConfig, TransportMetrics};
use serde::{Deserialize, Serialize};
use tap::{FlipAccount, TapLog, TapProviders};

/// Server processes.
const SERVERS: usize = 2;
/// Client processes (the last one is unbound).
const CLIENTS: usize = 3;
/// Concurrent call loops per client.
const WORKERS: u64 = 3;
/// How long the workers issue calls, in simulated milliseconds.
const RUN_MS: u64 = 6_000;
/// The servers' port.
const SERVER_PORT: u16 = 4500;
/// The bound clients' port.
const CLIENT_PORT: u16 = 4600;
/// Timeout of the long reliable calls.
const LONG_TIMEOUT: Duration = Duration::from_secs(120);
/// Promises a server holds at most (older ones are dropped: broken).
const HELD_MAX: usize = 64;
/// Seeds of the default sweep.
const DEFAULT_SEEDS: u64 = 1_000;
/// Seeds of the heavy-corruption sweep.
const HEAVY_SEEDS: u64 = 300;
/// Violations kept per seed.
const VIOLATIONS_MAX: usize = 20;

fn server_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i as u8 + 1], SERVER_PORT))
}

// ---------------------------------------------------------------------------
// The service.

/// What the server does with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Action {
    Echo,
    Drop,
    Hold,
}

/// How the client sends a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Mode {
    Send,
    TryGet,
    Get,
    GetLong,
}

impl Mode {
    fn at_most_once(self) -> bool {
        matches!(self, Mode::Send | Mode::TryGet)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Call {
    id: u64,
    mode: Mode,
    action: Action,
    body: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CallRep {
    id: u64,
    body: Vec<u8>,
    server: usize,
    incarnation: u64,
    /// The server's local clock (`timer()`) when it answered, in ns.
    server_clock_ns: u64,
}

moonpool_transport::service! {
    /// The chaos test's echo service.
    pub mod chaos_service {
        call: Call => CallRep,
    }
}

/// The body of call `id`: 8..=207 bytes derived from the id, so any change
/// is seen at either end.
fn body(id: u64) -> Vec<u8> {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED;
    let len = 8 + (id.wrapping_mul(7919) % 200) as usize;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Per-seed shared state (plain data read after the seed; transports are
// dropped inside the seed).

/// What happened to one call.
#[derive(Clone, Debug)]
struct CallRecord {
    mode: Mode,
    outcome: Option<&'static str>,
}

#[derive(Default)]
struct Shared {
    tap: Rc<RefCell<TapLog>>,
    /// Every transport of the seed, until the snapshot.
    transports: RefCell<Vec<(String, Transport<TapProviders>)>>,
    /// Their counters at the snapshot.
    snapshot: RefCell<Option<Vec<(String, TransportMetrics)>>>,
    violations: RefCell<Vec<String>>,
    violations_dropped: Cell<u64>,
    calls: RefCell<BTreeMap<u64, CallRecord>>,
    /// Times each call id was processed by a server.
    processed: RefCell<BTreeMap<u64, u32>>,
    tally: RefCell<BTreeMap<&'static str, u64>>,
    /// Long calls during which the client's connection to the server dropped
    /// and that still got their reply.
    survived_disconnect: Cell<u64>,
    clients_done: Cell<usize>,
}

impl Shared {
    /// Forgets everything (a new run of the simulation starts).
    fn reset(&self) {
        *self.tap.borrow_mut() = TapLog::default();
        let transports = std::mem::take(&mut *self.transports.borrow_mut());
        drop(transports);
        *self.snapshot.borrow_mut() = None;
        self.violations.borrow_mut().clear();
        self.violations_dropped.set(0);
        self.calls.borrow_mut().clear();
        self.processed.borrow_mut().clear();
        self.tally.borrow_mut().clear();
        self.survived_disconnect.set(0);
        self.clients_done.set(0);
    }

    fn violation(&self, what: String) {
        let mut v = self.violations.borrow_mut();
        if v.len() < VIOLATIONS_MAX {
            v.push(what);
        } else {
            self.violations_dropped
                .set(self.violations_dropped.get() + 1);
        }
    }

    fn register(&self, name: String, t: &Transport<TapProviders>) {
        self.transports.borrow_mut().push((name, t.clone()));
    }

    fn count(&self, what: &'static str) {
        *self.tally.borrow_mut().entry(what).or_default() += 1;
    }

    fn issue(&self, id: u64, mode: Mode) {
        let fresh = self
            .calls
            .borrow_mut()
            .insert(
                id,
                CallRecord {
                    mode,
                    outcome: None,
                },
            )
            .is_none();
        if !fresh {
            self.violation(format!("call id {id} issued twice"));
        }
    }

    fn finish(&self, id: u64, outcome: &'static str) {
        let previous = self
            .calls
            .borrow_mut()
            .get_mut(&id)
            .map(|c| c.outcome.replace(outcome));
        match previous {
            Some(None) => self.count(outcome),
            Some(Some(first)) => {
                self.violation(format!("call {id} ended twice: {first}, then {outcome}"))
            }
            None => self.violation(format!("call {id} ended but was never issued")),
        }
    }

    /// Reads every registered transport's counters, stops the tap at the
    /// same instant, and drops the handles.
    fn take_snapshot(&self) {
        let transports = std::mem::take(&mut *self.transports.borrow_mut());
        let metrics = transports
            .iter()
            .map(|(name, t)| (name.clone(), t.metrics()))
            .collect();
        self.tap.borrow_mut().freeze();
        *self.snapshot.borrow_mut() = Some(metrics);
        drop(transports);
    }
}

// ---------------------------------------------------------------------------
// Servers.

async fn bind_retrying(p: &TapProviders, addr: SocketAddr) -> Transport<TapProviders> {
    // Bounded: binds fail only under the bind-failure fault (at most 1/2).
    for _ in 0..10_000 {
        if let Ok(t) = Transport::bind(p.clone(), addr, TransportConfig::default()).await {
            return t;
        }
        p.time().sleep(Duration::from_millis(10)).await;
    }
    panic!("could not bind {addr}");
}

async fn server_main(sim: SimProviders, shared: Rc<Shared>, index: usize) -> Result<(), String> {
    let p = TapProviders::new(sim.clone(), shared.tap.clone());
    let t = bind_retrying(&p, server_addr(index)).await;
    let incarnation = t.incarnation();
    shared.register(format!("server{index}/{incarnation:#x}"), &t);
    let server = chaos_service::Server::well_known(&t, 1).map_err(|e| e.to_string())?;
    let mut held = VecDeque::new();
    while let Some(chaos_service::Request::call(incoming)) = server.next().await {
        let call = incoming.request;
        *shared.processed.borrow_mut().entry(call.id).or_default() += 1;
        if call.body != body(call.id) {
            shared.violation(format!(
                "server{index} got a corrupted body for call {}",
                call.id
            ));
        }
        if incoming.reply.is_wanted() == (call.mode == Mode::Send) {
            shared.violation(format!(
                "server{index}: call {} ({:?}) arrived with the wrong reply wish",
                call.id, call.mode
            ));
        }
        match call.action {
            Action::Echo => incoming.reply.send(CallRep {
                id: call.id,
                body: call.body,
                server: index,
                incarnation,
                server_clock_ns: p.time().timer().as_nanos(),
            }),
            Action::Drop => drop(incoming.reply),
            Action::Hold => {
                held.push_back(incoming.reply);
                if held.len() > HELD_MAX {
                    held.pop_front();
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Clients.

struct ChaosClient {
    shared: Rc<Shared>,
    transport: Option<Transport<TapProviders>>,
    long_calls: Vec<SimJoinHandle<()>>,
}

/// Everything one call needs.
#[derive(Clone)]
struct Caller {
    p: TapProviders,
    shared: Rc<Shared>,
    transport: Transport<TapProviders>,
    clients: Rc<[chaos_service::Client<TapProviders>]>,
}

impl Caller {
    /// Issues call `id` and records its outcome, checking it.
    async fn call(&self, id: u64, mode: Mode, action: Action, server: usize, timeout: Duration) {
        let shared = &self.shared;
        shared.issue(id, mode);
        let client = &self.clients[server];
        let req = Call {
            id,
            mode,
            action,
            body: body(id),
        };
        if mode == Mode::Send {
            let outcome = match client.call.send(&req) {
                Ok(()) => "sent",
                Err(RpcError::Unreachable) => "unreachable",
                Err(RpcError::QueueFull) => "queue_full",
                Err(e) => {
                    shared.violation(format!("send {id}: unexpected error {e:?}"));
                    "violation"
                }
            };
            shared.finish(id, outcome);
            return;
        }
        let addr = server_addr(server);
        let disconnects = || {
            self.transport
                .peer_metrics(addr)
                .map_or(0, |m| m.disconnects)
        };
        let disconnects_before = disconnects();
        let start = self.p.time().now();
        let call = async {
            match mode {
                Mode::TryGet => client.call.try_get_reply(&req, timeout).await,
                _ => client.call.get_reply(&req, timeout).await,
            }
        };
        // The watchdog: a call silent 1 ms past its own timeout is a bug.
        let watched = self
            .p
            .time()
            .timeout(timeout + Duration::from_millis(1), call)
            .await;
        let end = self.p.time().now();
        let Ok(result) = watched else {
            shared.violation(format!(
                "call {id} ({mode:?}, {action:?}) silent past its {timeout:?} timeout"
            ));
            shared.finish(id, "silent");
            return;
        };
        if end - start > timeout {
            shared.violation(format!(
                "call {id} ({mode:?}) ended {:?} after its start, past its {timeout:?} timeout",
                end - start
            ));
        }
        let outcome = match judge(id, mode, action, server, start, end, &result) {
            Ok(o) => o,
            Err(e) => {
                shared.violation(format!(
                    "call {id} ({mode:?}, {action:?}, server{server}): {e}"
                ));
                "violation"
            }
        };
        if mode == Mode::GetLong && outcome == "reply" && disconnects() > disconnects_before {
            shared
                .survived_disconnect
                .set(shared.survived_disconnect.get() + 1);
        }
        shared.finish(id, outcome);
    }
}

/// Checks one call's result against what the call was; names the outcome.
fn judge(
    id: u64,
    mode: Mode,
    action: Action,
    server: usize,
    start: Instant,
    end: Instant,
    result: &Result<CallRep, RpcError>,
) -> Result<&'static str, String> {
    match result {
        Ok(rep) => {
            if rep.id != id {
                return Err(format!("got the reply of call {}", rep.id));
            }
            if rep.body != body(id) {
                return Err("the reply's body was altered".into());
            }
            if rep.server != server {
                return Err(format!("answered by server{}", rep.server));
            }
            if rep.server_clock_ns < start.as_nanos() {
                return Err("the reply was stamped before the request was sent".into());
            }
            if action != Action::Echo {
                return Err("a reply although the server did not answer".into());
            }
            Ok("reply")
        }
        Err(RpcError::Timeout) if mode != Mode::GetLong => Ok("timeout"),
        Err(RpcError::MaybeDelivered) if mode.at_most_once() => Ok("maybe_delivered"),
        Err(RpcError::BrokenPromise) if action != Action::Echo => Ok("broken_promise"),
        Err(RpcError::Unreachable) if end == start => Ok("unreachable"),
        Err(e) => Err(format!("unexpected outcome {e:?}")),
    }
}

impl ChaosClient {
    fn providers(&self, ctx: &SimContext) -> TapProviders {
        TapProviders::new(ctx.providers().clone(), self.shared.tap.clone())
    }
}

impl Workload for ChaosClient {
    async fn setup(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = self.providers(ctx);
        let t = if ctx.client_id() + 1 == ctx.client_count() {
            Transport::unbound(p.clone(), TransportConfig::default())
        } else {
            bind_retrying(&p, SocketAddr::new(ctx.providers().ip(), CLIENT_PORT)).await
        };
        self.shared
            .register(format!("client{}", ctx.client_id()), &t);
        self.transport = Some(t);
        Ok(())
    }

    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = self.providers(ctx);
        let transport = self.transport.clone().ok_or("no transport")?;
        let clients: Rc<[_]> = (0..SERVERS)
            .map(|s| {
                chaos_service::Client::new(
                    &transport,
                    chaos_service::Interface::well_known(server_addr(s), 1),
                )
            })
            .collect();
        let caller = Caller {
            p: p.clone(),
            shared: self.shared.clone(),
            transport,
            clients,
        };
        let end = p.time().now() + Duration::from_millis(RUN_MS);
        let client = ctx.client_id() as u64;
        let long_calls = RefCell::new(Vec::new());
        let workers = (0..WORKERS).map(|w| {
            let (caller, p, long_calls) = (caller.clone(), p.clone(), &long_calls);
            async move {
                // Bounded by the clock: each round sleeps or waits on a call.
                let mut seq = 0u64;
                while p.time().now() < end {
                    let id = (client << 48) | (w << 40) | seq;
                    seq += 1;
                    let r = p.random();
                    let server = r.random_range(0..SERVERS);
                    let mode = match r.random_range(0..100u32) {
                        0..15 => Mode::Send,
                        15..50 => Mode::TryGet,
                        50..85 => Mode::Get,
                        _ => Mode::GetLong,
                    };
                    let action = match (mode, r.random_range(0..100u32)) {
                        (Mode::GetLong, _) | (_, 0..90) => Action::Echo,
                        (_, 90..96) => Action::Drop,
                        _ => Action::Hold,
                    };
                    if mode == Mode::GetLong {
                        let c = caller.clone();
                        let h = p.task().spawn("long-call", async move {
                            c.call(id, mode, action, server, LONG_TIMEOUT).await;
                        });
                        long_calls.borrow_mut().push(h);
                    } else {
                        let timeout = Duration::from_millis(r.random_range(20..=3_000u64));
                        caller.call(id, mode, action, server, timeout).await;
                    }
                    let pause = r.random_range(0..100u64);
                    p.time().sleep(Duration::from_millis(pause)).await;
                }
            }
        });
        futures::future::join_all(workers).await;
        self.long_calls = long_calls.into_inner();
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        // Chaos is over: every long call must now end (with its reply).
        for h in std::mem::take(&mut self.long_calls) {
            if p.timeout(LONG_TIMEOUT * 2, h).await.is_err() {
                self.shared
                    .violation("a long call's task never ended".to_string());
            }
        }
        let shared = &self.shared;
        shared.clients_done.set(shared.clients_done.get() + 1);
        if ctx.client_id() == 0 {
            // Bounded: the other clients end within their long calls' wait.
            for _ in 0..10_000 {
                if shared.clients_done.get() == ctx.client_count() {
                    break;
                }
                p.sleep(Duration::from_millis(100)).await;
            }
            // Let frames in flight land, then read every counter at once.
            p.sleep(Duration::from_secs(3)).await;
            shared.take_snapshot();
        }
        self.transport = None;
        Ok(())
    }
}

/// Attrition in half the seeds (decided per seed from the seed's
/// generator, when chaos is on).
struct SomeSeeds(Attrition);

impl Workload for SomeSeeds {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        if ctx.control().chaos_enabled() && ctx.providers().random_bool(Ratio::new(1, 2)) {
            self.0.run(ctx).await
        } else {
            Ok(())
        }
    }
}

/// The chaos profile of a sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// The simulator's default chaos profile.
    Default,
    /// Bit flips on 1/50 ..= 1/5 of reads, random closes on 1/500 ..= 1/50
    /// of reads and writes, each family off in only a quarter of the seeds:
    /// many flips per connection, many frames cut, to test the flip
    /// account where it is hardest.
    HeavyCorruption,
}

fn chaos_simulation(shared: &Rc<Shared>, profile: Profile) -> Simulation {
    let mut network = moonpool_sim::NetworkConfig::default();
    if profile == Profile::HeavyCorruption {
        network.chaos.bit_flip = moonpool_sim::OneIn::new(5, 50);
        network.chaos.random_close = moonpool_sim::OneIn::new(50, 500);
        network.chaos.family_off = Ratio::new(1, 4);
    }
    let mut b = SimulationBuilder::new()
        .chaos(true)
        .network(network)
        // One poll in eight runs a random ready task, not the oldest.
        .perturb_ready_order(Ratio::new(1, 8))
        .time_limit(Duration::from_secs(900))
        .assertion_scope(&["moonpool_transport"]);
    for i in 0..SERVERS {
        let sh = shared.clone();
        b = b.process(
            format!("server{i}"),
            [10, 0, 0, i as u8 + 1],
            move |p: SimProviders| server_main(p, sh.clone(), i),
        );
    }
    let sh = shared.clone();
    b.workload("client", CLIENTS, move |id| {
        // Factories run when a world is populated, before any process or
        // workload is polled: a fresh start for each run of the simulation
        // (`check_determinism` runs it twice).
        if id == 0 {
            sh.reset();
        }
        ChaosClient {
            shared: sh.clone(),
            transport: None,
            long_calls: Vec::new(),
        }
    })
    .network_nemeses()
    .background_workload("attrition", 1, |_| SomeSeeds(Attrition::new().max_down(1)))
    .build()
    .expect("valid simulation")
}

// ---------------------------------------------------------------------------
// The audit of one seed.

/// What one seed showed.
#[derive(Default)]
struct SeedAudit {
    calls: u64,
    tally: BTreeMap<&'static str, u64>,
    flips: FlipAccount,
    detected: u64,
    reliable_resent: u64,
    reconnects: u64,
    survived_disconnect: u64,
}

fn run_and_audit(seed: u64, profile: Profile) -> (SeedReport, Result<SeedAudit, String>) {
    let shared = Rc::new(Shared::default());
    let report = chaos_simulation(&shared, profile).run_seed(seed);
    let audit = audit(&report, &shared);
    (report, audit)
}

fn audit(report: &SeedReport, shared: &Shared) -> Result<SeedAudit, String> {
    if let Some(f) = report.outcome.failure() {
        return Err(format!("seed failed: {f}"));
    }
    let violations = shared.violations.borrow();
    if !violations.is_empty() {
        return Err(format!(
            "{} violation(s) (+{} not kept):\n  {}",
            violations.len(),
            shared.violations_dropped.get(),
            violations.join("\n  ")
        ));
    }
    let calls = shared.calls.borrow();
    let pending: Vec<u64> = calls
        .iter()
        .filter(|(_, c)| c.outcome.is_none())
        .map(|(id, _)| *id)
        .collect();
    if !pending.is_empty() {
        return Err(format!(
            "{} of {} calls have no outcome: {:?}",
            pending.len(),
            calls.len(),
            &pending[..pending.len().min(10)]
        ));
    }
    let tally = shared.tally.borrow().clone();
    if tally.values().sum::<u64>() != calls.len() as u64 {
        return Err(format!(
            "{} calls issued, {} outcomes: {tally:?}",
            calls.len(),
            tally.values().sum::<u64>()
        ));
    }
    for (id, times) in shared.processed.borrow().iter() {
        match calls.get(id) {
            None => return Err(format!("a server processed call {id}, never issued")),
            Some(c) if c.mode.at_most_once() && *times > 1 => {
                return Err(format!(
                    "at-most-once call {id} ({:?}) processed {times} times",
                    c.mode
                ));
            }
            Some(_) => {}
        }
    }
    let snapshot = shared.snapshot.borrow();
    let Some(metrics) = snapshot.as_ref() else {
        return Err("no snapshot of the counters was taken".into());
    };
    let flips = shared.tap.borrow().flip_account()?;
    let injected = report.counters.get("net.bit_flip").copied().unwrap_or(0);
    if flips.flips != injected {
        return Err(format!(
            "the tap saw {} flipped bits, the simulator injected {injected}",
            flips.flips
        ));
    }
    let detected: u64 = metrics.iter().map(|(_, m)| m.corruptions_detected()).sum();
    if detected != flips.checkable {
        return Err(format!(
            "transports detected {detected} corruptions; {} flipped connection ends reached a check ({flips:?}; {metrics:?})",
            flips.checkable
        ));
    }
    Ok(SeedAudit {
        calls: calls.len() as u64,
        tally,
        flips,
        detected,
        reliable_resent: metrics.iter().map(|(_, m)| m.reliable_resent).sum(),
        reconnects: metrics.iter().map(|(_, m)| m.reconnects).sum(),
        survived_disconnect: shared.survived_disconnect.get(),
    })
}

// ---------------------------------------------------------------------------
// Sweeps.

/// Totals over a sweep.
#[derive(Default)]
struct Totals {
    seeds: u64,
    calls: u64,
    tally: BTreeMap<&'static str, u64>,
    flips: FlipAccount,
    detected: u64,
    reliable_resent: u64,
    reconnects: u64,
    survived_disconnect: u64,
    /// Fault kind → seeds in which it fired.
    fault_seeds: BTreeMap<&'static str, u64>,
    failures: Vec<String>,
}

fn sweep(seeds: impl Iterator<Item = u64>, profile: Profile, coverage: &mut Coverage) -> Totals {
    let test = match profile {
        Profile::Default => "chaos_sweep",
        Profile::HeavyCorruption => "chaos_sweep_heavy_corruption",
    };
    let mut t = Totals::default();
    for seed in seeds {
        let (report, audit) = run_and_audit(seed, profile);
        coverage.observe(&report);
        t.seeds += 1;
        for (kind, n) in &report.counters {
            if *n > 0 {
                *t.fault_seeds.entry(kind).or_default() += 1;
            }
        }
        match audit {
            Ok(a) => {
                t.calls += a.calls;
                for (k, v) in a.tally {
                    *t.tally.entry(k).or_default() += v;
                }
                t.flips.add(&a.flips);
                t.detected += a.detected;
                t.reliable_resent += a.reliable_resent;
                t.reconnects += a.reconnects;
                t.survived_disconnect += a.survived_disconnect;
            }
            Err(e) => t.failures.push(format!(
                "seed {seed:#x}: {e}\n  replay: MOONPOOL_SEED={seed:#x} cargo test -p moonpool-transport --test chaos_sim {test} -- --exact --nocapture"
            )),
        }
    }
    t
}

/// The transport's coverage goals: every one must be reached over a sweep.
const TRANSPORT_GOALS: &[&str] = &[
    "a peer reconnects after a backoff delay",
    "a corrupted frame is detected",
    "a corrupted handshake is detected",
    "a reply promise is broken",
    "a lost connection ends at-most-once calls with MaybeDelivered",
    "reliable frames are resent on a new connection",
    "a call fails fast: its address is marked failed",
    "a failed address recovers",
    "a silent connection is closed by the ping timeout",
    "a late outcome of a finished call is ignored",
];

fn check_totals(t: &Totals, coverage: &Coverage, whole_sweep: bool) {
    eprintln!(
        "chaos: {} seeds, {} calls, outcomes {:?}",
        t.seeds, t.calls, t.tally
    );
    eprintln!(
        "chaos: flips {} (in handshakes {}, length words {}, frame bodies {}); reached a check {}, detected {}; never checkable: {} first flips in unfinished frames, {} later flips on condemned ends",
        t.flips.flips,
        t.flips.in_handshake,
        t.flips.in_length_word,
        t.flips.in_frame_body,
        t.flips.checkable,
        t.detected,
        t.flips.unfinished,
        t.flips.after_first
    );
    eprintln!(
        "chaos: reliable frames resent {}, reconnects {}, long calls answered across a disconnect {}",
        t.reliable_resent, t.reconnects, t.survived_disconnect
    );
    eprintln!("chaos: fault kinds (seeds fired): {:?}", t.fault_seeds);
    assert!(
        t.failures.is_empty(),
        "{} of {} seeds failed:\n{}",
        t.failures.len(),
        t.seeds,
        t.failures.join("\n")
    );
    if !whole_sweep {
        return;
    }
    eprintln!("{}", coverage.render());
    for (family, kinds) in FAULT_FAMILIES {
        assert!(
            kinds.iter().any(|k| t.fault_seeds.contains_key(k)),
            "fault family {family} never fired ({kinds:?})"
        );
    }
    assert!(
        t.fault_seeds.contains_key("process.kill"),
        "no server was killed"
    );
    assert!(
        t.flips.flips > 0 && t.detected > 0,
        "no bit flip was caught"
    );
    assert!(t.reliable_resent > 0 && t.reconnects > 0);
    assert!(
        t.survived_disconnect > 0,
        "no reliable call got its reply across a disconnection"
    );
    for goal in TRANSPORT_GOALS {
        let site = coverage
            .site_named(goal)
            .unwrap_or_else(|| panic!("no assertion site {goal:?}"));
        assert!(
            site.status() == SiteStatus::Satisfied,
            "transport coverage goal {goal:?} not reached:\n{}",
            coverage.render()
        );
    }
}

#[test]
fn chaos_sweep() {
    let plan = SweepPlan::from_env_or(SweepPlan::range(0, DEFAULT_SEEDS)).expect("MOONPOOL_*");
    let whole = plan.seeds_planned() >= DEFAULT_SEEDS;
    let mut coverage = Coverage::for_modules(&["moonpool_transport"]);
    let totals = sweep(plan.iter_seeds(), Profile::Default, &mut coverage);
    check_totals(&totals, &coverage, whole);
}

#[test]
fn chaos_sweep_heavy_corruption() {
    let plan = SweepPlan::from_env_or(SweepPlan::range(0, HEAVY_SEEDS)).expect("MOONPOOL_*");
    let mut coverage = Coverage::for_modules(&["moonpool_transport"]);
    let t = sweep(plan.iter_seeds(), Profile::HeavyCorruption, &mut coverage);
    check_totals(&t, &coverage, false);
    if plan.seeds_planned() >= HEAVY_SEEDS {
        // The account's hard cases all occurred, and still added up.
        assert!(t.flips.in_handshake > 0 && t.flips.in_length_word > 0);
        assert!(t.flips.unfinished > 0, "no flip in a frame that was cut");
        assert!(t.flips.after_first > 0, "no second flip on a condemned end");
    }
}

#[test]
fn chaos_seeds_replay_identically() {
    for seed in (0..20u64).map(|i| i * 37 + 3) {
        let shared = Rc::new(Shared::default());
        let report = chaos_simulation(&shared, Profile::Default).check_determinism(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed:#x}: {:?}",
            report.outcome
        );
        // And a fresh simulation gives the same fingerprint and counters.
        let (again, audit) = run_and_audit(seed, Profile::Default);
        assert_eq!(again.fingerprint, report.fingerprint, "seed {seed:#x}");
        assert_eq!(again.counters, report.counters, "seed {seed:#x}");
        audit.unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
    }
}

#[test]
fn recording_the_tap_changes_no_decision() {
    // The tap observes only: with the same seed, the fingerprint is the
    // same whether it records or not (frozen from the start).
    let seed = 5;
    let (a, _) = run_and_audit(seed, Profile::HeavyCorruption);
    let shared = Rc::new(Shared::default());
    shared.tap.borrow_mut().freeze();
    let b = chaos_simulation(&shared, Profile::HeavyCorruption).run_seed(seed);
    assert_eq!(a.fingerprint, b.fingerprint);
}

/// Killing a process drops its transport together with the transport's own
/// tasks, in whatever order the simulator drops them: the transport's
/// shutdown aborts handles of tasks already gone and wakes tasks that are
/// dead; both must be no-ops. `holder_task` keeps the transport in a task
/// spawned after the connections (so those die first), otherwise in `main`
/// (which dies first).
fn kill_drops_transport(holder_task: bool) {
    use moonpool_transport::scenarios::{EchoMode, EchoServer, echo, echo_service};

    let a = SocketAddr::from(([10, 0, 0, 1], SERVER_PORT));
    let b = SocketAddr::from(([10, 0, 0, 2], SERVER_PORT));
    let sim = SimulationBuilder::new()
        .process("a", [10, 0, 0, 1], move |p: SimProviders| async move {
            let server = EchoServer::start(&p, a, TransportConfig::default(), false).await;
            // A reliable call to b that b holds: pending when `a` dies.
            let to_b = echo_service::Client::new(
                &server.transport,
                echo_service::Interface::well_known(b, 1),
            );
            let calls = p.spawn("calls-to-b", async move {
                let _ = to_b
                    .echo
                    .get_reply(&echo(1, EchoMode::Hold), Duration::from_secs(600))
                    .await;
            });
            if holder_task {
                let p2 = p.clone();
                p.spawn("holder", async move {
                    let _keep = (server, calls);
                    loop {
                        p2.sleep(Duration::from_secs(3600)).await;
                    }
                })
                .detach();
                loop {
                    p.sleep(Duration::from_secs(3600)).await;
                }
            } else {
                let _keep = (server, calls);
                loop {
                    p.sleep(Duration::from_secs(3600)).await;
                }
            }
        })
        .process("b", [10, 0, 0, 2], move |p: SimProviders| async move {
            let _server = EchoServer::start(&p, b, TransportConfig::default(), false).await;
            loop {
                p.sleep(Duration::from_secs(3600)).await;
            }
        })
        .workload("driver", 1, move |_| KillDriver { a })
        .build()
        .expect("valid simulation");
    for seed in 0..20 {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "holder_task={holder_task} seed {seed}: {:?}",
            report.outcome
        );
        assert_eq!(report.counters.get("process.kill"), Some(&1));
    }
}

struct KillDriver {
    a: SocketAddr,
}

impl Workload for KillDriver {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        use moonpool_transport::scenarios::{EchoMode, echo, echo_service};
        let p = ctx.providers();
        let control = ctx.control();
        let t = Transport::unbound(p.clone(), TransportConfig::default());
        let c = echo_service::Client::new(&t, echo_service::Interface::well_known(self.a, 1));
        let mut first = None;
        for _ in 0..100 {
            match c
                .echo
                .get_reply(&echo(1, EchoMode::Echo), Duration::from_secs(1))
                .await
            {
                Ok(r) => {
                    first = Some(r.server_incarnation);
                    break;
                }
                Err(_) => p.sleep(Duration::from_millis(10)).await,
            }
        }
        let first = first.ok_or("a never answered")?;
        // An at-most-once call `a` holds while it dies.
        let held = {
            let c = c.clone();
            p.spawn("held", async move {
                c.echo
                    .try_get_reply(&echo(2, EchoMode::Hold), Duration::from_secs(30))
                    .await
            })
        };
        p.sleep(Duration::from_millis(100)).await;
        let a = control.process_by_name("a").ok_or("no a")?;
        control.kill(a)?;
        let r = p.timeout(Duration::from_secs(10), held).await;
        if !matches!(r, Ok(Ok(Err(RpcError::MaybeDelivered)))) {
            return Err(format!("the held call ended with {r:?}").into());
        }
        p.sleep(Duration::from_millis(500)).await;
        control.reboot(a)?;
        let r = c
            .echo
            .get_reply(&echo(3, EchoMode::Echo), Duration::from_secs(30))
            .await?;
        if r.server_incarnation == first {
            return Err("the reply came from the killed incarnation".into());
        }
        Ok(())
    }
}

#[test]
fn a_killed_process_drops_its_transport_with_its_tasks() {
    kill_drops_transport(false);
    kill_drops_transport(true);
}
