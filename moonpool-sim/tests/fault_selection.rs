//! Fault selections (`--faults`, `--no-faults`, `--buggify-sites`) and
//! `Simulation::minimize`, on a small cluster under attrition, the network
//! nemeses, disk chaos and a buggify site whose firing fails the seed.

use std::collections::BTreeSet;
use std::time::Duration;

use moonpool_core::TimeProvider;
use moonpool_sim::{
    Attrition, FailureClass, FaultSelection, MinimizeError, MinimizeOptions, SeedReport,
    SimContext, SimProviders, Simulation, SimulationBuilder, SweepObserver, SweepPlan, SweepReport,
    Workload, WorkloadResult, buggify, fault_families,
};

/// Sleeps through the run phase (failing if a buggify site fires); with
/// `fail_on_kill`, fails its check if attrition restarted a server.
struct Watch {
    fail_on_kill: bool,
    /// Each server's incarnation when the run phase began.
    started: Vec<u32>,
}

fn incarnations(ctx: &SimContext) -> Vec<u32> {
    let servers = ctx.control().servers();
    servers.iter().map(|(_, info)| info.incarnation).collect()
}

impl Workload for Watch {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        self.started = incarnations(ctx);
        let p = ctx.providers();
        for _ in 0..200 {
            p.sleep(Duration::from_millis(10)).await;
            if buggify!() {
                return Err("a buggified step failed".into());
            }
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        // Fails only when attrition actually killed: a server restarted.
        let now = incarnations(ctx);
        let restarted = now.iter().zip(&self.started).filter(|(n, s)| n > s).count();
        if self.fail_on_kill && restarted > 0 {
            return Err(format!("{restarted} restarted servers: kills seen").into());
        }
        Ok(())
    }
}

fn cluster(fail_on_kill: bool) -> Simulation {
    let mut b = SimulationBuilder::new().chaos(true);
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
    b.workload("watch", 1, move |_| Watch {
        fail_on_kill,
        started: Vec::new(),
    })
    .background_workload("attrition", 1, |_| Attrition::new())
    .build()
    .expect("valid")
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn on(report: &SeedReport) -> Vec<&'static str> {
    report
        .fault_families
        .iter()
        .filter(|(_, on)| **on)
        .map(|(f, _)| *f)
        .collect()
}

/// Keeps the report of the one seed a plan runs.
#[derive(Default)]
struct Keep(Option<SeedReport>);

impl SweepObserver for Keep {
    fn seed_done(&mut self, report: &SeedReport, _: &SweepReport) {
        self.0 = Some(report.clone());
    }
}

/// The report of `seed` run under `faults`.
fn run(sim: &Simulation, seed: u64, faults: FaultSelection) -> SeedReport {
    let mut keep = Keep::default();
    sim.sweep_with(&plan_with(seed, faults), &mut keep, None);
    keep.0.expect("one seed ran")
}

fn plan_with(seed: u64, faults: FaultSelection) -> SweepPlan {
    let mut plan = SweepPlan::one(seed);
    plan.chaos = Some(true);
    plan.set_faults(faults).expect("known names");
    plan
}

#[test]
fn every_family_a_chaos_seed_decides_is_known() {
    let sim = cluster(false);
    let known = fault_families();
    for seed in 0..20 {
        let report = sim.run_seed(seed);
        for family in report.fault_families.keys() {
            assert!(
                known.contains(family),
                "{family} is not in fault_families()"
            );
        }
        assert!(report.fault_families.contains_key("process.attrition"));
    }
}

#[test]
fn faults_forces_exactly_the_listed_families_on() {
    let sim = cluster(false);
    let only = FaultSelection {
        only: Some(names(&["net.clog", "disk.slow"])),
        ..FaultSelection::default()
    };
    for seed in 0..10 {
        let report = &run(&sim, seed, only.clone());
        assert_eq!(on(report), vec!["disk.slow", "net.clog"], "seed {seed}");
        assert_eq!(
            report.counters.get("process.kill"),
            None,
            "attrition is off"
        );
    }
}

#[test]
fn no_faults_switches_attrition_off_and_nothing_is_killed() {
    let sim = cluster(false);
    let kills = |faults: FaultSelection| -> u64 {
        (0..10)
            .map(|seed| {
                let report = run(&sim, seed, faults.clone());
                assert_eq!(
                    report.fault_families.get("process.attrition"),
                    Some(&faults.off.is_empty())
                );
                report.counters.get("process.kill").copied().unwrap_or(0)
            })
            .sum()
    };
    assert!(
        kills(FaultSelection::default()) > 0,
        "attrition kills by default"
    );
    let off = FaultSelection {
        off: names(&["process.attrition"]),
        ..FaultSelection::default()
    };
    assert_eq!(kills(off), 0);
}

