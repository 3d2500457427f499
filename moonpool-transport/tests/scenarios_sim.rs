//! The transport scenario suite under simulation.
//!
//! The same cases as `scenarios_tokio.rs`, asserting the same outcomes, run
//! in `moonpool-sim`: each case is one seed of a simulation with
//! [`NODES`] idle node processes (`node0` at 10.0.0.1, `node1` at
//! 10.0.0.2, ...) and one workload whose `run` is the case. The case's own
//! providers are the workload client's; `node(p, i)` hands it the providers
//! of process `node{i}`, so a server started "on node 0" really runs as
//! that process, at its IP, on its tasks. The network is quiet (the suite
//! injects its own faults: restarts, raw corrupted bytes, silent peers).
//!
//! Besides the one-seed tests, `every_scenario_passes_across_seeds` runs
//! every case over [`SWEEP_SEEDS`] seeds with the ready order perturbed, so
//! the outcomes do not hang on one lucky interleaving, and
//! `scenarios_replay_identically` checks that a case's seed replays to the
//! same fingerprint.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Ratio, TimeProvider};
use moonpool_sim::{
    SeedReport, SimContext, SimControl, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};
use moonpool_transport::scenarios::{self, Harness};

/// Node processes per simulation (the suite uses nodes 0..=2).
const NODES: usize = 3;
/// The port every node's transport listens on.
const PORT: u16 = 4500;
/// Seeds per case in the sweep.
const SWEEP_SEEDS: u64 = 50;

/// The IP of node `index`: 10.0.0.(index + 1).
fn node_ip(index: usize) -> [u8; 4] {
    [10, 0, 0, index as u8 + 1]
}

/// How the harness builds its simulations.
#[derive(Clone, Copy)]
struct Options {
    /// Probability of running a random ready task instead of the oldest.
    perturb: Ratio,
}

/// Hands out the case to run, once per seed run (`None`: already taken).
type CaseSource<F> = Rc<dyn Fn() -> Option<F>>;

/// A workload whose `run` is one scenario; it keeps the case's output.
struct CaseWorkload<F, T> {
    case: CaseSource<F>,
    output: Rc<RefCell<Option<T>>>,
}

impl<F, Fut, T> Workload for CaseWorkload<F, T>
where
    F: FnOnce(SimProviders) -> Fut + 'static,
    Fut: Future<Output = T>,
    T: 'static,
{
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let case = (self.case)().ok_or("the scenario already ran in this simulation")?;
        let out = case(ctx.providers().clone()).await;
        *self.output.borrow_mut() = Some(out);
        Ok(())
    }
}

/// The simulation of one case: idle nodes and the case's workload.
fn simulation<F, Fut, T>(
    options: Options,
    case: CaseSource<F>,
    output: Rc<RefCell<Option<T>>>,
) -> Simulation
where
    F: FnOnce(SimProviders) -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
    T: 'static,
{
    // The scenarios check the transport's behaviour with exactly the
    // faults each one injects: the chaos profile (on by default) stays off.
    let mut b = SimulationBuilder::new()
        .chaos(false)
        .perturb_ready_order(options.perturb);
    for i in 0..NODES {
        b = b.process(
            format!("node{i}"),
            node_ip(i),
            |p: SimProviders| async move {
                // The node does nothing by itself: the scenario runs code as it.
                loop {
                    p.sleep(Duration::from_secs(3600)).await;
                }
            },
        );
    }
    b.workload("scenario", 1, move |_| CaseWorkload {
        case: case.clone(),
        output: output.clone(),
    })
    .build()
    .expect("valid simulation")
}

/// Runs `case` for `seed`, panicking with the seed's failure if it failed.
fn run_case<F, Fut, T>(options: Options, seed: u64, case: F) -> (T, SeedReport)
where
    F: FnOnce(SimProviders) -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
    T: 'static,
{
    let once = RefCell::new(Some(case));
    let output = Rc::new(RefCell::new(None));
    let source: CaseSource<F> = Rc::new(move || once.borrow_mut().take());
    let report = simulation(options, source, output.clone()).run_seed(seed);
    if let Some(failure) = report.outcome.failure() {
        panic!("simulated scenario failed (seed {seed:#x}): {failure}");
    }
    let out = output
        .borrow_mut()
        .take()
        .expect("a passing seed ran its case");
    (out, report)
}

/// The providers of node `index` of the simulation `p` belongs to.
fn node_providers(p: &SimProviders, index: usize) -> SimProviders {
    assert!(index < NODES, "node {index}: the harness has {NODES} nodes");
    let control = SimControl::of(p);
    let id = control
        .process_by_name(&format!("node{index}"))
        .expect("node process");
    control.providers_of(id).expect("node process alive")
}

/// The suite's harness: a quiet network, the scheduler's default order.
struct SimHarness;

impl Harness for SimHarness {
    type P = SimProviders;

