//! [`SimFile`] and the `StorageProvider` of [`SimProviders`]: each
//! operation waits its latency on the event queue, checks that its process
//! is still the incarnation that opened the file, draws its faults, then
//! takes effect.
//!
//! # Invariants
//! - No borrow of `world.storage` or of a file node is held across an
//!   `await`: every effect happens in one synchronous stretch after the
//!   operation's `Sleep`.
//! - Latency is physics: it is waited on true time (`sleep_true`), not on
//!   the process's own (perhaps fast or slow) clock.
//! - A fault whose probability is zero draws nothing, and no fault is drawn
//!   once chaos has stopped.
//! - A failed operation (injected error, full disk, dead process) has no
//!   effect on the file.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{OpenMode, StorageError, StorageFile, StorageProvider, validate_path};

use super::aim::KillMoment;
use super::config::op_delay;
use super::disk::{FileNode, NodeRef, check_size};
use crate::model::providers::SimProviders;

/// What kind of operation a latency is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Sync,
    Metadata,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Sync => "sync",
            Op::Metadata => "metadata",
        }
    }
}

fn dead_process() -> StorageError {
    StorageError::Io(io::Error::other(
        "the process that owns this file was killed (stale handle of a dead incarnation)",
    ))
}

impl SimProviders {
    fn storage_alive(&self) -> Result<(), StorageError> {
        self.world.ensure_live("a storage call");
        if self.is_alive() {
            Ok(())
        } else {
            Err(dead_process())
        }
    }

    /// This operation's latency, slow episodes included.
    fn storage_delay(&self, op: Op, bytes: usize) -> Duration {
        let world = &self.world;
        let l = &world.config.storage.latency;
        let base = match op {
            Op::Read => op_delay(
                world,
                l.read_us_min,
                l.read_us_max,
                l.read_ns_per_kib,
                bytes,
            ),
            Op::Write => op_delay(
                world,
                l.write_us_min,
                l.write_us_max,
                l.write_ns_per_kib,
                bytes,
            ),
            Op::Sync => op_delay(world, l.sync_us_min, l.sync_us_max, 0, 0),
            Op::Metadata => op_delay(world, l.metadata_us_min, l.metadata_us_max, 0, 0),
        };
        let factor = self.slow_factor();
        if factor > 1 {
            base.saturating_mul(factor.min(u32::MAX as u64) as u32)
        } else {
            base
        }
    }

    /// The latency multiplier of this process's disk now, starting a slow
    /// episode if one is due.
    fn slow_factor(&self) -> u64 {
        let world = &self.world;
        if !world.chaos_active() {
            return 1;
        }
        let mut state = world.storage.borrow_mut();
        let Some(slow) = state.params.slow.clone() else {
            return 1;
        };
        let now = world.now_ns();
        let disk = state.disk_mut(self.process);
        if now < disk.slow_until_ns {
            return disk.slow_factor;
        }
        let ms = |v: u64| v.saturating_mul(1_000_000);
        let next = match disk.next_slow_at_ns {
            Some(t) => t,
            None => {
                let t = now.saturating_add(ms(crate::kernel::draw::between(
                    world,
                    slow.gap_ms_min,
                    slow.gap_ms_max,
                )));
                disk.next_slow_at_ns = Some(t);
                t
            }
        };
        if now < next {
            return 1;
        }
        let factor = crate::kernel::draw::between(world, slow.factor_min, slow.factor_max).max(1);
        let duration_ms =
            crate::kernel::draw::between(world, slow.duration_ms_min, slow.duration_ms_max);
        let gap_ms = crate::kernel::draw::between(world, slow.gap_ms_min, slow.gap_ms_max);
        disk.slow_factor = factor;
        disk.slow_until_ns = now.saturating_add(ms(duration_ms));
        disk.next_slow_at_ns = Some(disk.slow_until_ns.saturating_add(ms(gap_ms)));
        drop(state);
        world.note("disk.slow", Some(self.process), || {
            format!("disk {factor}x slower for {duration_ms} ms")
        });
        factor
    }

