//! Buggify in simulation: per-seed enabling, per-site activation, firing
//! rates, determinism, quiet seeds and quiescence.
//!
//! The rates are checked over a few hundred seeds with bounds of more than
//! three standard deviations; every run of a seed is deterministic, so the
//! counts are the same on every machine.

use std::cell::RefCell;
use std::rc::Rc;

use moonpool_core::{BuggifyKind, RandomProvider, Ratio};
use moonpool_sim::buggify::BuggifyStats;
use moonpool_sim::{
    SeedReport, SimContext, SimProviders, Simulation, SimulationBuilder, Workload, WorkloadResult,
    buggify, buggify_knob, buggify_with_prob,
};

type Log = Rc<RefCell<Vec<bool>>>;

/// Calls `run` in the run phase and `check` in the check phase.
struct Phases<R, C> {
    run: R,
    check: C,
}

impl<R, C> Workload for Phases<R, C>
where
    R: FnMut(&SimProviders) + 'static,
    C: FnMut(&SimProviders) + 'static,
{
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        (self.run)(ctx.providers());
        Ok(())
    }
    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        (self.check)(ctx.providers());
        Ok(())
    }
}

fn sim<R, C>(chaos: bool, run: R, check: C) -> Simulation
where
    R: FnMut(&SimProviders) + Clone + 'static,
    C: FnMut(&SimProviders) + Clone + 'static,
{
    SimulationBuilder::new()
        .workload("w", 1, move |_| Phases {
            run: run.clone(),
            check: check.clone(),
        })
        .chaos(chaos)
        .build()
        .expect("valid")
}

fn plain() -> bool {
    buggify!()
}

fn one_in_ten() -> bool {
    buggify_with_prob!(Ratio::new(1, 10))
}

fn knob() -> u32 {
    buggify_knob!(100, 1)
}

/// The stats of this file's site of `kind` in `report`.
fn site(report: &SeedReport, kind: BuggifyKind) -> Option<BuggifyStats> {
    report
        .buggify
        .iter()
        .find(|s| s.site.file == file!() && s.site.kind == kind)
        .copied()
}

fn enabled(report: &SeedReport) -> bool {
    report
        .fault_families
        .get("buggify")
        .copied()
        .unwrap_or(false)
}

const EVALUATIONS: usize = 200;

fn evaluate_both(log: &Log) -> impl FnMut(&SimProviders) + Clone + 'static {
    let log = Rc::clone(log);
    move |_| {
        for _ in 0..EVALUATIONS {
            let a = plain();
            let b = one_in_ten();
            log.borrow_mut().extend([a, b]);
        }
    }
}

#[test]
fn rates_follow_the_model_over_a_chaos_sweep() {
    let log: Log = Rc::default();
    let sim = sim(true, evaluate_both(&log), |_| {});
    let seeds = 400u64;
    let (mut on, mut active_plain, mut active_prob) = (0u64, 0u64, 0u64);
    let (mut evals_plain, mut fired_plain, mut evals_prob, mut fired_prob) = (0, 0, 0, 0);
    for seed in 0..seeds {
        log.borrow_mut().clear();
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "{:?}", r.outcome);
        let a = site(&r, BuggifyKind::Default).expect("evaluated");
        let b = site(&r, BuggifyKind::WithProbability).expect("evaluated");
        assert_eq!(a.evaluations, EVALUATIONS as u64);
        // What the code saw is what the report counts.
        let seen: Vec<bool> = log.borrow().clone();
        let seen_a = seen.iter().step_by(2).filter(|f| **f).count() as u64;
        let seen_b = seen.iter().skip(1).step_by(2).filter(|f| **f).count() as u64;
        assert_eq!((seen_a, seen_b), (a.fired, b.fired));
        let fire_counter = r.counters.get("buggify.fire").copied().unwrap_or(0);
        assert_eq!(fire_counter, a.fired + b.fired);
        if !enabled(&r) {
            assert!(!a.active && !b.active && a.fired == 0 && b.fired == 0);
            continue;
        }
        on += 1;
        if a.active {
            active_plain += 1;
            evals_plain += a.evaluations;
            fired_plain += a.fired;
        } else {
            assert_eq!(a.fired, 0, "an inactive site never fires");
        }
        if b.active {
            active_prob += 1;
            evals_prob += b.evaluations;
            fired_prob += b.fired;
        } else {
            assert_eq!(b.fired, 0);
        }
    }
    let pct = |n: u64, d: u64| n as f64 * 100.0 / d as f64;
    println!(
        "buggify on in {on}/{seeds} seeds; plain site active in {active_plain}, fired {fired_plain}/{evals_plain}; \
         1/10 site active in {active_prob}, fired {fired_prob}/{evals_prob}"
    );
    // Enabled in ~80% of chaos seeds.
    assert!((70.0..=90.0).contains(&pct(on, seeds)), "on in {on}");
    // Each site active in ~25% of enabled seeds.
    assert!(
        (15.0..=35.0).contains(&pct(active_plain, on)),
        "{active_plain}/{on}"
    );
    assert!(
        (15.0..=35.0).contains(&pct(active_prob, on)),
        "{active_prob}/{on}"
    );
    // An active site fires ~25% (plain) or ~10% (with_prob 1/10) of evaluations.
    assert!((22.0..=28.0).contains(&pct(fired_plain, evals_plain)));
    assert!((8.0..=12.0).contains(&pct(fired_prob, evals_prob)));
}

