//! [`SimProviders`]: the provider bundle of one simulated process.
//!
//! One small handle (the world, the process id, the incarnation) implements
//! all five provider traits, so `Providers::time()`, `task()`, ... all
//! return the handle itself and cloning the bundle is one reference-count
//! increment.

use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Instant, Providers, RandomProvider, TaskProvider, TimeProvider};

use super::clock;
use super::world::World;
use crate::kernel::executor::join::SimJoinHandle;
use crate::kernel::process::ProcessId;
use crate::kernel::time::sleep::Sleep;

/// The providers of one simulated process: virtual time, the simulator's
/// executor, the simulated network and storage, and the seed's generator.
#[derive(Clone)]
pub struct SimProviders {
    pub(crate) world: Rc<World>,
    pub(crate) process: ProcessId,
    pub(crate) incarnation: u32,
}

impl std::fmt::Debug for SimProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimProviders")
            .field("process", &self.process)
            .field("incarnation", &self.incarnation)
            .finish()
    }
}

impl SimProviders {
    pub(crate) fn new(world: Rc<World>, process: ProcessId, incarnation: u32) -> SimProviders {
        SimProviders {
            world,
            process,
            incarnation,
        }
    }

    /// The process these providers belong to.
    pub fn process_id(&self) -> ProcessId {
        self.process
    }

    /// The process's IP address.
    pub fn ip(&self) -> IpAddr {
        self.world
            .process_table
            .borrow()
            .ip(self.process)
            .unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    /// The process's name.
    pub fn process_name(&self) -> Rc<str> {
        self.world
            .process_name(self.process)
            .unwrap_or_else(|| "?".into())
    }

    /// The incarnation of the process these providers were made for: 0 at
    /// its first start, one more at each reboot. A rebooted process can
    /// tell it restarted (and how often) without keeping state outside the
    /// simulation.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// The seed of the running simulation.
    pub fn seed(&self) -> u64 {
        self.world.seed
    }

    /// Whether the process these providers belong to is still alive in the
    /// incarnation they were made for.
    pub fn is_alive(&self) -> bool {
        self.world.is_current(self.process, self.incarnation)
    }

    /// Resolves when every foreground workload's `run` phase has returned.
    pub(crate) fn run_phase_done(&self) -> impl Future<Output = ()> + 'static {
        RunPhaseDone {
            world: Rc::clone(&self.world),
            slot: None,
        }
    }

    /// Sleeps for `duration`, or until every foreground workload's `run`
    /// phase has returned, whichever comes first: true if the whole pause
    /// elapsed, false if the run phase is over.
    pub(crate) async fn pause(&self, duration: Duration) -> bool {
        if self.world.run_phase_done() {
            return false;
        }
        self.timeout(duration, self.run_phase_done()).await.is_err()
    }
}

impl Providers for SimProviders {
    type Time = SimProviders;
    type Task = SimProviders;
    type Network = SimProviders;
    type Random = SimProviders;
    type Storage = SimProviders;

    fn time(&self) -> &SimProviders {
        self
    }
    fn task(&self) -> &SimProviders {
        self
    }
    fn network(&self) -> &SimProviders {
        self
    }
    fn random(&self) -> &SimProviders {
        self
    }
    fn storage(&self) -> &SimProviders {
        self
    }
}

impl SimProviders {
    /// A sleep of `duration` of true time, whatever this process's clock
    /// says: for what the models make take time (disk latency).
    pub(crate) fn sleep_true(&self, duration: Duration) -> Sleep {
        let nanos = duration.as_nanos().min(u64::MAX as u128) as u64;
        Sleep::new(
            Rc::clone(&self.world.kernel),
            self.world.now_ns().saturating_add(nanos),
        )
    }

    /// A sleep until this process's monotonic clock reads `local` (or has
    /// advanced by `duration_ns`, if `local` is `None`).
    fn sleep_local(&self, local: Option<u64>, duration_ns: u64) -> Sleep {
        let world = &self.world;
        let Some((at, local)) = clock::timer_deadline(world, self.process, local, duration_ns)
        else {
            let at = local.unwrap_or_else(|| world.now_ns().saturating_add(duration_ns));
            return Sleep::new(Rc::clone(&world.kernel), at);
        };
        let (weak, process) = (Rc::downgrade(world), self.process);
        Sleep::with_recheck(
            Rc::clone(&world.kernel),
            at,
            Box::new(move || {
                let world = weak.upgrade()?;
                clock::recheck(&world, process, local)
            }),
        )
    }
}

