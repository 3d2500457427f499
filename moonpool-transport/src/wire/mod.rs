//! The wire format: a connect handshake, then checksummed frames.
//!
//! Everything here is a pure function over byte buffers: no I/O, no
//! providers, no allocation driven by lengths read from the wire. That makes
//! it fuzzable in isolation ([`fuzz`]) and lets the connection code stay a
//! thin loop around it.
//!
//! - [`handshake`]: the fixed 39-byte connect packet (magic, protocol
//!   version, incarnation, the sender's listen address, CRC-32).
//! - [`frame`]: `length | CRC-32 | token | payload` frames (the length word
//!   carrying its own check byte) and the incremental [`FrameDecoder`].

pub mod frame;
pub mod fuzz;
pub mod handshake;

pub use frame::{
    FRAME_BUILD_CAPACITY, FRAME_HEADER_LEN, FRAME_LEN_LIMIT, FRAME_LEN_MAX_DEFAULT, FrameDecoder,
    FrameRef, begin_frame, decode_frame, encode_frame, finish_frame, frame_checksum, length_word,
    parse_length_word,
};
pub use handshake::{HANDSHAKE_LEN, HANDSHAKE_MAGIC, Handshake, PROTOCOL_VERSION};
