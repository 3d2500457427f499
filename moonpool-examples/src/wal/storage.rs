//! The store: the log record format, recovery, and durable puts.
//!
//! # Invariants
//! - A put is acknowledged only after a `sync` that began after its record
//!   was written (unless a bug is planted), or when the key already holds
//!   that version or a later one (the put is a retry: already durable).
//! - The map holds, per key, the highest version made durable (or
//!   recovered): last writer wins by version, never by arrival or log
//!   order, so puts are idempotent and stale retransmissions are harmless.
//! - Appends are serialized at `end`, the end of the valid log, so a failed
//!   write leaves no hole.
//! - After recovery the file ends at the last valid record (the torn tail
//!   was cut and the cut synced) and `end` points there.

use crate::durable::{read_at_most, retry_io};
use std::cell::RefCell;
use std::collections::BTreeMap;

use moonpool_core::{OpenMode, Providers, StorageError, StorageFile, StorageProvider};

use super::{
    Entry, LOG_PATH, RECORD_BODY_MIN_BYTES, RECORD_BYTES_MAX, RECORD_HEADER_BYTES,
    RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, REREADS_MAX, VALUE_BYTES_MAX, WalBug, WalError,
};

/// Encodes one log record.
pub fn encode_record(key: u64, version: u64, value: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(RECORD_BODY_MIN_BYTES + value.len());
    body.extend_from_slice(&key.to_le_bytes());
    body.extend_from_slice(&version.to_le_bytes());
    body.extend_from_slice(value);
    let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + body.len());
    record.extend_from_slice(&(body.len() as u32).to_le_bytes());
    record.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    record.extend_from_slice(&body);
    record
}

/// A record parsed from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: u64,
    /// The entry.
    pub entry: Entry,
    /// Bytes the record takes in the log.
    pub size: usize,
}

/// Parses the record at the start of `buf`; `None` if it is short, of an
/// impossible length, or fails its checksum.
pub fn parse_record(buf: &[u8]) -> Option<Record> {
    let header = buf.get(..RECORD_HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if !(RECORD_BODY_MIN_BYTES..=RECORD_BODY_MIN_BYTES + VALUE_BYTES_MAX).contains(&len) {
        return None;
    }
    let body = buf.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    Some(Record {
        key: u64::from_le_bytes(body[..8].try_into().ok()?),
        entry: Entry {
            version: u64::from_le_bytes(body[8..16].try_into().ok()?),
            value: body[16..].to_vec(),
        },
        size: RECORD_HEADER_BYTES + len,
    })
}

/// Retries a recovery step on I/O errors (see [`retry_io`]); a failure
/// that persists fails recovery.
async fn retry<P, T, F, Fut>(p: &P, step: F) -> Result<T, WalError>
where
    P: Providers,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StorageError>>,
{
    retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, step)
        .await
        .map_err(WalError::Recovery)
}

struct State {
    /// Key → the entry with the highest version.
    map: BTreeMap<u64, Entry>,
    /// Where the next record goes.
    end: u64,
    /// Records written by this incarnation.
    written: u64,
    /// Of those, how many a completed `sync` covers.
    synced: u64,
}

/// Inserts `entry` unless `key` already holds the same or a later version.
fn apply(map: &mut BTreeMap<u64, Entry>, key: u64, entry: Entry) {
    if map.get(&key).is_none_or(|e| e.version < entry.version) {
        map.insert(key, entry);
    }
}

/// The write-ahead-logged store. See the [`wal`](super) module documentation.
pub struct WalStore<P: Providers> {
    file: <P::Storage as StorageProvider>::File,
    state: RefCell<State>,
    append: futures::lock::Mutex<()>,
    bug: Option<WalBug>,
    recovered_records: usize,
    cut_bytes: u64,
}

