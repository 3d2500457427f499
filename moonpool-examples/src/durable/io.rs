//! File I/O helpers shared by the logs and cells: retries of transient
//! errors, reads to the end of a file.

use std::time::Duration;

use moonpool_core::{Providers, StorageError, StorageFile, TimeProvider};

/// Runs `step` until it succeeds, retrying I/O errors (a disk may fail
/// transiently) up to `attempts` times in all, `delay` apart. Other errors
/// are returned at once.
pub(crate) async fn retry_io<P, T, F, Fut>(
    p: &P,
    attempts: u32,
    delay: Duration,
    mut step: F,
) -> Result<T, StorageError>
where
    P: Providers,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match step().await {
            Ok(v) => return Ok(v),
            Err(StorageError::Io(e)) if attempt < attempts => {
                tracing::debug!(error = %e, attempt, "log I/O failed; retrying");
                p.time().sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads up to `len` bytes at `offset` (fewer only at the end of the file).
pub(crate) async fn read_at_most<F: StorageFile>(
    f: &F,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, StorageError> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = f
            .read_at(&mut buf[filled..], offset + filled as u64)
            .await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}
