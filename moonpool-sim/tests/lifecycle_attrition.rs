//! The attrition chaos workload: random kills and reboots within the fault
//! model, only while chaos runs, and a whole system at the checks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Ratio, TimeProvider};
use moonpool_sim::{
    Attrition, ProcessState, SeedReport, SimContext, SimProviders, Simulation, SimulationBuilder,
    Workload, WorkloadResult,
};

/// Watches the servers for `duration`, recording the most seen down at once.
struct Monitor {
    duration: Duration,
    most_down: Rc<Cell<usize>>,
}

impl Workload for Monitor {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let start = p.now();
        while p.now() - start < self.duration {
            let down = ctx.control().down().len();
            self.most_down.set(self.most_down.get().max(down));
            p.sleep(Duration::from_millis(1)).await;
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        for (_, info) in ctx.control().servers() {
            if info.state != ProcessState::Running {
                return Err(format!("{} is {:?} at the checks", info.name, info.state).into());
            }
        }
        Ok(())
    }
}

fn cluster(attrition: Attrition, chaos: bool, most_down: Rc<Cell<usize>>) -> Simulation {
    let mut b = SimulationBuilder::new().chaos(chaos);
    for i in 0..5u8 {
        b = b.process(
            format!("server{i}"),
            [10, 0, 0, i + 1],
            |p: SimProviders| async move {
                loop {
                    p.sleep(Duration::from_millis(10)).await;
                }
            },
        );
    }
    b.workload("monitor", 1, move |_| Monitor {
        duration: Duration::from_secs(20),
        most_down: Rc::clone(&most_down),
    })
    .background_workload("attrition", 1, move |_| attrition.clone())
    .build()
    .expect("valid")
}

fn count(r: &SeedReport, kind: &str) -> u64 {
    r.counters.get(kind).copied().unwrap_or(0)
}

#[test]
fn attrition_kills_and_reboots_within_max_down() {
    let most_down = Rc::new(Cell::new(0));
    let attrition = Attrition::new()
        .interval(Duration::from_millis(50), Duration::from_millis(300))
        .reboot_delay(Duration::from_millis(100), Duration::from_secs(1))
        .max_down(2);
    let mut sim = cluster(attrition, true, Rc::clone(&most_down));
    sim.set_record_timeline(true);
    let (mut kills, mut refused) = (0, 0);
    for seed in 0..10 {
        most_down.set(0);
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed}: {:?}",
            report.outcome
        );
        assert!(
            most_down.get() <= 2,
            "seed {seed}: {} down at once",
            most_down.get()
        );
        kills += count(&report, "process.kill");
        refused += count(&report, "process.kill_refused");
        // Every kill is followed by a reboot, and none happens after chaos stops.
        assert_eq!(
            count(&report, "process.kill"),
            count(&report, "process.reboot")
        );
        let quiesce = report
            .timeline
            .iter()
            .find(|e| e.kind == "sim.quiesce")
            .map(|e| e.time)
            .expect("quiesce is on the timeline");
        for e in report.timeline.iter().filter(|e| e.kind == "process.kill") {
            assert!(
                e.time <= quiesce,
                "seed {seed}: a kill at {:?} after quiesce",
                e.time
            );
        }
    }
    assert!(kills > 100, "{kills} kills in 10 seeds of 20 s");
    assert!(refused > 0, "the limit was never reached");
}

#[test]
fn attrition_respects_the_worlds_fault_model_too() {
    let most_down = Rc::new(Cell::new(0));
    let attrition = Attrition::new()
        .interval(Duration::from_millis(10), Duration::from_millis(50))
        .reboot_delay(Duration::from_secs(1), Duration::from_secs(2))
        .max_down(4);
    let mut b = SimulationBuilder::new().chaos(true).max_down(1);
    for i in 0..3u8 {
        b = b.process(
            format!("server{i}"),
            [10, 0, 0, i + 1],
            |p: SimProviders| async move {
                loop {
                    p.sleep(Duration::from_millis(10)).await;
                }
            },
        );
    }
    let m = Rc::clone(&most_down);
    let sim = b
        .workload("monitor", 1, move |_| Monitor {
            duration: Duration::from_secs(10),
            most_down: Rc::clone(&m),
        })
        .background_workload("attrition", 1, move |_| attrition.clone())
        .build()
        .expect("valid");
    let report = sim.run_seed(7);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(most_down.get(), 1);
    assert!(count(&report, "process.kill_refused") > 10);
}

#[test]
fn attrition_is_idle_without_chaos_unless_told_otherwise() {
    let most_down = Rc::new(Cell::new(0));
    let sim = cluster(Attrition::new(), false, Rc::clone(&most_down));
    let report = sim.run_seed(1);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(count(&report, "process.kill"), 0);

    let sim = cluster(
        Attrition::new().even_without_chaos(),
        false,
        Rc::clone(&most_down),
    );
    let report = sim.run_seed(1);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert!(count(&report, "process.kill") > 0);
}

#[test]
fn attrition_can_wipe_and_target_some_processes() {
    let most_down = Rc::new(Cell::new(0));
    let attrition = Attrition::new()
        .targets(["server3"])
        .wipe_probability(Ratio::ONE)
        .interval(Duration::from_millis(100), Duration::from_millis(200));
    let mut sim = cluster(attrition, true, most_down);
    sim.set_record_timeline(true);
    let report = sim.run_seed(3);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    let kills = count(&report, "process.kill");
    assert!(kills > 10);
    assert_eq!(count(&report, "process.wipe"), kills);
    for e in report
        .timeline
        .iter()
        .filter(|e| e.kind.starts_with("process."))
    {
        assert_eq!(e.process, "server3", "{e:?}");
    }
}

#[test]
fn attrition_replays_exactly() {
    let most_down = Rc::new(Cell::new(0));
    let attrition =
        Attrition::new().interval(Duration::from_millis(50), Duration::from_millis(300));
    let sim = cluster(attrition, true, most_down);
    for seed in 0..5 {
        let a = sim.run_seed(seed);
        let b = sim.run_seed(seed);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.counters, b.counters);
        assert!(count(&a, "process.kill") > 0);
    }
}
