//! Crash semantics: synced data survives every kind of crash; unsynced data
//! survives whole, is lost, or is torn, as the seed decides.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{
    OpenMode, RandomProvider, StorageError, StorageFile, StorageProvider, TimeProvider,
};
use moonpool_sim::{FnWorkload, SimContext, SimProviders, SimulationBuilder};

fn err(msg: String) -> StorageError {
    StorageError::Io(std::io::Error::other(msg))
}

async fn read_all<F: StorageFile>(f: &F) -> Result<Vec<u8>, StorageError> {
    let len = f.len().await? as usize;
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, 0).await?;
    buf.truncate(n);
    Ok(buf)
}

/// What the process did to the file since the last time it was durable.
#[derive(Clone, Debug)]
enum Op {
    Write { offset: usize, data: Vec<u8> },
    Truncate { len: usize },
}

/// The test's model of one file.
#[derive(Default)]
struct Model {
    /// The file's name has been synced.
    exists: bool,
    /// What the last completed sync made durable.
    durable: Vec<u8>,
    /// Completed operations since then, in order.
    pending: Vec<Op>,
}

/// What the process was doing when it was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Recovering,
    Idle,
    Writing,
    Truncating,
    Syncing,
}

/// A set of byte values.
#[derive(Clone, Copy, Default)]
struct ByteSet([u64; 4]);
impl ByteSet {
    fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
}

/// Checks that `image` is one the crash model allows: every byte is its
/// durable value (or a hole's zero), or the value some pending operation
/// could have put there, and the length is within what the operations
/// allow. In particular every synced byte no operation touched is intact.
fn check_image(model: &Model, image: &[u8]) -> Result<(), String> {
    let mut min_len = model.durable.len();
    let mut max_len = model.durable.len();
    for op in &model.pending {
        match op {
            Op::Write { offset, data } => max_len = max_len.max(offset + data.len()),
            Op::Truncate { len } => {
                min_len = min_len.min(*len);
                max_len = max_len.max(*len);
            }
        }
    }
    if image.len() < min_len || image.len() > max_len {
        return Err(format!(
            "length {} outside {min_len}..={max_len} (durable {})",
            image.len(),
            model.durable.len()
        ));
    }
    let mut allowed = vec![ByteSet::default(); max_len];
    for (i, set) in allowed.iter_mut().enumerate() {
        set.insert(model.durable.get(i).copied().unwrap_or(0));
    }
    for op in &model.pending {
        match op {
            Op::Write { offset, data } => {
                for (k, b) in data.iter().enumerate() {
                    allowed[offset + k].insert(*b);
                }
            }
            Op::Truncate { len } => {
                for set in allowed.iter_mut().skip(*len) {
                    set.insert(0);
                }
            }
        }
    }
    for (i, b) in image.iter().enumerate() {
        if !allowed[i].contains(*b) {
            return Err(format!(
                "byte {i} is {b:#04x}: neither synced data nor any unsynced write (durable {:?})",
                model.durable.get(i)
            ));
        }
    }
    Ok(())
}

fn apply(image: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write { offset, data } => {
            if image.len() < offset + data.len() {
                image.resize(offset + data.len(), 0);
            }
            image[*offset..offset + data.len()].copy_from_slice(data);
        }
        Op::Truncate { len } => image.resize(*len, 0),
    }
}

/// Bytes of the first, synced region every fresh start writes.
const SYNCED_BYTES: usize = 10_000;
/// Operations per incarnation, at most.
const OPS_PER_LIFE: u32 = 25;