    /// This process's disk has I/O in flight: strike a kill aimed at it.
    fn io_moment(&self, moment: KillMoment) {
        if !self.world.storage.borrow().aims.is_empty() {
            super::aim::io_moment(&self.world, self.process, self.incarnation, moment);
        }
    }

    /// Fails the operation with an injected I/O error, maybe.
    fn inject_io_error(&self, op: Op, path: &str, offset: u64) -> Result<(), StorageError> {
        let world = &self.world;
        if !world.chaos_active() {
            return Ok(());
        }
        let p = world.storage.borrow().params.io_error;
        if !crate::kernel::draw::bool(world, p) {
            return Ok(());
        }
        world.note("disk.io_error", Some(self.process), || {
            format!("{} of {path} at {offset} failed (EIO)", op.name())
        });
        Err(StorageError::Io(io::Error::other(format!(
            "simulated I/O error (EIO) on {} of {path}",
            op.name()
        ))))
    }

    /// Flips one bit of `data` (a read's result), maybe.
    fn inject_bit_rot(&self, data: &mut [u8], path: &str, offset: u64) {
        let world = &self.world;
        if data.is_empty() || !world.chaos_active() {
            return;
        }
        let p = world.storage.borrow().params.bit_rot;
        if !crate::kernel::draw::bool(world, p) {
            return;
        }
        let index = crate::kernel::draw::below(world, data.len() as u64) as usize;
        let bit = crate::kernel::draw::below(world, 8) as u8;
        data[index] ^= 1 << bit;
        world.note("disk.bit_rot", Some(self.process), || {
            format!(
                "read of {path} returned byte {} with bit {bit} flipped",
                offset + index as u64
            )
        });
    }

    /// Refuses growing `node` from `old_len` to `new_len` if the disk is
    /// full (only while chaos is active).
    fn check_capacity(&self, node: &NodeRef, new_len: u64, path: &str) -> Result<(), StorageError> {
        let world = &self.world;
        if !world.chaos_active() {
            return Ok(());
        }
        let mut state = world.storage.borrow_mut();
        let Some(capacity) = state.params.capacity_bytes else {
            return Ok(());
        };
        let old_len = node.borrow().len();
        if new_len <= old_len {
            return Ok(());
        }
        let disk = state.disk_mut(self.process);
        // Only files in the directory count (an orphan still takes space on
        // a real disk, but its owner is about to close it).
        let used = disk.used_bytes();
        let growth = new_len - old_len;
        if used.saturating_add(growth) <= capacity {
            return Ok(());
        }
        drop(state);
        world.note("disk.full", Some(self.process), || {
            format!("{path}: growing by {growth} bytes refused ({used} of {capacity} used)")
        });
        Err(StorageError::DiskFull)
    }
}

/// An open simulated file. It belongs to the process incarnation that
/// opened it: once that process is killed, every operation fails.
pub struct SimFile {
    p: SimProviders,
    node: NodeRef,
    path: Rc<str>,
}

impl std::fmt::Debug for SimFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimFile")
            .field("path", &self.path)
            .field("process", &self.p.process)
            .field("incarnation", &self.p.incarnation)
            .finish()
    }
}

impl SimFile {
    /// The path this file was opened with.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl StorageFile for SimFile {
    async fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, StorageError> {
        self.p.storage_alive()?;
        let delay = self.p.storage_delay(Op::Read, buf.len());
        self.p.sleep_true(delay).await;
        self.p.storage_alive()?;
        self.p.inject_io_error(Op::Read, &self.path, offset)?;
        let n = self.node.borrow().read(buf, offset);
        self.p.inject_bit_rot(&mut buf[..n], &self.path, offset);
        Ok(n)
    }

