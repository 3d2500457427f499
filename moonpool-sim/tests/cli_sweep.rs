//! The library side of the runner: `Simulation::sweep`, plans from the
//! environment, stop conditions, observers, `assert_all_passed`, fault
//! tallies, and tracing that does not change executions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool_core::{RandomProvider, TaskProvider, TimeProvider};
use moonpool_sim::runner::sweep::{Silent, Until};
use moonpool_sim::trace::{TraceSink, with_sink};
use moonpool_sim::{
    SeedFailure, SeedPlan, SeedReport, Shard, SimContext, Simulation, SimulationBuilder,
    StopReason, SweepObserver, SweepPlan, SweepReport, Workload, WorkloadResult,
};

/// Two tasks sleeping random amounts; fails on seeds ≡ 3 (mod 4).
struct Sleepy;
impl Workload for Sleepy {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers().clone();
        let mut handles = Vec::new();
        for i in 0..2 {
            let p2 = p.clone();
            handles.push(p.spawn(&format!("sleeper-{i}"), async move {
                for _ in 0..5 {
                    let ms = p2.random_range(1..30u64);
                    tracing::debug!(ms, "nap");
                    p2.sleep(Duration::from_millis(ms)).await;
                }
            }));
        }
        for h in handles {
            h.await?;
        }
        if ctx.seed() % 4 == 3 {
            return Err("seed is 3 mod 4".into());
        }
        Ok(())
    }
}

fn sleepy() -> Simulation {
    SimulationBuilder::new()
        .workload("sleepy", 2, |_| Sleepy)
        .build()
        .expect("valid")
}

fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn a_sweep_runs_every_seed_and_each_matches_a_lone_run() {
    let sim = sleepy();
    let report = sim.sweep(&SweepPlan::range(10, 12));
    assert_eq!(report.seeds_run, 12);
    assert_eq!(report.failed, 3, "seeds 11, 15 and 19 fail");
    assert_eq!(report.passed, 9);
    assert_eq!(report.stopped, StopReason::Completed);
    let failed: Vec<u64> = report.failures.iter().map(|f| f.seed).collect();
    assert_eq!(failed, vec![11, 15, 19]);
    for r in &report.results {
        let alone = sim.run_seed(r.seed);
        assert_eq!(r.fingerprint, alone.fingerprint, "seed {}", r.seed);
        assert_eq!(r.passed, alone.outcome.is_pass());
    }
    assert!(report.events > 0 && report.sim_time > Duration::ZERO);
}

#[test]
fn assert_all_passed_names_each_failure_and_its_replay_line() {
    let sim = sleepy();
    let mut plan = SweepPlan::range(0, 8);
    plan.chaos = Some(false);
    let report = sim.sweep(&plan);
    let panic =
        std::panic::catch_unwind(|| report.assert_all_passed()).expect_err("seeds 3 and 7 fail");
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted message")
        .clone();
    assert!(
        message.starts_with("2 of 8 seed(s) failed (first seed 0x0, chaos off):"),
        "{message}"
    );
    assert!(message.contains("seed 0x3 (fingerprint 0x"), "{message}");
    assert!(
        message.contains("workload 'sleepy' client 0 failed in run: seed is 3 mod 4"),
        "{message}"
    );
    assert!(
        message.contains(
            "replay: MOONPOOL_SEED=0x7 MOONPOOL_CHAOS=off cargo test -p moonpool-sim \
             assert_all_passed_names_each_failure_and_its_replay_line -- --exact"
        ),
        "{message}"
    );
    sim.sweep(&SweepPlan::range(0, 3)).assert_all_passed();
}

#[test]
fn plans_from_the_environment() {
    let default = SweepPlan::range(0, 50);
    let plan = SweepPlan::from_env_with(default.clone(), &env_of(&[])).expect("no vars");
    assert_eq!(
        plan.seeds,
        SeedPlan::Range {
            first: 0,
            count: 50
        }
    );
    assert_eq!(plan.chaos, None);

    let plan = SweepPlan::from_env_with(default.clone(), &env_of(&[("MOONPOOL_SEED", "0x2a")]))
        .expect("valid");
    assert_eq!(plan.seeds, SeedPlan::One(42));
    assert!(plan.record_timeline);

    let plan = SweepPlan::from_env_with(
        default.clone(),
        &env_of(&[
            ("MOONPOOL_SEEDS", "9"),
            ("MOONPOOL_SHARD", "2/3"),
            ("MOONPOOL_CHAOS", "on"),
            ("MOONPOOL_CHECK_DETERMINISM", "1"),
            ("MOONPOOL_TIME_BUDGET", "5s"),
        ]),
    )
    .expect("valid");
    assert_eq!(plan.seeds, SeedPlan::Range { first: 0, count: 9 });
    assert_eq!(plan.shard, Some(Shard::new(2, 3).expect("valid")));
    assert_eq!(plan.chaos, Some(true));
    assert!(plan.check_determinism);
    assert_eq!(plan.time_budget, Some(Duration::from_secs(5)));

    let plan =
        SweepPlan::from_env_with(default.clone(), &env_of(&[("MOONPOOL_FIRST_SEED", "100")]))
            .expect("valid");
    assert_eq!(
        plan.seeds,
        SeedPlan::Range {
            first: 100,
            count: 50
        }
    );

    assert!(
        SweepPlan::from_env_with(default.clone(), &env_of(&[("MOONPOOL_SEED", "soon")])).is_err()
    );
    assert!(
        SweepPlan::from_env_with(default.clone(), &env_of(&[("MOONPOOL_SHARD", "60/3")])).is_err()
    );
    assert!(
        SweepPlan::from_env_with(
            default,
            &env_of(&[("MOONPOOL_TRACE", "/nonexistent-dir/x/t.log")])
        )
        .is_err()
    );
}