impl<P: Providers> WalStore<P> {
    /// Opens the log and recovers the store from it.
    pub async fn open(p: &P, bug: Option<WalBug>) -> Result<WalStore<P>, WalError> {
        let file = retry(p, || p.storage().open(LOG_PATH, OpenMode::OpenOrCreate)).await?;
        let len = retry(p, || file.len()).await?;
        let mut log = retry(p, || read_at_most(&file, 0, len as usize)).await?;
        let mut map = BTreeMap::new();
        let mut offset = 0usize;
        let mut records = 0;
        while offset < log.len() {
            let mut parsed = parse_record(&log[offset..]);
            // A failed checksum may be a corrupted read: read it again.
            let mut rereads = 0;
            while parsed.is_none() && rereads < REREADS_MAX {
                rereads += 1;
                let window = RECORD_BYTES_MAX.min(log.len() - offset);
                let fresh = retry(p, || read_at_most(&file, offset as u64, window)).await?;
                parsed = parse_record(&fresh);
                if parsed.is_some() {
                    log[offset..offset + fresh.len()].copy_from_slice(&fresh);
                }
            }
            let Some(record) = parsed else {
                break;
            };
            apply(&mut map, record.key, record.entry);
            offset += record.size;
            records += 1;
        }
        let valid_end = offset as u64;
        let cut_bytes = len - valid_end;
        let end = if bug == Some(WalBug::AppendAfterTornTail) {
            len
        } else {
            if cut_bytes > 0 {
                retry(p, || file.truncate(valid_end)).await?;
                retry(p, || file.sync()).await?;
            }
            valid_end
        };
        tracing::debug!(records, cut_bytes, "wal recovered");
        moonpool_core::sometimes!(cut_bytes > 0, "recovery found a torn tail");
        Ok(WalStore {
            file,
            state: RefCell::new(State {
                map,
                end,
                written: 0,
                synced: 0,
            }),
            append: futures::lock::Mutex::new(()),
            bug,
            recovered_records: records,
            cut_bytes,
        })
    }

    /// Records replayed by recovery.
    pub fn recovered_records(&self) -> usize {
        self.recovered_records
    }

    /// Bytes of torn tail recovery cut.
    pub fn cut_bytes(&self) -> u64 {
        self.cut_bytes
    }

    /// Durably writes `value` under `key` with `version`; `Ok` only once
    /// the record is synced, or at once if the key already holds `version`
    /// or a later one (a retried or stale put: nothing to do).
    pub async fn put(&self, key: u64, version: u64, value: &[u8]) -> Result<(), WalError> {
        if value.len() > VALUE_BYTES_MAX {
            return Err(WalError::ValueTooLarge(value.len()));
        }
        if self.get(key).is_some_and(|e| e.version >= version) {
            moonpool_core::reachable!("a put found its version already durable");
            return Ok(());
        }
        let record = encode_record(key, version, value);
        {
            let _writer = self.append.lock().await;
            let offset = self.state.borrow().end;
            if self.bug == Some(WalBug::UnorderedSync) {
                let (written, synced) =
                    futures::join!(self.file.write_at(&record, offset), self.file.sync());
                written?;
                synced?;
            } else {
                self.file.write_at(&record, offset).await?;
            }
            let mut state = self.state.borrow_mut();
            state.end = offset + record.len() as u64;
            state.written += 1;
        }
        if self.bug.is_none() || self.bug == Some(WalBug::AppendAfterTornTail) {
            // Covers every record whose write completed before it began.
            let covered = self.state.borrow().written;
            self.file.sync().await?;
            let mut state = self.state.borrow_mut();
            state.synced = state.synced.max(covered);
        }
        let entry = Entry {
            version,
            value: value.to_vec(),
        };
        apply(&mut self.state.borrow_mut().map, key, entry);
        Ok(())
    }

    /// The entry with the highest acknowledged (or recovered) version of
    /// `key`.
    pub fn get(&self, key: u64) -> Option<Entry> {
        self.state.borrow().map.get(&key).cloned()
    }

    /// Keys held.
    pub fn key_count(&self) -> usize {
        self.state.borrow().map.len()
    }

    /// The highest version held for any key (0 if none).
    pub fn version_max(&self) -> u64 {
        let state = self.state.borrow();
        state.map.values().map(|e| e.version).max().unwrap_or(0)
    }

    /// Bytes of valid log (where the next record goes).
    pub fn log_end(&self) -> u64 {
        self.state.borrow().end
    }

    /// Records this incarnation wrote that no completed `sync` covers yet.
    pub fn unsynced_records(&self) -> u64 {
        let state = self.state.borrow();
        state.written - state.synced
    }
}

impl<P: Providers> Drop for WalStore<P> {
    fn drop(&mut self) {
        // A store is dropped when its process is killed (or shut down):
        // the interesting kill is the one that catches records written but
        // not yet synced, whose fate is then up to the crash.
        moonpool_core::sometimes!(
            self.unsynced_records() > 0,
            "the store was killed with unsynced records"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_detected() {
        let record = encode_record(7, 3, b"value");
        let parsed = parse_record(&record).expect("valid");
        assert_eq!(parsed.key, 7);
        assert_eq!(parsed.entry.version, 3);
        assert_eq!(parsed.entry.value, b"value");
        assert_eq!(parsed.size, record.len());
        for i in 0..record.len() {
            let mut bad = record.clone();
            bad[i] ^= 0x40;
            assert!(
                parse_record(&bad) != Some(parsed.clone()),
                "a flip at byte {i} went unnoticed"
            );
        }
        assert!(parse_record(&record[..record.len() - 1]).is_none());
        assert!(parse_record(&[0u8; 64]).is_none(), "zeros are not a record");
    }
}
