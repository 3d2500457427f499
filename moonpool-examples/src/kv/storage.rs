//! A replica's log: one fixed-size, CRC-32'd record per accepted store,
//! appended at the end of one file; recovery replays it.
//!
//! Record (36 bytes): `crc32(body): u32 LE | body`, with
//! `body = key | counter | writer | value`, each `u64 LE`.
//!
//! # Invariants
//! - Appends are serialized (one at a time, at `end`, the end of the valid
//!   log), so a failed write leaves no hole: the next record overwrites it.
//! - [`ReplicaLog::append`] returns `Ok` only after a `sync` that began
//!   after the record was written (unless [`KvBug::NoFsync`] is planted):
//!   an acknowledged store survives any crash.
//! - After [`ReplicaLog::open`], the file ends at the last valid record
//!   (the torn tail was cut and the cut synced).

use crate::durable::{read_at_most, retry_io};
use std::collections::BTreeMap;
use std::time::Duration;

use moonpool_core::{OpenMode, Providers, StorageError, StorageFile, StorageProvider};

use super::{Key, KvBug, LOG_PATH, Timestamp, Versioned};

/// Bytes of one record.
pub(crate) const RECORD_BYTES: usize = 36;
/// Attempts at one storage operation during recovery before giving up.
const RECOVERY_ATTEMPTS_MAX: u32 = 50;
/// Pause between recovery attempts.
const RECOVERY_RETRY_DELAY: Duration = Duration::from_millis(10);
/// Re-reads of a record that fails its checksum before it is taken as the
/// torn tail (a read can be corrupted in transit; the data is not).
const REREADS_MAX: u32 = 3;
/// With [`KvBug::NoFsync`], how often the background flush syncs the log
/// (once a second, like Redis's `appendfsync everysec`).
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Encodes one record.
pub(crate) fn encode_record(key: Key, ts: Timestamp, value: u64) -> [u8; RECORD_BYTES] {
    let mut record = [0u8; RECORD_BYTES];
    record[4..12].copy_from_slice(&key.to_le_bytes());
    record[12..20].copy_from_slice(&ts.counter.to_le_bytes());
    record[20..28].copy_from_slice(&ts.writer.to_le_bytes());
    record[28..36].copy_from_slice(&value.to_le_bytes());
    let crc = crc32fast::hash(&record[4..]);
    record[..4].copy_from_slice(&crc.to_le_bytes());
    record
}

fn word(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// Parses the record at the start of `buf`: `None` if it is short or fails
/// its checksum.
pub(crate) fn parse_record(buf: &[u8]) -> Option<(Key, Versioned)> {
    let record = buf.get(..RECORD_BYTES)?;
    let crc = u32::from_le_bytes(record[..4].try_into().ok()?);
    if crc32fast::hash(&record[4..]) != crc {
        return None;
    }
    let ts = Timestamp {
        counter: word(record, 12)?,
        writer: word(record, 20)?,
    };
    Some((
        word(record, 4)?,
        Versioned {
            ts,
            value: Some(word(record, 28)?),
        },
    ))
}

/// Retries a recovery step on I/O errors (see [`retry_io`]).
async fn retry<P, T, F, Fut>(p: &P, step: F) -> Result<T, StorageError>
where
    P: Providers,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, step).await
}

/// What recovery found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Valid records replayed.
    pub records: u64,
    /// Bytes of torn tail cut.
    pub cut_bytes: u64,
}

/// The log of one replica.
pub(crate) struct ReplicaLog<P: Providers> {
    file: <P::Storage as StorageProvider>::File,
    /// Where the next record goes; the append lock serializes its users.
    append: futures::lock::Mutex<u64>,
    bug: Option<KvBug>,
}

impl<P: Providers> ReplicaLog<P> {
    /// Opens the log and replays it: returns the log, the state it holds
    /// (per key, the record applied last wins, which is the newest one
    /// unless [`KvBug::NoTimestampCheck`] applied stores out of order), and
    /// what recovery did.
    pub(crate) async fn open(
        p: &P,
        bug: Option<KvBug>,
    ) -> Result<(ReplicaLog<P>, BTreeMap<Key, Versioned>, Recovery), StorageError> {
        let file = retry(p, || p.storage().open(LOG_PATH, OpenMode::OpenOrCreate)).await?;
        let len = retry(p, || file.len()).await?;
        let mut log = retry(p, || read_at_most(&file, 0, len as usize)).await?;
        let mut state: BTreeMap<Key, Versioned> = BTreeMap::new();
        let mut offset = 0usize;
        let mut records = 0u64;
        while offset + RECORD_BYTES <= log.len() {
            let mut parsed = parse_record(&log[offset..]);
            let mut rereads = 0;
            while parsed.is_none() && rereads < REREADS_MAX {
                rereads += 1;
                let fresh = retry(p, || read_at_most(&file, offset as u64, RECORD_BYTES)).await?;
                parsed = parse_record(&fresh);
                if parsed.is_some() {
                    log[offset..offset + RECORD_BYTES].copy_from_slice(&fresh);
                }
            }
            let Some((key, versioned)) = parsed else {
                break;
            };
            let slot = state.entry(key).or_default();
            if versioned.ts > slot.ts || bug == Some(KvBug::NoTimestampCheck) {
                *slot = versioned;
            }
            offset += RECORD_BYTES;
            records += 1;
        }
        let valid_end = offset as u64;
        let cut_bytes = len - valid_end;
        if cut_bytes > 0 {
            retry(p, || file.truncate(valid_end)).await?;
            retry(p, || file.sync()).await?;
        }
        Ok((
            ReplicaLog {
                file,
                append: futures::lock::Mutex::new(valid_end),
                bug,
            },
            state,
            Recovery { records, cut_bytes },
        ))
    }

    /// Appends one record; `Ok` once it is durable (with
    /// [`KvBug::NoFsync`]: once it is written).
    pub(crate) async fn append(&self, key: Key, versioned: Versioned) -> Result<(), StorageError> {
        let record = encode_record(key, versioned.ts, versioned.value.unwrap_or(0));
        let mut end = self.append.lock().await;
        self.file.write_at(&record, *end).await?;
        *end += RECORD_BYTES as u64;
        if self.bug == Some(KvBug::NoFsync) {
            return Ok(());
        }
        self.file.sync().await
    }

    /// Syncs the log (the background flush of [`KvBug::NoFsync`]).
    pub(crate) async fn flush(&self) -> Result<(), StorageError> {
        let _end = self.append.lock().await;
        self.file.sync().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let ts = Timestamp {
            counter: 7,
            writer: 2,
        };
        let record = encode_record(5, ts, 99);
        assert_eq!(
            parse_record(&record),
            Some((
                5,
                Versioned {
                    ts,
                    value: Some(99)
                }
            ))
        );
        for i in 0..RECORD_BYTES {
            for bit in 0..8 {
                let mut bad = record;
                bad[i] ^= 1 << bit;
                assert_eq!(parse_record(&bad), None, "flip at byte {i} bit {bit}");
            }
        }
        assert_eq!(parse_record(&record[..RECORD_BYTES - 1]), None);
        assert_eq!(parse_record(&[0u8; RECORD_BYTES]), None, "zeros");
    }
}
