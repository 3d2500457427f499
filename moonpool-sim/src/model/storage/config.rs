//! The simulated disk's knobs: a healthy SSD's latency, the crash model,
//! the fault probabilities of the quiet profile, and the chaos ranges
//! sampled per seed.
//!
//! # Types
//! - [`StorageConfig`]: everything below, with documented defaults.
//! - [`DiskLatency`]: per-operation latency (a uniform base plus a
//!   per-KiB transfer cost) of a quiet, healthy SSD.
//! - [`CrashModel`]: what a kill does to unsynced writes (FoundationDB's
//!   `AsyncFileNonDurable` numbers by default).
//! - [`DiskFaults`]: fault probabilities used as they are when chaos is off
//!   (all off by default: the quiet profile injects nothing).
//! - [`DiskChaos`]: ranges sampled per seed when chaos is on, each fault
//!   family first switched off entirely with some probability (swarm
//!   testing).
//! - [`SlowDisk`]: slow-disk episodes (latency multiplied for a while).
//! - `DiskParams` (crate-private): the values in force for one seed.
//!
//! # Invariants
//! - A family that is off has a zero probability (or no capacity limit, or
//!   no episodes), so it draws nothing from the generator and costs nothing.
//! - Sampling happens once per seed, in `init_seed`, before any process
//!   starts, so it depends only on the seed and the configuration.

use std::time::Duration;

use moonpool_core::Ratio;

use crate::model::world::World;

/// The simulated storage's configuration. `StorageConfig::default()` is a
/// quiet, healthy SSD: the latencies below, no injected fault, and FDB's
/// crash model for unsynced data (which applies even when quiet: a kill
/// is not a fault injection, losing unsynced data is what disks do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageConfig {
    /// Latency of a healthy disk.
    pub latency: DiskLatency,
    /// What a kill does to unsynced writes.
    pub crash: CrashModel,
    /// Fault probabilities used when chaos is off (default: none).
    pub faults: DiskFaults,
    /// Ranges sampled per seed when chaos is on.
    pub chaos: DiskChaos,
}

/// Per-operation latency: `uniform(min, max)` microseconds, plus
/// `bytes × ns_per_kib / 1024` for reads and writes. Defaults are those of a
/// quiet NVMe SSD: reads 50–150 µs, writes 50–200 µs, `sync` 1–2 ms,
/// metadata operations (open, delete, exists) 20–100 µs, and about 2 GB/s
/// read / 1 GB/s write throughput. `len` is answered from the in-memory
/// inode and takes no time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskLatency {
    /// Fastest read, µs. Default 50.
    pub read_us_min: u64,
    /// Slowest read (before transfer cost), µs. Default 150.
    pub read_us_max: u64,
    /// Read transfer cost per KiB, ns. Default 500 (≈ 2 GB/s).
    pub read_ns_per_kib: u64,
    /// Fastest write, µs. Default 50.
    pub write_us_min: u64,
    /// Slowest write (before transfer cost), µs. Default 200.
    pub write_us_max: u64,
    /// Write transfer cost per KiB, ns. Default 1000 (≈ 1 GB/s).
    pub write_ns_per_kib: u64,
    /// Fastest `sync`, µs. Default 1000.
    pub sync_us_min: u64,
    /// Slowest `sync`, µs. Default 2000.
    pub sync_us_max: u64,
    /// Fastest open/delete/exists, µs. Default 20.
    pub metadata_us_min: u64,
    /// Slowest open/delete/exists, µs. Default 100.
    pub metadata_us_max: u64,
}

impl Default for DiskLatency {
    fn default() -> Self {
        DiskLatency {
            read_us_min: 50,
            read_us_max: 150,
            read_ns_per_kib: 500,
            write_us_min: 50,
            write_us_max: 200,
            write_ns_per_kib: 1000,
            sync_us_min: 1000,
            sync_us_max: 2000,
            metadata_us_min: 20,
            metadata_us_max: 100,
        }
    }
}

