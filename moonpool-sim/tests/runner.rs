//! The runner: determinism, isolation of seeds, and precise failures.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool_core::{RandomProvider, Ratio, TaskProvider, TimeProvider};
use moonpool_sim::{
    ConfigError, FnWorkload, SeedFailure, SimContext, SimProviders, Simulation, SimulationBuilder,
    Waiting, Workload, WorkloadResult,
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

/// Three tasks sleeping random amounts and drawing random values.
async fn busy(p: SimProviders) -> WorkloadResult {
    let mut handles = Vec::new();
    for i in 0..3 {
        let p2 = p.clone();
        handles.push(p.spawn(&format!("worker-{i}"), async move {
            let mut acc = 0u64;
            for _ in 0..20 {
                let ms = p2.random_range(1..50u64);
                p2.sleep(Duration::from_millis(ms)).await;
                acc = acc.wrapping_add(p2.next_u64());
            }
            acc
        }));
    }
    for h in handles {
        h.await?;
    }
    Ok(())
}

#[test]
fn same_seed_gives_the_same_fingerprint_and_time() {
    let sim = sim_of(busy);
    for seed in [1, 42, 0xdead_beef] {
        let a = sim.run_seed(seed);
        let b = sim.run_seed(seed);
        assert!(a.outcome.is_pass(), "{:?}", a.outcome);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.sim_time, b.sim_time);
        assert_eq!(a.events, b.events);
    }
}

#[test]
fn different_seeds_give_different_fingerprints() {
    let sim = sim_of(busy);
    let mut prints: Vec<u64> = (0..200).map(|s| sim.run_seed(s).fingerprint).collect();
    prints.sort_unstable();
    prints.dedup();
    assert!(prints.len() >= 198, "only {} distinct of 200", prints.len());
}

#[test]
fn check_determinism_passes_for_deterministic_code() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("w", 3, |_| on_providers(busy))
        .perturb_ready_order(Ratio::percent(50))
        .build()
        .expect("valid");
    for seed in 0..20 {
        let r = sim.check_determinism(seed);
        assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
    }
}

static LEAKED: AtomicU64 = AtomicU64::new(0);

#[test]
fn check_determinism_names_the_first_diverging_step() {
    // State that survives from one run to the next is exactly the kind of
    // nondeterminism the check exists to find.
    let sim = sim_of(|p: SimProviders| async move {
        if LEAKED.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
            p.sleep(Duration::from_millis(3)).await;
        }
        p.sleep(Duration::from_millis(5)).await;
        Ok(())
    });
    let r = sim.check_determinism(7);
    match r.outcome.failure() {
        Some(SeedFailure::Nondeterminism(msg)) => {
            assert!(msg.contains("runs diverge at step"), "{msg}");
        }
        other => panic!("expected nondeterminism, got {other:?}"),
    }
}

/// A workload that sleeps once, for a length read from (and bumped in)
/// `nap_ms`: state that survives from one run to the next.
fn napping(nap_ms: &'static AtomicU64) -> Simulation {
    sim_of(move |p: SimProviders| async move {
        let ms = nap_ms.fetch_add(1, Ordering::Relaxed);
        p.sleep(Duration::from_millis(ms)).await;
        Ok(())
    })
}

static NAP_FINGERPRINT_MS: AtomicU64 = AtomicU64::new(5);

#[test]
fn runs_that_differ_only_in_how_long_they_sleep_have_different_fingerprints() {
    let sim = napping(&NAP_FINGERPRINT_MS);
    let a = sim.run_seed(1);
    let b = sim.run_seed(1);
    assert!(a.outcome.is_pass() && b.outcome.is_pass());
    // The same sequence of polls, events and draws, at other times.
    assert_eq!(a.events, b.events);
    assert_eq!(b.sim_time, a.sim_time + Duration::from_millis(1));
    assert_ne!(
        a.fingerprint, b.fingerprint,
        "the fingerprint ignores virtual time"
    );
}

static NAP_CHECK_MS: AtomicU64 = AtomicU64::new(5);