/// One incarnation of the process under test: verify what survived, then
/// write, truncate and sync at random.
async fn life(
    p: SimProviders,
    model: Rc<RefCell<Model>>,
    phase: Rc<Cell<Phase>>,
) -> Result<(), StorageError> {
    phase.set(Phase::Recovering);
    let mut image = match p.open("data", OpenMode::Open).await {
        Ok(f) => read_all(&f).await?,
        Err(StorageError::NotFound { .. }) => {
            if model.borrow().exists {
                return Err(err("a synced file vanished".into()));
            }
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    {
        let mut m = model.borrow_mut();
        if m.exists {
            check_image(&m, &image).map_err(|e| err(format!("after a crash: {e}")))?;
        }
        // What survived a crash is durable now.
        m.durable = image.clone();
        m.pending.clear();
    }
    let f = p.open("data", OpenMode::OpenOrCreate).await?;
    if !model.borrow().exists {
        let region: Vec<u8> = (0..SYNCED_BYTES).map(|i| (i * 7 + 3) as u8).collect();
        phase.set(Phase::Writing);
        f.write_at(&region, 0).await?;
        model.borrow_mut().pending.push(Op::Write {
            offset: 0,
            data: region.clone(),
        });
        apply(
            &mut image,
            &Op::Write {
                offset: 0,
                data: region,
            },
        );
        phase.set(Phase::Syncing);
        f.sync().await?;
        let mut m = model.borrow_mut();
        m.exists = true;
        m.durable = image.clone();
        m.pending.clear();
    }
    for _ in 0..OPS_PER_LIFE {
        phase.set(Phase::Idle);
        p.sleep(Duration::from_micros(p.random_range(0..2_000u64)))
            .await;
        let op = match p.random_range(0..10u32) {
            0..=5 => {
                let offset = p.random_range(0..=image.len() + 2048);
                let len = p.random_range(1..=9_000usize);
                let base = p.random_range(1..=255u8);
                let data = (0..len)
                    .map(|k| base.wrapping_add((k as u8).wrapping_mul(13)))
                    .collect();
                Op::Write { offset, data }
            }
            6 => Op::Truncate {
                len: p.random_range(0..=image.len() + 1024),
            },
            _ => {
                phase.set(Phase::Syncing);
                f.sync().await?;
                let mut m = model.borrow_mut();
                m.durable = image.clone();
                m.pending.clear();
                continue;
            }
        };
        match &op {
            Op::Write { offset, data } => {
                phase.set(Phase::Writing);
                f.write_at(data, *offset as u64).await?;
            }
            Op::Truncate { len } => {
                phase.set(Phase::Truncating);
                f.truncate(*len as u64).await?;
            }
        }
        apply(&mut image, &op);
        model.borrow_mut().pending.push(op);
    }
    phase.set(Phase::Idle);
    std::future::pending::<()>().await;
    Ok(())
}

/// Kill phases seen and reboot kinds used, across seeds.
#[derive(Default)]
struct Tally {
    phases: BTreeMap<String, u32>,
}

#[test]
fn synced_data_survives_every_crash_kind_across_1000_seeds() {
    let tally = Rc::new(RefCell::new(Tally::default()));
    // The test's model of the file; reset before each seed.
    let model = Rc::new(RefCell::new(Model::default()));
    let phase = Rc::new(Cell::new(Phase::Idle));
    let (m, ph) = (Rc::clone(&model), Rc::clone(&phase));
    let (ph2, t2) = (Rc::clone(&phase), Rc::clone(&tally));
    let sim = SimulationBuilder::new()
        .chaos(false)
        .process("db", [10, 0, 0, 1], move |p: SimProviders| {
            // A kill before the first poll finds the process recovering too.
            ph.set(Phase::Recovering);
            life(p, Rc::clone(&m), Rc::clone(&ph))
        })
        .workload("nemesis", 1, move |_| {
            let (phase, tally) = (Rc::clone(&ph2), Rc::clone(&t2));
            FnWorkload::new(move |ctx: SimContext| {
                let (phase, tally) = (Rc::clone(&phase), Rc::clone(&tally));
                async move {
                    let p = ctx.providers();
                    let control = ctx.control();
                    let db = control.process_by_name("db").ok_or("no db")?;
                    for _ in 0..3 {
                        // Sometimes soon after the last reboot, to catch recoveries.
                        let wait_us = if p.random_range(0..4u32) == 0 {
                            p.random_range(0..500u64)
                        } else {
                            p.random_range(0..40_000u64)
                        };
                        p.sleep(Duration::from_micros(wait_us)).await;
                        let kind = match p.random_range(0..3u32) {
                            0 => "reboot at once",
                            1 => "reboot after a delay",
                            _ => "kill_and_reboot",
                        };
                        *tally
                            .borrow_mut()
                            .phases
                            .entry(format!("{:?}", phase.get()))
                            .or_insert(0) += 1;
                        *tally
                            .borrow_mut()
                            .phases
                            .entry(kind.to_string())
                            .or_insert(0) += 1;
                        let delay = Duration::from_micros(p.random_range(0..5_000u64));
                        match kind {
                            "reboot at once" => {
                                control.kill(db)?;
                                control.reboot(db)?;
                            }
                            "reboot after a delay" => {
                                control.kill(db)?;
                                control.reboot_after(db, delay)?;
                            }
                            _ => control.kill_and_reboot(db, delay, false)?,
                        }
                        p.sleep(delay).await;
                    }
                    // Let the last incarnation verify what survived.
                    p.sleep(Duration::from_millis(30)).await;
                    Ok(())
                }
            })
        })
        .build()
        .expect("valid");
    let mut counters: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..1000 {
        *model.borrow_mut() = Model::default();
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed}: {:?}",
            report.outcome
        );
        for (k, v) in &report.counters {
            *counters.entry(k).or_insert(0) += v;
        }
    }
    let tally = tally.borrow();
    for kind in [
        "Recovering",
        "Idle",
        "Writing",
        "Truncating",
        "Syncing",
        "reboot at once",
        "reboot after a delay",
        "kill_and_reboot",
    ] {
        assert!(
            tally.phases.get(kind).copied().unwrap_or(0) >= 10,
            "crash kind {kind:?} happened too rarely: {:?}",
            tally.phases
        );
    }
    for kind in [
        "disk.crash_kept",
        "disk.crash_lost",
        "disk.crash_torn",
        "disk.crash_file_lost",
        "process.kill",
        "process.reboot",
    ] {
        assert!(
            counters.get(kind).copied().unwrap_or(0) > 0,
            "{kind} never happened: {counters:?}"
        );
    }
    println!("crash kinds: {:?}; counters: {counters:?}", tally.phases);
}

