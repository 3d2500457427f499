//! Contract cases for [`TimeProvider`].

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::{Elapsed, Providers, TaskProvider, TimeProvider};

/// A sleep never returns before its duration has passed on `now()`.
pub async fn sleep_waits_at_least_its_duration<P: Providers>(p: P) {
    for ms in [1u64, 7, 50] {
        let start = p.time().now();
        p.time().sleep(Duration::from_millis(ms)).await;
        let slept = p.time().now() - start;
        assert!(
            slept >= Duration::from_millis(ms),
            "sleep({ms}ms) returned after only {slept:?}"
        );
    }
}

/// Concurrent sleeps wake in the order of their deadlines.
pub async fn sleeps_complete_in_deadline_order<P: Providers>(p: P) {
    let order = Rc::new(RefCell::new(Vec::new()));
    let mut handles = Vec::new();
    for ms in [60u64, 20, 40] {
        let (p2, order) = (p.clone(), Rc::clone(&order));
        handles.push(p.task().spawn("sleeper", async move {
            p2.time().sleep(Duration::from_millis(ms)).await;
            order.borrow_mut().push(ms);
        }));
    }
    for h in handles {
        h.await.expect("sleeper task");
    }
    assert_eq!(*order.borrow(), vec![20, 40, 60]);
}

/// `sleep_until` a deadline in the past completes without waiting.
pub async fn sleep_until_a_past_deadline_is_immediate<P: Providers>(p: P) {
    p.time().sleep(Duration::from_millis(5)).await;
    let start = p.time().now();
    let past = crate::Instant::from_nanos(start.as_nanos() / 2);
    p.time().sleep_until(past).await;
    let waited = p.time().now() - start;
    assert!(
        waited < Duration::from_millis(100),
        "sleep_until(past) waited {waited:?}"
    );
}

/// `timeout` yields `Elapsed` when the future is slower than the deadline,
/// no earlier than the deadline and without waiting for the future.
pub async fn timeout_fires_when_the_future_is_slow<P: Providers>(p: P) {
    let start = p.time().now();
    let result = p
        .time()
        .timeout(
            Duration::from_millis(20),
            p.time().sleep(Duration::from_secs(30)),
        )
        .await;
    let waited = p.time().now() - start;
    assert_eq!(result, Err(Elapsed));
    assert!(
        waited >= Duration::from_millis(20),
        "fired early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "waited for the inner future"
    );
}

/// `timeout` yields the output when the future beats the deadline, as soon
/// as the future completes.
pub async fn timeout_does_not_fire_when_the_future_is_fast<P: Providers>(p: P) {
    let start = p.time().now();
    let result = p
        .time()
        .timeout(Duration::from_secs(30), async {
            p.time().sleep(Duration::from_millis(10)).await;
            7
        })
        .await;
    let waited = p.time().now() - start;
    assert_eq!(result, Ok(7));
    assert!(waited < Duration::from_secs(30), "waited for the deadline");
}
