//! Benchmark workloads, shared by the `bench` binary.
//!
//! Each workload matches the peer benchmarks in `peer-bench/` (the same
//! operations, the same SplitMix64 schedules, written for turmoil and
//! madsim) so figures compare directly with other frameworks'. Each returns a [`BenchResult`], printed
//! as one line: `framework=moonpool workload=W3 wall_ms=... sim_ms=...
//! ops=... ops_per_sec=...`.

pub mod network;
pub mod rpc;
pub mod scale;
pub mod timers;

use std::time::Duration;

/// What one workload measured.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// The workload's name (`W3`, ...).
    pub workload: &'static str,
    /// Wall-clock time of the whole run (build, run, teardown).
    pub wall: Duration,
    /// Virtual time simulated (summed over seeds for multi-seed workloads).
    pub sim: Duration,
    /// Operations done (timer events, round trips, seeds).
    pub ops: u64,
    /// Extra `key=value` fields.
    pub extra: String,
}

impl BenchResult {
    /// The benchmark line.
    pub fn line(&self) -> String {
        let wall_s = self.wall.as_secs_f64();
        let per_sec = if wall_s > 0.0 {
            self.ops as f64 / wall_s
        } else {
            0.0
        };
        let mut line = format!(
            "framework=moonpool workload={} wall_ms={:.1} sim_ms={:.3} ops={} ops_per_sec={:.0}",
            self.workload,
            wall_s * 1000.0,
            self.sim.as_secs_f64() * 1000.0,
            self.ops,
            per_sec
        );
        if !self.extra.is_empty() {
            line.push(' ');
            line.push_str(&self.extra);
        }
        line
    }
}

/// SplitMix64, as in the peer benchmarks: schedules independent of any
/// framework's generator, so every framework sleeps the same durations.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
