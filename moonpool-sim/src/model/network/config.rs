//! Network configuration: the quiet datacenter, explicit faults, and the
//! chaos profile whose ranges are sampled per seed.
//!
//! # Types
//! - [`NetworkConfig`]: latency of a healthy network, buffer sizes, the
//!   explicit [`NetworkFaults`] used when chaos is off (all zero by
//!   default), and the [`ChaosProfile`] used when chaos is on.
//! - [`NetworkFaults`]: one knob per fault, as a [`Ratio`] or a bound with
//!   its unit in the name. A zero knob draws no randomness and costs nothing.
//! - [`ChaosProfile`]: for every fault family, the range its knob is drawn
//!   from, plus the probability (`family_off`) that the family is switched
//!   off entirely for a seed (swarm testing).
//! - [`OneIn`]: a range of probabilities `1/N`, sampled log-uniformly.
//!
//! # Choosing the numbers
//! Quiet latencies follow FoundationDB's fast path (0.1–0.8 ms one-way is
//! its simulated *fast* path; a healthy datacenter link is faster): 50 µs
//! base plus up to 50 µs jitter one-way. Chaos ranges follow FDB's Sim2 and
//! TigerBeetle's VOPR (see `docs/src/faults.md` for the table).

use moonpool_core::Ratio;

use crate::kernel::draw;
use crate::model::world::World;

/// A range of probabilities `1/max ..= 1/min`, sampled log-uniformly (each
/// power of two of `N` is equally likely), so a seed is as likely to get a
/// rare fault as a frequent one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneIn {
    /// The most frequent the fault may be: one in `min`. At least 1.
    pub min: u64,
    /// The rarest the fault may be: one in `max`. At least `min`.
    pub max: u64,
}

impl OneIn {
    /// `1/min ..= 1/max`.
    pub const fn new(min: u64, max: u64) -> OneIn {
        OneIn { min, max }
    }

    /// Draws a probability from the range.
    pub(crate) fn sample(self, world: &World) -> Ratio {
        let lo = self.min.max(1);
        let hi = self.max.max(lo);
        let (lo_bits, hi_bits) = (63 - lo.leading_zeros(), 63 - hi.leading_zeros());
        let octave = draw::between(world, lo_bits as u64, hi_bits as u64) as u32;
        let start = (1u64 << octave).max(lo);
        let end = if octave >= 63 {
            u64::MAX
        } else {
            ((1u64 << (octave + 1)) - 1).min(hi)
        };
        Ratio::new(1, draw::between(world, start, end.max(start)))
    }
}

/// A range of whole numbers, sampled uniformly (`min..=max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// Smallest value.
    pub min: u64,
    /// Largest value (at least `min`).
    pub max: u64,
}

impl Range {
    /// `min..=max`.
    pub const fn new(min: u64, max: u64) -> Range {
        Range { min, max }
    }

    pub(crate) fn sample(self, world: &World) -> u64 {
        draw::between(world, self.min, self.max)
    }
}

/// Explicit fault knobs. All zero (no faults) by default; with chaos on,
/// the seed's values are drawn from the [`ChaosProfile`] instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkFaults {
    /// Probability that one write's delivery takes the slow tail
    /// (`net.latency_tail`). Default 0.
    pub latency_tail: Ratio,
    /// Upper bound of a slow-tail extra delay. Default 100 ms (FDB's tail).
    pub latency_tail_ms_max: u64,
    /// Upper bound of the permanent extra one-way latency drawn for each
    /// pair of processes that talk (`net.pair_latency`). Default 0 (off).
    pub pair_latency_ms_max: u64,
    /// Probability that a connect to a live listener is refused
    /// (`net.connect_refused`). Default 0.
    pub connect_refuse: Ratio,
    /// Probability that a connect hangs forever, as if its SYN were lost
    /// (`net.connect_hang`). Default 0.
    pub connect_hang: Ratio,
    /// Whether connecting to an address where nothing listens hangs forever
    /// (a dead process that swallows SYNs, `net.connect_hang`) instead of being
    /// refused. FDB picks this mode per run. Default false (refused).
    pub unreachable_connect_hangs: bool,
    /// Probability that a `bind` fails with `AddrInUse`
    /// (`net.bind_fail`). Default 0.
    pub bind_fail: Ratio,
    /// Probability that a read or write closes its connection
    /// (`net.random_close`); the close is a reset seen by one side, the
    /// other, or both. Default 0 (FDB uses 1/100,000 in half of its runs).
    pub random_close: Ratio,
    /// Probability that a read flips one bit of the bytes it returns
    /// (`net.bit_flip`). Default 0.
    pub bit_flip: Ratio,
    /// Probability that a read returns only a random prefix of the bytes
    /// available (`net.short_read`). Default 0.
    pub short_read: Ratio,
    /// Probability that a write accepts only a random prefix of what it was
    /// offered (`net.short_write`). Default 0.
    pub short_write: Ratio,
}

