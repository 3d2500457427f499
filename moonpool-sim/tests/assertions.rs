//! Assertions in simulation: violations fail the seed precisely; counts
//! and numeric values reach the seed report; `Coverage` accumulates them
//! across seeds, lists sites that never ran, and drives an
//! until-all-sometimes sweep.

use std::cell::RefCell;
use std::rc::Rc;

use moonpool_core::{AssertionKind, RandomProvider, TimeProvider};
use moonpool_sim::assertions::{Coverage, SiteStatus};
use moonpool_sim::{
    FnWorkload, SeedFailure, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult, always, always_greater_than, always_less_than, always_or_unreachable,
    assert_unreachable, reachable, sometimes, sometimes_greater_than,
};

/// A workload whose `run` phase is `f`, given the client's providers.
fn on_providers<F, Fut>(mut f: F) -> impl Workload
where
    F: FnMut(SimProviders) -> Fut + 'static,
    Fut: std::future::Future<Output = WorkloadResult>,
{
    FnWorkload::new(move |ctx: SimContext| f(ctx.providers().clone()))
}

fn sim_of<F, Fut>(f: F) -> Simulation
where
    F: Fn(SimProviders) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .chaos(false)
        .workload("w", 1, move |_| on_providers(f.clone()))
        .build()
        .expect("valid")
}

fn assertion_failure(outcome: &moonpool_sim::SeedOutcome) -> (String, String, String) {
    match outcome.failure() {
        Some(SeedFailure::Assertion {
            name,
            location,
            message,
        }) => (name.clone(), location.clone(), message.clone()),
        other => panic!("expected an assertion failure, got {other:?}"),
    }
}

#[test]
fn a_violated_always_fails_the_seed_with_message_location_details_and_task() {
    let line = Rc::new(RefCell::new(0));
    let l = Rc::clone(&line);
    let sim = sim_of(move |p: SimProviders| {
        let l = Rc::clone(&l);
        async move {
            for x in 0..10u32 {
                p.sleep(std::time::Duration::from_millis(1)).await;
                *l.borrow_mut() = line!() + 1;
                always!(x < 3, "x stays small", "x = {}", x);
            }
            Ok(())
        }
    });
    let r = sim.run_seed(5);
    let (name, location, message) = assertion_failure(&r.outcome);
    assert_eq!(name, "x stays small");
    assert!(
        location.starts_with(&format!("{}:{}:", file!(), line.borrow())),
        "{location}"
    );
    assert!(message.contains("condition was false; x = 3"), "{message}");
    assert!(message.contains("(in task w#0/run)"), "{message}");
    // The seed stopped at the first violation.
    let stats = r
        .assertions
        .iter()
        .find(|s| s.site.message == "x stays small")
        .expect("counted");
    assert_eq!(
        (stats.evaluations, stats.true_count, stats.false_count),
        (4, 3, 1)
    );
    let text = r.outcome.failure().expect("failed").to_string();
    assert!(
        text.starts_with("assertion 'x stays small' failed at "),
        "{text}"
    );
}

#[test]
fn reaching_assert_unreachable_fails_the_seed() {
    let sim = sim_of(|p: SimProviders| async move {
        if p.random_range(0..2u64) < 2 {
            assert_unreachable!("the impossible branch", "drew below two");
        }
        Ok(())
    });
    let (name, location, message) = assertion_failure(&sim.run_seed(1).outcome);
    assert_eq!(name, "the impossible branch");
    assert!(location.starts_with(file!()), "{location}");
    assert!(message.contains("an unreachable point was reached; drew below two"));
}

#[test]
fn unreachable_by_its_antithesis_name_is_the_same_assertion() {
    let sim = sim_of(|p: SimProviders| async move {
        if p.random_range(0..2u64) < 2 {
            // Path-qualified: `std::unreachable!` stays what it is.
            moonpool_sim::unreachable!("reached by its other name");
        }
        Ok(())
    });
    let (name, location, message) = assertion_failure(&sim.run_seed(2).outcome);
    assert_eq!(name, "reached by its other name");
    assert!(location.starts_with(file!()), "{location}");
    assert!(
        message.contains("an unreachable point was reached"),
        "{message}"
    );
}

#[test]
fn a_panic_after_a_violation_still_reports_the_violation() {
    let sim = sim_of(|_p: SimProviders| async move {
        let v: Vec<u32> = Vec::new();
        always!(!v.is_empty(), "the list is never empty");
        let _ = v[0]; // the consequence of the broken invariant
        Ok(())
    });
    let (name, _, _) = assertion_failure(&sim.run_seed(1).outcome);
    assert_eq!(name, "the list is never empty");
}