#[test]
fn check_determinism_names_the_first_step_whose_time_differs() {
    let r = napping(&NAP_CHECK_MS).check_determinism(1);
    let Some(SeedFailure::Nondeterminism(msg)) = r.outcome.failure() else {
        panic!("expected nondeterminism, got {:?}", r.outcome);
    };
    // The nap's timer is the same event in both runs, fired 1 ms apart.
    let (first, second) = msg
        .split_once("; second run ")
        .unwrap_or_else(|| panic!("{msg}"));
    let event = |side: &str| {
        side.rsplit_once("fired event #")
            .map(|(_, n)| n.to_string())
    };
    assert!(
        first.ends_with(&format!(
            "first run t=0.005000s fired event #{}",
            event(first).unwrap_or_default()
        )),
        "{msg}"
    );
    assert_eq!(
        second,
        format!(
            "t=0.006000s fired event #{}",
            event(first).unwrap_or_default()
        ),
        "{msg}"
    );
}

#[test]
fn a_panicking_task_fails_its_seed_with_message_and_location_and_the_next_seed_runs() {
    let sim = sim_of(|p: SimProviders| async move {
        let h = p.spawn("doomed-worker", async {
            panic!("boom at the worker");
        });
        h.await?;
        Ok(())
    });
    let r = sim.run_seed(1);
    match r.outcome.failure() {
        Some(SeedFailure::Panic {
            message,
            location,
            task,
            process,
        }) => {
            assert_eq!(message, "boom at the worker");
            assert!(location.contains("runner.rs"), "{location}");
            assert_eq!(task, "doomed-worker");
            assert_eq!(process, "w#0");
        }
        other => panic!("expected a panic failure, got {other:?}"),
    }
    let ok = sim_of(busy).run_seed(2);
    assert!(
        ok.outcome.is_pass(),
        "the next seed was affected: {:?}",
        ok.outcome
    );
}

#[test]
fn a_deadlock_fails_the_seed_naming_the_stuck_tasks() {
    let sim = sim_of(|p: SimProviders| async move {
        let never = futures::future::pending::<()>();
        let h = p.spawn("waits-forever", never);
        h.await?;
        Ok(())
    });
    let r = sim.run_seed(3);
    match r.outcome.failure() {
        Some(SeedFailure::Deadlock { stuck, .. }) => {
            let names: Vec<&str> = stuck.iter().map(|s| s.task.as_str()).collect();
            // The task nobody will wake first, then those awaiting it.
            assert_eq!(
                names,
                ["w#0/waits-forever", "w#0/run", "simulator/workload-driver"],
                "{stuck:?}"
            );
            assert_eq!(stuck[0].waiting, Waiting::Other);
            assert_eq!(stuck[1].waiting, Waiting::Task("w#0/waits-forever".into()));
        }
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

#[test]
fn a_workload_error_fails_the_seed_with_phase_and_client() {
    let sim = sim_of(|_p: SimProviders| async move { Err("the invariant broke".into()) });
    match sim.run_seed(4).outcome.failure() {
        Some(SeedFailure::WorkloadFailed {
            workload,
            client_id,
            phase,
            message,
        }) => {
            assert_eq!((workload.as_str(), *client_id, *phase), ("w", 0, "run"));
            assert_eq!(message, "the invariant broke");
        }
        other => panic!("expected a workload failure, got {other:?}"),
    }
}

#[test]
fn a_failing_process_main_fails_the_seed() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("server", [10, 0, 0, 1], |p: SimProviders| async move {
            p.sleep(Duration::from_millis(10)).await;
            Err::<(), _>("disk on fire")
        })
        .workload("w", 1, |_| {
            on_providers(|p: SimProviders| async move {
                p.sleep(Duration::from_secs(1)).await;
                Ok(())
            })
        })
        .build()
        .expect("valid");
    match sim.run_seed(5).outcome.failure() {
        Some(SeedFailure::ProcessFailed {
            process, message, ..
        }) => {
            assert_eq!(process, "server");
            assert_eq!(message, "disk on fire");
        }
        other => panic!("expected a process failure, got {other:?}"),
    }
}

#[test]
fn the_time_limit_stops_a_seed_that_never_ends() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("w", 1, |_| {
            on_providers(|p: SimProviders| async move {
                loop {
                    p.sleep(Duration::from_secs(60)).await;
                }
            })
        })
        .time_limit(Duration::from_secs(600))
        .build()
        .expect("valid");
    let r = sim.run_seed(6);
    assert!(
        matches!(r.outcome.failure(), Some(SeedFailure::TimeLimit { alive, .. })
            if alive.iter().any(|t| t.task == "w#0/run" && t.waiting == Waiting::Timer)),
        "{:?}",
        r.outcome
    );
    assert!(r.sim_time <= Duration::from_secs(600));
}

