//! Ping-pong: silent without chaos, surviving every network fault family
//! with it, its planted bug caught and replayed, and the same code on real
//! loopback TCP.

mod common;

use std::collections::BTreeSet;

use moonpool_examples::harness::PlantedBug;
use moonpool_examples::pingpong::{self, PingpongBug};
use moonpool_sim::network::FAULT_FAMILIES;

const PINGPONG: &str = env!("CARGO_BIN_EXE_pingpong");

#[test]
fn without_chaos_no_fault_is_injected() {
    let mut sim = pingpong::simulation(None).expect("valid");
    sim.set_chaos(false);
    for seed in 0..200 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        let faults: Vec<_> = r
            .counters
            .keys()
            .filter(|k| k.starts_with("net."))
            .collect();
        assert!(faults.is_empty(), "seed {seed} injected {faults:?}");
        assert!(
            r.fault_families.is_empty(),
            "seed {seed}: {:?}",
            r.fault_families
        );
    }
}

#[test]
fn two_hundred_chaos_seeds_pass_and_every_network_fault_family_fires() {
    let sim = pingpong::simulation(None).expect("valid");
    let mut fired = BTreeSet::new();
    let mut off_somewhere = BTreeSet::new();
    let mut coverage = sim.coverage();
    for seed in 0..200 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        coverage.observe(&r);
        for (family, counters) in FAULT_FAMILIES {
            let on = r.fault_families.get(family).copied();
            assert!(on.is_some(), "seed {seed}: family {family} not decided");
            if on == Some(false) {
                off_somewhere.insert(family);
                for c in counters {
                    assert!(
                        !r.counters.contains_key(c),
                        "seed {seed}: {c} fired with {family} off"
                    );
                }
            }
            if counters
                .iter()
                .any(|c| r.counters.get(c).copied().unwrap_or(0) > 0)
            {
                fired.insert(family);
            }
        }
    }
    let missing: Vec<_> = FAULT_FAMILIES
        .iter()
        .map(|(f, _)| *f)
        .filter(|f| !fired.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "families that never fired in 200 seeds: {missing:?}"
    );
    assert_eq!(
        off_somewhere.len(),
        FAULT_FAMILIES.len(),
        "swarm never turned some family off"
    );
    common::assert_goals_met(
        &coverage,
        &[
            "a corrupted frame was caught by its CRC",
            "a ping timed out and was resent",
            "a connection failed and the client reconnected",
            "a stale echo of an earlier ping was discarded",
        ],
    );
}

#[test]
fn fifty_chaos_seeds_pass_check_determinism() {
    common::assert_deterministic(&pingpong::simulation(None).expect("valid"), 0..50);
}

#[test]
fn stale_echo_is_caught_within_500_seeds_and_replays() {
    common::assert_caught_and_replayed(
        PINGPONG,
        pingpong::simulation,
        PingpongBug::StaleEcho,
        500,
        &["pings answered wrongly"],
    );
}

#[test]
fn the_same_code_runs_on_real_loopback_and_passes_the_check() {
    let report = moonpool_core::tokio_providers::run(|p| pingpong::real::run_local(p, 300))
        .expect("runtime")
        .expect("every ping answered by its own pong");
    assert_eq!(report.answers.len(), 300);
    assert_eq!(report.connections, 1);
}

/// `cargo test --release -p moonpool-examples --test pingpong -- --ignored --nocapture`
#[test]
#[ignore = "20 sweeps per bug: run in release, see docs/src/examples.md"]
fn seeds_to_first_failure() {
    for bug in PingpongBug::ALL {
        let found = common::seeds_to_first_failure(pingpong::simulation, *bug, 20, 500);
        assert!(found.iter().all(Option::is_some), "{bug} escaped a sweep");
    }
}