#[test]
fn numeric_forms_record_values_and_fail_with_them() {
    let sim = sim_of(|p: SimProviders| async move {
        for _ in 0..100 {
            let v = p.random_range(0..50u64);
            always_less_than!(v, 100, "v is below 100");
            sometimes_greater_than!(v, 90, "v sometimes exceeds 90");
        }
        Ok(())
    });
    let r = sim.run_seed(3);
    assert!(r.outcome.is_pass(), "{:?}", r.outcome);
    let get = |m: &str| {
        r.assertions
            .iter()
            .find(|s| s.site.message == m)
            .copied()
            .expect("counted")
    };
    let below = get("v is below 100");
    let n = below.numeric.expect("numeric");
    // The worst case of `v < 100` is the largest v drawn; the best the smallest.
    let largest = n.worst.left.as_f64();
    assert!((30.0..50.0).contains(&largest), "{largest}");
    assert_eq!(n.worst.right.as_f64(), 100.0);
    assert_eq!(n.worst.margin, 100.0 - largest);
    assert!(n.best.left.as_f64() <= largest);
    let exceeds = get("v sometimes exceeds 90");
    assert_eq!((exceeds.evaluations, exceeds.true_count), (100, 0));
    // The closest `v > 90` came is also the largest v.
    assert_eq!(
        exceeds.numeric.expect("numeric").best.left.as_f64(),
        largest
    );

    let failing = sim_of(|_p: SimProviders| async move {
        always_greater_than!(3u32, 5u32, "three beats five", "it never does");
        Ok(())
    });
    let (_, _, message) = assertion_failure(&failing.run_seed(1).outcome);
    assert!(
        message.contains("left = 3, right = 5: expected left > right; it never does"),
        "{message}"
    );
}

#[test]
fn assertions_do_not_change_the_execution() {
    let with = sim_of(|p: SimProviders| async move {
        for i in 0..50u64 {
            let v = p.next_u64();
            always!(i < 50, "bounded");
            sometimes!(v.is_multiple_of(2), "even draw");
            always_less_than!(i, 50, "bounded too");
            p.sleep(std::time::Duration::from_micros(v % 1000)).await;
        }
        Ok(())
    });
    let without = sim_of(|p: SimProviders| async move {
        for _ in 0..50u64 {
            let v = p.next_u64();
            p.sleep(std::time::Duration::from_micros(v % 1000)).await;
        }
        Ok(())
    });
    for seed in 0..20 {
        let (a, b) = (with.run_seed(seed), without.run_seed(seed));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.sim_time, b.sim_time);
        // And the counts themselves are deterministic.
        let counts = |r: &moonpool_sim::SeedReport| {
            r.assertions
                .iter()
                .map(|s| (s.site.line, s.evaluations, s.true_count))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&a), counts(&with.run_seed(seed)));
    }
}

/// Sites of a small system, for the coverage tests.
mod system {
    use super::*;

    pub async fn step(p: SimProviders) -> WorkloadResult {
        let v = p.random_range(0..10u64);
        always!(v < 10, "v is a digit");
        always_or_unreachable!(v < 10, "checked only on the rare path");
        sometimes!(v == 7, "v is sometimes seven");
        sometimes!(v > 100, "v is never above 100");
        if v == 0 {
            reachable!("v reached zero");
        }
        Ok(())
    }

    /// Never called: its sites must still be in the report.
    #[allow(dead_code)]
    pub fn never_called() {
        always!(false, "an always that is never reached");
        sometimes!(true, "a sometimes that is never reached");
        always_or_unreachable!(false, "an always_or_unreachable that is never reached");
        assert_unreachable!("an unreachable that is never reached");
    }
}

