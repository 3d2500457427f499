//! Simulated storage. (Placeholder until simulated files land: every
//! operation fails with `Unsupported`.)

use std::io;

use moonpool_core::{OpenMode, StorageError, StorageFile, StorageProvider};

use crate::process::ProcessId;
use crate::providers::SimProviders;
use crate::world::World;

/// The simulated storage's configuration. (Placeholder.)
#[derive(Clone, Debug, Default)]
pub struct StorageConfig {}

/// Simulated files of every process, owned by the world.
#[derive(Default)]
pub(crate) struct StorageState {}

/// Samples this seed's storage parameters (called once per seed, before
/// any process starts).
pub(crate) fn init_seed(_world: &World) {}

/// Applies crash semantics to a killed process's files.
pub(crate) fn process_killed(_world: &World, _process: ProcessId) {}

fn unsupported() -> StorageError {
    StorageError::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "simulated storage not available yet",
    ))
}

/// A simulated file.
#[derive(Debug)]
pub struct SimFile {
    _private: (),
}

impl StorageFile for SimFile {
    async fn read_at(&self, _: &mut [u8], _: u64) -> Result<usize, StorageError> {
        Err(unsupported())
    }
    async fn write_at(&self, _: &[u8], _: u64) -> Result<(), StorageError> {
        Err(unsupported())
    }
    async fn sync(&self) -> Result<(), StorageError> {
        Err(unsupported())
    }
    async fn len(&self) -> Result<u64, StorageError> {
        Err(unsupported())
    }
    async fn truncate(&self, _: u64) -> Result<(), StorageError> {
        Err(unsupported())
    }
}

impl StorageProvider for SimProviders {
    type File = SimFile;
    async fn open(&self, _: &str, _: OpenMode) -> Result<SimFile, StorageError> {
        Err(unsupported())
    }
    async fn delete(&self, _: &str) -> Result<(), StorageError> {
        Err(unsupported())
    }
    async fn exists(&self, _: &str) -> Result<bool, StorageError> {
        Err(unsupported())
    }
}