impl DiskLatency {
    /// No latency at all: every operation completes at once (still through
    /// the event loop's ordering, but without moving the clock).
    pub fn zero() -> DiskLatency {
        DiskLatency {
            read_us_min: 0,
            read_us_max: 0,
            read_ns_per_kib: 0,
            write_us_min: 0,
            write_us_max: 0,
            write_ns_per_kib: 0,
            sync_us_min: 0,
            sync_us_max: 0,
            metadata_us_min: 0,
            metadata_us_max: 0,
        }
    }
}

/// What a kill does to the unsynced writes of each file
/// (FoundationDB's `AsyncFileNonDurable`). For each file with unsynced
/// operations, with probability `intact` they all survive whole; otherwise
/// each unsynced write is split at 4 KiB page boundaries and each page is
/// kept (`page_keep`), torn (`page_tear`: each of its 512-byte sectors
/// kept with probability `sector_keep`, the others keep their old
/// content), or dropped (the rest); an unsynced truncation survives with
/// probability `page_keep`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashModel {
    /// All unsynced writes of a file survive whole. Default 1/10 (FDB).
    pub intact: Ratio,
    /// A page of an unsynced write survives whole. Default 1/3.
    pub page_keep: Ratio,
    /// A page of an unsynced write is torn at sector granularity.
    /// Default 1/3 (so 1/3 of pages are dropped).
    pub page_tear: Ratio,
    /// A sector of a torn page survives. Default 1/2.
    pub sector_keep: Ratio,
}

impl Default for CrashModel {
    fn default() -> Self {
        CrashModel {
            intact: Ratio::new(1, 10),
            page_keep: Ratio::new(1, 3),
            page_tear: Ratio::new(1, 3),
            sector_keep: Ratio::new(1, 2),
        }
    }
}

/// Bytes in a crash page (the unit kept, torn or dropped).
pub const PAGE_BYTES: u64 = 4096;
/// Bytes in a sector (the unit a torn page is made of; writes within one
/// sector are atomic).
pub const SECTOR_BYTES: u64 = 512;

/// Slow-disk episodes: after a quiet gap of `gap_ms_min..=gap_ms_max`, a
/// disk's latency is multiplied by `factor_min..=factor_max` for
/// `duration_ms_min..=duration_ms_max`. An episode begins at the disk's
/// first operation after its scheduled start (disks are idle otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowDisk {
    /// Shortest gap between episodes, ms.
    pub gap_ms_min: u64,
    /// Longest gap between episodes, ms.
    pub gap_ms_max: u64,
    /// Shortest episode, ms.
    pub duration_ms_min: u64,
    /// Longest episode, ms.
    pub duration_ms_max: u64,
    /// Smallest latency multiplier.
    pub factor_min: u64,
    /// Largest latency multiplier.
    pub factor_max: u64,
}

impl Default for SlowDisk {
    /// Episodes every 1–10 s, lasting 100 ms–2 s, 10–100× slower.
    fn default() -> Self {
        SlowDisk {
            gap_ms_min: 1_000,
            gap_ms_max: 10_000,
            duration_ms_min: 100,
            duration_ms_max: 2_000,
            factor_min: 10,
            factor_max: 100,
        }
    }
}

/// Fault probabilities in force when chaos is off. Default: all off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFaults {
    /// A read, write or sync fails with `StorageError::Io` (no effect).
    pub io_error: Ratio,
    /// A read returns data with one bit flipped (the stored data is intact).
    pub bit_rot: Ratio,
    /// Bytes a process's disk holds; a write or extension beyond it fails
    /// with `StorageError::DiskFull`. `None`: unlimited.
    pub capacity_bytes: Option<u64>,
    /// Slow-disk episodes. `None`: never.
    pub slow: Option<SlowDisk>,
}

impl Default for DiskFaults {
    fn default() -> Self {
        DiskFaults {
            io_error: Ratio::ZERO,
            bit_rot: Ratio::ZERO,
            capacity_bytes: None,
            slow: None,
        }
    }
}

/// A probability range sampled per seed, in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpmRange {
    /// Lowest probability, parts per million.
    pub ppm_min: u64,
    /// Highest probability, parts per million.
    pub ppm_max: u64,
}

