//! The code of the book's chapter "Debugging a failing seed"
//! (`docs/src/debugging.md`): the chapter's failing seed (the `kv` example
//! with the `no-fsync` bug, seed 0xe) replayed, shrunk and traced from
//! code, exactly as the `kv` binary does it from the command line.
//!
//! `cargo run -p moonpool-examples --example book_debugging` prints the
//! minimized configuration and the filtered trace; `cargo test -p
//! moonpool-examples --example book_debugging` checks every figure the
//! chapter quotes.

use std::time::Duration;

use moonpool_examples::kv::{self, KvBug};
use moonpool_sim::trace::{TraceFilter, TraceSink, with_sink};
use moonpool_sim::{MinimizeOptions, Minimized, SeedReport, Simulation, SweepPlan};

/// The chapter's failing seed (the tests check what it does).
#[cfg(test)]
const SEED: u64 = 0xe;

fn simulation() -> Simulation {
    kv::simulation(Some(KvBug::NoFsync)).expect("a valid simulation")
}

fn replay(sim: &Simulation) -> SeedReport {
    // ANCHOR: replay
    let report = sim.run_seed(0xe); // what `kv sim --bug no-fsync --chaos --seed 0xe` runs
    if let Some(failure) = report.outcome.failure() {
        println!("seed 0xe: {failure}");
    }
    // ANCHOR_END: replay
    report
}

fn minimize(sim: &Simulation) -> Minimized {
    // ANCHOR: minimize
    let plan = SweepPlan::one(0xe);
    let min = sim
        .minimize(&plan, &MinimizeOptions::default())
        .expect("a chaos seed that fails and replays");
    println!(
        "{} -> {} fault families, {} runs; replay: {}",
        min.families_before.len(),
        min.families.len(),
        min.runs,
        min.replay_line(&plan)
    );
    // ANCHOR_END: minimize
    min
}

/// The seed's trace, kept in memory, filtered as the chapter's command
/// filters it; and the seed's report.
fn filtered_trace(sim: &Simulation) -> (String, SeedReport) {
    // ANCHOR: trace
    let filter = TraceFilter::parse(
        "process=kv-replica-0,process=-,process=attrition#0,\
         moonpool_examples::kv=debug,moonpool_sim::chaos=debug",
    )
    .expect("a valid filter")
    .with_window(
        Some(Duration::from_millis(6_200)),
        Some(Duration::from_secs(7)),
    )
    .expect("a window that ends after it begins");
    let (sink, buffer) = TraceSink::memory(); // or TraceSink::file(path), TraceSink::test_output()
    let report = with_sink(&sink.with_filter(filter), || sim.run_seed(0xe));
    let lines = buffer.contents();
    // ANCHOR_END: trace
    (lines, report)
}

fn main() {
    let sim = simulation();
    replay(&sim);
    minimize(&sim);
    let (lines, _) = filtered_trace(&sim);
    print!("{lines}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use moonpool_sim::FailureClass;

    #[test]
    fn seed_0xe_fails_the_linearizability_check_with_the_fingerprint_the_chapter_shows() {
        let report = replay(&simulation());
        assert_eq!(report.seed, SEED);
        assert_eq!(report.fingerprint, 0xc01c_db7d_2248_5542);
        let failure = report.outcome.failure().expect("seed 0xe fails");
        let message = failure.to_string();
        assert!(
            message.starts_with(
                "workload 'kv-client' client 0 failed in check: linearizability violated on key 0"
            ),
            "{message}"
        );
        assert!(
            report.sim_time > Duration::from_secs(15),
            "{:?}",
            report.sim_time
        );
    }

    #[test]
    fn without_attrition_seed_0xe_passes() {
        let mut plan = SweepPlan::one(SEED);
        plan.set_faults(moonpool_sim::FaultSelection {
            off: ["process.attrition".to_string()].into(),
            ..Default::default()
        })
        .expect("a known family");
        let report = simulation().sweep(&plan);
        assert!(
            report.all_passed(),
            "{:?}",
            report.first_failure().map(|r| &r.outcome)
        );
    }

    #[test]
    fn minimize_keeps_7_of_11_families_and_its_configuration_still_fails_the_same_way() {
        let sim = simulation();
        let original = sim.run_seed(SEED);
        let min = minimize(&sim);
        assert_eq!(min.families_before.len(), 11);
        assert_eq!(
            min.families,
            [
                "clock.skew",
                "disk.io_error",
                "net.bit_flip",
                "net.clog",
                "net.pair_latency",
                "net.partial_io",
                "process.attrition"
            ]
        );
        assert_eq!(min.sites_before.len(), 1);
        assert!(min.sites.is_empty());
        assert_eq!(min.seed, 0x14);
        assert!(min.complete);
        assert_eq!(min.runs, 198);
        // The printed configuration reproduces the failure, the same way.
        let mut plan = SweepPlan::one(min.seed);
        plan.set_faults(min.faults.clone())
            .expect("the selection it printed");
        let rerun = sim.sweep(&plan);
        let failed = rerun
            .first_failure()
            .expect("the minimal configuration fails");
        let class = |r: &SeedReport| FailureClass::of(r.outcome.failure().expect("a failure"));
        assert_eq!(class(failed), class(&original));
        assert_eq!(failed.fingerprint, min.report.fingerprint);
        // A plan built in code replays through `cargo test` and the
        // MOONPOOL_* variables; the `kv` binary prints its own command line.
        let line = min.replay_line(&SweepPlan::one(SEED));
        assert!(
            line.starts_with(
                "MOONPOOL_SEED=0x14 MOONPOOL_CHAOS=on MOONPOOL_FAULTS=clock.skew,disk.io_error,\
                 net.bit_flip,net.clog,net.pair_latency,net.partial_io,process.attrition \
                 MOONPOOL_BUGGIFY_SITES=none cargo test"
            ),
            "{line}"
        );
    }

    #[test]
    fn the_filtered_trace_shows_the_crash_that_lost_acknowledged_writes_and_changes_nothing() {
        let sim = simulation();
        let (lines, report) = filtered_trace(&sim);
        assert_eq!(lines.lines().count(), 15, "{lines}");
        assert!(lines.contains(
            "t=6.253551s process=- task=- DEBUG moonpool_sim::chaos: killed with unsynced writes on its disk"
        ));
        assert_eq!(
            lines.matches("kind=\"disk.crash_lost\"").count(),
            6,
            "{lines}"
        );
        assert!(lines.contains("kv replica recovered records=19"), "{lines}");
        for line in lines.lines() {
            assert!(
                line.starts_with("seed=0xe t=6.") || line.starts_with("seed=0xe t=7."),
                "{line}"
            );
        }
        // Tracing never changes an execution.
        assert_eq!(report.fingerprint, sim.run_seed(SEED).fingerprint);
    }
}