#[test]
fn with_prob_one_fires_on_every_evaluation_of_an_active_site() {
    let sim = sim(
        true,
        |_| {
            for _ in 0..50 {
                let _ = buggify_with_prob!(Ratio::ONE);
            }
        },
        |_| {},
    );
    let mut active_seeds = 0;
    for seed in 0..100 {
        let r = sim.run_seed(seed);
        let s = site(&r, BuggifyKind::WithProbability).expect("evaluated");
        if s.active {
            active_seeds += 1;
            assert_eq!(s.fired, 50);
        } else {
            assert_eq!(s.fired, 0);
        }
    }
    assert!(active_seeds > 0);
}

#[test]
fn the_same_seed_gives_the_same_firings_fingerprint_and_counts() {
    let log: Log = Rc::default();
    let sim = sim(true, evaluate_both(&log), |_| {});
    let mut seeds_with_firings = 0;
    for seed in 0..40 {
        log.borrow_mut().clear();
        let a = sim.run_seed(seed);
        let first = std::mem::take(&mut *log.borrow_mut());
        let b = sim.run_seed(seed);
        let second = log.borrow().clone();
        assert_eq!(first, second, "seed {seed}: firing sequence");
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.counters, b.counters);
        let key = |r: &SeedReport| {
            r.buggify
                .iter()
                .map(|s| (s.site.line, s.active, s.evaluations, s.fired))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
        seeds_with_firings += first.iter().any(|f| *f) as u32;
        assert!(sim.check_determinism(seed).outcome.is_pass());
    }
    assert!(seeds_with_firings > 0, "the test must see some firings");
}

#[test]
fn quiet_seeds_never_fire_and_draw_nothing() {
    let with_buggify = sim(
        false,
        |p| {
            for _ in 0..100 {
                assert!(!plain() && !one_in_ten());
                assert_eq!(knob(), 100);
                let _ = p.next_u64();
            }
        },
        |_| {},
    );
    let without = sim(
        false,
        |p| {
            for _ in 0..100 {
                let _ = p.next_u64();
            }
        },
        |_| {},
    );
    for seed in 0..50 {
        let a = with_buggify.run_seed(seed);
        let b = without.run_seed(seed);
        assert!(a.outcome.is_pass(), "{:?}", a.outcome);
        // Buggify consumed no randomness: the executions are identical.
        assert_eq!(a.fingerprint, b.fingerprint, "seed {seed}");
        assert!(!a.fault_families.contains_key("buggify"));
        assert!(!a.counters.contains_key("buggify.fire"));
        assert!(a.buggify.iter().all(|s| s.fired == 0 && !s.active));
    }
}

#[test]
fn buggify_stops_when_the_run_phase_ends() {
    let fired_in_check: Rc<RefCell<u64>> = Rc::default();
    let f = Rc::clone(&fired_in_check);
    let sim = sim(
        true,
        |_| {
            for _ in 0..100 {
                let _ = plain();
            }
        },
        move |_| {
            for _ in 0..100 {
                *f.borrow_mut() += plain() as u64;
            }
        },
    );
    let mut active_seeds = 0;
    for seed in 0..100 {
        let r = sim.run_seed(seed);
        let s = site(&r, BuggifyKind::Default).expect("evaluated");
        assert_eq!(s.evaluations, 200);
        if s.active {
            active_seeds += 1;
            assert!(s.fired > 0, "active for 100 run-phase evaluations");
        }
    }
    assert!(active_seeds > 0);
    assert_eq!(*fired_in_check.borrow(), 0, "buggify fired during checks");
}

#[test]
fn a_knob_is_decided_once_per_seed_and_kept_through_the_checks() {
    let values: Rc<RefCell<Vec<u32>>> = Rc::default();
    let (v1, v2) = (Rc::clone(&values), Rc::clone(&values));
    let sim = sim(
        true,
        move |_| {
            for _ in 0..20 {
                v1.borrow_mut().push(knob());
            }
        },
        move |_| v2.borrow_mut().push(knob()),
    );
    let (mut on, mut chaos_seeds) = (0, 0);
    for seed in 0..300 {
        values.borrow_mut().clear();
        let r = sim.run_seed(seed);
        let seen = values.borrow().clone();
        assert_eq!(seen.len(), 21);
        assert!(seen.iter().all(|v| *v == seen[0]), "seed {seed}: {seen:?}");
        let s = site(&r, BuggifyKind::Knob).expect("evaluated");
        assert_eq!(s.active, seen[0] == 1);
        let knob_counter = r.counters.get("buggify.knob").copied().unwrap_or(0);
        assert_eq!(knob_counter, s.active as u64);
        if enabled(&r) {
            on += 1;
            chaos_seeds += (seen[0] == 1) as u32;
        } else {
            assert_eq!(seen[0], 100);
        }
    }
    let pct = chaos_seeds as f64 * 100.0 / on as f64;
    assert!((15.0..=35.0).contains(&pct), "{chaos_seeds}/{on}");
}
