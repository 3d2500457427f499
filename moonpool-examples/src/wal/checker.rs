//! [`History`]: what one client wrote and read, and the check every read
//! must pass.
//!
//! # Model
//! A client owns its keys and is the only writer of them. For each key it
//! records every write it issued (version → value and [`WriteOutcome`]),
//! the highest acknowledged version, and the highest version it has read.
//! Versions are unique per client, and the store keeps per key the highest
//! version made durable, so the set of acceptable answers to a read is:
//!
//! - a version this client issued for this key, with exactly its value;
//! - not a write refused before it was ever sent ([`WriteOutcome::NotApplied`]);
//! - at least the highest acknowledged version (acknowledged means durable);
//! - at least the highest version read before (what was read was durable:
//!   the store only serves synced writes, so it cannot disappear).
//!
//! A write with an [`Unknown`](WriteOutcome::Unknown) outcome may land at
//! any time, or never: it stays concurrent with everything after it, so a
//! read may show it or an older version, as long as the rules above hold.

use std::collections::BTreeMap;

use super::Entry;

/// What became of a write, as far as its client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Issued, no outcome yet.
    Pending,
    /// The store acknowledged it: it (or a later version) is durable.
    Acked,
    /// It may or may not have been applied, now or later.
    Unknown,
    /// It was never sent (every attempt was refused locally).
    NotApplied,
}

#[derive(Clone, Debug)]
struct Write {
    value: Vec<u8>,
    outcome: WriteOutcome,
}

#[derive(Clone, Debug, Default)]
struct KeyHistory {
    /// Version → the write.
    writes: BTreeMap<u64, Write>,
    /// Highest acknowledged version (0: none).
    acked_max: u64,
    /// Highest version read (0: none).
    read_max: u64,
}

/// A read that breaks the rules of [`History`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// An acknowledged write is gone.
    #[error(
        "acknowledged write lost: key {key} version {acked} was acknowledged, the store has {}",
        describe(*found)
    )]
    AckedLost {
        /// The key.
        key: u64,
        /// The highest acknowledged version.
        acked: u64,
        /// The version the store returned (`None`: nothing).
        found: Option<u64>,
    },
    /// A read went back to an older version than one read before.
    #[error(
        "observed write lost: key {key} version {seen} was read before, the store now has {}",
        describe(*found)
    )]
    ObservedLost {
        /// The key.
        key: u64,
        /// The highest version read before.
        seen: u64,
        /// The version the store returned (`None`: nothing).
        found: Option<u64>,
    },
    /// The store returned a version this client never wrote to this key.
    #[error("invented data: key {key} version {version} was never written")]
    Invented {
        /// The key.
        key: u64,
        /// The version returned.
        version: u64,
    },
    /// The store returned a write that was never sent.
    #[error("invented data: key {key} version {version} was never sent, yet the store has it")]
    NeverSent {
        /// The key.
        key: u64,
        /// The version returned.
        version: u64,
    },
    /// The store returned a version with a value that is not the one
    /// written.
    #[error("corrupt data: key {key} version {version} has a value that was never written")]
    Corrupt {
        /// The key.
        key: u64,
        /// The version returned.
        version: u64,
    },
}

fn describe(found: Option<u64>) -> String {
    match found {
        Some(v) => format!("version {v}"),
        None => "nothing".to_string(),
    }
}

/// What a read that passed the check showed. See [`History::verify`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadVerdict {
    /// Some write with an unknown outcome could have made another answer
    /// right as well.
    pub ambiguous: bool,
    /// The read returned a write whose outcome was unknown.
    pub showed_unknown: bool,
}

/// One client's writes and reads, and the check every read must pass.
///
/// A client owns its keys and is their only writer; its versions are
/// unique, and the store keeps per key the highest version made durable.
/// An acceptable answer to a read of a key is: a version this client
/// issued for the key, with exactly its value; not a write refused before
/// it was sent; at least the highest acknowledged version; at least the
/// highest version read before. A write with an unknown outcome may land
/// at any time or never, so a read may show it or an older version.
#[derive(Clone, Debug, Default)]
pub struct History {
    keys: BTreeMap<u64, KeyHistory>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Records that `version` of `key` is about to be written with `value`.
    pub fn issue(&mut self, key: u64, version: u64, value: Vec<u8>) {
        let write = Write {
            value,
            outcome: WriteOutcome::Pending,
        };
        self.keys
            .entry(key)
            .or_default()
            .writes
            .insert(version, write);
    }

    /// Records a pre-existing entry (found in the store before this client
    /// wrote anything, e.g. left by an earlier run) as acknowledged.
    pub fn adopt(&mut self, key: u64, entry: Entry) {
        let version = entry.version;
        self.issue(key, version, entry.value);
        self.resolve(key, version, WriteOutcome::Acked);
    }

    /// Records what became of `version` of `key`.
    pub fn resolve(&mut self, key: u64, version: u64, outcome: WriteOutcome) {
        let k = self.keys.entry(key).or_default();
        if let Some(w) = k.writes.get_mut(&version) {
            w.outcome = outcome;
        }
        if outcome == WriteOutcome::Acked {
            k.acked_max = k.acked_max.max(version);
        }
    }

    /// The outcome of `version` of `key`, if it was issued.
    pub fn outcome(&self, key: u64, version: u64) -> Option<WriteOutcome> {
        self.keys.get(&key)?.writes.get(&version).map(|w| w.outcome)
    }

