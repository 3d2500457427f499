//! Schedules that find races, and hangs that name the stuck task.
//!
//! Events due at the same instant are released to the ready queue
//! together, so chaos seeds (ready-order perturbation, buggified timer
//! delays) run same-instant tasks in either order and find a race that
//! needs them swapped; quiet seeds keep the schedule order. A hang lists
//! the task a lost wakeup left behind first, even while a periodic task
//! keeps the clock moving.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use moonpool_core::{TaskProvider, TimeProvider};
use moonpool_sim::{
    FnWorkload, SeedFailure, SimContext, SimProviders, Simulation, SimulationBuilder, SweepPlan,
    Waiting,
};

/// Which of two tasks sleeping to the same deadline ran first.
fn first_of_two_same_deadline_sleepers(chaos: bool, seed: u64) -> &'static str {
    let order: Rc<RefCell<Vec<&'static str>>> = Rc::default();
    let seen = Rc::clone(&order);
    let sim = SimulationBuilder::new()
        .workload("w", 1, move |_| {
            let order = Rc::clone(&order);
            FnWorkload::new(move |ctx: SimContext| {
                let order = Rc::clone(&order);
                async move {
                    let p = ctx.providers().clone();
                    let deadline = p.now() + Duration::from_millis(10);
                    let sleeper = |name: &'static str| {
                        let (p2, order) = (p.clone(), Rc::clone(&order));
                        p.spawn(name, async move {
                            p2.sleep_until(deadline).await;
                            order.borrow_mut().push(name);
                        })
                    };
                    // `a`'s timer is always registered first: `b` does not
                    // exist until 1 ms later.
                    let a = sleeper("a");
                    p.sleep(Duration::from_millis(1)).await;
                    let b = sleeper("b");
                    a.await?;
                    b.await?;
                    Ok(())
                }
            })
        })
        .chaos(chaos)
        .build()
        .expect("valid");
    let report = sim.run_seed(seed);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    let order = seen.borrow();
    assert_eq!(order.len(), 2);
    order[0]
}

#[test]
fn same_deadline_tasks_run_in_both_orders_under_chaos_and_in_schedule_order_when_quiet() {
    let chaos_b_first = (0..200)
        .filter(|&seed| first_of_two_same_deadline_sleepers(true, seed) == "b")
        .count();
    assert!(
        (1..200).contains(&chaos_b_first),
        "b ran first in {chaos_b_first} of 200 chaos seeds"
    );
    for seed in 0..200 {
        assert_eq!(
            first_of_two_same_deadline_sleepers(false, seed),
            "a",
            "quiet seed {seed} reordered"
        );
    }
}

/// A small queue with one consumer. `pop` waits for an item; with the
/// planted bug it checks the queue, does its housekeeping (a 10 ms tick),
/// then registers for a wakeup *without checking again*: an item pushed
/// during the tick woke nobody, and the consumer waits forever (a lost
/// wakeup).
struct Queue {
    items: RefCell<VecDeque<u32>>,
    waiter: RefCell<Option<Waker>>,
    lost_wakeup_bug: bool,
}

impl Queue {
    fn new(lost_wakeup_bug: bool) -> Rc<Queue> {
        Rc::new(Queue {
            items: RefCell::default(),
            waiter: RefCell::default(),
            lost_wakeup_bug,
        })
    }

    fn push(&self, item: u32) {
        self.items.borrow_mut().push_back(item);
        if let Some(w) = self.waiter.borrow_mut().take() {
            w.wake();
        }
    }

    async fn pop(&self, p: &SimProviders) -> u32 {
        loop {
            if let Some(item) = self.items.borrow_mut().pop_front() {
                return item;
            }
            p.sleep(HOUSEKEEPING).await;
            let mut registered = false;
            std::future::poll_fn(|cx| {
                let recheck = !self.lost_wakeup_bug || registered;
                if recheck && !self.items.borrow().is_empty() {
                    return Poll::Ready(());
                }
                if registered && self.waiter.borrow().is_none() {
                    return Poll::Ready(()); // woken
                }
                *self.waiter.borrow_mut() = Some(cx.waker().clone());
                registered = true;
                Poll::Pending
            })
            .await;
        }
    }
}

const HOUSEKEEPING: Duration = Duration::from_millis(10);

/// A consumer that pops one item, a producer (spawned 1 ms later, so the
/// consumer's timer is always registered first) that pushes it at
/// `push_at`, and, with `heartbeat`, a task ticking every second until the
/// item is through (it keeps the event queue busy).
fn queue_sim(bug: bool, push_at: Duration, heartbeat: bool, chaos: bool) -> Simulation {
    SimulationBuilder::new()
        .workload("w", 1, move |_| {
            FnWorkload::new(move |ctx: SimContext| async move {
                let p = ctx.providers().clone();
                let start = p.now();
                let queue = Queue::new(bug);
                let beat = heartbeat.then(|| {
                    let p2 = p.clone();
                    p.spawn("heartbeat", async move {
                        loop {
                            p2.sleep(Duration::from_secs(1)).await;
                        }
                    })
                });
                let consumer = p.spawn("consumer", {
                    let (p, queue) = (p.clone(), Rc::clone(&queue));
                    async move { queue.pop(&p).await }
                });
                p.sleep(Duration::from_millis(1)).await;
                let producer = p.spawn("producer", {
                    let (p, queue) = (p.clone(), Rc::clone(&queue));
                    async move {
                        p.sleep_until(start + push_at).await;
                        queue.push(7);
                    }
                });
                producer.await?;
                if consumer.await? != 7 {
                    return Err("the consumer popped something else".into());
                }
                drop(beat);
                Ok(())
            })
        })
        .chaos(chaos)
        .time_limit(Duration::from_secs(30))
        .build()
        .expect("valid")
}

