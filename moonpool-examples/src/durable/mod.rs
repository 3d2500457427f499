//! Durable state shared by the examples: small helpers over the storage
//! provider, each with its own crash-recovery rule.
//!
//! - [`DurableCell`]: one small value, replaced atomically (two
//!   alternating CRC'd slots, the newest valid one wins); election's
//!   ballot state and its fenced register.
//! - [`RecordLog`]: an append-only log of CRC'd records whose recovery
//!   re-reads a record that fails its checksum and cuts a torn tail;
//!   bank's shards.
//! - `retry_io` and `read_at_most`: the I/O steps recovery needs (also
//!   used by kv's and wal's own logs).
//!
//! Both structures only report success once a `sync` that began after the
//! write completed has returned.

mod cell;
mod io;
mod log;

pub(crate) use cell::DurableCell;
pub(crate) use io::{read_at_most, retry_io};
pub(crate) use log::{LogError, RecordLog};

use std::time::Duration;

/// Attempts at one storage operation during recovery before giving up.
const RECOVERY_ATTEMPTS_MAX: u32 = 50;
/// Pause between recovery attempts.
const RECOVERY_RETRY_DELAY: Duration = Duration::from_millis(10);
/// Re-reads of a record that fails its checksum before it is taken as
/// torn (a read may be corrupted in transit; the data is not).
const REREADS_MAX: u32 = 3;

/// Runs `body` once as a workload of a one-seed simulation (for the unit
/// tests of the durable structures on the simulated disk).
#[cfg(test)]
pub(crate) fn run_in_sim<T: 'static>(
    storage: moonpool_sim::storage::StorageConfig,
    body: impl Fn(moonpool_sim::SimProviders) -> futures::future::LocalBoxFuture<'static, T> + 'static,
) -> T {
    use std::cell::RefCell;
    use std::rc::Rc;
    let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let body = Rc::new(body);
    let o = Rc::clone(&out);
    let sim = moonpool_sim::SimulationBuilder::new()
        .chaos(false)
        .storage(storage)
        .workload("w", 1, move |_| {
            let (body, o) = (Rc::clone(&body), Rc::clone(&o));
            moonpool_sim::FnWorkload::new(move |ctx: moonpool_sim::SimContext| {
                let (body, o) = (Rc::clone(&body), Rc::clone(&o));
                async move {
                    *o.borrow_mut() = Some(body(ctx.providers().clone()).await);
                    Ok(())
                }
            })
        })
        .build()
        .expect("valid");
    let report = sim.run_seed(1);
    assert!(report.outcome.is_pass(), "{:?}", report.outcome);
    out.borrow_mut().take().expect("ran")
}
