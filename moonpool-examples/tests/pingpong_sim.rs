//! Ping-pong over simulated TCP: silent without chaos, surviving every
//! network fault family with it.

use std::collections::BTreeSet;

use moonpool_examples::pingpong;
use moonpool_sim::network::FAULT_FAMILIES;

const CLIENTS: usize = pingpong::SIM_CLIENTS;
const PINGS: u64 = pingpong::SIM_PINGS;

#[test]
fn without_chaos_no_fault_is_injected() {
    let sim = pingpong::simulation(CLIENTS, PINGS).expect("valid");
    for seed in 0..1000 {
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
fn with_chaos_every_network_fault_family_fires_and_every_seed_passes() {
    let mut sim = pingpong::simulation(CLIENTS, PINGS).expect("valid");
    sim.set_chaos(true);
    let mut fired = BTreeSet::new();
    let mut off_somewhere = BTreeSet::new();
    for seed in 0..200 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
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
}

#[test]
fn a_chaos_seed_replays_exactly() {
    let mut sim = pingpong::simulation(CLIENTS, PINGS).expect("valid");
    sim.set_chaos(true);
    for seed in [3, 17, 101] {
        let a = sim.run_seed(seed);
        let b = sim.check_determinism(seed);
        assert!(b.outcome.is_pass(), "seed {seed}: {:?}", b.outcome);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.counters, b.counters);
    }
}
