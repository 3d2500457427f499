//! The chaos test's echo service: the call, its reply and its body.

use serde::{Deserialize, Serialize};

/// What the server does with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Action {
    Echo,
    Drop,
    Hold,
}

/// How the client sends a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Mode {
    Send,
    TryGet,
    Get,
    /// `get_reply_unless_failed`.
    GetUnlessFailed,
    GetLong,
}

impl Mode {
    pub(crate) fn at_most_once(self) -> bool {
        matches!(self, Mode::Send | Mode::TryGet)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    pub(crate) id: u64,
    pub(crate) mode: Mode,
    pub(crate) action: Action,
    pub(crate) body: Vec<u8>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CallRep {
    pub(crate) id: u64,
    pub(crate) body: Vec<u8>,
    pub(crate) server: usize,
    pub(crate) incarnation: u64,
    /// The server's local clock (`timer()`) when it answered, in ns.
    pub(crate) server_clock_ns: u64,
}

moonpool_transport::service! {
    /// The chaos test's echo service.
    pub mod chaos_service {
        call: Call => CallRep,
    }
}

/// The body of call `id`: 8..=207 bytes derived from the id, so any change
/// is seen at either end.
pub(crate) fn body(id: u64) -> Vec<u8> {
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED;
    let len = 8 + (id.wrapping_mul(7919) % 200) as usize;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