    /// The highest acknowledged version of `key` (0: none).
    pub fn acked_max(&self, key: u64) -> u64 {
        self.keys.get(&key).map_or(0, |k| k.acked_max)
    }

    // ANCHOR: verify
    /// Checks that `got` is an acceptable answer to a read of `key` now,
    /// and remembers it (later reads may not go back). See [`History`].
    pub fn verify(&mut self, key: u64, got: Option<&Entry>) -> Result<ReadVerdict, CheckError> {
        let k = self.keys.entry(key).or_default();
        let found = got.map(|e| e.version);
        let version = found.unwrap_or(0);
        if version < k.acked_max {
            return Err(CheckError::AckedLost {
                key,
                acked: k.acked_max,
                found,
            });
        }
        if version < k.read_max {
            return Err(CheckError::ObservedLost {
                key,
                seen: k.read_max,
                found,
            });
        }
        let floor = k.acked_max.max(k.read_max);
        let ambiguous = k
            .writes
            .range(floor + 1..)
            .any(|(_, w)| w.outcome == WriteOutcome::Unknown);
        let mut showed_unknown = false;
        if let Some(e) = got {
            let Some(w) = k.writes.get(&e.version) else {
                return Err(CheckError::Invented {
                    key,
                    version: e.version,
                });
            };
            if w.value != e.value {
                return Err(CheckError::Corrupt {
                    key,
                    version: e.version,
                });
            }
            match w.outcome {
                WriteOutcome::NotApplied => {
                    return Err(CheckError::NeverSent {
                        key,
                        version: e.version,
                    });
                }
                WriteOutcome::Unknown => showed_unknown = true,
                WriteOutcome::Acked | WriteOutcome::Pending => {}
            }
            k.read_max = k.read_max.max(e.version);
        }
        Ok(ReadVerdict {
            ambiguous,
            showed_unknown,
        })
    }
    // ANCHOR_END: verify
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64, value: &[u8]) -> Entry {
        Entry {
            version,
            value: value.to_vec(),
        }
    }

    #[test]
    fn acknowledged_writes_must_stay() {
        let mut h = History::new();
        assert_eq!(h.verify(1, None), Ok(ReadVerdict::default()));
        h.issue(1, 3, b"a".to_vec());
        h.resolve(1, 3, WriteOutcome::Acked);
        assert!(matches!(
            h.verify(1, None),
            Err(CheckError::AckedLost {
                acked: 3,
                found: None,
                ..
            })
        ));
        assert!(h.verify(1, Some(&entry(3, b"a"))).is_ok());
        h.issue(1, 5, b"b".to_vec());
        h.resolve(1, 5, WriteOutcome::Acked);
        assert!(matches!(
            h.verify(1, Some(&entry(3, b"a"))),
            Err(CheckError::AckedLost { found: Some(3), .. })
        ));
    }

    #[test]
    fn unknown_outcomes_accept_either_answer_but_reads_never_go_back() {
        let mut h = History::new();
        h.issue(1, 1, b"old".to_vec());
        h.resolve(1, 1, WriteOutcome::Acked);
        h.issue(1, 2, b"new".to_vec());
        h.resolve(1, 2, WriteOutcome::Unknown);
        let v = h.verify(1, Some(&entry(1, b"old"))).expect("old is fine");
        assert!(v.ambiguous && !v.showed_unknown);
        let v = h.verify(1, Some(&entry(2, b"new"))).expect("new is fine");
        assert!(v.ambiguous && v.showed_unknown);
        // Version 2 was seen: it was durable, it cannot go away.
        assert!(matches!(
            h.verify(1, Some(&entry(1, b"old"))),
            Err(CheckError::ObservedLost { seen: 2, .. })
        ));
        let v = h.verify(1, Some(&entry(2, b"new"))).expect("still fine");
        assert!(!v.ambiguous, "nothing unknown above what was seen");
    }

    #[test]
    fn invented_corrupt_and_never_sent_data_is_caught() {
        let mut h = History::new();
        h.issue(1, 1, b"x".to_vec());
        h.resolve(1, 1, WriteOutcome::Unknown);
        h.issue(1, 2, b"y".to_vec());
        h.resolve(1, 2, WriteOutcome::NotApplied);
        assert!(matches!(
            h.verify(1, Some(&entry(9, b"x"))),
            Err(CheckError::Invented { version: 9, .. })
        ));
        assert!(matches!(
            h.verify(1, Some(&entry(1, b"z"))),
            Err(CheckError::Corrupt { version: 1, .. })
        ));
        assert!(matches!(
            h.verify(1, Some(&entry(2, b"y"))),
            Err(CheckError::NeverSent { version: 2, .. })
        ));
        // Another key's write is not this key's.
        assert!(matches!(
            h.verify(2, Some(&entry(1, b"x"))),
            Err(CheckError::Invented { .. })
        ));
    }

    #[test]
    fn adopted_entries_are_the_floor() {
        let mut h = History::new();
        h.adopt(4, entry(10, b"earlier run"));
        assert_eq!(h.acked_max(4), 10);
        assert!(h.verify(4, Some(&entry(10, b"earlier run"))).is_ok());
        assert!(h.verify(4, None).is_err());
    }
}