#[test]
fn coverage_lists_every_site_with_its_status_including_never_reached_ones() {
    let sim = sim_of(system::step);
    let mut coverage = Coverage::for_modules(&["assertions::system"]);
    assert_eq!(coverage.sites().len(), 9, "{:#?}", coverage.sites());
    assert!(coverage.sites().iter().all(|c| c.evaluations == 0));
    for seed in 0..100 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass());
        coverage.observe(&r);
    }
    let status = |m: &str| coverage.site_named(m).expect(m).status();
    assert_eq!(status("v is a digit"), SiteStatus::Satisfied);
    assert_eq!(
        status("checked only on the rare path"),
        SiteStatus::Satisfied
    );
    assert_eq!(status("v is sometimes seven"), SiteStatus::Satisfied);
    assert_eq!(status("v reached zero"), SiteStatus::Satisfied);
    assert_eq!(status("v is never above 100"), SiteStatus::NeverTrue);
    assert_eq!(
        status("an always that is never reached"),
        SiteStatus::NeverReached
    );
    assert_eq!(
        status("a sometimes that is never reached"),
        SiteStatus::NeverReached
    );
    assert_eq!(
        status("an always_or_unreachable that is never reached"),
        SiteStatus::Satisfied
    );
    assert_eq!(
        status("an unreachable that is never reached"),
        SiteStatus::Satisfied
    );

    let digit = coverage.site_named("v is a digit").expect("site");
    assert_eq!((digit.evaluations, digit.seeds_reached), (100, 100));
    let seven = coverage.site_named("v is sometimes seven").expect("site");
    assert!(seven.seeds_true > 0 && seven.seeds_true < 30, "{seven:?}");
    assert!(seven.first_seed_true.is_some());
    let never = coverage
        .site_named("a sometimes that is never reached")
        .expect("site");
    assert_eq!((never.evaluations, never.seeds_reached), (0, 0));
    assert_eq!(never.site.kind, AssertionKind::Sometimes);

    assert!(!coverage.all_sometimes_satisfied());
    let unsatisfied: Vec<&str> = coverage
        .unsatisfied_sometimes()
        .map(|c| c.site.message)
        .collect();
    assert_eq!(
        unsatisfied,
        ["v is never above 100", "a sometimes that is never reached"]
    );

    let table = coverage.render();
    println!("{table}");
    assert!(table.contains("assertion coverage: 9 sites, 100 seeds (0 failed), 3 not satisfied"));
    assert!(table.contains("module assertions::system"));
    assert!(table.contains("NEVER TRUE"), "{table}");
    assert!(table.contains("\"a sometimes that is never reached\""));
    assert!(table.contains("never evaluated in any seed"));

    let json = coverage.to_json();
    assert_eq!(json["seeds"], 100);
    assert_eq!(json["all_sometimes_satisfied"], false);
    let sites = json["sites"].as_array().expect("sites");
    assert_eq!(sites.len(), 9);
    let never_json = sites
        .iter()
        .find(|s| s["message"] == "an always that is never reached")
        .expect("listed");
    assert_eq!(never_json["status"], "never_reached");
    assert_eq!(never_json["evaluations"], 0);
    assert_eq!(never_json["kind"], "always");
}

#[test]
fn violations_are_counted_by_coverage_with_the_first_failing_seed() {
    let sim = sim_of(|p: SimProviders| async move {
        let v = p.random_range(0..4u64);
        always!(v != 3, "v is never three");
        Ok(())
    });
    let mut coverage = Coverage::filtered(|m| m == "assertions");
    let mut first_failure = None;
    for seed in 0..40 {
        let r = sim.run_seed(seed);
        if !r.outcome.is_pass() && first_failure.is_none() {
            first_failure = Some(seed);
        }
        coverage.observe(&r);
    }
    let c = coverage.site_named("v is never three").expect("site");
    assert_eq!(c.status(), SiteStatus::Violated);
    assert_eq!(c.first_seed_violated, first_failure);
    assert!(first_failure.is_some());
    assert_eq!(coverage.failed_seeds(), c.false_count);
}

/// The system of the until-all-sometimes sweep: each goal has a one in
/// eight chance per seed.
mod until_all {
    use super::*;

    pub async fn step(p: SimProviders) -> WorkloadResult {
        sometimes!(p.random_range(0..8u64) == 0, "rare event A");
        let n = p.random_range(0..8u64);
        sometimes_greater_than!(n, 6, "n above six");
        Ok(())
    }
}

#[test]
fn an_until_all_sometimes_sweep_stops_once_every_goal_is_met() {
    let sim = sim_of(until_all::step);
    let mut coverage = Coverage::for_modules(&["assertions::until_all"]);
    assert_eq!(coverage.sites().len(), 2);
    let max_seeds = 1000;
    let mut seeds_run = 0;
    for seed in 0..max_seeds {
        coverage.observe(&sim.run_seed(seed));
        seeds_run += 1;
        if coverage.all_sometimes_satisfied() {
            break;
        }
    }
    assert!(coverage.all_sometimes_satisfied());
    assert!(seeds_run > 1 && seeds_run < 200, "{seeds_run}");
    // It stopped at the first seed where the last goal was met.
    let last_met = coverage
        .sites()
        .iter()
        .filter_map(|c| c.first_seed_true)
        .max()
        .expect("met");
    assert_eq!(last_met + 1, seeds_run);
}

mod big_numbers {
    use super::*;

    pub async fn step(_p: SimProviders) -> WorkloadResult {
        always_less_than!(1u64 << 63, u64::MAX, "u64 beyond i64 range");
        always_less_than!(-1.5f64, 2.5f64, "floats");
        Ok(())
    }
}

#[test]
fn numeric_values_of_any_size_serialize_to_json() {
    let sim = sim_of(big_numbers::step);
    let mut coverage = Coverage::for_modules(&["assertions::big_numbers"]);
    coverage.observe(&sim.run_seed(1));
    let json = coverage.to_json();
    let sites = json["sites"].as_array().expect("sites");
    let big = &sites[0]["numeric"]["worst"];
    assert_eq!(big["left"], serde_json::json!(1u64 << 63));
    assert_eq!(big["right"], serde_json::json!(u64::MAX));
    let floats = &sites[1]["numeric"]["best"];
    assert_eq!(floats["left"], serde_json::json!(-1.5));
    assert_eq!(floats["margin"], serde_json::json!(4.0));
}