impl Default for NetworkFaults {
    fn default() -> Self {
        NetworkFaults::NONE
    }
}

impl NetworkFaults {
    /// No faults at all.
    pub const NONE: NetworkFaults = NetworkFaults {
        latency_tail: Ratio::ZERO,
        latency_tail_ms_max: 100,
        pair_latency_ms_max: 0,
        connect_refuse: Ratio::ZERO,
        connect_hang: Ratio::ZERO,
        unreachable_connect_hangs: false,
        bind_fail: Ratio::ZERO,
        random_close: Ratio::ZERO,
        bit_flip: Ratio::ZERO,
        short_read: Ratio::ZERO,
        short_write: Ratio::ZERO,
    };

    /// Whether any per-read/per-write fault is on (the hot path checks this
    /// one flag).
    pub(crate) fn any_io_fault(&self) -> bool {
        !(self.random_close.is_zero()
            && self.bit_flip.is_zero()
            && self.short_read.is_zero()
            && self.short_write.is_zero())
    }
}

/// Fault families: the unit of swarm testing. Each seed switches each family
/// on or off independently; the report lists which were on.
pub(crate) mod family {
    /// Rare slow deliveries.
    pub(crate) const LATENCY_TAIL: &str = "net.latency_tail";
    /// Permanent extra latency per pair of processes.
    pub(crate) const PAIR_LATENCY: &str = "net.pair_latency";
    /// Refused and hanging connects.
    pub(crate) const CONNECT_FAIL: &str = "net.connect_fail";
    /// Failing binds.
    pub(crate) const BIND_FAIL: &str = "net.bind_fail";
    /// Clogging (the `RandomClogging` nemesis).
    pub(crate) const CLOG: &str = "net.clog";
    /// Partitions (the `RandomPartitions` nemesis).
    pub(crate) const PARTITION: &str = "net.partition";
    /// Random closes and resets, and the `RandomConnectionKills` nemesis.
    pub(crate) const DISCONNECT: &str = "net.disconnect";
    /// Bit flips in delivered bytes.
    pub(crate) const BIT_FLIP: &str = "net.bit_flip";
    /// Short reads and short writes.
    pub(crate) const PARTIAL_IO: &str = "net.partial_io";

    /// Every network family with the counters it increments.
    pub(crate) const COUNTERS: [(&str, &[&str]); 9] = [
        (LATENCY_TAIL, &["net.latency_tail"]),
        (PAIR_LATENCY, &["net.pair_latency"]),
        (CONNECT_FAIL, &["net.connect_refused", "net.connect_hang"]),
        (BIND_FAIL, &["net.bind_fail"]),
        (CLOG, &["net.clog"]),
        (PARTITION, &["net.partition"]),
        (DISCONNECT, &["net.random_close", "net.connection_kill"]),
        (BIT_FLIP, &["net.bit_flip"]),
        (PARTIAL_IO, &["net.short_read", "net.short_write"]),
    ];

    /// Every network family, in the order they are decided.
    pub(crate) const ALL: [&str; 9] = [
        LATENCY_TAIL,
        PAIR_LATENCY,
        CONNECT_FAIL,
        BIND_FAIL,
        CLOG,
        PARTITION,
        DISCONNECT,
        BIT_FLIP,
        PARTIAL_IO,
    ];
}