#[test]
fn selecting_every_family_the_seed_had_replays_it_exactly() {
    let sim = cluster(false);
    for seed in 0..10 {
        let original = sim.run_seed(seed);
        let sites: BTreeSet<String> = original
            .buggify
            .iter()
            .filter(|b| b.active)
            .map(|b| format!("{}:{}", b.site.module_path, b.site.line))
            .collect();
        let same = FaultSelection {
            only: Some(on(&original).into_iter().map(str::to_string).collect()),
            off: BTreeSet::new(),
            buggify_sites: Some(sites),
        };
        let replay = run(&sim, seed, same);
        assert_eq!(replay.fingerprint, original.fingerprint, "seed {seed}");
        assert_eq!(replay.outcome, original.outcome);
    }
}

#[test]
fn unknown_families_and_sites_are_refused() {
    let mut plan = SweepPlan::one(1);
    let bad_family = FaultSelection {
        off: names(&["net.clogg"]),
        ..FaultSelection::default()
    };
    let e = plan.set_faults(bad_family).expect_err("unknown family");
    assert!(e.to_string().contains("net.clogg"), "{e}");
    let bad_site = FaultSelection {
        buggify_sites: Some(names(&["nowhere::at_all:1"])),
        ..FaultSelection::default()
    };
    let e = plan.set_faults(bad_site).expect_err("unknown site");
    assert!(e.to_string().contains("nowhere::at_all:1"), "{e}");
    assert!(plan.faults.is_empty(), "a refused selection is not kept");
}

#[test]
fn a_sweeps_replay_lines_carry_its_selection() {
    let sim = cluster(true);
    let mut plan = SweepPlan::range(0, 5);
    plan.chaos = Some(true);
    plan.set_faults(FaultSelection {
        only: Some(names(&["process.attrition"])),
        ..FaultSelection::default()
    })
    .expect("known");
    let sweep = sim.sweep(&plan);
    let failed = sweep
        .first_failure()
        .expect("attrition kills, the check fails");
    let line = sweep.replay_line(failed.seed);
    assert!(line.contains("MOONPOOL_FAULTS=process.attrition"), "{line}");
}

#[test]
fn minimize_keeps_the_failure_and_drops_the_families_it_does_not_need() {
    // The check fails exactly when attrition killed: the minimal
    // configuration is attrition alone (buggify may stay only if the
    // failure is buggify's, which it is not for this class).
    let sim = cluster(true);
    let seed = (0..50)
        .find(|&s| {
            sim.run_seed(s)
                .outcome
                .failure()
                .is_some_and(|f| f.to_string().contains("kills seen"))
        })
        .expect("a seed where attrition kills");
    let plan = plan_with(seed, FaultSelection::default());
    let m = sim
        .minimize(&plan, &MinimizeOptions::default())
        .expect("minimized");
    assert!(m.families_before.len() > 1, "{:?}", m.families_before);
    assert_eq!(m.families, vec!["process.attrition"]);
    assert!(m.complete);
    assert_eq!(
        m.report.outcome.failure().map(FailureClass::of),
        Some(m.class.clone())
    );
    // The minimal configuration, as a plan, fails the same way.
    let report = run(&sim, m.seed, m.faults.clone());
    assert_eq!(report.fingerprint, m.report.fingerprint);
    assert!(
        m.replay_line(&plan)
            .contains("MOONPOOL_FAULTS=process.attrition")
    );
}

#[test]
fn minimize_refuses_a_passing_seed_and_a_sweep() {
    let sim = cluster(false);
    let seed = (0..50)
        .find(|&s| sim.run_seed(s).outcome.is_pass())
        .expect("a passing seed");
    let plan = plan_with(seed, FaultSelection::default());
    assert_eq!(
        sim.minimize(&plan, &MinimizeOptions::default()).err(),
        Some(MinimizeError::Passes { seed })
    );
    assert_eq!(
        sim.minimize(&SweepPlan::range(0, 3), &MinimizeOptions::default())
            .err(),
        Some(MinimizeError::NotOneSeed)
    );
}