#[test]
fn a_stop_condition_ends_the_sweep_early() {
    let sim = sleepy();
    let mut stop_at_first_failure = |r: &SeedReport, _: &SweepReport| !r.outcome.is_pass();
    let report = sim.sweep_with(
        &SweepPlan::range(0, 100),
        &mut Silent,
        Some(&mut stop_at_first_failure),
    );
    assert_eq!(report.seeds_run, 4, "seed 3 is the first failure");
    assert_eq!(
        report.stopped,
        StopReason::Condition("stop condition".into())
    );

    // The `--until-all-sometimes` goal (SEAM: vacuously met until the
    // assertion registry reports sometimes coverage).
    let mut plan = SweepPlan::range(0, 100);
    plan.until = Some(Until::AllSometimes);
    let report = sim.sweep(&plan);
    assert_eq!(
        report.stopped,
        StopReason::Condition("all sometimes assertions satisfied".into())
    );
    assert_eq!(report.seeds_run, 1);
}

#[test]
fn a_time_budget_stops_starting_seeds() {
    let sim = sleepy();
    let mut plan = SweepPlan::range(0, 1_000_000);
    plan.time_budget = Some(Duration::from_millis(1));
    let report = sim.sweep(&plan);
    assert_eq!(
        report.stopped,
        StopReason::TimeBudget(Duration::from_millis(1))
    );
    assert!((1..1_000_000).contains(&report.seeds_run));
}

#[test]
fn observers_see_every_seed_in_order() {
    struct Seen(Vec<u64>, u64);
    impl SweepObserver for Seen {
        fn sweep_started(&mut self, plan: &SweepPlan, _chaos: bool) {
            self.1 = plan.seeds_planned();
        }
        fn seed_done(&mut self, report: &SeedReport, sweep: &SweepReport) {
            self.0.push(report.seed);
            assert_eq!(sweep.seeds_run, self.0.len() as u64);
        }
    }
    let mut seen = Seen(Vec::new(), 0);
    let mut plan = SweepPlan::range(u64::MAX - 2, 9);
    plan.shard = Some(Shard::new(2, 3).expect("valid"));
    sleepy().sweep_with(&plan, &mut seen, None);
    assert_eq!(seen.1, 3);
    assert_eq!(
        seen.0,
        vec![u64::MAX - 1, 1, 4],
        "indices 1, 4, 7, wrapping"
    );
}

static LEAK: AtomicU64 = AtomicU64::new(0);

/// Sleeps depend on a counter that survives from run to run.
struct Leaky;
impl Workload for Leaky {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let extra = LEAK.fetch_add(1, Ordering::Relaxed) % 2;
        ctx.providers()
            .sleep(Duration::from_millis(1 + extra))
            .await;
        Ok(())
    }
}