    async fn write_at(&self, buf: &[u8], offset: u64) -> Result<(), StorageError> {
        self.p.storage_alive()?;
        let end = offset.saturating_add(buf.len() as u64);
        check_size(end)?;
        let delay = self.p.storage_delay(Op::Write, buf.len());
        self.p.sleep_true(delay).await;
        self.p.storage_alive()?;
        self.p.inject_io_error(Op::Write, &self.path, offset)?;
        let new_len = end.max(self.node.borrow().len());
        self.p.check_capacity(&self.node, new_len, &self.path)?;
        self.node.borrow_mut().write(offset, buf);
        self.p.io_moment(KillMoment::AfterWrite);
        Ok(())
    }

    async fn sync(&self) -> Result<(), StorageError> {
        self.p.storage_alive()?;
        // Covers what completed before the call, not what completes during it.
        let (target, unsynced) = {
            let node = self.node.borrow();
            (node.ops_total, !node.pending.is_empty())
        };
        if unsynced {
            self.p.io_moment(KillMoment::DuringSync);
        }
        let delay = self.p.storage_delay(Op::Sync, 0);
        self.p.sleep_true(delay).await;
        self.p.storage_alive()?;
        self.p.inject_io_error(Op::Sync, &self.path, 0)?;
        self.node.borrow_mut().sync_through(target);
        Ok(())
    }

    async fn len(&self) -> Result<u64, StorageError> {
        self.p.storage_alive()?;
        Ok(self.node.borrow().len())
    }

    async fn truncate(&self, len: u64) -> Result<(), StorageError> {
        self.p.storage_alive()?;
        check_size(len)?;
        let delay = self.p.storage_delay(Op::Write, 0);
        self.p.sleep_true(delay).await;
        self.p.storage_alive()?;
        self.p.inject_io_error(Op::Write, &self.path, len)?;
        self.p.check_capacity(&self.node, len, &self.path)?;
        self.node.borrow_mut().truncate(len);
        self.p.io_moment(KillMoment::AfterWrite);
        Ok(())
    }
}

impl StorageProvider for SimProviders {
    type File = SimFile;

    async fn open(&self, path: &str, mode: OpenMode) -> Result<SimFile, StorageError> {
        validate_path(path)?;
        self.storage_alive()?;
        let delay = self.storage_delay(Op::Metadata, 0);
        self.sleep_true(delay).await;
        self.storage_alive()?;
        let node = {
            let mut state = self.world.storage.borrow_mut();
            let files = &mut state.disk_mut(self.process).files;
            match (files.get(path), mode) {
                (None, OpenMode::Open) => {
                    return Err(StorageError::NotFound {
                        path: path.to_string(),
                    });
                }
                (Some(_), OpenMode::CreateNew) => {
                    return Err(StorageError::AlreadyExists {
                        path: path.to_string(),
                    });
                }
                (Some(node), OpenMode::Truncate) => {
                    // Cutting to zero is an unsynced operation like any other.
                    node.borrow_mut().truncate(0);
                    Rc::clone(node)
                }
                (Some(node), _) => Rc::clone(node),
                (None, _) => {
                    let node = NodeRef::new(FileNode::created().into());
                    files.insert(path.to_string(), Rc::clone(&node));
                    node
                }
            }
        };
        Ok(SimFile {
            p: self.clone(),
            node,
            path: path.into(),
        })
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        validate_path(path)?;
        self.storage_alive()?;
        let delay = self.storage_delay(Op::Metadata, 0);
        self.sleep_true(delay).await;
        self.storage_alive()?;
        let removed = self
            .world
            .storage
            .borrow_mut()
            .disk_mut(self.process)
            .files
            .remove(path);
        match removed {
            Some(node) => {
                drop(node);
                Ok(())
            }
            None => Err(StorageError::NotFound {
                path: path.to_string(),
            }),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        validate_path(path)?;
        self.storage_alive()?;
        let delay = self.storage_delay(Op::Metadata, 0);
        self.sleep_true(delay).await;
        self.storage_alive()?;
        Ok(self
            .world
            .storage
            .borrow_mut()
            .disk_mut(self.process)
            .files
            .contains_key(path))
    }
}
