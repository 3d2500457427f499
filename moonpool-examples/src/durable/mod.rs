//! Durable state shared by the examples: small helpers over the storage
//! provider, each with its own crash-recovery rule.
//!
//! - [`DurableCell`]: one small value, replaced atomically (two
//!   alternating CRC'd slots, the newest valid one wins); election's
//!   ballot state and its fenced register.
//! - `retry_io` and `read_at_most`: the I/O steps recovery needs (also
//!   used by kv's and wal's own logs).
//!
//! Both structures only report success once a `sync` that began after the
//! write completed has returned.

mod cell;
mod io;

pub(crate) use cell::DurableCell;
pub(crate) use io::{read_at_most, retry_io};

use std::time::Duration;

/// Attempts at one storage operation during recovery before giving up.
const RECOVERY_ATTEMPTS_MAX: u32 = 50;
/// Pause between recovery attempts.
const RECOVERY_RETRY_DELAY: Duration = Duration::from_millis(10);
/// Re-reads of a record that fails its checksum before it is taken as
/// torn (a read may be corrupted in transit; the data is not).
const REREADS_MAX: u32 = 3;
