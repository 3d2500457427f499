//! Per-process disks and the files on them.
//!
//! # Types
//! - [`FileNode`]: one file's contents as two images and the operations
//!   between them: `durable` (what a crash cannot take away), `current`
//!   (what reads see: `durable` with every pending operation applied), and
//!   `pending`, the completed but unsynced writes and truncations in
//!   completion order.
//! - [`Disk`]: one process's directory (name → shared [`FileNode`]) and
//!   its slow-episode state.
//!
//! # States of a file
//! `created` (exists only in `current`: its name is not durable until the
//! first successful `sync` of the file) → `durable` (the name survives a
//! crash; unsynced operations are exposed to crash semantics) →
//! `deleted` (gone from the directory at once and durably; open handles
//! keep working on the orphaned node, as on Unix).
//!
//! # Invariants
//! - `current == durable` with `pending` applied in order.
//! - `ops_total - ops_durable == pending.len()`: a `sync` that started
//!   when `ops_total` was `n` makes exactly the operations numbered below
//!   `n` durable, whatever completed meanwhile.
//! - No image grows past [`FILE_BYTES_MAX`]: larger writes fail with a
//!   typed error before anything is allocated.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::rc::Rc;

use moonpool_core::StorageError;

/// Largest simulated file (files live in memory): 1 GiB. Beyond it writes
/// fail with `io::ErrorKind::FileTooLarge`, as `EFBIG` would.
pub const FILE_BYTES_MAX: u64 = 1 << 30;

/// A completed, unsynced operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PendingOp {
    /// `data` written at `offset`.
    Write { offset: u64, data: Vec<u8> },
    /// The length set to `len`.
    Truncate { len: u64 },
}

/// Writes `data` at `offset` into `image`, zero-filling any gap.
pub(crate) fn apply_write(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if image.len() < end {
        image.resize(end, 0);
    }
    image[start..end].copy_from_slice(data);
}

/// Sets `image`'s length to `len`, cutting or zero-extending.
pub(crate) fn apply_truncate(image: &mut Vec<u8>, len: u64) {
    image.resize(len as usize, 0);
}

fn apply(image: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write { offset, data } => apply_write(image, *offset, data),
        PendingOp::Truncate { len } => apply_truncate(image, *len),
    }
}

/// Checks that a file of `end` bytes is allowed.
pub(crate) fn check_size(end: u64) -> Result<(), StorageError> {
    if end > FILE_BYTES_MAX {
        return Err(StorageError::Io(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("simulated files are limited to {FILE_BYTES_MAX} bytes"),
        )));
    }
    Ok(())
}

/// One file. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct FileNode {
    pub(crate) durable: Vec<u8>,
    pub(crate) current: Vec<u8>,
    pub(crate) pending: VecDeque<PendingOp>,
    /// Operations completed on this node, ever.
    pub(crate) ops_total: u64,
    /// Operations made durable, ever.
    pub(crate) ops_durable: u64,
    /// Whether the file's name survives a crash.
    pub(crate) durable_exists: bool,
}

/// A file shared by the directory and its open handles.
pub(crate) type NodeRef = Rc<RefCell<FileNode>>;

impl FileNode {
    /// A file just created: empty, and its name not yet durable.
    pub(crate) fn created() -> FileNode {
        FileNode::default()
    }

    /// A file that survived a crash with contents `image`.
    pub(crate) fn recovered(image: Vec<u8>) -> FileNode {
        FileNode {
            current: image.clone(),
            durable: image,
            durable_exists: true,
            ..FileNode::default()
        }
    }

    /// The length reads see.
    pub(crate) fn len(&self) -> u64 {
        self.current.len() as u64
    }

    /// Copies up to `buf.len()` bytes at `offset` from the current image.
    pub(crate) fn read(&self, buf: &mut [u8], offset: u64) -> usize {
        let len = self.current.len() as u64;
        if offset >= len {
            return 0;
        }
        let start = offset as usize;
        let n = buf.len().min(self.current.len() - start);
        buf[..n].copy_from_slice(&self.current[start..start + n]);
        n
    }

    /// Completes a write (the caller checked its size and capacity).
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        apply_write(&mut self.current, offset, data);
        self.push(PendingOp::Write {
            offset,
            data: data.to_vec(),
        });
    }

    /// Completes a truncation (the caller checked its size and capacity).
    pub(crate) fn truncate(&mut self, len: u64) {
        apply_truncate(&mut self.current, len);
        self.push(PendingOp::Truncate { len });
    }

    fn push(&mut self, op: PendingOp) {
        self.pending.push_back(op);
        self.ops_total += 1;
    }

    /// Makes durable every operation numbered below `target` (the value of
    /// `ops_total` when the `sync` began), and the file's name.
    pub(crate) fn sync_through(&mut self, target: u64) {
        while self.ops_durable < target {
            let Some(op) = self.pending.pop_front() else {
                break;
            };
            apply(&mut self.durable, &op);
            self.ops_durable += 1;
        }
        self.durable_exists = true;
        debug_assert_eq!(
            self.ops_total - self.ops_durable,
            self.pending.len() as u64,
            "pending operations out of step with the counters"
        );
        // The durability boundary, checked from this side: once nothing is
        // pending, what survives a crash is exactly what reads see.
        debug_assert!(
            !self.pending.is_empty() || self.durable == self.current,
            "a completed sync left durable data different from the file"
        );
    }
}

/// One process's disk.
#[derive(Debug, Default)]
pub(crate) struct Disk {
    pub(crate) files: BTreeMap<String, NodeRef>,
    /// End of the current slow episode (virtual ns); 0 if none ran.
    pub(crate) slow_until_ns: u64,
    /// Latency multiplier while `now < slow_until_ns`.
    pub(crate) slow_factor: u64,
    /// When the next slow episode may begin; `None` until first used.
    pub(crate) next_slow_at_ns: Option<u64>,
}

impl Disk {
    /// Bytes held by the files in the directory (their current lengths).
    pub(crate) fn used_bytes(&self) -> u64 {
        self.files.values().map(|n| n.borrow().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_makes_only_the_operations_before_it_durable() {
        let mut f = FileNode::created();
        f.write(0, b"abc");
        let target = f.ops_total;
        f.write(3, b"def");
        f.sync_through(target);
        assert_eq!(f.durable, b"abc");
        assert_eq!(f.current, b"abcdef");
        assert_eq!(f.pending.len(), 1);
        f.sync_through(f.ops_total);
        assert_eq!(f.durable, f.current);
        assert!(f.durable_exists);
    }

    #[test]
    fn writes_past_the_end_zero_fill_and_truncate_cuts() {
        let mut image = b"ab".to_vec();
        apply_write(&mut image, 4, b"z");
        assert_eq!(image, b"ab\0\0z");
        apply_truncate(&mut image, 1);
        assert_eq!(image, b"a");
    }

    #[test]
    fn oversized_files_are_refused_with_a_typed_error() {
        assert!(check_size(FILE_BYTES_MAX).is_ok());
        match check_size(FILE_BYTES_MAX + 1) {
            Err(StorageError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::FileTooLarge),
            other => panic!("expected FileTooLarge, got {other:?}"),
        }
    }
}
