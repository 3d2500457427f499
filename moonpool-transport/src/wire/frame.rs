//! Frames: the unit of data on an established connection.
//!
//! ```text
//! offset  size  field
//! 0       4     length word, u32 little-endian:
//!                 bits 0..24  payload length (bytes after the token)
//!                 bits 24..32 length check: low byte of CRC-32 of the
//!                             3 length bytes
//! 4       4     CRC-32 (crc32fast) of token + payload, u32 little-endian
//! 8       16    destination token, u128 little-endian
//! 24      len   payload
//! ```
//!
//! The length check exists because the frame checksum cannot protect the
//! length: a flipped length bit would make the decoder wait for bytes that
//! may never come, and the corruption would surface seconds later as a
//! ping timeout instead of a checksum failure. With the check, every
//! single-bit flip anywhere in a frame is a checksum error as soon as the
//! affected part arrives. It limits frames to 2^24 − 1 bytes (16 MiB − 1).
//!
//! Types: [`FrameRef`] (a decoded frame borrowing its bytes), [`FrameDecoder`]
//! (an incremental decoder over a growing byte buffer), and the pure
//! functions [`encode_frame`], [`begin_frame`]/[`finish_frame`] and
//! [`decode_frame`].
//!
//! Invariants:
//! - The length is checked against the configured maximum as soon as its 4
//!   bytes are buffered, before anything is allocated for the payload: the
//!   decoder never reserves memory based on a length read from the wire.
//! - A frame is yielded only after its checksum matched; a mismatch is an
//!   error and the decoder is poisoned (every later call returns the same
//!   error), because after a corrupt frame nothing in the stream can be
//!   trusted to be aligned.
//! - Checksums are computed on write and verified on read.
//! - The decoder's buffer never holds more than one maximal frame plus what
//!   the caller fed in one call.

use crate::endpoint::Token;
use crate::error::WireError;

/// Bytes before the payload: length, checksum, token.
pub const FRAME_HEADER_LEN: usize = 24;

/// The largest payload length the length word can carry: 16 MiB − 1.
pub const FRAME_BYTES_LIMIT: u32 = (1 << 24) - 1;

/// The default maximum payload length: 16 MiB − 1, the format's limit.
pub const FRAME_BYTES_MAX_DEFAULT: u32 = FRAME_BYTES_LIMIT;