/// What chaos samples per seed. Each family (`disk.io_error`,
/// `disk.bit_rot`, `disk.full`, `disk.slow`) is first switched on with
/// probability `family_on`, then its value is drawn from its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskChaos {
    /// Probability that a family is on for a seed. Default 1/2.
    pub family_on: Ratio,
    /// `io_error` per operation. Default 100–5000 ppm (1/10 000 to 1/200).
    pub io_error: PpmRange,
    /// `bit_rot` per read. Default 100–2000 ppm (1/10 000 to 1/500).
    pub bit_rot: PpmRange,
    /// Smallest disk capacity, bytes. Default 64 KiB.
    pub capacity_bytes_min: u64,
    /// Largest disk capacity, bytes. Default 64 MiB.
    pub capacity_bytes_max: u64,
    /// Slow-disk episodes when the family is on (their own ranges are
    /// sampled per episode). Default: [`SlowDisk::default`].
    pub slow: SlowDisk,
}

impl Default for DiskChaos {
    fn default() -> Self {
        DiskChaos {
            family_on: Ratio::new(1, 2),
            io_error: PpmRange {
                ppm_min: 100,
                ppm_max: 5_000,
            },
            bit_rot: PpmRange {
                ppm_min: 100,
                ppm_max: 2_000,
            },
            capacity_bytes_min: 64 << 10,
            capacity_bytes_max: 64 << 20,
            slow: SlowDisk::default(),
        }
    }
}

