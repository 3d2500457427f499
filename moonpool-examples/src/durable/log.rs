//! [`RecordLog`]: an append-only log of CRC'd records.
//!
//! Record: `len: u32 LE | crc32(payload): u32 LE | payload`. Recovery
//! reads the file record by record; a record that is short, of an absurd
//! length or fails its checksum (after re-reading it, in case the read was
//! rotten) is the torn tail, which is cut (truncate + sync) before anything
//! is appended.
//!
//! # Invariants
//! - Appends are serialized at the end of the valid log, so a failed
//!   write leaves no hole: the next record overwrites it.
//! - [`RecordLog::append`] returns `Ok` only after a `sync` that began
//!   after the record was written (unless the caller asked for no sync).
//! - The log never grows past [`LOG_BYTES_MAX`]: an append beyond it is
//!   refused ([`LogError::Full`]), nothing written.

use moonpool_core::{OpenMode, Providers, StorageError, StorageFile, StorageProvider};

use super::{RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, REREADS_MAX, read_at_most, retry_io};

/// Bytes of a record header.
const HEADER_BYTES: usize = 8;
/// The largest record payload.
pub(crate) const RECORD_BYTES_MAX: usize = 4096;
/// The largest log.
pub(crate) const LOG_BYTES_MAX: u64 = 64 << 20;

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    /// The disk failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The record is empty, or it or the log would exceed its limit;
    /// nothing was written.
    #[error("log full: a record of {0} bytes does not fit")]
    Full(usize),
}

/// An append-only log. See the [module documentation](self).
pub(crate) struct RecordLog<P: Providers> {
    file: <P::Storage as StorageProvider>::File,
    /// Where the next record goes; the lock serializes appends.
    end: futures::lock::Mutex<u64>,
}

fn encode(payload: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER_BYTES + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    record
}

/// The payload at the start of `buf` and the record's size, if whole.
fn parse(buf: &[u8]) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    // Zeros (a torn sector past the old end of file) are not a record.
    if len == 0 || len > RECORD_BYTES_MAX {
        return None;
    }
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    let payload = buf.get(HEADER_BYTES..HEADER_BYTES + len)?;
    (crc32fast::hash(payload) == crc).then_some((payload, HEADER_BYTES + len))
}

/// What recovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Every valid record's payload, in order.
    pub(crate) records: Vec<Vec<u8>>,
    /// Bytes of torn tail cut.
    pub(crate) cut_bytes: u64,
}

impl<P: Providers> RecordLog<P> {
    /// Opens (creating) the log at `path`, replays it and cuts its torn
    /// tail.
    pub(crate) async fn open(p: &P, path: &str) -> Result<(RecordLog<P>, Recovered), StorageError> {
        let file = retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
            p.storage().open(path, OpenMode::OpenOrCreate)
        })
        .await?;
        let len = retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
            file.len()
        })
        .await?;
        let mut log = retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
            read_at_most(&file, 0, len as usize)
        })
        .await?;
        let mut records = Vec::new();
        let mut offset = 0usize;
        while offset < log.len() {
            let mut size = parse(&log[offset..]).map(|(payload, size)| {
                records.push(payload.to_vec());
                size
            });
            let mut rereads = 0;
            while size.is_none() && rereads < REREADS_MAX {
                rereads += 1;
                let window = (HEADER_BYTES + RECORD_BYTES_MAX).min(log.len() - offset);
                let fresh = retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
                    read_at_most(&file, offset as u64, window)
                })
                .await?;
                if let Some((payload, n)) = parse(&fresh) {
                    records.push(payload.to_vec());
                    log[offset..offset + fresh.len()].copy_from_slice(&fresh);
                    size = Some(n);
                }
            }
            let Some(size) = size else {
                break;
            };
            offset += size;
        }
        let valid_end = offset as u64;
        let cut_bytes = len - valid_end;
        if cut_bytes > 0 {
            retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
                file.truncate(valid_end)
            })
            .await?;
            retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
                file.sync()
            })
            .await?;
        }
        let log = RecordLog {
            file,
            end: futures::lock::Mutex::new(valid_end),
        };
        Ok((log, Recovered { records, cut_bytes }))
    }

    /// Appends `payload`; with `sync`, returns once it is durable.
    pub(crate) async fn append(&self, payload: &[u8], sync: bool) -> Result<(), LogError> {
        let record = encode(payload);
        let mut end = self.end.lock().await;
        if payload.is_empty()
            || payload.len() > RECORD_BYTES_MAX
            || *end + record.len() as u64 > LOG_BYTES_MAX
        {
            return Err(LogError::Full(payload.len()));
        }
        self.file.write_at(&record, *end).await?;
        *end += record.len() as u64;
        drop(end);
        if sync {
            self.file.sync().await?;
        }
        Ok(())
    }

    /// Makes every record appended so far durable.
    pub(crate) async fn sync(&self) -> Result<(), StorageError> {
        self.file.sync().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let record = encode(b"a record");
        assert_eq!(parse(&record), Some((&b"a record"[..], record.len())));
        for i in 0..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 0x20;
            assert!(
                parse(&bad) != Some((&b"a record"[..], record.len())),
                "a flip at byte {i} went unnoticed"
            );
        }
        assert_eq!(parse(&record[..record.len() - 1]), None);
        assert_eq!(parse(&[0u8; 16]), None, "zeros are not a record");
    }

    #[test]
    fn recovery_replays_records_and_cuts_a_torn_tail() {
        use futures::FutureExt;
        use moonpool_core::{OpenMode, StorageFile, StorageProvider};
        let (first, second, after) = super::super::run_in_sim(Default::default(), |p| {
            async move {
                let (log, empty) = RecordLog::open(&p, "t/log").await.expect("open");
                assert!(empty.records.is_empty());
                log.append(b"one", true).await.expect("append");
                log.append(b"two", true).await.expect("append");
                assert!(
                    log.append(b"", true).await.is_err(),
                    "empty records are refused"
                );
                drop(log);
                // Half a record at the end: a torn append.
                let f = p.open("t/log", OpenMode::Open).await.expect("open");
                let end = f.len().await.expect("len");
                f.write_at(&encode(b"three")[..6], end)
                    .await
                    .expect("write");
                f.sync().await.expect("sync");
                let (log, second) = RecordLog::open(&p, "t/log").await.expect("recover");
                let first = (
                    second.records.clone(),
                    second.cut_bytes,
                    f.len().await.expect("len"),
                );
                log.append(b"four", true).await.expect("append");
                drop(log);
                let (_, after) = RecordLog::open(&p, "t/log").await.expect("recover");
                (first, end, after)
            }
            .boxed_local()
        });
        assert_eq!(first.0, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(first.1, 6, "the torn tail was cut");
        assert_eq!(first.2, second, "the file ends at the last whole record");
        assert_eq!(
            after.records,
            vec![b"one".to_vec(), b"two".to_vec(), b"four".to_vec()],
            "the next record went where the torn one was"
        );
    }
}