#[test]
fn a_lost_wakeup_needing_two_same_instant_tasks_swapped_is_found_under_chaos_only() {
    // The producer pushes exactly when the consumer's housekeeping tick
    // ends: in schedule order the consumer registers first and is woken.
    let same_instant = HOUSEKEEPING;
    let buggy_chaos = queue_sim(true, same_instant, false, true);
    let report = buggy_chaos.sweep(&SweepPlan::range(0, 500));
    assert!(
        report.failed > 0,
        "the planted lost wakeup survived 500 chaos seeds"
    );
    let first = report.first_failure().expect("a failure");
    assert!(
        matches!(first.outcome.failure(), Some(SeedFailure::Deadlock { .. })),
        "{:?}",
        first.outcome
    );
    queue_sim(true, same_instant, false, false)
        .sweep(&SweepPlan::range(0, 1_000))
        .assert_all_passed();
    // Without the bug, chaos finds nothing.
    queue_sim(false, same_instant, false, true)
        .sweep(&SweepPlan::range(0, 500))
        .assert_all_passed();
}

#[test]
fn a_lost_wakeup_beside_a_periodic_task_fails_naming_the_stuck_task_first() {
    // The item arrives during the housekeeping tick, every time: the
    // consumer is never woken, and the heartbeat keeps time moving until
    // the time limit.
    let sim = queue_sim(true, Duration::from_millis(5), true, false);
    let r = sim.run_seed(1);
    let Some(SeedFailure::TimeLimit { alive, .. }) = r.outcome.failure() else {
        panic!("expected the time limit, got {:?}", r.outcome);
    };
    let first = &alive[0];
    assert_eq!(first.task, "w#0/consumer", "{alive:?}");
    assert_eq!(first.waiting, Waiting::Other);
    assert_eq!(first.last_ran, HOUSEKEEPING);
    let heartbeat = alive.iter().find(|t| t.task == "w#0/heartbeat");
    assert_eq!(
        heartbeat.map(|t| &t.waiting),
        Some(&Waiting::Timer),
        "{alive:?}"
    );
    let message = r
        .outcome
        .failure()
        .map(|f| f.to_string())
        .unwrap_or_default();
    assert!(
        message.contains(
            "task(s) alive: w#0/consumer (last ran at t=0.010000s, waits on something other than a timer)"
        ),
        "{message}"
    );
}

/// Sleeps 1 ms `naps` times, counting the naps that ended late, then
/// draws one random value: (late naps, the value, the seed's count of
/// `sim.buggified_delay`, whether its family was on).
fn napper(chaos: bool, seed: u64, naps: u32) -> (u32, u64, u64, Option<bool>) {
    let seen: Rc<RefCell<(u32, u64)>> = Rc::default();
    let out = Rc::clone(&seen);
    let sim = SimulationBuilder::new()
        .workload("w", 1, move |_| {
            let seen = Rc::clone(&seen);
            FnWorkload::new(move |ctx: SimContext| {
                let seen = Rc::clone(&seen);
                async move {
                    let p = ctx.providers();
                    let mut late = 0;
                    for _ in 0..naps {
                        let deadline = p.now() + Duration::from_millis(1);
                        p.sleep_until(deadline).await;
                        let lateness = p.now() - deadline;
                        assert!(lateness <= Duration::from_millis(200), "{lateness:?}");
                        late += u32::from(!lateness.is_zero());
                    }
                    *seen.borrow_mut() = (late, moonpool_core::RandomProvider::next_u64(p));
                    Ok(())
                }
            })
        })
        .chaos(chaos)
        .build()
        .expect("valid");
    let r = sim.run_seed(seed);
    assert!(r.outcome.is_pass(), "{:?}", r.outcome);
    let (late, value) = *out.borrow();
    let counted = r.counters.get("sim.buggified_delay").copied().unwrap_or(0);
    let family = r.fault_families.get("sim.buggified_delay").copied();
    (late, value, counted, family)
}

#[test]
fn chaos_delays_some_timers_and_counts_each_delay() {
    let mut seeds_with_delays = 0;
    for seed in 0..100 {
        let (late, _, counted, family) = napper(true, seed, 1_000);
        assert_eq!(u64::from(late), counted, "seed {seed}: late naps vs count");
        if late > 0 {
            assert_eq!(family, Some(true), "seed {seed}");
            seeds_with_delays += 1;
        }
    }
    assert!(seeds_with_delays > 0, "no chaos seed delayed a timer");
}

#[test]
fn timers_without_buggified_delays_draw_nothing() {
    for seed in 0..50 {
        // Quiet: never delayed, and 1,000 naps leave the generator where
        // no nap leaves it.
        let (late, value, counted, family) = napper(false, seed, 1_000);
        assert_eq!((late, counted, family), (0, 0, None), "quiet seed {seed}");
        assert_eq!(
            value,
            napper(false, seed, 0).1,
            "quiet seed {seed} drew for timers"
        );
        // Chaos with the family off: the same.
        let (late, value, counted, family) = napper(true, seed, 1_000);
        if family == Some(false) {
            assert_eq!((late, counted), (0, 0), "chaos seed {seed}");
            assert_eq!(
                value,
                napper(true, seed, 0).1,
                "chaos seed {seed} drew for timers"
            );
        }
    }
}
