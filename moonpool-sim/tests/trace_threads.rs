//! A trace taken on one thread is complete whatever other threads do.
//!
//! `tracing` caches, per event site and for the whole process, whether any
//! subscriber wants the site. When exactly one scoped subscriber exists (a
//! test's `with_sink`), it computes that from the *current thread's*
//! subscriber: a site first hit on another thread, with no trace of its
//! own, was cached as unwanted, and the trace then silently missed every
//! event of that site. This file holds one test only, so that no other
//! test registers a subscriber or hits the sites first.

use std::sync::mpsc;
use std::time::Duration;

use moonpool_core::TimeProvider;
use moonpool_sim::trace::{TraceSink, with_sink};
use moonpool_sim::{SimContext, Simulation, SimulationBuilder, Workload, WorkloadResult};

const STEPS: u64 = 20;

struct Chatty;
impl Workload for Chatty {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        for i in 0..STEPS {
            ctx.providers().sleep(Duration::from_millis(1)).await;
            tracing::debug!(target: "chatty", i, "step");
        }
        Ok(())
    }
}

fn simulation() -> Simulation {
    SimulationBuilder::new()
        .chaos(false)
        .workload("chatty", 1, |_| Chatty)
        .build()
        .expect("a valid simulation")
}

#[test]
fn a_trace_sees_events_whose_site_another_thread_hit_first_without_a_trace() {
    let (installed_tx, installed_rx) = mpsc::channel();
    let (hit_tx, hit_rx) = mpsc::channel();
    let (sink, buffer) = TraceSink::memory();
    std::thread::scope(|s| {
        s.spawn(move || {
            with_sink(&sink, || {
                installed_tx.send(()).expect("the other thread waits");
                // The other thread hits the sites first, with no trace.
                hit_rx.recv().expect("the other thread ran its seed");
                simulation().run_seed(1)
            })
        });
        s.spawn(move || {
            installed_rx.recv().expect("the trace is installed");
            let report = simulation().run_seed(1);
            assert!(report.outcome.is_pass());
            hit_tx.send(()).expect("the tracing thread waits");
        });
    });
    let steps = buffer
        .contents()
        .lines()
        .filter(|l| l.contains("DEBUG chatty: step"))
        .count();
    assert_eq!(steps, STEPS as usize, "{}", buffer.contents());
}
