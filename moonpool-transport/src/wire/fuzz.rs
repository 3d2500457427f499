//! A self-contained fuzzer for the frame decoder.
//!
//! [`fuzz_decoder`] feeds random and mutated byte streams, cut into random
//! chunks, to a [`FrameDecoder`] and checks three properties on every
//! iteration: the decoder never panics, its memory stays bounded (one
//! maximal frame plus one chunk, doubled for `Vec` growth), and every frame
//! it yields from a mutated stream is one of the frames originally encoded
//! (a corrupted message is never delivered).
//!
//! The generator is a local SplitMix64 seeded by the caller, so a run is a
//! pure function of `(seed, iterations)`. The long-run command is
//! `cargo run --release -p moonpool-transport --example decoder_fuzz -- 1000000`.

use crate::endpoint::Token;
use crate::error::WireError;
use crate::wire::frame::{FRAME_HEADER_LEN, FrameDecoder, encode_frame, length_word};

/// The maximum payload length the fuzzer configures (small, so oversize
/// lengths are common).
pub const FUZZ_FRAME_BYTES_MAX: u32 = 256;
/// The largest chunk fed to the decoder at once.
pub const FUZZ_CHUNK_MAX: usize = 300;

/// What a fuzz run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuzzReport {
    /// Streams fed.
    pub iterations: u64,
    /// Bytes fed in total.
    pub bytes_fed: u64,
    /// Frames the decoder yielded.
    pub frames_decoded: u64,
    /// Streams that ended in a checksum error (frame or length word).
    pub checksum_errors: u64,
    /// Streams that ended in an oversize-length error.
    pub oversize_errors: u64,
    /// Streams that ended inside a frame.
    pub truncated_streams: u64,
    /// Frames yielded from mutated streams that were not among the frames
    /// encoded: corrupted deliveries. Must be zero.
    pub corrupted_deliveries: u64,
    /// The largest decoder buffer capacity observed, in bytes.
    pub buffer_bytes_max: u64,
}

/// SplitMix64: tiny, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0); modulo bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The memory bound the decoder must respect during a fuzz run.
pub fn fuzz_buffer_bound_bytes() -> usize {
    2 * (FRAME_HEADER_LEN + FUZZ_FRAME_BYTES_MAX as usize + FUZZ_CHUNK_MAX) + 64 * 1024
}

/// Runs `iterations` fuzz streams from `seed`.
///
/// # Panics
/// If the decoder panics, exceeds its memory bound, or delivers a frame that
/// was never encoded: those are the bugs this looks for.
pub fn fuzz_decoder(seed: u64, iterations: u64) -> FuzzReport {
    let mut rng = Rng(seed);
    let mut report = FuzzReport::default();
    let bound = fuzz_buffer_bound_bytes();
    for _ in 0..iterations {
        let mut originals: Vec<(Token, Vec<u8>)> = Vec::new();
        let stream = match rng.below(4) {
            // Pure noise.
            0 => (0..rng.below(600)).map(|_| rng.next() as u8).collect(),
            // Noise behind a valid length word (some above the maximum).
            1 => {
                let mut s = length_word(rng.below(300) as u32).to_le_bytes().to_vec();
                s.extend((0..rng.below(400)).map(|_| rng.next() as u8));
                s
            }
            // Valid frames, mutated.
            _ => {
                let mut s = Vec::new();
                for _ in 0..1 + rng.below(4) {
                    let token =
                        Token::from_u128((u128::from(rng.next()) << 64) | u128::from(rng.next()));
                    let payload: Vec<u8> = (0..rng.below(FUZZ_FRAME_BYTES_MAX as usize + 1))
                        .map(|_| rng.next() as u8)
                        .collect();
                    if encode_frame(token, &payload, FUZZ_FRAME_BYTES_MAX, &mut s).is_ok() {
                        originals.push((token, payload));
                    }
                }
                mutate(&mut rng, &mut s);
                s
            }
        };
        report.iterations += 1;
        report.bytes_fed += stream.len() as u64;
        let mut d = FrameDecoder::new(FUZZ_FRAME_BYTES_MAX);
        let mut at = 0;
        let mut failed = false;
        'feed: while at < stream.len() {
            let n = (1 + rng.below(FUZZ_CHUNK_MAX)).min(stream.len() - at);
            d.feed(&stream[at..at + n]);
            at += n;
            report.buffer_bytes_max = report.buffer_bytes_max.max(d.capacity() as u64);
            assert!(
                d.capacity() <= bound,
                "decoder buffer grew to {} bytes (bound {bound})",
                d.capacity()
            );
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => {
                        report.frames_decoded += 1;
                        let known = originals
                            .iter()
                            .any(|(t, p)| *t == f.token && p.as_slice() == f.payload);
                        if !originals.is_empty() && !known {
                            report.corrupted_deliveries += 1;
                        }
                    }
                    Ok(None) => break,
                    Err(WireError::FrameChecksum { .. } | WireError::LengthChecksum { .. }) => {
                        report.checksum_errors += 1;
                        failed = true;
                        break 'feed;
                    }
                    Err(WireError::FrameTooLarge { .. }) => {
                        report.oversize_errors += 1;
                        failed = true;
                        break 'feed;
                    }
                    Err(other) => panic!("unexpected decoder error {other:?}"),
                }
            }
        }
        match d.finish() {
            Ok(()) => assert!(!failed, "a poisoned decoder finished cleanly"),
            Err(WireError::Truncated { .. }) => report.truncated_streams += 1,
            Err(_) => assert!(failed, "finish reported an error next_frame did not"),
        }
    }
    assert_eq!(
        report.corrupted_deliveries, 0,
        "the decoder delivered corrupted frames"
    );
    report
}

/// Applies 1–4 random mutations: bit flips, truncation, insertion,
/// deletion, or an overwritten length field.
fn mutate(rng: &mut Rng, s: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if s.is_empty() {
            return;
        }
        match rng.below(6) {
            0 | 1 => {
                let i = rng.below(s.len());
                s[i] ^= 1 << rng.below(8);
            }
            2 => {
                let cut = rng.below(s.len());
                s.truncate(cut);
            }
            3 => {
                let i = rng.below(s.len() + 1);
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                s.splice(i..i, junk);
            }
            4 => {
                let i = rng.below(s.len());
                let n = (1 + rng.below(8)).min(s.len() - i);
                s.drain(i..i + n);
            }
            _ => {
                if s.len() >= 4 {
                    // Half the time a well-formed word with a wrong length.
                    let word = if rng.below(2) == 0 {
                        rng.next() as u32
                    } else {
                        length_word(rng.below(600) as u32)
                    };
                    s[0..4].copy_from_slice(&word.to_le_bytes());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CI-sized run; the long run is the `decoder_fuzz` example.
    #[test]
    fn fuzzed_streams_never_panic_nor_deliver_corrupted_frames() {
        let r = fuzz_decoder(0xF0CC, 20_000);
        assert_eq!(r.iterations, 20_000);
        assert_eq!(r.corrupted_deliveries, 0);
        assert!(r.checksum_errors > 1_000, "{r:?}");
        assert!(r.oversize_errors > 1_000, "{r:?}");
        assert!(r.frames_decoded > 1_000, "{r:?}");
        assert!(r.truncated_streams > 1_000, "{r:?}");
    }

    #[test]
    #[ignore = "long run: cargo test --release -p moonpool-transport -- --ignored fuzz_one_million"]
    fn fuzz_one_million_streams() {
        let r = fuzz_decoder(0x1_000_000, 1_000_000);
        assert_eq!(r.corrupted_deliveries, 0);
    }
}
