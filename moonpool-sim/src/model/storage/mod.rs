//! Simulated storage: per-process files in memory, a healthy SSD's latency,
//! crash semantics for unsynced data, and injected disk faults.
//!
//! # The model
//! Every process has its own disk (created on first use), a flat namespace
//! of files. A file keeps a *durable* image and the completed operations
//! not yet synced; reads see everything completed (synced or not).
//! [`sync`](moonpool_core::StorageFile::sync) is the durability boundary: it
//! makes every operation completed before it began durable, and the file's
//! name with them. Creating a file is durable only after the file's first
//! successful `sync`; deleting is durable at once (as the tokio provider,
//! which syncs the directory on delete).
//!
//! Each operation costs virtual time ([`DiskLatency`]): a `Sleep` on the
//! event queue, then the effect. An operation therefore lands when it
//! completes, and two concurrent writes land in completion order. A kill
//! drops the process's tasks, so an operation in flight at the kill never
//! lands; a handle used by anyone after its process died fails.
//!
//! # Crashes (always on: physics, not a fault)
//! On a kill, each file's unsynced operations survive whole, are lost, or
//! are torn at 512-byte sector granularity, chosen by the seed
//! (FoundationDB's `AsyncFileNonDurable`); synced data always survives. See
//! `crash.rs` for the exact rules. A *wipe* replaces the disk with an empty
//! one.
//!
//! # Faults (chaos or explicit configuration; all off when quiet)
//! | family / counter | what code sees |
//! |---|---|
//! | `disk.io_error` | a read, write or sync fails with `StorageError::Io` (kind `Other`), without effect |
//! | `disk.bit_rot` | a read returns one flipped bit; the stored data is intact, a re-read is clean |
//! | `disk.full` | a write or extension past the disk's capacity fails with `StorageError::DiskFull`, without effect |
//! | `disk.slow` | for an episode, every operation on one disk takes `factor` times longer |
//!
//! No fault is injected once chaos stops (`World::quiesce`): the checks see
//! a healthy disk (with room to spare, and no slow episode).
//!
//! # Kills aimed at I/O
//! `aim.rs`: [`SimControl::kill_at_io`] arms a kill that strikes right
//! after the process's next unsynced write, or as its next sync of unsynced
//! data begins (attrition aims some of its kills this way).
//!
//! # Types
//! - [`StorageConfig`] and its parts (`config.rs`).
//! - `StorageState`: the seed's fault parameters and every disk
//!   (`disk.rs`), owned by the world.
//! - [`SimFile`] (`file.rs`): an open file of one process incarnation.

pub(crate) mod aim;
pub(crate) mod config;
pub(crate) mod crash;
pub(crate) mod disk;
mod file;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub use aim::KillMoment;
pub use config::{
    CrashModel, DiskChaos, DiskFaults, DiskLatency, PAGE_BYTES, PpmRange, SECTOR_BYTES, SlowDisk,
    StorageConfig, StorageConfigError,
};
pub use disk::FILE_BYTES_MAX;
pub use file::SimFile;

use crate::kernel::process::ProcessId;
use crate::model::control::SimControl;
use crate::model::world::World;
use config::DiskParams;
use disk::{Disk, FileNode};

/// Simulated files of every process, owned by the world.
#[derive(Default)]
pub(crate) struct StorageState {
    /// This seed's fault values.
    pub(crate) params: DiskParams,
    disks: BTreeMap<ProcessId, Disk>,
    /// Kills armed to strike at a process's next I/O in flight.
    pub(crate) aims: BTreeMap<ProcessId, Rc<aim::Aim>>,
}

impl StorageState {
    /// The disk of `process`, created empty on first use.
    pub(crate) fn disk_mut(&mut self, process: ProcessId) -> &mut Disk {
        self.disks.entry(process).or_default()
    }
}

/// Samples this seed's storage parameters (called once per seed, before
/// any process starts).
pub(crate) fn init_seed(world: &World) {
    let params = DiskParams::sample(world, &world.config.storage);
    world.storage.borrow_mut().params = params;
}

/// Applies crash semantics to a killed process's files: each file restarts
/// from what survived, as a new node (handles of the dead incarnation keep
/// the old one and fail anyway).
pub(crate) fn process_killed(world: &World, process: ProcessId) {
    let files = {
        let mut state = world.storage.borrow_mut();
        match state.disks.get_mut(&process) {
            Some(disk) => std::mem::take(&mut disk.files),
            None => return,
        }
    };
    let model = &world.config.storage.crash;
    let mut survivors = BTreeMap::new();
    for (path, node) in files {
        let image = crash::crash_file(world, model, process, &path, &node.borrow());
        if let Some(image) = image {
            survivors.insert(path, Rc::new(RefCell::new(FileNode::recovered(image))));
        }
    }
    let mut state = world.storage.borrow_mut();
    let disk = state.disk_mut(process);
    disk.files = survivors;
    // A slow episode is a property of the running device; it ends with it.
    disk.slow_until_ns = 0;
}

/// Whether `process`'s disk holds unsynced operations (what a crash now
/// may lose or tear).
pub(crate) fn has_unsynced(world: &World, process: ProcessId) -> bool {
    world
        .storage
        .borrow()
        .disks
        .get(&process)
        .is_some_and(|d| d.files.values().any(|n| !n.borrow().pending.is_empty()))
}

/// Replaces `process`'s disk with a fresh empty one (reboot-and-wipe).
/// Returns how many files were lost.
pub(crate) fn wipe(world: &World, process: ProcessId) -> usize {
    let removed = world.storage.borrow_mut().disks.remove(&process);
    let count = removed.as_ref().map_or(0, |d| d.files.len());
    // Dropped outside the borrow.
    drop(removed);
    count
}

/// Names of the files on `process`'s disk, in order.
pub(crate) fn file_names(world: &World, process: ProcessId) -> Vec<String> {
    world
        .storage
        .borrow()
        .disks
        .get(&process)
        .map(|d| d.files.keys().cloned().collect())
        .unwrap_or_default()
}

impl SimControl {
    /// The names of the files on `process`'s disk, in name order (synced or
    /// not, as a directory listing would show them).
    pub fn disk_files(&self, process: ProcessId) -> Vec<String> {
        file_names(&self.world, process)
    }
}
