//! # moonpool-examples
//!
//! Small distributed programs written against `moonpool-core`'s providers,
//! each with a workload, invariants and a command-line binary that runs it
//! under simulation (`sim`) or for real on loopback (`real`).
//!
//! - [`pingpong`]: a checksummed echo service and a client that must see
//!   every ping answered, whatever the network does.
//! - [`wal`]: a write-ahead-logged store that acknowledges only durable
//!   writes, served over `moonpool-transport`; clients that check no
//!   acknowledged write is lost and nothing is invented, under network
//!   chaos, disk faults and attrition; planted durability bugs the
//!   simulation must catch.

pub mod bench;
pub mod kv;
mod log_io;
pub mod pingpong;
pub mod wal;