#[test]
fn check_determinism_in_a_sweep_fails_leaky_seeds() {
    let sim = SimulationBuilder::new()
        .workload("leaky", 1, |_| Leaky)
        .build()
        .expect("valid");
    let mut plan = SweepPlan::range(0, 4);
    assert!(sim.sweep(&plan).all_passed(), "each run alone passes");
    plan.check_determinism = true;
    let report = sim.sweep(&plan);
    assert_eq!(report.failed, 4);
    for f in &report.failures {
        match f.outcome.failure() {
            Some(SeedFailure::Nondeterminism(m)) => {
                assert!(m.contains("runs diverge at step"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        report
            .replay_line(3)
            .contains("MOONPOOL_CHECK_DETERMINISM=1")
    );
}

/// A server and a nemesis that kills and reboots it twice.
fn attrition() -> Simulation {
    struct Killer;
    impl Workload for Killer {
        async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
            let control = ctx.control();
            let id = control.process_by_name("srv").ok_or("no srv")?;
            for _ in 0..2 {
                ctx.providers().sleep(Duration::from_millis(5)).await;
                control.kill(id)?;
                control.reboot(id)?;
            }
            Ok(())
        }
    }
    SimulationBuilder::new()
        .chaos(false)
        .process("srv", [10, 0, 0, 1], |p| async move {
            loop {
                p.sleep(Duration::from_millis(2)).await;
            }
        })
        .workload("killer", 1, |_| Killer)
        .build()
        .expect("valid")
}

#[test]
fn faults_are_tallied_per_kind_over_the_sweep() {
    let report = attrition().sweep(&SweepPlan::range(0, 5));
    assert!(report.all_passed());
    let kill = report.faults["process.kill"];
    assert_eq!((kill.total, kill.seeds), (10, 5));
    let reboot = report.faults["process.reboot"];
    assert_eq!((reboot.total, reboot.seeds), (10, 5));
    assert!(!report.faults.contains_key("sim.quiesce"), "not a fault");
}

#[test]
fn a_replayed_seed_records_its_chaos_timeline() {
    struct Keep(Vec<SeedReport>);
    impl SweepObserver for Keep {
        fn seed_done(&mut self, report: &SeedReport, _: &SweepReport) {
            self.0.push(report.clone());
        }
    }
    let mut keep = Keep(Vec::new());
    attrition().sweep_with(&SweepPlan::one(3), &mut keep, None);
    let timeline = &keep.0[0].timeline;
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            "process.kill",
            "process.reboot",
            "process.kill",
            "process.reboot",
            "sim.quiesce"
        ]
    );
    assert_eq!(timeline[0].process, "srv");
    assert_eq!(timeline[0].time, Duration::from_millis(5));
    let mut keep = Keep(Vec::new());
    attrition().sweep_with(&SweepPlan::range(3, 1), &mut keep, None);
    assert!(
        keep.0[0].timeline.is_empty(),
        "sweeps do not record timelines"
    );
}

#[test]
fn tracing_never_changes_an_execution() {
    for sim in [sleepy(), attrition()] {
        let plain = sim.sweep(&SweepPlan::range(40, 10));
        let (sink, buffer) = TraceSink::memory();
        let mut plan = SweepPlan::range(40, 10);
        plan.trace = Some(sink.clone());
        let traced = sim.sweep(&plan);
        assert_eq!(plain.results, traced.results);
        // Installed around the sweep instead of by the plan: same again.
        let around = with_sink(&sink, || sim.sweep(&SweepPlan::range(40, 10)));
        assert_eq!(plain.results, around.results);
        let text = buffer.contents();
        assert!(text.contains("seed 0x28 starts"), "{text}");
        assert!(!text.is_empty());
    }
    let (sink, buffer) = TraceSink::memory();
    with_sink(&sink, || sleepy().run_seed(0x28));
    let text = buffer.contents();
    let nap = text
        .lines()
        .find(|l| l.contains("DEBUG cli_sweep: nap ms="))
        .expect("user events traced");
    assert!(nap.starts_with("seed=0x28 t=0."), "{nap}");
    assert!(nap.contains(" process=sleepy#"), "{nap}");
    assert!(nap.contains(" task=sleeper-"), "{nap}");
    // The level filter keeps only what is asked for.
    let (sink, buffer) = TraceSink::memory();
    with_sink(&sink.with_level(tracing::Level::INFO), || {
        sleepy().run_seed(1)
    });
    assert!(!buffer.contents().contains("nap"));
}

/// Records, in every seed, whether its world runs the chaos profile.
struct ChaosProbe(std::rc::Rc<std::cell::RefCell<Vec<bool>>>);
impl Workload for ChaosProbe {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        self.0.borrow_mut().push(ctx.control().chaos_enabled());
        Ok(())
    }
}

#[test]
fn chaos_is_decided_on_the_plan_and_every_seed_and_the_report_read_it() {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s = seen.clone();
    let mut sim = SimulationBuilder::new()
        .chaos(false)
        .workload("probe", 1, move |_| ChaosProbe(s.clone()))
        .build()
        .expect("valid");
    let run = |sim: &Simulation, chaos: Option<bool>| {
        seen.borrow_mut().clear();
        let mut plan = SweepPlan::range(0, 3);
        plan.chaos = chaos;
        let report = sim.sweep(&plan);
        (seen.borrow().clone(), report.chaos, report.replay_line(7))
    };
    // The plan decides, whatever the simulation's default.
    let (worlds, reported, line) = run(&sim, Some(true));
    assert_eq!(worlds, vec![true; 3]);
    assert!(reported);
    assert!(line.contains("MOONPOOL_CHAOS=on"), "{line}");
    // A plan that leaves it open takes the simulation's default.
    let (worlds, reported, line) = run(&sim, None);
    assert_eq!(worlds, vec![false; 3]);
    assert!(!reported);
    assert!(line.contains("MOONPOOL_CHAOS=off"), "{line}");
    sim.set_chaos(true);
    let (worlds, reported, _) = run(&sim, None);
    assert_eq!(worlds, vec![true; 3]);
    assert!(reported);
    let (worlds, reported, _) = run(&sim, Some(false));
    assert_eq!(worlds, vec![false; 3]);
    assert!(!reported);
}
