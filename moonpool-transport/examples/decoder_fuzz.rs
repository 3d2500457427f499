//! The long-run decoder fuzz.
//!
//! ```text
//! cargo run --release -p moonpool-transport --example decoder_fuzz -- [iterations] [seed]
//! ```
//!
//! Feeds `iterations` (default 1000000) random and mutated byte streams to
//! the frame decoder; exits non-zero (panics) on a decoder panic, a memory
//! bound violation or a corrupted frame delivered.

use moonpool_transport::wire::fuzz::{fuzz_buffer_bound_bytes, fuzz_decoder};

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args
        .next()
        .and_then(|a| moonpool_core::parse_seed(&a).ok())
        .unwrap_or(0x1_000_000);
    let r = fuzz_decoder(seed, iterations);
    println!(
        "decoder fuzz: seed={seed:#x} iterations={} bytes={} frames={} checksum_errors={} \
         oversize_errors={} truncated={} corrupted_deliveries={} buffer_bytes_max={} (bound {})",
        r.iterations,
        r.bytes_fed,
        r.frames_decoded,
        r.checksum_errors,
        r.oversize_errors,
        r.truncated_streams,
        r.corrupted_deliveries,
        r.buffer_bytes_max,
        fuzz_buffer_bound_bytes()
    );
}
