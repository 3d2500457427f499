//! Shared parameters, PRNG and output formatting for the peer DST benchmarks.
//!
//! Every framework binary uses the same constants so the workloads are
//! semantically identical; only the framework glue differs.

use std::time::Duration;

/// Fixed seed used by W1/W2/W3.
pub const DEFAULT_SEED: u64 = 42;
/// Bytes per request and per response (fixed-size framing, no length prefix).
pub const PAYLOAD: usize = 64;
/// TCP port the echo server listens on.
pub const PORT: u16 = 9000;
/// W2: client `i` waits `i * W2_CONNECT_STAGGER` of simulated time before
/// connecting. Needed by moonpool 0.8 (a listener keeps only ONE pending
/// connection; a second connect() before accept() silently replaces the
/// first), applied to every framework so the workloads stay identical.
pub const W2_CONNECT_STAGGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Workload parameters (already scaled).
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// W1: sequential round trips on one connection.
    pub w1_round_trips: u64,
    /// W2: number of client nodes.
    pub w2_clients: u64,
    /// W2: round trips per client.
    pub w2_round_trips: u64,
    /// W3: number of tasks.
    pub w3_tasks: u64,
    /// W3: sleeps per task.
    pub w3_sleeps: u64,
    /// W4: number of seeds (one simulation each).
    pub w4_seeds: u64,
    /// W4: round trips per simulation.
    pub w4_round_trips: u64,
    /// Divisor applied to the op counts (1 = full size).
    pub scale: u64,
}

impl Params {
    /// Full-size parameters divided by `scale` (W2 client count and W4 round
    /// trips are never scaled).
    pub fn scaled(scale: u64) -> Self {
        let s = scale.max(1);
        Params {
            w1_round_trips: 100_000 / s,
            w2_clients: 50,
            w2_round_trips: 2_000 / s,
            w3_tasks: 1_000 / s,
            w3_sleeps: 100,
            w4_seeds: 1_000 / s,
            w4_round_trips: 10,
            scale: s,
        }
    }
}

/// Parsed command line: `<bin> W1|W2|W3|W4 [seed]`, env `BENCH_SCALE=N`
/// divides op counts by N.
pub struct Args {
    pub workload: String,
    pub seed: u64,
    pub params: Params,
}

pub fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let workload = it.next().unwrap_or_else(|| {
        eprintln!("usage: <bin> W1|W2|W3|W4 [seed]   (env BENCH_SCALE=N divides op counts)");
        std::process::exit(2)
    });
    let seed = it
        .next()
        .map(|s| s.parse().expect("seed must be u64"))
        .unwrap_or(DEFAULT_SEED);
    let scale = std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    Args {
        workload: workload.to_uppercase(),
        seed,
        params: Params::scaled(scale),
    }
}

/// A workload of a framework binary: (seed, parameters) -> its report.
pub type WorkloadFn = fn(u64, &Params) -> Report<'static>;

/// The `main` of a framework binary: parses the command line, runs the
/// workload it names (`[W1, W2, W3, W4]`) and prints its line.
pub fn run_workload(workloads: [WorkloadFn; 4]) {
    let args = parse_args();
    let index = match args.workload.as_str() {
        "W1" => 0,
        "W2" => 1,
        "W3" => 2,
        "W4" => 3,
        w => {
            eprintln!("unknown workload {w}: expected W1, W2, W3 or W4");
            std::process::exit(2)
        }
    };
    workloads[index](args.seed, &args.params).print();
}

/// SplitMix64: tiny deterministic PRNG, identical in every framework binary,
/// used for W3 sleep durations and payload contents so all frameworks do the
/// exact same work independent of their own RNG.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The W3 sleep schedule for task `task`: `sleeps` durations in 1..=100 ms.
pub fn timer_durations(seed: u64, task: u64, sleeps: u64) -> Vec<Duration> {
    let mut rng = SplitMix64::new(seed ^ task.wrapping_mul(0xA24B_AED4_963E_E407));
    (0..sleeps)
        .map(|_| Duration::from_millis(1 + rng.next_u64() % 100))
        .collect()
}

/// Fill a request payload for round trip `i` of client `client`.
pub fn fill_payload(buf: &mut [u8; PAYLOAD], client: u64, i: u64) {
    buf[..8].copy_from_slice(&i.to_le_bytes());
    buf[8..16].copy_from_slice(&client.to_le_bytes());
    for (k, b) in buf[16..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(k as u8);
    }
}

/// One result line, printed to stdout.
pub struct Report<'a> {
    pub framework: &'a str,
    pub workload: &'a str,
    pub seed: u64,
    pub wall: Duration,
    pub sim: Duration,
    pub ops: u64,
    pub scale: u64,
    /// free-form extra `key=value` fields
    pub extra: String,
}

impl Report<'_> {
    pub fn print(&self) {
        let wall_s = self.wall.as_secs_f64();
        let ops_per_sec = if wall_s > 0.0 {
            self.ops as f64 / wall_s
        } else {
            0.0
        };
        println!(
            "framework={} workload={} seed={} scale={} wall_ms={:.1} sim_ms={:.3} ops={} ops_per_sec={:.0}{}{}",
            self.framework,
            self.workload,
            self.seed,
            self.scale,
            wall_s * 1000.0,
            self.sim.as_secs_f64() * 1000.0,
            self.ops,
            ops_per_sec,
            if self.extra.is_empty() { "" } else { " " },
            self.extra
        );
    }
}

/// Order-sensitive fingerprint of a client's observed simulated timeline
/// (the simulated timestamp at which each response arrived). Two runs with
/// the same seed must produce the same value if the framework is
/// deterministic. Per-client hashes are combined with `wrapping_add` so the
/// combination does not depend on the order clients finish in.
#[derive(Clone, Copy, Debug)]
pub struct TraceHash(pub u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    pub fn mix(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x0000_0100_0000_01B3);
        self.0 ^= self.0 >> 29;
    }
    pub fn mix_time(&mut self, d: Duration) {
        self.mix(d.as_nanos() as u64)
    }
}
