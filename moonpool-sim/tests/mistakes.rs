//! Mistakes in simulation code get a clear failure, not a silent wrong run:
//! providers kept from an earlier seed, panics caught by user code, panics
//! while the seed's values are dropped.

use std::cell::RefCell;
use std::time::Duration;

use moonpool_core::{RandomProvider, TaskProvider, TimeProvider};
use moonpool_sim::{
    FnWorkload, SeedFailure, SimContext, SimProviders, Simulation, SimulationBuilder,
    WorkloadResult,
};

fn sim_of<F, Fut>(f: F) -> Simulation
where
    F: Fn(SimProviders) -> Fut + Clone + 'static,
    Fut: std::future::Future<Output = WorkloadResult> + 'static,
{
    SimulationBuilder::new()
        .workload("w", 1, move |_| {
            let f = f.clone();
            FnWorkload::new(move |ctx: SimContext| f(ctx.providers().clone()))
        })
        .build()
        .expect("valid")
}

fn panic_message(r: &moonpool_sim::SeedReport) -> (String, String) {
    match r.outcome.failure() {
        Some(SeedFailure::Panic { message, task, .. }) => (message.clone(), task.clone()),
        other => panic!("expected a panic failure, got {other:?}"),
    }
}

thread_local! {
    static KEPT: RefCell<Option<SimProviders>> = const { RefCell::new(None) };
}

#[test]
fn providers_kept_from_an_earlier_seed_fail_the_later_seed_naming_the_cause() {
    let sim = sim_of(|p: SimProviders| async move {
        let kept = KEPT.with(|k| k.borrow_mut().replace(p.clone()));
        if let Some(old) = kept {
            // Draws from the earlier seed's world.
            let _ = old.next_u64();
        }
        p.sleep(Duration::from_millis(1)).await;
        Ok(())
    });
    let first = sim.run_seed(1);
    assert!(first.outcome.is_pass(), "{:?}", first.outcome);
    let second = sim.run_seed(2);
    let (message, task) = panic_message(&second);
    assert_eq!(task, "run");
    assert!(
        message.starts_with("a random draw on the providers of seed 0x1, which has ended"),
        "{message}"
    );
    assert!(message.contains("static or a thread_local"), "{message}");
    KEPT.with(|k| k.borrow_mut().take());
}

#[test]
fn a_sleep_kept_from_an_earlier_seed_fails_the_later_seed() {
    thread_local! {
        static NAP: RefCell<Option<moonpool_sim::Sleep>> = const { RefCell::new(None) };
    }
    let sim = sim_of(|p: SimProviders| async move {
        match NAP.with(|n| n.borrow_mut().take()) {
            Some(old) => old.await,
            None => NAP.with(|n| *n.borrow_mut() = Some(p.sleep(Duration::from_secs(1)))),
        }
        Ok(())
    });
    assert!(sim.run_seed(1).outcome.is_pass());
    let (message, _) = panic_message(&sim.run_seed(2));
    assert!(
        message.starts_with("a sleep polled on the providers of seed 0x1, which has ended"),
        "{message}"
    );
}

#[test]
fn a_panic_caught_by_user_code_is_not_the_seeds_failure() {
    // Caught, then the seed passes.
    let caught_only = sim_of(|p: SimProviders| async move {
        let caught = std::panic::catch_unwind(|| panic!("caught and handled"));
        assert!(caught.is_err());
        p.sleep(Duration::from_millis(1)).await;
        Ok(())
    });
    let r = caught_only.run_seed(1);
    assert!(r.outcome.is_pass(), "{:?}", r.outcome);
    // Caught, then another panic fails the seed: that one is reported.
    let caught_then_real = sim_of(|p: SimProviders| async move {
        let _ = std::panic::catch_unwind(|| panic!("caught and handled"));
        p.sleep(Duration::from_millis(1)).await;
        panic!("the real failure");
    });
    let (message, task) = panic_message(&caught_then_real.run_seed(1));
    assert_eq!(
        (message.as_str(), task.as_str()),
        ("the real failure", "run")
    );
}

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropping the guard");
    }
}

#[test]
fn a_panic_while_dropping_user_values_at_teardown_fails_the_seed() {
    let sim = sim_of(|p: SimProviders| async move {
        let guard = PanicsOnDrop;
        let p2 = p.clone();
        // Still asleep when the workload ends: dropped at teardown.
        p.spawn("holder", async move {
            p2.sleep(Duration::from_secs(3600)).await;
            drop(guard);
        })
        .detach();
        p.sleep(Duration::from_millis(1)).await;
        Ok(())
    });
    let r = sim.run_seed(1);
    let (message, task) = panic_message(&r);
    assert_eq!(task, "<teardown>");
    assert_eq!(
        message,
        "while dropping the seed's tasks at teardown: dropping the guard"
    );
    // The same again: the report is a function of the seed.
    assert_eq!(sim.run_seed(1).outcome, r.outcome);
}

#[test]
fn a_wake_from_another_os_thread_fails_the_seed_naming_the_task() {
    let sim = sim_of(|p: SimProviders| async move {
        let waiter = p.spawn("waits-on-a-thread", async {
            let mut asked = false;
            std::future::poll_fn(|cx| {
                if asked {
                    return std::task::Poll::Ready(());
                }
                asked = true;
                // A thread that wakes us (joined at once, so the wake has
                // happened before this poll returns).
                let waker = cx.waker().clone();
                std::thread::spawn(move || waker.wake())
                    .join()
                    .expect("the waking thread");
                std::task::Poll::Pending
            })
            .await;
        });
        waiter.await?;
        Ok(())
    });
    let r = sim.run_seed(1);
    match r.outcome.failure() {
        Some(SeedFailure::ForeignWake { task }) => assert_eq!(task, "w#0/waits-on-a-thread"),
        other => panic!("expected a foreign wake, got {other:?}"),
    }
    assert!(
        r.outcome
            .failure()
            .is_some_and(|f| f.to_string().contains("woken from another OS thread")),
        "{:?}",
        r.outcome
    );
    // The next seed is not blamed for it.
    let clean = sim_of(|p: SimProviders| async move {
        p.sleep(Duration::from_millis(1)).await;
        Ok(())
    });
    assert!(clean.run_seed(2).outcome.is_pass());
}

#[test]
fn tokios_own_timer_in_a_simulation_fails_saying_what_to_use_instead() {
    let sim = sim_of(|_p: SimProviders| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(())
    });
    let (message, task) = panic_message(&sim.run_seed(1));
    assert_eq!(task, "run");
    assert!(message.contains("Tokio 1.x runtime"), "{message}");
    assert!(
        message.contains("a simulation does not run: simulated code must use its providers")
            && message.contains("TimeProvider::sleep"),
        "{message}"
    );
}