/// The CRC-32 (IEEE, reflected, as `crc32fast`) lookup table, built at
/// compile time: for the 3-byte length check, where a table walk beats
/// setting up a hasher.
const CRC32_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// The check byte of a 24-bit length: the low byte of the CRC-32 of its 3
/// little-endian bytes.
fn length_check(len: u32) -> u32 {
    let mut c = !0u32;
    for b in &len.to_le_bytes()[..3] {
        c = CRC32_TABLE[((c ^ u32::from(*b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c & 0xFF
}

/// A CRC-32 hasher whose CPU feature detection was done once: cloning it
/// skips the detection `crc32fast::Hasher::new` repeats on every frame.
fn crc_hasher() -> crc32fast::Hasher {
    static PROTOTYPE: std::sync::LazyLock<crc32fast::Hasher> =
        std::sync::LazyLock::new(crc32fast::Hasher::new);
    PROTOTYPE.clone()
}

/// The CRC-32 of `bytes` (as `crc32fast::hash`).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut h = crc_hasher();
    h.update(bytes);
    h.finalize()
}

/// The length word of a frame carrying `len` payload bytes (`len` must be
/// at most [`FRAME_BYTES_LIMIT`]; higher bits are discarded).
pub fn length_word(len: u32) -> u32 {
    let len = len & FRAME_BYTES_LIMIT;
    len | (length_check(len) << 24)
}

/// The length a length word carries, or a checksum error if its check byte
/// does not match.
pub fn parse_length_word(word: u32) -> Result<u32, WireError> {
    let len = word & FRAME_BYTES_LIMIT;
    let check = word >> 24;
    let computed = length_check(len);
    if check != computed {
        return Err(WireError::LengthChecksum {
            word,
            expected: check as u8,
            computed: computed as u8,
        });
    }
    Ok(len)
}

/// A decoded, checksum-verified frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The destination endpoint's token.
    pub token: Token,
    /// The payload (an encoded message).
    pub payload: &'a [u8],
}

/// The CRC-32 of a frame's token and payload.
pub fn frame_checksum(token_bytes: &[u8; 16], payload: &[u8]) -> u32 {
    let mut h = crc_hasher();
    h.update(token_bytes);
    h.update(payload);
    h.finalize()
}

/// Appends one frame carrying `payload` to `token` to `out`.
///
/// Fails with [`WireError::FrameTooLarge`] (and leaves `out` unchanged) if
/// the payload exceeds `bytes_max`.
pub fn encode_frame(
    token: Token,
    payload: &[u8],
    bytes_max: u32,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let start = begin_frame(token, out);
    out.extend_from_slice(payload);
    finish_frame(out, start, bytes_max)
}

/// Initial capacity of a frame buffer being built: a header and a small
/// payload fit without reallocating (most RPC messages are small); larger
/// ones grow as needed.
pub const FRAME_BUILD_CAPACITY: usize = 256;

/// Starts a frame in `out`: writes a header with a placeholder length and
/// checksum, and returns the frame's start offset. Append the payload to
/// `out` (e.g. with a codec), then call [`finish_frame`].
pub fn begin_frame(token: Token, out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&token.to_bytes());
    start
}

/// Completes the frame started at `start` by [`begin_frame`]: fills in the
/// length and the checksum of everything appended since.
///
/// On [`WireError::FrameTooLarge`] the partial frame is removed from `out`.
pub fn finish_frame(out: &mut Vec<u8>, start: usize, bytes_max: u32) -> Result<(), WireError> {
    let payload_len = out.len().saturating_sub(start + FRAME_HEADER_LEN);
    let len = match u32::try_from(payload_len) {
        Ok(len) if len <= bytes_max.min(FRAME_BYTES_LIMIT) => len,
        _ => {
            out.truncate(start);
            return Err(WireError::FrameTooLarge {
                len: u32::try_from(payload_len).unwrap_or(u32::MAX),
                max: bytes_max.min(FRAME_BYTES_LIMIT),
            });
        }
    };
    let crc = crc32(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&length_word(len).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Decodes the first frame of `buf`.
///
/// Returns `Ok(None)` if `buf` does not hold a whole frame yet, or the frame
/// and the number of bytes it occupies. The length word is validated (its
/// check byte, then `bytes_max`) as soon as it is readable, whatever follows.
pub fn decode_frame(
    buf: &[u8],
    bytes_max: u32,
) -> Result<Option<(FrameRef<'_>, usize)>, WireError> {
    let Some(len_bytes) = buf.get(0..4) else {
        return Ok(None);
    };
    let word = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    let len = parse_length_word(word)?;
    if len > bytes_max {
        return Err(WireError::FrameTooLarge {
            len,
            max: bytes_max,
        });
    }
    let total = FRAME_HEADER_LEN + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    let expected = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let mut token_bytes = [0u8; 16];
    token_bytes.copy_from_slice(&buf[8..24]);
    let payload = &buf[FRAME_HEADER_LEN..total];
    let computed = frame_checksum(&token_bytes, payload);
    if computed != expected {
        return Err(WireError::FrameChecksum { expected, computed });
    }
    Ok(Some((
        FrameRef {
            token: Token::from_bytes(token_bytes),
            payload,
        },
        total,
    )))
}

/// An incremental frame decoder over a byte buffer.
///
/// Feed bytes with [`feed`](Self::feed), or read straight into
/// [`spare`](Self::spare) and [`commit`](Self::commit) what was read (the
/// connection does: no copy between the socket and the decoder), then call
/// [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
///
/// The buffer is initialised once as it grows and then reused: `buf[..end]`
/// holds received bytes, `buf[start..end]` those not yet consumed by a
/// complete frame, `buf[end..]` is spare room for the next read.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Offset of the first unconsumed byte in `buf`.
    start: usize,
    /// Offset just past the last received byte in `buf`.
    end: usize,
    bytes_max: u32,
    poisoned: Option<WireError>,
}

/// Room kept by an idle decoder after a large frame: a header and 64 KiB.
const DECODER_KEEP_BYTES: usize = FRAME_HEADER_LEN + 64 * 1024;

impl FrameDecoder {
    /// A decoder that rejects payloads longer than `bytes_max` bytes.
    pub fn new(bytes_max: u32) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            end: 0,
            bytes_max,
            poisoned: None,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        let room = self.spare(bytes.len());
        room[..bytes.len()].copy_from_slice(bytes);
        self.commit(bytes.len());
    }

    /// Room for at least `min` more bytes after the received ones (zeroed
    /// the first time the buffer grows, then reused as is); read into it,
    /// then [`commit`](Self::commit) the bytes read.
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start == self.end {
            // Everything received was consumed (the usual case).
            self.start = 0;
            self.end = 0;
            if self.buf.len() > 4 * DECODER_KEEP_BYTES {
                self.compact();
            }
        }
        if self.start > 0 || self.buf.len() - self.end < min {
            self.compact();
            if self.buf.len() - self.end < min {
                self.buf.resize(self.end + min, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Keeps the first `n` bytes of the last [`spare`](Self::spare) region
    /// as received.
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Bytes received but not yet consumed by a complete frame.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The buffer's allocated size, for memory-bound checks.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Gives memory back while nothing is buffered (an idle connection):
    /// the buffer shrinks to at most `keep` bytes. A partly received frame
    /// keeps its room.
    pub fn release(&mut self, keep: usize) {
        if self.start != self.end || self.buf.capacity() <= keep {
            return;
        }
        self.start = 0;
        self.end = 0;
        self.buf.truncate(keep);
        self.buf.shrink_to(keep);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or the
    /// error that poisoned the stream.
    pub fn next_frame(&mut self) -> Result<Option<FrameRef<'_>>, WireError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let decoded = decode_frame(&self.buf[self.start..self.end], self.bytes_max)
            .map(|found| found.map(|(frame, used)| (frame.token, used)));
        match decoded {
            Ok(Some((token, used))) => {
                let at = self.start;
                self.start += used;
                Ok(Some(FrameRef {
                    token,
                    payload: &self.buf[at + FRAME_HEADER_LEN..at + used],
                }))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Declares the end of the stream: `Ok` if it ended between frames,
    /// [`WireError::Truncated`] if a frame was cut, or the error that
    /// poisoned the decoder.
    pub fn finish(&self) -> Result<(), WireError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        match self.buffered() {
            0 => Ok(()),
            buffered => Err(WireError::Truncated { buffered }),
        }
    }

    /// Moves unconsumed bytes to the front of the buffer (nothing to move
    /// in the usual case: every frame received was consumed).
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Give back memory after a large frame so an idle connection is small.
        if self.buf.len() > 4 * DECODER_KEEP_BYTES && self.end <= DECODER_KEEP_BYTES {
            self.buf.truncate(DECODER_KEEP_BYTES);
            self.buf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u32 = 1024;

    fn frame(token: u128, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(Token::from_u128(token), payload, MAX, &mut out).expect("encode");
        out
    }

    #[test]
    fn the_length_check_is_the_low_byte_of_crc32fast() {
        for len in [0u32, 1, 7, 255, 256, 65_535, 1 << 20, FRAME_BYTES_LIMIT] {
            let b = len.to_le_bytes();
            assert_eq!(
                length_check(len),
                crc32fast::hash(&b[..3]) & 0xFF,
                "len {len}"
            );
        }
        assert_eq!(crc32(b"123456789"), crc32fast::hash(b"123456789"));
    }

    #[test]
    fn frame_round_trips() {
        let bytes = frame(0xABCD, b"hello");
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 5);
        let (f, used) = decode_frame(&bytes, MAX).expect("valid").expect("complete");
        assert_eq!(used, bytes.len());
        assert_eq!(f.token, Token::from_u128(0xABCD));
        assert_eq!(f.payload, b"hello");
    }

    #[test]
    fn empty_payload_round_trips() {
        let bytes = frame(1, b"");
        let (f, _) = decode_frame(&bytes, MAX).expect("valid").expect("complete");
        assert!(f.payload.is_empty());
    }

    #[test]
    fn every_single_bit_flip_after_the_length_is_a_checksum_error() {
        let bytes = frame(
            0x1234_5678_9abc_def0_1122_3344_5566_7788,
            b"some payload bytes",
        );
        for bit in 32..bytes.len() * 8 {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(
                    decode_frame(&bad, MAX),
                    Err(WireError::FrameChecksum { .. })
                ),
                "flip of bit {bit} not caught"
            );
        }
    }

    #[test]
    fn every_single_bit_flip_in_the_length_word_is_caught_from_the_header_alone() {
        let bytes = frame(7, b"payload");
        for bit in 0..32 {
            let mut bad = bytes[..4].to_vec();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(
                    decode_frame(&bad, MAX),
                    Err(WireError::LengthChecksum { .. })
                ),
                "length flip at bit {bit} not caught from 4 bytes"
            );
        }
    }

    #[test]
    fn length_words_round_trip_and_reject_garbage() {
        for len in [0, 1, 255, 256, 65_535, FRAME_BYTES_LIMIT] {
            assert_eq!(parse_length_word(length_word(len)), Ok(len));
        }
        let garbage = (0..1000u32)
            .map(|i| i.wrapping_mul(0x9E37_79B9))
            .filter(|w| parse_length_word(*w).is_ok())
            .count();
        assert!(garbage < 20, "{garbage} of 1000 garbage words accepted");
    }

    #[test]
    fn every_truncation_is_incomplete_not_an_error() {
        let bytes = frame(9, b"truncate me");
        for cut in 0..bytes.len() {
            assert_eq!(decode_frame(&bytes[..cut], MAX), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn every_truncated_stream_ends_with_a_truncation_error() {
        let mut stream = frame(1, b"first");
        stream.extend(frame(2, b"second"));
        let first_len = FRAME_HEADER_LEN + 5;
        for cut in 0..=stream.len() {
            let mut d = FrameDecoder::new(MAX);
            d.feed(&stream[..cut]);
            while d.next_frame().expect("valid prefix").is_some() {}
            let at_boundary = cut == 0 || cut == first_len || cut == stream.len();
            match d.finish() {
                Ok(()) => assert!(at_boundary, "cut at {cut} not reported"),
                Err(WireError::Truncated { buffered }) => {
                    assert!(!at_boundary && buffered > 0, "cut at {cut}")
                }
                Err(e) => panic!("cut at {cut}: {e:?}"),
            }
        }
    }

    #[test]
    fn oversized_length_is_rejected_from_the_header_alone() {
        let header = length_word(MAX + 1).to_le_bytes();
        assert_eq!(
            decode_frame(&header, MAX),
            Err(WireError::FrameTooLarge {
                len: MAX + 1,
                max: MAX
            })
        );
        let header = length_word(FRAME_BYTES_LIMIT).to_le_bytes();
        assert!(matches!(
            decode_frame(&header, MAX),
            Err(WireError::FrameTooLarge { .. })
        ));
    }

    #[test]
    fn encoding_an_oversized_payload_fails_and_leaves_the_buffer_unchanged() {
        let mut out = vec![1, 2, 3];
        let err = encode_frame(Token::from_u128(1), &[0u8; 2000], MAX, &mut out);
        assert!(matches!(
            err,
            Err(WireError::FrameTooLarge { len: 2000, .. })
        ));
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn decoder_reassembles_frames_fed_one_byte_at_a_time() {
        let mut stream = frame(1, b"first");
        stream.extend(frame(2, b"second"));
        stream.extend(frame(3, b""));
        let mut d = FrameDecoder::new(MAX);
        let mut got = Vec::new();
        for b in &stream {
            d.feed(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().expect("valid") {
                got.push((f.token, f.payload.to_vec()));
            }
        }
        assert_eq!(
            got,
            vec![
                (Token::from_u128(1), b"first".to_vec()),
                (Token::from_u128(2), b"second".to_vec()),
                (Token::from_u128(3), Vec::new()),
            ]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn decoder_stays_poisoned_after_a_checksum_error() {
        let mut bad = frame(1, b"abc");
        bad[FRAME_HEADER_LEN] ^= 0x10;
        bad.extend(frame(2, b"good"));
        let mut d = FrameDecoder::new(MAX);
        d.feed(&bad);
        assert!(matches!(
            d.next_frame(),
            Err(WireError::FrameChecksum { .. })
        ));
        assert!(
            matches!(d.next_frame(), Err(WireError::FrameChecksum { .. })),
            "a frame after a corrupt one was delivered"
        );
    }

    #[test]
    fn spare_and_commit_keep_only_the_bytes_read() {
        let bytes = frame(5, b"xyz");
        let mut d = FrameDecoder::new(MAX);
        let spare = d.spare(100);
        spare[..bytes.len()].copy_from_slice(&bytes);
        d.commit(bytes.len());
        assert_eq!(d.buffered(), bytes.len());
        let f = d.next_frame().expect("valid").expect("complete");
        assert_eq!(f.payload, b"xyz");
    }

    #[test]
    fn release_shrinks_an_empty_buffer_and_keeps_a_partial_frame() {
        let frame = |token: u128, payload: &[u8]| {
            let mut out = Vec::new();
            encode_frame(Token::from_u128(token), payload, 1 << 20, &mut out).expect("encode");
            out
        };
        let mut d = FrameDecoder::new(1 << 20);
        d.feed(&frame(1, &[3u8; 100_000]));
        assert!(d.next_frame().expect("valid").is_some());
        assert!(d.capacity() >= 100_000);
        d.release(2048);
        assert!(d.capacity() <= 2048, "{} bytes kept", d.capacity());
        // A frame cut in two keeps what arrived of it.
        let f = frame(2, &[4u8; 10_000]);
        d.feed(&f[..6_000]);
        d.release(2048);
        assert_eq!(d.buffered(), 6_000);
        d.feed(&f[6_000..]);
        let got = d.next_frame().expect("valid").expect("complete");
        assert_eq!(got.payload, &[4u8; 10_000][..]);
    }
}