/// What chaos draws from, per seed. Every range is documented with its
/// source in `docs/src/faults.md`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChaosProfile {
    /// Probability that a fault family is off for a seed (swarm testing).
    /// Default 1/2, as FDB disables random connection failures in half of
    /// its runs.
    pub family_off: Ratio,
    /// Slow-tail probability per write. Default 1/5,000 ..= 1/100.
    pub latency_tail: OneIn,
    /// Slow-tail bound, in ms. Default 10 ..= 100 (FDB: up to ~100 ms).
    pub latency_tail_ms_max: Range,
    /// Per-pair latency bound, in ms. Default 1 ..= 100 (FDB: up to 100 ms).
    pub pair_latency_ms_max: Range,
    /// Connect refusal probability. Default 1/200 ..= 1/10.
    pub connect_refuse: OneIn,
    /// Connect hang probability. Default 1/500 ..= 1/20.
    pub connect_hang: OneIn,
    /// Bind failure probability. Default 1/20 ..= 1/2.
    pub bind_fail: OneIn,
    /// Random close probability per read/write. Default 1/100,000 ..= 1/500
    /// (FDB: 1/100,000).
    pub random_close: OneIn,
    /// Bit flip probability per read. Default 1/20,000 ..= 1/200.
    pub bit_flip: OneIn,
    /// Short read probability. Default 1/8 ..= 1/2 (FDB: 1/2).
    pub short_read: OneIn,
    /// Short write probability. Default 1/8 ..= 1/2.
    pub short_write: OneIn,
}

impl Default for ChaosProfile {
    fn default() -> Self {
        ChaosProfile {
            family_off: Ratio::new(1, 2),
            latency_tail: OneIn::new(100, 5_000),
            latency_tail_ms_max: Range::new(10, 100),
            pair_latency_ms_max: Range::new(1, 100),
            connect_refuse: OneIn::new(10, 200),
            connect_hang: OneIn::new(20, 500),
            bind_fail: OneIn::new(2, 20),
            random_close: OneIn::new(500, 100_000),
            bit_flip: OneIn::new(200, 20_000),
            short_read: OneIn::new(2, 8),
            short_write: OneIn::new(2, 8),
        }
    }
}

/// The simulated network's configuration. The default is a quiet, healthy
/// datacenter: small latency, no faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Fixed part of the one-way latency of every write. Default 50 µs.
    pub latency_base_us: u64,
    /// Random part of the one-way latency, uniform in `0..=jitter`.
    /// Default 50 µs (so one-way is 50–100 µs, a round trip 100–200 µs).
    pub latency_jitter_us: u64,
    /// Bytes one direction of a connection holds (in flight plus unread)
    /// before writes return `Pending`. Default 256 KiB (≈ Linux's default
    /// send plus receive buffers).
    pub send_buffer_bytes_max: usize,
    /// Connections a listener holds before `accept`. Further connects are
    /// refused. Default 4,096 (Linux's `somaxconn`).
    pub backlog_max: usize,
    /// Faults used when chaos is off. Default: none.
    pub faults: NetworkFaults,
    /// Ranges sampled per seed when chaos is on.
    pub chaos: ChaosProfile,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            latency_base_us: 50,
            latency_jitter_us: 50,
            send_buffer_bytes_max: 256 * 1024,
            backlog_max: 4096,
            faults: NetworkFaults::NONE,
            chaos: ChaosProfile::default(),
        }
    }
}

/// The longest latency, tail, pair latency or clock drift a configuration
/// may ask for: one day. Far below where virtual nanoseconds saturate, so
/// every valid configuration computes the same times in debug and release
/// builds.
pub(crate) const DURATION_MS_MAX: u64 = 86_400_000;

/// A network configuration that cannot be used (see
/// [`NetworkConfig::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkConfigError {
    /// A `min` above its `max`.
    #[error("network config: {0} has its minimum above its maximum")]
    InvertedRange(&'static str),
    /// A probability range `1/min ..= 1/max` with `min` zero.
    #[error("network config: {0} has min 0 (one in zero is no probability)")]
    ZeroOneIn(&'static str),
    /// A send buffer of zero bytes: no write could ever complete.
    #[error("network config: send_buffer_bytes_max must be at least 1")]
    ZeroBuffer,
    /// A duration above one day.
    #[error(
        "network config: {name} is {value} ms, above the limit of one day ({DURATION_MS_MAX} ms)"
    )]
    TooLong {
        /// The knob.
        name: &'static str,
        /// Its value, in milliseconds.
        value: u64,
    },
}