/// How one unsynced write (1 B to 16 KiB) fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Intact,
    Lost,
    Torn,
}

const HEADER_BYTES: usize = 1000;
const UNSYNCED_BYTES_MAX: usize = 16 << 10;

fn unsynced_byte(k: usize) -> u8 {
    1 + (k % 251) as u8
}

/// A process writes a synced header, then one unsynced write of a random
/// size past it, and is killed and rebooted; the second life classifies
/// the write.
fn one_unsynced_write_sim(fates: Rc<RefCell<Vec<Fate>>>) -> moonpool_sim::Simulation {
    let size = Rc::new(Cell::new(0usize));
    SimulationBuilder::new()
        .chaos(false)
        .process("db", [10, 0, 0, 1], move |p: SimProviders| {
            let fates = Rc::clone(&fates);
            let size = Rc::clone(&size);
            async move {
                match p.open("data", OpenMode::Open).await {
                    Err(StorageError::NotFound { .. }) => {
                        let f = p.open("data", OpenMode::CreateNew).await?;
                        f.write_at(&[0xEE; HEADER_BYTES], 0).await?;
                        f.sync().await?;
                        size.set(p.random_range(1..=UNSYNCED_BYTES_MAX));
                        let data: Vec<u8> = (0..size.get()).map(unsynced_byte).collect();
                        f.write_at(&data, HEADER_BYTES as u64).await?;
                    }
                    Ok(f) => {
                        let image = read_all(&f).await?;
                        if image.len() < HEADER_BYTES
                            || image[..HEADER_BYTES] != [0xEE; HEADER_BYTES]
                        {
                            return Err(err("the synced header was damaged".into()));
                        }
                        // Sector by sector (512-byte aligned in the file),
                        // each is either all new or all old (a hole: zeros).
                        let mut new = 0usize;
                        let mut start = HEADER_BYTES;
                        while start < image.len() {
                            let end = ((start / 512 + 1) * 512).min(image.len());
                            let fresh =
                                (start..end).all(|i| image[i] == unsynced_byte(i - HEADER_BYTES));
                            let hole = (start..end).all(|i| image[i] == 0);
                            if !fresh && !hole {
                                return Err(err(format!(
                                    "sector at {start} is a mix of old and new"
                                )));
                            }
                            if fresh {
                                new += end - start;
                            }
                            start = end;
                        }
                        let fate = if new == size.get() {
                            Fate::Intact
                        } else if new == 0 {
                            Fate::Lost
                        } else {
                            Fate::Torn
                        };
                        fates.borrow_mut().push(fate);
                    }
                    Err(e) => return Err(e),
                }
                std::future::pending::<()>().await;
                Ok::<(), StorageError>(())
            }
        })
        .workload("nemesis", 1, |_| {
            FnWorkload::new(|ctx: SimContext| async move {
                let control = ctx.control();
                let db = control.process_by_name("db").ok_or("no db")?;
                ctx.providers().sleep(Duration::from_millis(10)).await;
                control.kill(db)?;
                control.reboot(db)?;
                ctx.providers().sleep(Duration::from_millis(10)).await;
                Ok(())
            })
        })
        .build()
        .expect("valid")
}

