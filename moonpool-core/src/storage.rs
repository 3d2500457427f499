//! Storage: named files with positioned reads and writes, and `sync` as the
//! durability boundary.
//!
//! The contract mirrors what a disk promises (and what FoundationDB's
//! `AsyncFileNonDurable` simulates): after [`StorageFile::sync`] returns
//! `Ok`, everything written before it survives a crash. Writes that were not
//! synced may survive whole, vanish, or be torn when the process crashes.
//! Code that acknowledges data before syncing it has a durability bug, and
//! the simulator is built to find it.
//!
//! Paths are relative names such as `"wal/segment-0001"`: no absolute paths,
//! no `..`, no empty components. The real provider resolves them under a
//! root directory; the simulator keeps one namespace per process.

use std::future::Future;
use std::io;

/// What [`StorageProvider::open`] does when the file exists or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file; `NotFound` if missing.
    Open,
    /// Open the file, creating it empty if missing.
    OpenOrCreate,
    /// Create a new empty file; `AlreadyExists` if present.
    CreateNew,
    /// Create the file, or cut an existing one to zero length.
    Truncate,
}

/// Errors of storage operations.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The file does not exist.
    #[error("file not found: {path}")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// The file exists and `CreateNew` was asked.
    #[error("file already exists: {path}")]
    AlreadyExists {
        /// The path asked for.
        path: String,
    },
    /// The path is not a valid relative file name.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No space left: the write did not happen.
    #[error("disk full")]
    DiskFull,
    /// An I/O error from the device (real or injected).
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Checks that `path` is a relative name made of non-empty components, none
/// of them `.` or `..`. Both providers call this, so both reject the same
/// paths.
pub fn validate_path(path: &str) -> Result<(), StorageError> {
    let invalid = |reason| {
        Err(StorageError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("empty path");
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return invalid("absolute paths are not allowed");
    }
    if path.contains('\0') {
        return invalid("NUL byte in path");
    }
    for component in path.split(['/', '\\']) {
        match component {
            "" => return invalid("empty path component"),
            "." | ".." => return invalid("`.` and `..` are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// An open file. All methods take `&self`: one file may be shared by
/// several tasks (a log writer and a reader, say).
pub trait StorageFile: 'static {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many were read
    /// (fewer only at end of file; 0 at or past the end).
    fn read_at(
        &self,
        buf: &mut [u8],
        offset: u64,
    ) -> impl Future<Output = Result<usize, StorageError>>;

    /// Writes all of `buf` at `offset`, extending the file (with zeros in
    /// any gap) if needed. Not durable until [`sync`](StorageFile::sync).
    fn write_at(&self, buf: &[u8], offset: u64) -> impl Future<Output = Result<(), StorageError>>;

    /// Makes every completed write to this file durable.
    fn sync(&self) -> impl Future<Output = Result<(), StorageError>>;

    /// The current length in bytes (including unsynced writes).
    fn len(&self) -> impl Future<Output = Result<u64, StorageError>>;

    /// Whether the file is empty.
    fn is_empty(&self) -> impl Future<Output = Result<bool, StorageError>> {
        async { Ok(self.len().await? == 0) }
    }

    /// Sets the length, cutting or zero-extending. Not durable until `sync`.
    fn truncate(&self, len: u64) -> impl Future<Output = Result<(), StorageError>>;
}

/// Opening and deleting files.
pub trait StorageProvider: Clone + 'static {
    /// The open-file type.
    type File: StorageFile;

    /// Opens `path` as `mode` says.
    fn open(
        &self,
        path: &str,
        mode: OpenMode,
    ) -> impl Future<Output = Result<Self::File, StorageError>>;

    /// Deletes `path`; `NotFound` if it does not exist. Open handles to it
    /// stay usable on Unix, as with real files.
    fn delete(&self, path: &str) -> impl Future<Output = Result<(), StorageError>>;

    /// Whether `path` exists.
    fn exists(&self, path: &str) -> impl Future<Output = Result<bool, StorageError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_accepted() {
        assert!(validate_path("wal").is_ok());
        assert!(validate_path("data/segment-0001.log").is_ok());
    }

    #[test]
    fn escaping_or_malformed_paths_are_rejected_with_a_reason() {
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", "a/", "a\0b"] {
            assert!(
                matches!(validate_path(bad), Err(StorageError::InvalidPath { .. })),
                "{bad:?} should be rejected"
            );
        }
    }
}