/// A storage configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageConfigError {
    /// A `min` above its `max`.
    #[error("storage config: {0} has its minimum above its maximum")]
    InvertedRange(&'static str),
    /// `page_keep + page_tear` above one.
    #[error("storage config: crash page_keep + page_tear exceeds 1")]
    CrashFatesAboveOne,
    /// A parts-per-million value above one million.
    #[error("storage config: {0} exceeds 1 000 000 ppm")]
    PpmAboveOne(&'static str),
    /// A slow-disk multiplier of zero.
    #[error("storage config: slow-disk factor must be at least 1")]
    ZeroFactor,
}

impl StorageConfig {
    /// The quiet profile with no latency at all (handy in unit tests).
    pub fn instant() -> StorageConfig {
        StorageConfig {
            latency: DiskLatency::zero(),
            ..StorageConfig::default()
        }
    }

    /// Checks every range and probability.
    pub fn validate(&self) -> Result<(), StorageConfigError> {
        use StorageConfigError::*;
        let l = &self.latency;
        let ranges = [
            ("latency.read_us", l.read_us_min, l.read_us_max),
            ("latency.write_us", l.write_us_min, l.write_us_max),
            ("latency.sync_us", l.sync_us_min, l.sync_us_max),
            ("latency.metadata_us", l.metadata_us_min, l.metadata_us_max),
            (
                "chaos.capacity_bytes",
                self.chaos.capacity_bytes_min,
                self.chaos.capacity_bytes_max,
            ),
            (
                "chaos.io_error",
                self.chaos.io_error.ppm_min,
                self.chaos.io_error.ppm_max,
            ),
            (
                "chaos.bit_rot",
                self.chaos.bit_rot.ppm_min,
                self.chaos.bit_rot.ppm_max,
            ),
        ];
        for (name, min, max) in ranges {
            if min > max {
                return Err(InvertedRange(name));
            }
        }
        for (name, r) in [
            ("chaos.io_error", self.chaos.io_error),
            ("chaos.bit_rot", self.chaos.bit_rot),
        ] {
            if r.ppm_max > 1_000_000 {
                return Err(PpmAboveOne(name));
            }
        }
        let c = &self.crash;
        // keep + tear <= 1, compared exactly: a/b + c/d <= 1 <=> ad + cb <= bd.
        let (a, b) = (
            c.page_keep.numerator() as u128,
            c.page_keep.denominator() as u128,
        );
        let (n, d) = (
            c.page_tear.numerator() as u128,
            c.page_tear.denominator() as u128,
        );
        if a * d + n * b > b * d {
            return Err(CrashFatesAboveOne);
        }
        for s in self.faults.slow.iter().chain([&self.chaos.slow]) {
            validate_slow(s)?;
        }
        Ok(())
    }
}

fn validate_slow(s: &SlowDisk) -> Result<(), StorageConfigError> {
    use StorageConfigError::*;
    if s.gap_ms_min > s.gap_ms_max {
        return Err(InvertedRange("slow.gap_ms"));
    }
    if s.duration_ms_min > s.duration_ms_max {
        return Err(InvertedRange("slow.duration_ms"));
    }
    if s.factor_min > s.factor_max {
        return Err(InvertedRange("slow.factor"));
    }
    if s.factor_min == 0 {
        return Err(ZeroFactor);
    }
    Ok(())
}

/// The fault values in force for one seed.
#[derive(Clone, Debug)]
pub(crate) struct DiskParams {
    pub(crate) io_error: Ratio,
    pub(crate) bit_rot: Ratio,
    pub(crate) capacity_bytes: Option<u64>,
    pub(crate) slow: Option<SlowDisk>,
}

impl Default for DiskParams {
    fn default() -> Self {
        let quiet = DiskFaults::default();
        DiskParams {
            io_error: quiet.io_error,
            bit_rot: quiet.bit_rot,
            capacity_bytes: quiet.capacity_bytes,
            slow: quiet.slow,
        }
    }
}

/// The storage fault families, in the order a chaos seed decides them.
pub(crate) const FAULT_FAMILIES: [&str; 4] =
    ["disk.io_error", "disk.bit_rot", "disk.full", "disk.slow"];

impl DiskParams {
    /// Decides this seed's values: the quiet profile's as they are, or, with
    /// chaos on, each family switched on or off and then sampled.
    pub(crate) fn sample(world: &World, config: &StorageConfig) -> DiskParams {
        if !world.config.chaos {
            return DiskParams {
                io_error: config.faults.io_error,
                bit_rot: config.faults.bit_rot,
                capacity_bytes: config.faults.capacity_bytes,
                slow: config.faults.slow.clone(),
            };
        }
        let chaos = &config.chaos;
        // (drawn, on): a family drawn on but switched off by a selection
        // still samples its value (and drops it), so later draws stay the
        // same.
        let family = |name: &'static str| {
            let drawn = crate::kernel::draw::bool(world, chaos.family_on);
            (drawn, world.set_fault_family(name, drawn))
        };
        let [io, rot, full, slow] = FAULT_FAMILIES;
        let io_on = family(io);
        let rot_on = family(rot);
        let full_on = family(full);
        let slow_on = family(slow);
        let sampled = |(drawn, on): (bool, bool), value: &dyn Fn() -> Ratio| {
            let v = if drawn || on { value() } else { Ratio::ZERO };
            if on { v } else { Ratio::ZERO }
        };
        // In this order: the draws of a seed without a selection are those
        // of every earlier version.
        let io_error = sampled(io_on, &|| sample_ppm(world, chaos.io_error));
        let bit_rot = sampled(rot_on, &|| sample_ppm(world, chaos.bit_rot));
        let capacity = (full_on.0 || full_on.1).then(|| {
            crate::kernel::draw::between(world, chaos.capacity_bytes_min, chaos.capacity_bytes_max)
        });
        DiskParams {
            io_error,
            bit_rot,
            capacity_bytes: capacity.filter(|_| full_on.1),
            slow: slow_on.1.then(|| chaos.slow.clone()),
        }
    }
}

fn sample_ppm(world: &World, range: PpmRange) -> Ratio {
    let ppm = crate::kernel::draw::between(world, range.ppm_min, range.ppm_max).min(1_000_000);
    Ratio::new(ppm, 1_000_000)
}

/// `uniform(min_us, max_us)` µs plus the transfer cost of `bytes`.
pub(crate) fn op_delay(
    world: &World,
    min_us: u64,
    max_us: u64,
    ns_per_kib: u64,
    bytes: usize,
) -> Duration {
    let base_us = crate::kernel::draw::between(world, min_us, max_us);
    let transfer_ns = (bytes as u64).saturating_mul(ns_per_kib) / 1024;
    Duration::from_micros(base_us) + Duration::from_nanos(transfer_ns)
}
