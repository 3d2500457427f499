//! Kills aimed at I/O in flight: [`SimControl::kill_at_io`].
//!
//! A kill at a uniformly random time usually finds a process between
//! operations, its data synced: crash-recovery code is then tested only by
//! luck. An *aimed* kill is armed on a process and strikes at the next
//! moment its disk has I/O in flight: right after a write (or truncation)
//! completes, its data not yet synced, or as a sync of unsynced data
//! begins. The kill itself runs as an event at that same instant, once the
//! tasks ready then have run (a process killed mid-poll would tear its own
//! future apart): the writer may go on to start its sync, or to acknowledge
//! a write it never synced, before it dies.
//!
//! If no such moment comes within the wait, the kill happens when the wait
//! ends. Either way the `max_down` fault model applies when the kill
//! strikes. Counted: `process.kill_aimed` (struck at I/O), and, for every
//! kill, `process.kill_unsynced` when the disk held unsynced operations.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::kernel::process::ProcessId;
use crate::kernel::time::sleep::Sleep;
use crate::model::control::SimControl;
use crate::model::process::lifecycle::ProcessError;
use crate::model::world::World;

/// When an aimed kill ([`SimControl::kill_at_io`]) struck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillMoment {
    /// Right after a write or truncation completed, unsynced.
    AfterWrite,
    /// As a sync of unsynced data began: the kill lands while it runs.
    DuringSync,
    /// No I/O came within the wait: killed when it ended.
    WaitEnded,
}

/// Where an aimed kill is.
enum AimState {
    /// Waiting for I/O.
    Armed,
    /// The I/O came; the kill runs at this instant.
    Striking,
    /// Done (or refused).
    Done(Result<KillMoment, ProcessError>),
    /// The caller gave up (its future was dropped): no kill.
    Cancelled,
}

/// One armed kill, shared by the disk's trigger and the waiting caller.
pub(crate) struct Aim {
    process: ProcessId,
    incarnation: u32,
    max_down: Option<usize>,
    state: RefCell<AimState>,
    waker: RefCell<Option<Waker>>,
}

impl Aim {
    fn finish(&self, result: Result<KillMoment, ProcessError>) {
        *self.state.borrow_mut() = AimState::Done(result);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A process's disk reached an I/O moment: strike the kill aimed at it,
/// if any (in its current incarnation).
pub(crate) fn io_moment(
    world: &Rc<World>,
    process: ProcessId,
    incarnation: u32,
    moment: KillMoment,
) {
    let aim = {
        let mut storage = world.storage.borrow_mut();
        match storage.aims.get(&process) {
            Some(aim) if aim.incarnation == incarnation => storage.aims.remove(&process),
            _ => None,
        }
    };
    let Some(aim) = aim else {
        return;
    };
    *aim.state.borrow_mut() = AimState::Striking;
    let weak: Weak<World> = Rc::downgrade(world);
    world.schedule_in(Duration::ZERO, move || {
        let Some(world) = weak.upgrade() else {
            return;
        };
        if matches!(*aim.state.borrow(), AimState::Cancelled) {
            return;
        }
        let result = if world.is_current(aim.process, aim.incarnation) {
            world.kill_process_within(aim.process, aim.max_down)
        } else {
            Err(ProcessError::AlreadyDead(aim.process))
        };
        if result.is_ok() {
            world.note("process.kill_aimed", Some(aim.process), || {
                let at = match moment {
                    KillMoment::AfterWrite => "right after a write",
                    KillMoment::DuringSync => "during a sync",
                    KillMoment::WaitEnded => "when the wait ended",
                };
                format!("killed {at}")
            });
        }
        aim.finish(result.map(|()| moment));
    });
}

impl SimControl {
    /// Kills `process` at the next moment its disk has I/O in flight (right
    /// after a write completes unsynced, or as a sync of unsynced data
    /// begins), or when `wait` (true time) ends without one. Refused like
    /// [`kill_within`](Self::kill_within) when it strikes, if more than
    /// `max_down` (and the fault model's limit) servers would be down.
    /// Resolves to the moment it struck.
    pub async fn kill_at_io(
        &self,
        process: ProcessId,
        max_down: Option<usize>,
        wait: Duration,
    ) -> Result<KillMoment, ProcessError> {
        let world = &self.world;
        let info = world
            .process_info(process)
            .ok_or(ProcessError::NoSuchProcess(process))?;
        if world.is_dead(process) {
            return Err(ProcessError::AlreadyDead(process));
        }
        let aim = Rc::new(Aim {
            process,
            incarnation: info.incarnation,
            max_down,
            state: RefCell::new(AimState::Armed),
            waker: RefCell::new(None),
        });
        // One aim per process: a newer one replaces an older (which then
        // ends with its wait).
        world
            .storage
            .borrow_mut()
            .aims
            .insert(process, Rc::clone(&aim));
        // Dropped before it struck (the caller stopped waiting): disarmed.
        let _disarm = Disarm {
            world: Rc::clone(world),
            aim: Rc::clone(&aim),
        };
        let ns = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        let mut timer = pin!(Sleep::new(
            Rc::clone(&world.kernel),
            world.now_ns().saturating_add(ns)
        ));
        let struck = std::future::poll_fn(|cx| {
            if let AimState::Done(result) = &*aim.state.borrow() {
                return Poll::Ready(Some(result.clone()));
            }
            *aim.waker.borrow_mut() = Some(cx.waker().clone());
            let armed = matches!(*aim.state.borrow(), AimState::Armed);
            if armed && timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if let Some(result) = struck {
            return result;
        }
        // The wait ended first: disarm, and kill now.
        *aim.state.borrow_mut() = AimState::Cancelled;
        disarm(world, &aim);
        if !world.is_current(process, aim.incarnation) {
            return Err(ProcessError::AlreadyDead(process));
        }
        world
            .kill_process_within(process, max_down)
            .map(|()| KillMoment::WaitEnded)
    }
}

/// Takes `aim` off its process, if it is still the one armed there.
fn disarm(world: &World, aim: &Rc<Aim>) {
    let mut storage = world.storage.borrow_mut();
    if storage
        .aims
        .get(&aim.process)
        .is_some_and(|a| Rc::ptr_eq(a, aim))
    {
        storage.aims.remove(&aim.process);
    }
}

/// Cancels an aimed kill whose caller stopped waiting before it struck.
struct Disarm {
    world: Rc<World>,
    aim: Rc<Aim>,
}

impl Drop for Disarm {
    fn drop(&mut self) {
        let pending = matches!(
            *self.aim.state.borrow(),
            AimState::Armed | AimState::Striking
        );
        if pending {
            *self.aim.state.borrow_mut() = AimState::Cancelled;
            disarm(&self.world, &self.aim);
        }
    }
}
