//! # moonpool-examples
//!
//! Small distributed programs written against `moonpool-core`'s providers,
//! each with a workload, invariants checked every seed, planted bugs the
//! simulation must catch, and a command-line binary that runs it under
//! simulation (`sim`) or for real on loopback (`real`). Every example has
//! the same shape (module roles `server`, `client`, `storage`, `checker`,
//! `sim`, `real`) and the same command line ([`harness`]).
//!
//! - [`pingpong`]: a checksummed echo service and clients that must see
//!   every ping answered by its own pong, whatever the network does.
//! - [`wal`]: a write-ahead-logged store that acknowledges only durable
//!   writes, served over `moonpool-transport`; clients that check no
//!   acknowledged write is lost and nothing is invented, under network
//!   chaos, disk faults and attrition.
//! - [`kv`]: a 3-replica quorum key-value store, checked for
//!   linearizability.
//! - [`election`]: lease-based leader election with ballots and fencing
//!   tokens, and a fenced register that refuses deposed leaders.
//! - [`bank`]: accounts sharded over servers, transfers by two-phase
//!   commit with presumed abort, checked for conservation of money and
//!   durable outcomes.
//! - [`bench`](mod@bench): the benchmark workloads.

pub mod bank;
pub mod bench;
mod durable;
pub mod election;
pub mod harness;
pub mod kv;
mod net;
pub mod pingpong;
pub mod wal;