    fn run<T, Fut>(seed: u64, case: impl FnOnce(SimProviders) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static,
    {
        let options = Options {
            perturb: Ratio::ZERO,
        };
        run_case(options, seed, case).0
    }

    fn node(p: &SimProviders, index: usize) -> SimProviders {
        node_providers(p, index)
    }

    fn listen_addr(_: &SimProviders, index: usize) -> SocketAddr {
        SocketAddr::from((node_ip(index), PORT))
    }
}

/// Like [`SimHarness`], with the ready order perturbed (one poll in four
/// runs a random ready task instead of the oldest).
struct PerturbedSimHarness;

impl Harness for PerturbedSimHarness {
    type P = SimProviders;

    fn run<T, Fut>(seed: u64, case: impl FnOnce(SimProviders) -> Fut + 'static) -> T
    where
        T: 'static,
        Fut: Future<Output = T> + 'static,
    {
        let options = Options {
            perturb: Ratio::new(1, 4),
        };
        run_case(options, seed, case).0
    }

    fn node(p: &SimProviders, index: usize) -> SimProviders {
        node_providers(p, index)
    }

    fn listen_addr(_: &SimProviders, index: usize) -> SocketAddr {
        SocketAddr::from((node_ip(index), PORT))
    }
}

moonpool_transport::transport_scenario_tests!(SimHarness);

/// The panic message of a caught panic.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic>".to_string()
    }
}

#[test]
fn every_scenario_passes_across_seeds() {
    let cases = scenarios::all_cases::<PerturbedSimHarness>();
    assert_eq!(cases.len(), 41, "the suite's case count changed");
    let mut failures = Vec::new();
    for case in &cases {
        for seed in 1..=SWEEP_SEEDS {
            let run = case.run;
            if let Err(e) = std::panic::catch_unwind(move || run(seed)) {
                failures.push(format!("{} seed {seed}: {}", case.name, panic_message(e)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        cases.len() as u64 * SWEEP_SEEDS,
        failures.join("\n")
    );
}

type BoxedCase = std::pin::Pin<Box<dyn Future<Output = ()>>>;
type CaseFn = fn(SimProviders) -> BoxedCase;

#[test]
fn scenarios_replay_identically() {
    // Cases with much concurrency, restarts and raw corruption, several
    // seeds each, ready order perturbed: each seed replays to the same
    // decisions (`check_determinism` runs it twice in fresh worlds).
    let cases: [(&str, CaseFn); 5] = [
        ("many_concurrent_requests", |p| {
            Box::pin(scenarios::many_concurrent_requests::<SimHarness>(p))
        }),
        ("server_restart", |p| {
            Box::pin(scenarios::server_restart::<SimHarness>(p))
        }),
        ("corrupted_frame", |p| {
            Box::pin(
                scenarios::corrupted_frame_closes_the_connection_without_delivery::<SimHarness>(p),
            )
        }),
        ("replies_past_a_full_queue", |p| {
            Box::pin(scenarios::replies_are_not_dropped_for_a_full_queue::<
                SimHarness,
            >(p))
        }),
        ("older_incarnation", |p| {
            Box::pin(
                scenarios::an_older_incarnation_does_not_replace_a_live_connection::<SimHarness>(p),
            )
        }),
    ];
    let options = Options {
        perturb: Ratio::new(1, 4),
    };
    for (name, case) in cases {
        let source: CaseSource<CaseFn> = Rc::new(move || Some(case));
        let sim = simulation(options, source, Rc::new(RefCell::new(None)));
        for seed in [1u64, 7, 0x7EA5] {
            let report = sim.check_determinism(seed);
            assert!(
                report.outcome.is_pass(),
                "{name} seed {seed}: {:?}",
                report.outcome
            );
        }
    }
}

/// Whether the seed reached the assertion site with `message`.
fn reached(report: &SeedReport, message: &str) -> bool {
    report
        .assertions
        .iter()
        .any(|a| a.site.message == message && a.true_count > 0)
}

#[test]
fn identity_refusals_take_the_path_each_case_is_about() {
    // In the simulator every node has its own IP, so the two impostor
    // cases are refused by different checks: another host's claim by the
    // IP check; a claim from the client's own IP (an older incarnation)
    // by the live connection answering the ping.
    let options = Options {
        perturb: Ratio::ZERO,
    };
    let (_, other_host) = run_case(options, 1, |p| {
        scenarios::an_impostor_handshake_is_refused::<SimHarness>(p)
    });
    assert!(reached(
        &other_host,
        "a connection whose identity is not proven is refused"
    ));
    assert!(!reached(
        &other_host,
        "a live connection is kept against a newcomer"
    ));
    let (_, same_host) = run_case(options, 1, |p| {
        scenarios::an_older_incarnation_does_not_replace_a_live_connection::<SimHarness>(p)
    });
    assert!(reached(
        &same_host,
        "a live connection is kept against a newcomer"
    ));
    let (_, liar) = run_case(options, 1, |p| {
        scenarios::a_peer_answering_as_another_address_is_refused::<SimHarness>(p)
    });
    assert!(reached(
        &liar,
        "a connection whose identity is not proven is refused"
    ));
}