#[test]
fn unsynced_data_is_lost_torn_or_intact_as_the_seed_decides() {
    let fates = Rc::new(RefCell::new(Vec::new()));
    let sim = one_unsynced_write_sim(Rc::clone(&fates));
    let mut by_fate: BTreeMap<Fate, u32> = BTreeMap::new();
    for seed in 0..300 {
        let report = sim.run_seed(seed);
        assert!(
            report.outcome.is_pass(),
            "seed {seed}: {:?}",
            report.outcome
        );
        let fate = fates
            .borrow_mut()
            .pop()
            .expect("the second life classified the write");
        *by_fate.entry(fate).or_insert(0) += 1;
        // The simulator counted the same fate.
        let counter = match fate {
            Fate::Intact => "disk.crash_kept",
            Fate::Lost => "disk.crash_lost",
            Fate::Torn => "disk.crash_torn",
        };
        assert_eq!(
            report.counters.get(counter),
            Some(&1),
            "seed {seed}: {:?}",
            report.counters
        );
    }
    println!("fates of one unsynced write over 300 seeds: {by_fate:?}");
    // With FDB's numbers each fate has a good share (intact > 1/10).
    for fate in [Fate::Intact, Fate::Lost, Fate::Torn] {
        assert!(
            by_fate.get(&fate).copied().unwrap_or(0) >= 15,
            "{by_fate:?}"
        );
    }
}

#[test]
fn crash_outcomes_replay_exactly() {
    let fates = Rc::new(RefCell::new(Vec::new()));
    let sim = one_unsynced_write_sim(Rc::clone(&fates));
    for seed in 0..20 {
        let a = sim.run_seed(seed);
        let b = sim.run_seed(seed);
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.counters, b.counters);
        let fb = fates.borrow_mut().pop();
        let fa = fates.borrow_mut().pop();
        assert_eq!(fa, fb, "seed {seed} crashed differently on replay");
        let r = sim.check_determinism(seed);
        assert!(r.outcome.is_pass(), "{:?}", r.outcome);
        fates.borrow_mut().clear();
    }
}