#[test]
fn the_step_limit_stops_a_busy_loop_and_names_the_spinning_task() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("w", 1, |_| {
            on_providers(|p: SimProviders| async move {
                let spinner = p.spawn("spinner", {
                    let p = p.clone();
                    async move {
                        p.sleep(Duration::from_millis(3)).await;
                        loop {
                            p.yield_now().await;
                        }
                    }
                });
                spinner.await?;
                Ok(())
            })
        })
        .step_limit(10_000)
        .build()
        .expect("valid");
    let r = sim.run_seed(7);
    let Some(SeedFailure::StepLimit {
        limit: 10_000,
        sim_time,
        spinning: Some(spinning),
        alive,
    }) = r.outcome.failure()
    else {
        panic!(
            "expected a step limit naming a spinning task, got {:?}",
            r.outcome
        );
    };
    assert_eq!(*sim_time, Duration::from_millis(3));
    assert!(spinning.starts_with("w#0/spinner ("), "{spinning}");
    assert_eq!(alive[0].task, "w#0/run", "{alive:?}");
    assert_eq!(
        alive.last().map(|t| &t.waiting),
        Some(&Waiting::Ready),
        "{alive:?}"
    );
    assert!(
        r.outcome
            .failure()
            .is_some_and(|f| f.to_string().contains("spinning: w#0/spinner ("))
    );
}

#[test]
fn a_finished_timeout_does_not_stretch_virtual_time() {
    let sim = sim_of(|p: SimProviders| async move {
        let r = p
            .timeout(Duration::from_secs(3600), p.sleep(Duration::from_millis(5)))
            .await;
        assert!(r.is_ok());
        Ok(())
    });
    let r = sim.run_seed(8);
    assert!(r.outcome.is_pass());
    assert!(
        r.sim_time < Duration::from_secs(1),
        "the cancelled 1h timer moved the clock to {:?}",
        r.sim_time
    );
}

#[test]
fn sleeping_a_day_costs_one_event() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("w", 1, |_| {
            on_providers(|p: SimProviders| async move {
                p.sleep(Duration::from_secs(86_400)).await;
                Ok(())
            })
        })
        .time_limit(Duration::from_secs(2 * 86_400))
        .build()
        .expect("valid");
    let r = sim.run_seed(9);
    assert!(r.outcome.is_pass());
    assert_eq!(r.sim_time, Duration::from_secs(86_400));
    assert!(r.events < 20, "{} steps for one sleep", r.events);
}