impl NetworkConfig {
    /// Checks every range and bound; [`SimulationBuilder::build`]
    /// (crate::SimulationBuilder::build) calls it.
    pub fn validate(&self) -> Result<(), NetworkConfigError> {
        use NetworkConfigError::*;
        if self.send_buffer_bytes_max == 0 {
            return Err(ZeroBuffer);
        }
        let f = &self.faults;
        let c = &self.chaos;
        let durations_ms = [
            ("latency_base_us", self.latency_base_us / 1_000),
            ("latency_jitter_us", self.latency_jitter_us / 1_000),
            ("faults.latency_tail_ms_max", f.latency_tail_ms_max),
            ("faults.pair_latency_ms_max", f.pair_latency_ms_max),
            ("chaos.latency_tail_ms_max", c.latency_tail_ms_max.max),
            ("chaos.pair_latency_ms_max", c.pair_latency_ms_max.max),
        ];
        for (name, value) in durations_ms {
            if value > DURATION_MS_MAX {
                return Err(TooLong { name, value });
            }
        }
        for (name, r) in [
            ("chaos.latency_tail_ms_max", c.latency_tail_ms_max),
            ("chaos.pair_latency_ms_max", c.pair_latency_ms_max),
        ] {
            if r.min > r.max {
                return Err(InvertedRange(name));
            }
        }
        for (name, r) in [
            ("chaos.latency_tail", c.latency_tail),
            ("chaos.connect_refuse", c.connect_refuse),
            ("chaos.connect_hang", c.connect_hang),
            ("chaos.bind_fail", c.bind_fail),
            ("chaos.random_close", c.random_close),
            ("chaos.bit_flip", c.bit_flip),
            ("chaos.short_read", c.short_read),
            ("chaos.short_write", c.short_write),
        ] {
            if r.min == 0 {
                return Err(ZeroOneIn(name));
            }
            if r.min > r.max {
                return Err(InvertedRange(name));
            }
        }
        Ok(())
    }
}

/// Draws this seed's faults: from the chaos profile (each family on or off
/// by swarm) when the world's chaos is on, otherwise the explicit faults as
/// given. Records every family it decides with `world.set_fault_family`.
pub(crate) fn sample_faults(world: &World, config: &NetworkConfig) -> NetworkFaults {
    if !world.config.chaos {
        let f = config.faults.clone();
        let explicit = [
            (family::LATENCY_TAIL, !f.latency_tail.is_zero()),
            (family::PAIR_LATENCY, f.pair_latency_ms_max > 0),
            (
                family::CONNECT_FAIL,
                !f.connect_refuse.is_zero() || !f.connect_hang.is_zero(),
            ),
            (family::BIND_FAIL, !f.bind_fail.is_zero()),
            (family::DISCONNECT, !f.random_close.is_zero()),
            (family::BIT_FLIP, !f.bit_flip.is_zero()),
            (
                family::PARTIAL_IO,
                !f.short_read.is_zero() || !f.short_write.is_zero(),
            ),
        ];
        // Without chaos the faults are the ones configured: recorded as on
        // (a selection applies to the chaos profile only).
        for (name, on) in explicit {
            if on {
                let _recorded = world.set_fault_family(name, true);
            }
        }
        return f;
    }
    let c = &config.chaos;
    let mut f = NetworkFaults::NONE;
    for name in family::ALL {
        let drawn = !draw::bool(world, c.family_off);
        let on = world.set_fault_family(name, drawn);
        if !(drawn || on) {
            continue;
        }
        // A family drawn on but switched off by a selection still samples
        // its knobs (and drops them), so the draws after it stay the same.
        let unselected = f.clone();
        match name {
            family::LATENCY_TAIL => {
                f.latency_tail = c.latency_tail.sample(world);
                f.latency_tail_ms_max = c.latency_tail_ms_max.sample(world);
            }
            family::PAIR_LATENCY => f.pair_latency_ms_max = c.pair_latency_ms_max.sample(world),
            family::CONNECT_FAIL => {
                f.connect_refuse = c.connect_refuse.sample(world);
                f.connect_hang = c.connect_hang.sample(world);
                f.unreachable_connect_hangs = draw::bool(world, Ratio::new(1, 2));
            }
            family::BIND_FAIL => f.bind_fail = c.bind_fail.sample(world),
            family::DISCONNECT => f.random_close = c.random_close.sample(world),
            family::BIT_FLIP => f.bit_flip = c.bit_flip.sample(world),
            family::PARTIAL_IO => {
                f.short_read = c.short_read.sample(world);
                f.short_write = c.short_write.sample(world);
            }
            // Nemesis families: the nemeses read the switch themselves.
            _ => {}
        }
        if !on {
            f = unselected;
        }
    }
    f
}