impl TimeProvider for SimProviders {
    type Sleep = Sleep;

    /// This process's monotonic clock: true time plus its offset (which
    /// moves at its rate error and jumps forward, never back; see
    /// `docs/src/faults.md#clocks`). True time when its clock is perfect.
    #[track_caller]
    fn now(&self) -> Instant {
        self.world.ensure_live("now()");
        Instant::from_nanos(clock::mono_ns(&self.world, self.process))
    }

    /// This process's wall clock: its monotonic clock, except after a
    /// backward jump; within the seed's clock bound of true time.
    #[track_caller]
    fn timer(&self) -> Instant {
        self.world.ensure_live("timer()");
        Instant::from_nanos(clock::wall_ns(&self.world, self.process))
    }

    /// Ends when this process's monotonic clock has advanced by `duration`
    /// (sooner in true time on a fast clock).
    #[track_caller]
    fn sleep(&self, duration: Duration) -> Sleep {
        self.world.ensure_live("sleep()");
        let nanos = duration.as_nanos().min(u64::MAX as u128) as u64;
        self.sleep_local(None, nanos)
    }

    /// Ends when this process's monotonic clock reads `deadline`.
    #[track_caller]
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        self.world.ensure_live("sleep_until()");
        self.sleep_local(Some(deadline.as_nanos()), 0)
    }
}

impl TaskProvider for SimProviders {
    type Handle<T: 'static> = SimJoinHandle<T>;

    #[track_caller]
    fn spawn<F>(&self, name: &str, future: F) -> SimJoinHandle<F::Output>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        self.world.ensure_live("spawn()");
        let handle = self
            .world
            .spawn(self.process, self.incarnation, name, future);
        if !self.is_alive() {
            // A dead process (e.g. code in a destructor running during a
            // kill) cannot start work: the task is cancelled before it runs.
            self.world.cancel_task(handle.id());
        }
        handle
    }
}

impl RandomProvider for SimProviders {
    #[track_caller]
    fn next_u64(&self) -> u64 {
        self.world.ensure_live("a random draw");
        self.world.draw_u64()
    }
}

/// The future of [`SimProviders::run_phase_done`]: holds one waiter slot
/// while pending, and frees it when dropped (a `pause` whose timer won).
struct RunPhaseDone {
    world: Rc<World>,
    slot: Option<usize>,
}

impl Future for RunPhaseDone {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.world.run_phase_done() {
            return std::task::Poll::Ready(());
        }
        let slot = self.world.wait_run_phase(self.slot, cx.waker());
        self.slot = Some(slot);
        std::task::Poll::Pending
    }
}

impl Drop for RunPhaseDone {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take()
            && !self.world.run_phase_done()
        {
            self.world.stop_waiting_run_phase(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use moonpool_core::Ratio;

    use super::*;
    use crate::kernel::KernelConfig;
    use crate::model::world::WorldConfig;

    #[test]
    fn pauses_that_time_out_leave_no_run_phase_waiter_behind() {
        let world = World::new(
            1,
            KernelConfig {
                time_limit: Duration::from_secs(3_600),
                step_limit: 10_000_000,
                perturb_ready_order: Ratio::ZERO,
                record_timeline: false,
                faults: Default::default(),
                record_marks: false,
            },
            WorldConfig {
                chaos: false,
                network: Default::default(),
                storage: Default::default(),
                clocks: Default::default(),
                max_down: None,
            },
        );
        let _enter = world.enter();
        let process = world.kernel.add_process("p".into());
        let p = SimProviders::new(Rc::clone(&world), process, 0);
        let w = Rc::clone(&world);
        let most = Rc::new(std::cell::Cell::new(0));
        let seen = Rc::clone(&most);
        let task = world.kernel.spawn(process, 0, "pauser", async move {
            for _ in 0..10_000 {
                assert!(p.pause(Duration::from_millis(1)).await);
                seen.set(seen.get().max(w.run_phase_waiter_slots()));
            }
            w.kernel.finish();
        });
        task.detach();
        world.run();
        // One pause pending at a time: one slot, reused 10,000 times (it
        // was 10,000 wakers kept until the run phase ended).
        assert_eq!(most.get(), 1);
        world.teardown();
    }
}
