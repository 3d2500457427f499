//! What a candidate and the resource keep on disk: each one small value in
//! a [`DurableCell`] (two alternating CRC'd slots), encoded with postcard.
//!
//! - A candidate's [`BallotState`]: the highest ballot its acceptor
//!   promised, and the last round it campaigned with. Both are stored and
//!   synced before they are acted on (a promise before the grant is sent,
//!   a round before its prepares are), so a reboot can neither grant a
//!   lower ballot nor reuse a round.
//! - The resource's [`Register`]: the highest token accepted, the value,
//!   and the count of writes, stored and synced before a fence or a write
//!   is acknowledged.

use std::marker::PhantomData;

use moonpool_core::{Codec, PostcardCodec, Providers, StorageError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Ballot, ElectionError};
use crate::durable::DurableCell;

/// A candidate's ballot state file.
pub(crate) const BALLOT_STATE_PATH: &str = "election/ballot";
/// The resource's register file.
pub(crate) const REGISTER_PATH: &str = "election/register";

/// What a candidate keeps on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct BallotState {
    /// The highest ballot the acceptor promised.
    pub(crate) promised: Ballot,
    /// The last round the candidate campaigned with.
    pub(crate) round: u64,
}

/// A value of type `T` in a durable cell.
pub(crate) struct Durable<P: Providers, T> {
    cell: DurableCell<P>,
    _value: PhantomData<T>,
}

impl<P: Providers, T: Serialize + DeserializeOwned + Default> Durable<P, T> {
    /// Opens the cell at `path`: the value stored last, or `T::default()`.
    pub(crate) async fn open(p: &P, path: &str) -> Result<(Durable<P, T>, T), ElectionError> {
        let (cell, bytes) = DurableCell::open(p, path).await?;
        let value = match bytes {
            Some(bytes) => PostcardCodec.decode(&bytes)?,
            None => T::default(),
        };
        Ok((
            Durable {
                cell,
                _value: PhantomData,
            },
            value,
        ))
    }

    /// Stores `value`; `Ok` once it is durable.
    pub(crate) async fn store(&self, value: &T) -> Result<(), StorageError> {
        let bytes = PostcardCodec.to_vec(value).map_err(|e| {
            StorageError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })?;
        self.cell.store(&bytes).await
    }
}
