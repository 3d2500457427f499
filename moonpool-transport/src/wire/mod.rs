//! The wire format: a connect handshake, then checksummed frames.
//!
//! Everything here is a pure function over byte buffers: no I/O, no
//! providers, no allocation driven by lengths read from the wire. That makes
//! it fuzzable in isolation (`wire::fuzz`, feature `fuzz`) and lets the
//! connection code stay a thin loop around it.
//!
//! - the handshake: the fixed 39-byte connect packet (magic, protocol
//!   version, incarnation, the sender's listen address, CRC-32),
//!   [`Handshake`];
//! - frames: `length | CRC-32 | token | payload` (the length word carrying
//!   its own check byte), [`encode_frame`], [`decode_frame`] and the
//!   incremental [`FrameDecoder`].

mod frame;
#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;
mod handshake;

pub use frame::{
    FRAME_BUILD_CAPACITY, FRAME_BYTES_LIMIT, FRAME_BYTES_MAX_DEFAULT, FRAME_HEADER_LEN,
    FrameDecoder, FrameRef, begin_frame, decode_frame, encode_frame, finish_frame, frame_checksum,
    length_word, parse_length_word,
};
pub use handshake::{HANDSHAKE_LEN, HANDSHAKE_MAGIC, Handshake, PROTOCOL_VERSION};
