//! Chaos: per-seed sampling with swarm families, the nemeses, the timeline,
//! and the end of chaos (no fault after the run phase, everything healed).

mod network_common;

use std::collections::BTreeSet;
use std::time::Duration;

use moonpool_core::{NetworkProvider, TimeProvider};
use moonpool_sim::network::FAULT_FAMILIES;
use moonpool_sim::{SimContext, Simulation, SimulationBuilder};
use network_common::*;

/// A client that echoes for 20 simulated seconds through any fault,
/// reconnecting when needed, then checks the network works again.
fn chaos_sim() -> Simulation {
    let mut sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", SERVER_IP, echo_server)
        .workload("client", 2, |_| {
            Run(|ctx: SimContext| async move {
                let p = ctx.providers();
                let end = p.now() + Duration::from_secs(20);
                let mut stream = None;
                let mut i = 0u8;
                while p.now() < end {
                    if stream.is_none() {
                        match p
                            .timeout(Duration::from_secs(1), p.connect(server_addr()))
                            .await
                        {
                            Ok(Ok(s)) => stream = Some(s),
                            _ => {
                                p.sleep(Duration::from_millis(50)).await;
                                continue;
                            }
                        }
                    }
                    let Some(s) = stream.as_mut() else { continue };
                    i = i.wrapping_add(1);
                    match p.timeout(Duration::from_secs(1), echo(s, &[i; 32])).await {
                        Ok(Ok(_)) => p.sleep(Duration::from_millis(20)).await,
                        _ => stream = None,
                    }
                }
                Ok(())
            })
        })
        .network_nemeses()
        .build()
        .expect("valid");
    sim.set_chaos(true);
    sim
}

#[test]
fn chaos_decides_every_family_per_seed_and_varies_across_seeds() {
    let sim = chaos_sim();
    let mut patterns = BTreeSet::new();
    for seed in 0..40 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        let on: Vec<bool> = FAULT_FAMILIES
            .iter()
            .map(|(f, _)| *r.fault_families.get(f).expect("family decided"))
            .collect();
        patterns.insert(on);
    }
    assert!(
        patterns.len() > 20,
        "only {} distinct family sets",
        patterns.len()
    );
}

#[test]
fn nemeses_fire_and_their_faults_stop_when_the_run_phase_ends() {
    let mut sim = chaos_sim();
    sim.set_record_timeline(true);
    let mut kinds = BTreeSet::new();
    for seed in 0..30 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        let quiesce = r
            .timeline
            .iter()
            .find(|e| e.kind == "sim.quiesce")
            .map(|e| e.time)
            .expect("quiesce recorded");
        for e in &r.timeline {
            if e.kind.starts_with("net.") && e.kind != "net.heal" {
                assert!(
                    e.time <= quiesce,
                    "seed {seed}: {e:?} after quiesce at {quiesce:?}"
                );
                kinds.insert(e.kind);
            }
        }
    }
    for k in ["net.clog", "net.partition", "net.connection_kill"] {
        assert!(
            kinds.contains(k),
            "nemesis fault {k} never fired; saw {kinds:?}"
        );
    }
}

#[test]
fn the_timeline_names_time_process_and_event_and_replays_identically() {
    let mut sim = chaos_sim();
    sim.set_record_timeline(true);
    let seed = (0..50)
        .find(|s| {
            let r = sim.run_seed(*s);
            r.timeline
                .iter()
                .filter(|e| e.kind.starts_with("net."))
                .count()
                > 5
        })
        .expect("a seed with network faults");
    let a = sim.run_seed(seed);
    let b = sim.run_seed(seed);
    assert_eq!(a.timeline, b.timeline);
    let net: Vec<_> = a
        .timeline
        .iter()
        .filter(|e| e.kind.starts_with("net."))
        .collect();
    assert!(net.iter().all(|e| !e.detail.is_empty()));
    assert!(
        net.windows(2).all(|w| w[0].time <= w[1].time),
        "timeline out of order"
    );
}

#[test]
fn chaos_off_with_nemeses_present_injects_nothing() {
    let mut sim = chaos_sim();
    sim.set_chaos(false);
    for seed in 0..20 {
        let r = sim.run_seed(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        assert!(
            r.counters.keys().all(|k| !k.starts_with("net.")),
            "seed {seed}: {:?}",
            r.counters
        );
    }
}
