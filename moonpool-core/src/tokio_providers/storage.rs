//! Real files.
//!
//! Positioned I/O (`pread`/`pwrite`) and `fsync` run on tokio's blocking
//! pool, so a slow disk never stalls the runtime thread; buffers are copied
//! across that boundary. `sync` is `fsync` of the file; the first `sync` of
//! a file this handle created, and every `delete`, also fsync the parent
//! directory, so a created or deleted name is as durable as the data.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::storage::{OpenMode, StorageError, StorageFile, StorageProvider, validate_path};

/// Files under a root directory.
#[derive(Clone, Debug)]
pub struct TokioStorage {
    root: Arc<PathBuf>,
}

/// An open real file.
#[derive(Debug)]
pub struct TokioFile {
    file: Arc<fs::File>,
    path: PathBuf,
    /// Set when this handle created the file: its directory entry must be
    /// synced once for the file itself to survive a crash.
    dir_sync_pending: AtomicBool,
}

impl TokioStorage {
    /// Files resolved under `root`.
    pub fn new(root: PathBuf) -> TokioStorage {
        TokioStorage {
            root: Arc::new(root),
        }
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, StorageError> {
        validate_path(path)?;
        Ok(self.root.join(path))
    }
}

/// Runs blocking file work off the runtime thread.
async fn blocking<T, F>(work: F) -> Result<T, StorageError>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(StorageError::from),
        Err(e) => Err(StorageError::Io(io::Error::other(e.to_string()))),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        // Directories can be opened and fsynced on Unix; elsewhere this is
        // best effort.
        Some(dir) if cfg!(unix) => fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })?
        .sync_all(),
        _ => Ok(()),
    }
}

fn map_not_found(e: StorageError, path: &str) -> StorageError {
    match e {
        StorageError::Io(io) if io.kind() == io::ErrorKind::NotFound => StorageError::NotFound {
            path: path.to_string(),
        },
        StorageError::Io(io) if io.kind() == io::ErrorKind::AlreadyExists => {
            StorageError::AlreadyExists {
                path: path.to_string(),
            }
        }
        other => other,
    }
}

impl StorageProvider for TokioStorage {
    type File = TokioFile;

    async fn open(&self, path: &str, mode: OpenMode) -> Result<TokioFile, StorageError> {
        let full = self.resolve(path)?;
        let full2 = full.clone();
        let (file, created) = blocking(move || {
            let existed = full2.exists();
            if mode != OpenMode::Open
                && let Some(parent) = full2.parent()
            {
                fs::create_dir_all(parent)?;
            }
            let mut options = fs::OpenOptions::new();
            options.read(true).write(true);
            match mode {
                OpenMode::Open => {}
                OpenMode::OpenOrCreate => {
                    options.create(true);
                }
                OpenMode::CreateNew => {
                    options.create_new(true);
                }
                OpenMode::Truncate => {
                    options.create(true).truncate(true);
                }
            }
            let file = options.open(&full2)?;
            Ok((file, !existed))
        })
        .await
        .map_err(|e| map_not_found(e, path))?;
        Ok(TokioFile {
            file: Arc::new(file),
            path: full,
            dir_sync_pending: AtomicBool::new(created),
        })
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        let full = self.resolve(path)?;
        blocking(move || {
            fs::remove_file(&full)?;
            sync_dir(&full)
        })
        .await
        .map_err(|e| map_not_found(e, path))
    }

    async fn exists(&self, path: &str) -> Result<bool, StorageError> {
        let full = self.resolve(path)?;
        blocking(move || full.try_exists()).await
    }
}

#[cfg(unix)]
fn pread(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}
#[cfg(unix)]
fn pwrite_all(file: &fs::File, buf: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}
#[cfg(windows)]
fn pread(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}
#[cfg(windows)]
fn pwrite_all(file: &fs::File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

impl StorageFile for TokioFile {
    async fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, StorageError> {
        let file = Arc::clone(&self.file);
        let len = buf.len();
        let data = blocking(move || {
            let mut data = vec![0u8; len];
            let mut filled = 0;
            // pread may return short counts before end of file; only 0 is EOF.
            while filled < len {
                match pread(&file, &mut data[filled..], offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            data.truncate(filled);
            Ok(data)
        })
        .await?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    async fn write_at(&self, buf: &[u8], offset: u64) -> Result<(), StorageError> {
        let file = Arc::clone(&self.file);
        let data = buf.to_vec();
        blocking(move || pwrite_all(&file, &data, offset))
            .await
            .map_err(|e| match e {
                StorageError::Io(io) if io.raw_os_error() == Some(28) => StorageError::DiskFull,
                other => other,
            })
    }

    async fn sync(&self) -> Result<(), StorageError> {
        let file = Arc::clone(&self.file);
        let dir_too = self.dir_sync_pending.load(Ordering::Acquire);
        let path = self.path.clone();
        blocking(move || {
            file.sync_all()?;
            if dir_too {
                sync_dir(&path)?;
            }
            Ok(())
        })
        .await?;
        if dir_too {
            self.dir_sync_pending.store(false, Ordering::Release);
        }
        Ok(())
    }

    async fn len(&self) -> Result<u64, StorageError> {
        let file = Arc::clone(&self.file);
        blocking(move || Ok(file.metadata()?.len())).await
    }

    async fn truncate(&self, len: u64) -> Result<(), StorageError> {
        let file = Arc::clone(&self.file);
        blocking(move || file.set_len(len)).await
    }
}
