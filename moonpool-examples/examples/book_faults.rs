//! The code of the book's chapter "Faults and buggify"
//! (`docs/src/faults.md`): buggify sites written into the code under test,
//! and the built-in [`Attrition`] nemesis.
//!
//! `cargo run -p moonpool-examples --example book_faults` sweeps 200 chaos
//! seeds and prints how often each buggify site fired; `cargo test -p
//! moonpool-examples --example book_faults` checks what the chapter says.
//!
//! The system: a `logger` server process and clients that append records
//! to a buffer and flush it to a (simulated, in-memory) log once it holds
//! `flush_threshold()` bytes, retrying a flush that fails. The check: the
//! log holds every record, in order.

use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio, TimeProvider};
use moonpool_sim::{
    Attrition, ConfigError, FaultSelection, SimContext, Simulation, SimulationBuilder, SweepPlan,
    SweepReport, Workload, WorkloadResult, buggify, buggify_knob, buggify_with_prob, reachable,
};

// ANCHOR: buggify
/// Bytes buffered before a flush: 64 KiB in production, 16 bytes in the
/// seeds where this knob is active (tiny batches, many flushes).
fn flush_threshold() -> usize {
    buggify_knob!(64 * 1024, 16)
}

/// Moves the buffer to the log. Fails now and then in chaos seeds, so the
/// caller's retry path runs in simulation long before it runs in production.
fn flush(buffer: &mut Vec<u8>, log: &mut Vec<u8>) -> Result<(), &'static str> {
    if buggify!() {
        return Err("flush failed (buggify)");
    }
    if buggify_with_prob!(Ratio::new(1, 100)) {
        return Err("flush failed (rare, buggify)");
    }
    log.append(buffer);
    Ok(())
}
// ANCHOR_END: buggify

/// One client: 200 records of 100 bytes, flushed by size and at the end.
#[derive(Default)]
struct Appender {
    written: Vec<u8>,
    buffer: Vec<u8>,
    log: Vec<u8>,
}

impl Appender {
    async fn flush_with_retries(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        for attempt in 0..100 {
            match flush(&mut self.buffer, &mut self.log) {
                Ok(()) => return Ok(()),
                Err(_) if attempt == 0 => reachable!("a flush was retried"),
                Err(_) => {}
            }
            p.sleep(Duration::from_millis(1)).await;
        }
        Err("a flush failed 100 times".into())
    }
}

impl Workload for Appender {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        for i in 0..200u64 {
            let record: Vec<u8> = (0..100).map(|b| (i + b) as u8).collect();
            self.written.extend_from_slice(&record);
            self.buffer.extend_from_slice(&record);
            if self.buffer.len() >= flush_threshold() {
                self.flush_with_retries(ctx).await?;
            }
            p.sleep(Duration::from_millis(p.random_range(1..=5u64)))
                .await;
        }
        self.flush_with_retries(ctx).await
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        if self.log != self.written {
            return Err(format!(
                "the log holds {} bytes, {} were written",
                self.log.len(),
                self.written.len()
            )
            .into());
        }
        Ok(())
    }
}

fn simulation() -> Result<Simulation, ConfigError> {
    SimulationBuilder::new()
        .process("logger", [10, 0, 0, 1], |p| async move {
            for _ in 0..1_000 {
                p.sleep(Duration::from_millis(5)).await;
            }
        })
        .workload("appender", 2, |_| Appender::default())
        // ANCHOR: attrition
        .background_workload("attrition", 1, |_| Attrition::new().max_down(1))
        // ANCHOR_END: attrition
        .build()
}

/// A sweep of `count` seeds from 1 under `faults`, chaos on or off.
fn sweep(chaos: bool, faults: FaultSelection, count: u64) -> SweepReport {
    let mut plan = SweepPlan::range(1, count);
    plan.chaos = Some(chaos);
    plan.set_faults(faults).expect("known fault families");
    simulation().expect("a valid simulation").sweep(&plan)
}

fn main() {
    let report = sweep(true, FaultSelection::default(), 200);
    println!(
        "{} seeds, {} failed; buggify.fire = {}",
        report.seeds_run,
        report.failed,
        report.metrics.get("buggify.fire").copied().unwrap_or(0)
    );
    for site in report.coverage.buggify_sites() {
        println!(
            "  {}:{}  evaluated {}, fired {}, active in {} of {} seeds",
            site.site.file,
            site.site.line,
            site.evaluations,
            site.fired,
            site.seeds_active,
            site.seeds_reached
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn fired(report: &SweepReport) -> u64 {
        report.metrics.get("buggify.fire").copied().unwrap_or(0)
    }

    #[test]
    fn buggify_fires_in_chaos_seeds_and_the_retry_path_runs_and_passes() {
        let report = sweep(true, FaultSelection::default(), 100);
        report.assert_all_passed();
        assert!(
            fired(&report) > 0,
            "no buggify site fired in 100 chaos seeds"
        );
        let retried = report
            .coverage
            .site_named("a flush was retried")
            .expect("the reachable site is registered");
        assert!(retried.seeds_reached > 0, "no flush was retried");
        // Each site is active in some seeds only (25% once buggify is on).
        for site in report.coverage.buggify_sites() {
            assert!(
                site.seeds_active < site.seeds_reached,
                "{}:{} active in every seed",
                site.site.file,
                site.site.line
            );
        }
    }

    #[test]
    fn a_quiet_seed_never_buggifies() {
        let report = sweep(false, FaultSelection::default(), 100);
        report.assert_all_passed();
        assert_eq!(fired(&report), 0);
        assert_eq!(report.metrics.get("buggify.knob").copied().unwrap_or(0), 0);
    }

    #[test]
    fn buggify_sites_none_silences_every_site() {
        let none = FaultSelection {
            buggify_sites: Some(BTreeSet::new()),
            ..FaultSelection::default()
        };
        let report = sweep(true, none, 100);
        report.assert_all_passed();
        assert_eq!(fired(&report), 0);
    }

    #[test]
    fn outside_a_simulation_the_knob_is_production_and_flush_never_fails() {
        assert_eq!(flush_threshold(), 64 * 1024);
        let (mut buffer, mut log) = (vec![1, 2, 3], Vec::new());
        for _ in 0..1_000 {
            buffer.push(4);
            assert_eq!(flush(&mut buffer, &mut log), Ok(()));
        }
    }

    #[test]
    fn attrition_kills_and_reboots_unless_its_family_is_off() {
        let report = sweep(true, FaultSelection::default(), 30);
        let kills = report.faults.get("process.kill").map_or(0, |t| t.total);
        let reboots = report.faults.get("process.reboot").map_or(0, |t| t.total);
        assert!(kills > 0 && reboots > 0, "kills {kills}, reboots {reboots}");
        let no_attrition = FaultSelection {
            off: BTreeSet::from(["process.attrition".to_string()]),
            ..FaultSelection::default()
        };
        let report = sweep(true, no_attrition, 30);
        assert_eq!(report.faults.get("process.kill").map_or(0, |t| t.total), 0);
    }
}
