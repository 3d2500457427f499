//! Contract cases for [`TaskProvider`].

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::{JoinError, JoinHandle, Providers, TaskProvider, TimeProvider};

/// Sets its flag when dropped: shows that a cancelled task's future is dropped.
struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Awaiting a handle yields the task's output.
pub async fn join_returns_the_output<P: Providers>(p: P) {
    let p2 = p.clone();
    let handle = p.task().spawn("adder", async move {
        p2.time().sleep(Duration::from_millis(3)).await;
        40 + 2
    });
    assert_eq!(handle.await, Ok(42));
}

/// Dropping a handle cancels the task: it never runs again and its future
/// is dropped.
pub async fn dropping_the_handle_cancels_the_task<P: Providers>(p: P) {
    let ran = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(false));
    let (p2, ran2, guard) = (p.clone(), Rc::clone(&ran), DropFlag(Rc::clone(&dropped)));
    let handle = p.task().spawn("doomed", async move {
        let _guard = guard;
        p2.time().sleep(Duration::from_millis(10)).await;
        ran2.set(true);
    });
    p.task().yield_now().await;
    drop(handle);
    p.time().sleep(Duration::from_millis(50)).await;
    assert!(!ran.get(), "a task ran on after its handle was dropped");
    assert!(dropped.get(), "the cancelled task's future was not dropped");
}

/// A detached task runs to completion without anyone awaiting it.
pub async fn detached_task_keeps_running<P: Providers>(p: P) {
    let ran = Rc::new(Cell::new(false));
    let (p2, ran2) = (p.clone(), Rc::clone(&ran));
    p.task()
        .spawn("detached", async move {
            p2.time().sleep(Duration::from_millis(10)).await;
            ran2.set(true);
        })
        .detach();
    p.time().sleep(Duration::from_millis(50)).await;
    assert!(ran.get(), "a detached task did not run");
}

/// `abort` cancels the task and its handle resolves to `Cancelled`.
pub async fn abort_resolves_join_with_cancelled<P: Providers>(p: P) {
    let p2 = p.clone();
    let handle = p.task().spawn("aborted", async move {
        p2.time().sleep(Duration::from_secs(3600)).await;
        1
    });
    assert!(!handle.is_finished());
    handle.abort();
    assert_eq!(handle.await, Err(JoinError::Cancelled));
}

/// `yield_now` lets another ready task make progress.
pub async fn yield_now_lets_other_tasks_run<P: Providers>(p: P) {
    let ran = Rc::new(Cell::new(false));
    let ran2 = Rc::clone(&ran);
    let handle = p.task().spawn("quick", async move { ran2.set(true) });
    for _ in 0..16 {
        if ran.get() {
            break;
        }
        p.task().yield_now().await;
    }
    assert!(ran.get(), "the other task never ran while we yielded");
    assert!(handle.await.is_ok());
}
