//! [`DurableCell`]: one small value on disk, replaced atomically.
//!
//! The file holds two slots of [`SLOT_BYTES`]; a store writes the slot the
//! previous store did not use, then syncs. A slot is `len: u32 LE |
//! crc32(seq | payload): u32 LE | seq: u64 LE | payload`. Recovery takes
//! the valid slot with the highest `seq`: a crash during a store (a torn
//! or lost slot) leaves the other slot, the previous value, intact.
//!
//! # Invariants
//! - [`DurableCell::store`] returns `Ok` only after a `sync` that began
//!   after the slot was written: the value survives any later crash.
//! - A recovered value is one that was stored (synced), or one whose
//!   store was under way at the crash (never acknowledged, but whole).
//! - Stores are serialized; `seq` advances only on success.

use moonpool_core::{OpenMode, Providers, StorageError, StorageFile, StorageProvider};

use super::{RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, REREADS_MAX, read_at_most, retry_io};

/// Bytes of one slot (one disk sector).
pub(crate) const SLOT_BYTES: usize = 512;
/// Bytes of a slot's header (`len`, `crc`, `seq`).
const HEADER_BYTES: usize = 16;
/// The largest value a cell holds.
pub(crate) const VALUE_BYTES_MAX: usize = SLOT_BYTES - HEADER_BYTES;

/// One small value on disk. See the [module documentation](self).
pub(crate) struct DurableCell<P: Providers> {
    file: <P::Storage as StorageProvider>::File,
    /// The `seq` of the last value stored or recovered.
    seq: futures::lock::Mutex<u64>,
}

fn encode_slot(seq: u64, value: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + value.len());
    body.extend_from_slice(&seq.to_le_bytes());
    body.extend_from_slice(value);
    let mut slot = Vec::with_capacity(SLOT_BYTES);
    slot.extend_from_slice(&(value.len() as u32).to_le_bytes());
    slot.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    slot.extend_from_slice(&body);
    slot
}

/// The `(seq, value)` of a slot, if it is whole.
fn parse_slot(slot: &[u8]) -> Option<(u64, Vec<u8>)> {
    let len = u32::from_le_bytes(slot.get(..4)?.try_into().ok()?) as usize;
    if len > VALUE_BYTES_MAX {
        return None;
    }
    let crc = u32::from_le_bytes(slot.get(4..8)?.try_into().ok()?);
    let body = slot.get(8..HEADER_BYTES + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let seq = u64::from_le_bytes(body[..8].try_into().ok()?);
    (seq > 0).then(|| (seq, body[8..].to_vec()))
}

impl<P: Providers> DurableCell<P> {
    /// Opens (creating) the cell at `path` and recovers its value: `None`
    /// if nothing was ever stored.
    pub(crate) async fn open(
        p: &P,
        path: &str,
    ) -> Result<(DurableCell<P>, Option<Vec<u8>>), StorageError> {
        let file = retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
            p.storage().open(path, OpenMode::OpenOrCreate)
        })
        .await?;
        let mut best: Option<(u64, Vec<u8>)> = None;
        for slot in 0..2u64 {
            let offset = slot * SLOT_BYTES as u64;
            let mut parsed = None;
            // A slot that fails its checksum may be a rotten read: re-read.
            for _ in 0..=REREADS_MAX {
                let bytes = retry_io(p, RECOVERY_ATTEMPTS_MAX, RECOVERY_RETRY_DELAY, || {
                    read_at_most(&file, offset, SLOT_BYTES)
                })
                .await?;
                parsed = parse_slot(&bytes);
                if parsed.is_some() || bytes.iter().all(|b| *b == 0) {
                    break;
                }
            }
            if let Some((seq, value)) = parsed
                && best.as_ref().is_none_or(|(s, _)| seq > *s)
            {
                best = Some((seq, value));
            }
        }
        let seq = best.as_ref().map_or(0, |(s, _)| *s);
        let cell = DurableCell {
            file,
            seq: futures::lock::Mutex::new(seq),
        };
        Ok((cell, best.map(|(_, v)| v)))
    }

    /// Stores `value` durably: `Ok` once synced.
    pub(crate) async fn store(&self, value: &[u8]) -> Result<(), StorageError> {
        if value.len() > VALUE_BYTES_MAX {
            return Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "value too large for a durable cell",
            )));
        }
        let mut seq = self.seq.lock().await;
        let next = *seq + 1;
        let offset = (next % 2) * SLOT_BYTES as u64;
        self.file
            .write_at(&encode_slot(next, value), offset)
            .await?;
        self.file.sync().await?;
        *seq = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip_and_damage_is_detected() {
        let slot = encode_slot(7, b"state");
        assert_eq!(parse_slot(&slot), Some((7, b"state".to_vec())));
        for i in 0..slot.len() {
            let mut bad = slot.clone();
            bad[i] ^= 0x08;
            assert_ne!(parse_slot(&bad), Some((7, b"state".to_vec())), "byte {i}");
        }
        assert_eq!(parse_slot(&[0u8; SLOT_BYTES]), None, "zeros are empty");
        assert_eq!(parse_slot(&slot[..slot.len() - 1]), None);
    }

    #[test]
    fn the_newest_whole_slot_wins_and_a_torn_store_leaves_the_previous() {
        use futures::FutureExt;
        use moonpool_core::{OpenMode, StorageProvider};
        let (empty, stored, torn) = super::super::run_in_sim(Default::default(), |p| {
            async move {
                let (cell, empty) = DurableCell::open(&p, "t/cell").await.expect("open");
                cell.store(b"first").await.expect("store");
                cell.store(b"second").await.expect("store");
                drop(cell);
                let (cell, stored) = DurableCell::open(&p, "t/cell").await.expect("reopen");
                cell.store(b"third").await.expect("store");
                drop(cell);
                // Tear the newest slot (seq 3, in slot 1): its first bytes
                // only.
                let f = p.open("t/cell", OpenMode::Open).await.expect("open");
                f.write_at(&[0xff; 8], SLOT_BYTES as u64 + 8)
                    .await
                    .expect("tear");
                f.sync().await.expect("sync");
                let (_, torn) = DurableCell::open(&p, "t/cell").await.expect("reopen");
                (empty, stored, torn)
            }
            .boxed_local()
        });
        assert_eq!(empty, None);
        assert_eq!(stored, Some(b"second".to_vec()));
        assert_eq!(
            torn,
            Some(b"second".to_vec()),
            "the torn newest slot is skipped"
        );
    }
}
