//! What a replayed seed remembers of its history: the chaos timeline
//! (every fault and process event, counted and kept in order) and, for the
//! timeline picture (`--timeline FILE.html`), *marks*: events that are not
//! faults and are kept only when asked for (process starts, connections
//! opened and reset, RPC calls and replies, assertion hits).
//!
//! Both are generic data here (kinds and names); the models and libraries
//! say what they mean, and the front end draws them.
//!
//! # Bounds
//! At most [`TIMELINE_ENTRIES_MAX`] timeline entries and
//! [`MARKS_MAX`] marks are kept per seed; later ones are counted
//! (`dropped_marks`) so that the picture can say it is incomplete.

use std::time::Duration;

use super::Kernel;
use super::process::ProcessId;

/// One event of a seed's history: a fault, a process event, or a mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Virtual time of the event.
    pub time: Duration,
    /// The process concerned (`-` if none).
    pub process: String,
    /// What kind of event (e.g. `"net.partition"`, `"rpc.send"`).
    pub kind: &'static str,
    /// What happened, in words.
    pub detail: String,
    /// When the effect ends, if it is known when it starts (a clog).
    pub end: Option<Duration>,
    /// Pairs entries of one story: a partition and its heal, an RPC's
    /// send, serve and reply.
    pub pair: Option<u64>,
    /// Other processes involved (a partition's sides, a connection's
    /// other end).
    pub peers: Vec<String>,
}

/// Entries kept in a timeline; later ones are counted but not kept.
pub(crate) const TIMELINE_ENTRIES_MAX: usize = 100_000;

/// Marks kept per seed; later ones are counted in `dropped_marks`.
pub(crate) const MARKS_MAX: usize = 200_000;

/// The structured part of an entry, built only when it is kept.
#[derive(Debug, Default)]
pub(crate) struct Mark {
    pub(crate) detail: String,
    pub(crate) end: Option<Duration>,
    pub(crate) pair: Option<u64>,
    pub(crate) peers: Vec<String>,
}

impl Mark {
    /// A mark that is only words.
    pub(crate) fn text(detail: String) -> Mark {
        Mark {
            detail,
            ..Mark::default()
        }
    }
}

/// The marks of one seed, when the picture is asked for.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    pub(crate) entries: Vec<TimelineEntry>,
    pub(crate) dropped: u64,
}

impl Kernel {
    /// The name a process goes by in entries (`-` for none).
    pub(crate) fn entry_name(&self, process: Option<ProcessId>) -> String {
        match process {
            Some(p) => self
                .process_name(p)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".to_string()),
            None => "-".to_string(),
        }
    }

    /// Whether marks are being kept (the picture was asked for).
    pub(crate) fn marking(&self) -> bool {
        self.marks.borrow().is_some()
    }

    /// Keeps a mark (not a fault: nothing is counted) if marks are on.
    /// `process` defaults to the process being polled.
    pub(crate) fn mark(
        &self,
        kind: &'static str,
        process: Option<ProcessId>,
        mark: impl FnOnce() -> Mark,
    ) {
        if !self.marking() {
            return;
        }
        let process = process.or_else(|| self.current().map(|(_, p)| p));
        let name = self.entry_name(process);
        let time = self.now();
        let mut marks = self.marks.borrow_mut();
        let Some(marks) = marks.as_mut() else {
            return;
        };
        if marks.entries.len() >= MARKS_MAX {
            marks.dropped += 1;
            return;
        }
        let m = mark();
        marks.entries.push(TimelineEntry {
            time,
            process: name,
            kind,
            detail: m.detail,
            end: m.end,
            pair: m.pair,
            peers: m.peers,
        });
    }

    /// The marks kept, and how many were dropped past the bound.
    pub(crate) fn take_marks(&self) -> (Vec<TimelineEntry>, u64) {
        match self.marks.borrow_mut().take() {
            Some(m) => (m.entries, m.dropped),
            None => (Vec::new(), 0),
        }
    }
}
