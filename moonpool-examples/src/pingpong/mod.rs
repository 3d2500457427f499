//! Ping-pong: the smallest useful distributed program.
//!
//! A [server] echoes checksummed frames; a [client] sends `count` numbered
//! pings, one at a time, and records the pong it took as each one's
//! answer; the [checker] then requires every ping to have been answered
//! by its own pong. The client survives the faults a network can throw at
//! it: every wait has a deadline, a frame that fails its CRC-32 or claims
//! an absurd length closes the connection, a broken connection is
//! replaced, and a ping whose pong is late is sent again (pings are
//! idempotent).
//!
//! # Late pongs
//! A ping resent after a timeout, on the same connection, is echoed twice:
//! the first pong answers it, and the second arrives while the client
//! waits for the *next* ping's pong. The client must recognise such a
//! stale echo (it names an earlier sequence number) and discard it.
//! [`PingpongBug::StaleEcho`] takes whatever pong comes first.
//!
//! # Modules
//! - [`wire`]: frames, payloads, a cancellation-safe frame reader.
//! - [`server`]: the echo server.
//! - [`client`]: the pinging client and its timeouts.
//! - [`checker`]: every ping answered by its own pong.
//! - [`sim`]: a server and clients under the network nemeses and faults.
//! - [`real`]: the same over real loopback TCP.

pub mod checker;
pub mod client;
pub mod real;
pub mod server;
pub mod sim;
pub mod wire;

use std::io;

pub use checker::{CheckError, check_answers};
pub use client::{ClientConfig, ClientReport, run_client};
pub use server::serve;
pub use sim::{SimConfig, simulation, simulation_with};

use crate::harness::Example;

/// The port the ping-pong server listens on.
pub const PORT: u16 = 4500;

/// What can go wrong in ping-pong.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// The connection failed.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    /// A frame failed its checksum.
    #[error("frame checksum mismatch")]
    Checksum,
    /// A frame announced an impossible length.
    #[error("frame length {0} out of range")]
    FrameLength(u32),
    /// A pong that is neither this ping's nor a stale echo of an earlier
    /// one of this client: a real bug, never retried.
    #[error("pong {got:?} answered ping {want_seq} of client {want_client}")]
    WrongPong {
        /// The `(client, seq)` the pong names, if it is well formed.
        got: Option<(u64, u64)>,
        /// Our client id.
        want_client: u64,
        /// The ping we sent.
        want_seq: u64,
    },
    /// A ping failed [`ClientConfig::attempts_max`] times in a row.
    #[error("ping {seq} failed {attempts} times; last error: {last}")]
    GaveUp {
        /// The ping that never got through.
        seq: u64,
        /// Attempts made.
        attempts: u32,
        /// Why the last attempt failed.
        last: String,
    },
    /// The answers broke the checker's rule.
    #[error(transparent)]
    Check(#[from] CheckError),
}

crate::harness::planted_bugs! {
    /// A bug that can be planted in the client (`pingpong sim --bug NAME`).
    pub enum PingpongBug {
        /// The client takes the first pong it reads as the answer.
        StaleEcho = "stale-echo":
            "the client takes the first pong it reads as the answer: after a resend, the late echo of an earlier ping answers the current one",
    }
}

/// The `pingpong` binary: its simulation and its real run.
pub const EXAMPLE: Example<PingpongBug, real::RealArgs> = Example {
    name: "pingpong",
    about: "a checksummed echo service and clients that must see every ping answered by its own pong, whatever the network does",
    simulation,
    real: std::marker::PhantomData,
};
