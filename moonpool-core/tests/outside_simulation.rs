//! Buggify and assertions with no simulator: buggify never fires, knobs
//! are production values, violations are logged at `error` and never
//! panic, and every call site of this (separate) crate is registered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_core::{
    AssertionKind, BuggifyKind, Comparison, Ratio, always, always_greater_than,
    always_less_than_or_equal_to, always_or_unreachable, assert_unreachable, assertion_sites,
    buggify, buggify_knob, buggify_sites, buggify_with_prob, reachable, sometimes,
    sometimes_greater_than,
};

/// A minimal `tracing` subscriber keeping every event's level and fields.
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<(tracing::Level, String)>>>,
}

struct Fields(String);
impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.events
            .lock()
            .expect("lock")
            .push((*event.metadata().level(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn captured(f: impl FnOnce()) -> Vec<(tracing::Level, String)> {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), f);
    capture.events.lock().expect("lock").clone()
}

#[test]
fn buggify_is_false_and_knobs_are_production_outside_a_simulation() {
    let mut fired = 0;
    for _ in 0..10_000 {
        fired += buggify!() as u32;
        fired += buggify_with_prob!(Ratio::ONE) as u32;
        assert_eq!(
            buggify_knob!(Duration::from_secs(5), Duration::ZERO),
            Duration::from_secs(5)
        );
    }
    assert_eq!(fired, 0);
}

#[test]
fn passing_assertions_and_sometimes_log_nothing() {
    let events = captured(|| {
        for i in 0..100u64 {
            always!(i < 100, "i is in range");
            always_or_unreachable!(true, "fine");
            sometimes!(i == 1000, "never true, and that is not an error");
            reachable!("reached");
            always_greater_than!(i + 1, i, "successor is greater");
            sometimes_greater_than!(i, 1000u64, "big i");
        }
    });
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a_violated_always_is_logged_at_error_with_message_location_and_details() {
    let events = captured(|| {
        let balance = 3;
        always!(
            balance > 5,
            "balance stays above five",
            "balance was {balance}"
        );
    });
    assert_eq!(events.len(), 1, "{events:?}");
    let (level, fields) = &events[0];
    assert_eq!(*level, tracing::Level::ERROR);
    assert!(fields.contains("balance stays above five"), "{fields}");
    assert!(fields.contains("outside_simulation.rs:"), "{fields}");
    assert!(fields.contains("balance was 3"), "{fields}");
}

#[test]
fn numeric_and_unreachable_violations_are_logged_with_values() {
    let events = captured(|| {
        always_less_than_or_equal_to!(
            Duration::from_millis(7),
            Duration::from_millis(5),
            "latency bound"
        );
        assert_unreachable!("the impossible branch", "state {}", 42);
    });
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|(l, _)| *l == tracing::Level::ERROR));
    assert!(
        events[0]
            .1
            .contains("left = 7000000, right = 5000000: expected left <= right"),
        "{}",
        events[0].1
    );
    assert!(
        events[1]
            .1
            .contains("an unreachable point was reached; state 42"),
        "{}",
        events[1].1
    );
}

#[test]
fn details_are_not_formatted_when_the_assertion_holds() {
    struct Loud;
    impl std::fmt::Display for Loud {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("details formatted for a passing assertion");
        }
    }
    always!(true, "holds", "{}", Loud);
    always_greater_than!(2, 1, "holds", "{}", Loud);
}

/// Never called: its sites must be registered all the same.
#[allow(dead_code)]
fn never_called() {
    sometimes!(false, "outside_simulation: a sometimes that never runs");
    if buggify!() {
        assert_unreachable!("outside_simulation: never runs either");
    }
}

#[test]
fn sites_of_this_crate_are_registered_including_never_called_ones() {
    let here = file!();
    let mine: Vec<_> = assertion_sites()
        .iter()
        .filter(|s| s.file == here)
        .collect();
    let never = mine
        .iter()
        .find(|s| s.message == "outside_simulation: a sometimes that never runs")
        .expect("the never-called sometimes is registered");
    assert_eq!(never.kind, AssertionKind::Sometimes);
    assert_eq!(never.module_path, "outside_simulation");
    assert!(never.line > 0 && never.column > 0);
    assert!(mine.iter().any(|s| s.kind == AssertionKind::Unreachable));
    let numeric = mine
        .iter()
        .find(|s| s.message == "latency bound")
        .expect("numeric site");
    assert_eq!(numeric.comparison, Some(Comparison::LessThanOrEqualTo));
    assert_eq!(numeric.macro_name(), "always_less_than_or_equal_to");
    // Each site is found at its own index.
    for s in &mine {
        let i = s.index().expect("registered");
        assert!(std::ptr::eq(&assertion_sites()[i], *s));
    }
    let buggify_here: Vec<_> = buggify_sites().iter().filter(|s| s.file == here).collect();
    assert!(buggify_here.iter().any(|s| s.kind == BuggifyKind::Knob));
    assert!(
        buggify_here
            .iter()
            .any(|s| s.kind == BuggifyKind::WithProbability)
    );
    assert!(buggify_here.len() >= 4, "{buggify_here:?}");
}

/// Prints what buggify and a passing assertion cost with no simulator (a
/// figure, not a check): `cargo test --release -p moonpool-core --test
/// outside_simulation -- --ignored --nocapture cost`.
#[test]
#[ignore = "benchmark: prints figures"]
fn cost_outside_a_simulation() {
    use std::hint::black_box;
    const N: u64 = 50_000_000;
    let start = std::time::Instant::now();
    let mut fired = 0u64;
    for _ in 0..N {
        fired += black_box(buggify!()) as u64;
    }
    let buggify_ns = start.elapsed().as_nanos() as f64 / N as f64;
    let start = std::time::Instant::now();
    for i in 0..N {
        always!(black_box(i) < N, "in range");
    }
    let always_ns = start.elapsed().as_nanos() as f64 / N as f64;
    let start = std::time::Instant::now();
    let mut sum = 0u64;
    for i in 0..N {
        sum = sum.wrapping_add(black_box(i));
    }
    let loop_ns = start.elapsed().as_nanos() as f64 / N as f64;
    assert_eq!(fired, 0);
    black_box(sum);
    println!(
        "outside simulation: buggify!() {buggify_ns:.2} ns/call, passing always!() {always_ns:.2} ns/call, empty loop {loop_ns:.2} ns/iteration"
    );
}
