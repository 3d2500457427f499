//! Trace filters in a simulation: a filter keeps the named process's
//! events inside the window and nothing else, and never changes the run.

use std::time::Duration;

use moonpool_core::TimeProvider;
use moonpool_sim::trace::{TraceFilter, TraceSink};
use moonpool_sim::{SimProviders, Simulation, SimulationBuilder, SweepPlan};

/// Two processes logging one `info` and one `debug` line every 100 ms for
/// one simulated second.
fn chatty() -> Simulation {
    let mut b = SimulationBuilder::new();
    for (name, ip) in [("alpha", 1u8), ("beta", 2)] {
        b = b.process(name, [10, 0, 0, ip], |p: SimProviders| async move {
            for i in 0..10u32 {
                p.sleep(Duration::from_millis(100)).await;
                tracing::info!(tick = i, "tick");
                tracing::debug!(tick = i, "detail");
            }
        });
    }
    b.workload("wait", 1, |_| {
        moonpool_sim::FnWorkload::new(|ctx| async move {
            ctx.providers().sleep(Duration::from_secs(2)).await;
            Ok(())
        })
    })
    .build()
    .expect("valid")
}

fn traced(filter: TraceFilter) -> (String, u64) {
    let (sink, buffer) = TraceSink::memory();
    let mut plan = SweepPlan::one(5);
    plan.trace = Some(sink.with_filter(filter));
    let sweep = chatty().sweep(&plan);
    assert!(sweep.all_passed());
    (buffer.contents(), sweep.results[0].fingerprint)
}

#[test]
fn a_filter_keeps_the_named_process_inside_the_window_only() {
    let filter = TraceFilter::parse("process=alpha,level=info")
        .and_then(|f| {
            f.with_window(
                Some(Duration::from_millis(250)),
                Some(Duration::from_millis(550)),
            )
        })
        .expect("valid");
    let (lines, _) = traced(filter);
    let lines: Vec<&str> = lines.lines().collect();
    // alpha's ticks at 300, 400 and 500 ms; no debug line, no beta.
    assert_eq!(lines.len(), 3, "{lines:#?}");
    for line in &lines {
        assert!(
            line.contains("process=alpha") && line.contains("INFO"),
            "{line}"
        );
    }
    assert!(lines[0].contains("t=0.300000s"), "{}", lines[0]);
}

#[test]
fn a_filtered_trace_does_not_change_the_run() {
    let (all, fingerprint) = traced(TraceFilter::default());
    let (some, filtered) = traced(TraceFilter::parse("process=beta").expect("valid"));
    assert!(some.lines().count() < all.lines().count());
    assert_eq!(filtered, fingerprint);
}