#[test]
fn dropping_a_handle_drops_the_future_immediately() {
    let sim = sim_of(|p: SimProviders| async move {
        let dropped = Rc::new(Cell::new(false));
        struct Flag(Rc<Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let flag = Flag(Rc::clone(&dropped));
        let p2 = p.clone();
        let h = p.spawn("victim", async move {
            let _f = flag;
            p2.sleep(Duration::from_secs(10)).await;
        });
        p.yield_now().await;
        assert!(!dropped.get());
        drop(h);
        assert!(dropped.get(), "the future outlived its handle");
        Ok(())
    });
    assert!(sim.run_seed(10).outcome.is_pass());
}

#[test]
fn invalid_definitions_are_rejected_with_typed_errors() {
    let no_workload = SimulationBuilder::new().chaos(false).build();
    assert!(matches!(no_workload, Err(ConfigError::NoWorkload)));
    let dup = SimulationBuilder::new()
        .chaos(false)
        .process("a", [10, 0, 0, 1], |_p: SimProviders| async {})
        .process("a", [10, 0, 0, 2], |_p: SimProviders| async {})
        .workload("w", 1, |_| on_providers(busy))
        .build();
    assert!(matches!(dup, Err(ConfigError::DuplicateName(n)) if n == "a"));
    let ip = SimulationBuilder::new()
        .chaos(false)
        .process("a", [10, 0, 0, 1], |_p: SimProviders| async {})
        .process("b", [10, 0, 0, 1], |_p: SimProviders| async {})
        .workload("w", 1, |_| on_providers(busy))
        .build();
    assert!(matches!(ip, Err(ConfigError::DuplicateIp(_))));
    let zero = SimulationBuilder::new()
        .chaos(false)
        .workload("w", 0, |_| on_providers(busy))
        .build();
    assert!(matches!(
        zero,
        Err(ConfigError::ClientCount { count: 0, .. })
    ));
}

/// Acts until the foreground is done, counting its rounds.
struct Nemesis {
    rounds: Rc<Cell<u32>>,
}
impl Workload for Nemesis {
    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        while !ctx.run_phase_done() {
            ctx.providers().sleep(Duration::from_millis(10)).await;
            self.rounds.set(self.rounds.get() + 1);
        }
        Ok(())
    }
}

#[test]
fn a_background_workload_runs_until_the_foreground_is_done() {
    let rounds = Rc::new(Cell::new(0));
    let r = Rc::clone(&rounds);
    let sim = SimulationBuilder::new()
        .chaos(false)
        .workload("fg", 1, |_| {
            on_providers(|p: SimProviders| async move {
                p.sleep(Duration::from_millis(105)).await;
                Ok(())
            })
        })
        .background_workload("nemesis", 1, move |_| Nemesis {
            rounds: Rc::clone(&r),
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(11);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    assert_eq!(rounds.get(), 11, "the nemesis stopped early or ran on");
    assert!(report.sim_time < Duration::from_millis(121));
}

#[test]
fn only_background_workloads_is_a_config_error() {
    let sim = SimulationBuilder::new()
        .chaos(false)
        .background_workload("nemesis", 1, |_| Nemesis {
            rounds: Rc::new(Cell::new(0)),
        })
        .build();
    assert!(matches!(sim, Err(ConfigError::NoWorkload)));
}

#[test]
fn chaos_seeds_perturb_the_ready_order_by_default_and_quiet_seeds_do_not() {
    // Three tasks ready at the same instant, each recording its turn.
    let order_of = |chaos: bool, seed: u64| {
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let o = Rc::clone(&order);
        let sim = SimulationBuilder::new()
            .chaos(false)
            .workload("w", 1, move |_| {
                let o = Rc::clone(&o);
                on_providers(move |p: SimProviders| {
                    let o = Rc::clone(&o);
                    async move {
                        let mut handles = Vec::new();
                        for i in 0..8u32 {
                            let (p2, o) = (p.clone(), Rc::clone(&o));
                            handles.push(p.spawn("racer", async move {
                                for _ in 0..4 {
                                    o.borrow_mut().push(i);
                                    p2.yield_now().await;
                                }
                            }));
                        }
                        for h in handles {
                            h.await?;
                        }
                        Ok(())
                    }
                })
            })
            .chaos(chaos)
            .build()
            .expect("valid");
        assert!(sim.run_seed(seed).outcome.is_pass());
        order.take()
    };
    let fifo: Vec<u32> = (0..4).flat_map(|_| 0..8).collect();
    for seed in 0..10 {
        assert_eq!(
            order_of(false, seed),
            fifo,
            "a quiet seed reordered ready tasks"
        );
    }
    let perturbed = (0..10).filter(|&seed| order_of(true, seed) != fifo).count();
    assert!(
        perturbed >= 8,
        "only {perturbed} of 10 chaos seeds were perturbed"
    );
}
