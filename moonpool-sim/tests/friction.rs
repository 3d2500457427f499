//! Small things a user writing simulations needs: a process's own
//! incarnation, per-seed values that are not sums, join handles without
//! importing their trait.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

// `JoinHandle` is deliberately not imported: its methods are inherent.
use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{FnWorkload, SeedValue, SimContext, SimProviders, SimulationBuilder, SweepPlan};

#[test]
fn a_process_reads_its_own_incarnation() {
    let seen: Rc<RefCell<Vec<u32>>> = Rc::default();
    let log = Rc::clone(&seen);
    let sim = SimulationBuilder::new()
        .process("server", [10, 0, 0, 1], move |p: SimProviders| {
            log.borrow_mut().push(p.incarnation());
            std::future::pending::<()>()
        })
        .workload("nemesis", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let p = ctx.providers();
                let server = ctx.control().process_by_name("server").ok_or("no server")?;
                for _ in 0..2 {
                    p.sleep(Duration::from_millis(10)).await;
                    ctx.control().kill(server)?;
                    ctx.control().reboot(server)?;
                }
                p.sleep(Duration::from_millis(10)).await;
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let r = sim.run_seed(1);
    assert!(r.outcome.is_pass(), "{:?}", r.outcome);
    assert_eq!(*seen.borrow(), [0, 1, 2]);
}

#[test]
fn recorded_values_reach_the_seed_report_without_changing_the_execution() {
    let sim_recording = |record: bool| {
        SimulationBuilder::new()
            .workload("w", 1, move |_| {
                FnWorkload::new(move |ctx: SimContext| async move {
                    let p = ctx.providers();
                    for round in 0..3i64 {
                        p.sleep(Duration::from_millis(1)).await;
                        if record {
                            ctx.record_value("round", round);
                            ctx.record_entry("last_round_of", "client", round);
                        }
                    }
                    if record {
                        ctx.record_entry("last_round_of", "server", -1);
                        // A gauge's name cannot hold a map: dropped, counted.
                        ctx.record_entry("round", "x", 1);
                    }
                    Ok(())
                })
            })
            .build()
            .expect("valid")
    };
    let sim = sim_recording(true);
    let recorded = sim.run_seed(5);
    let plain = sim_recording(false).run_seed(5);
    assert!(recorded.outcome.is_pass(), "{:?}", recorded.outcome);
    assert_eq!(recorded.values["round"], SeedValue::Last(2));
    assert_eq!(
        recorded.values["last_round_of"],
        SeedValue::Map([("client".to_string(), 2), ("server".to_string(), -1)].into())
    );
    assert_eq!(recorded.counters.get("sim.values_dropped"), Some(&1));
    assert!(plain.values.is_empty());
    // In the seed's JSON line: a number for a gauge, an object for a map.
    let sweep = sim.sweep(&SweepPlan::range(5, 1));
    let line = moonpool_sim::report::json::seed(&recorded, &sweep);
    assert_eq!(
        line["values"],
        serde_json::json!({"round": 2, "last_round_of": {"client": 2, "server": -1}})
    );
    assert_eq!(recorded.fingerprint, plain.fingerprint);
}

#[test]
fn join_handles_detach_and_abort_without_importing_their_trait() {
    let sim = SimulationBuilder::new()
        .workload("w", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let p = ctx.providers().clone();
                let ran = Rc::new(RefCell::new(0));
                let counter = Rc::clone(&ran);
                let p2 = p.clone();
                p.spawn("detached", async move {
                    p2.sleep(Duration::from_millis(5)).await;
                    *counter.borrow_mut() += 1;
                })
                .detach();
                let aborted = p.spawn("aborted", std::future::pending::<()>());
                aborted.abort();
                assert!(aborted.is_finished());
                assert!(aborted.await.is_err(), "an aborted task completed");
                p.sleep(Duration::from_millis(10)).await;
                assert_eq!(*ran.borrow(), 1, "the detached task did not run");
                Ok(())
            })
        })
        .build()
        .expect("valid");
    let r = sim.run_seed(1);
    assert!(r.outcome.is_pass(), "{:?}", r.outcome);
}
