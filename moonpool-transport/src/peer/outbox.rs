//! The outgoing byte buffer of a peer: frames are encoded straight into it
//! and written from it, with no per-frame allocation and no copy between
//! the encoder and the socket.
//!
//! Type: `Outbox`: `buf[written..]` holds the bytes not yet written, and
//! `entries` describes every frame from `buf[head..]` on (its length and
//! what it is), so that a frame fully written can be accounted for (its
//! call marked sent, its bytes freed for admission) and a frame never
//! written can be told apart.
//!
//! Invariants: `head <= written <= buf.len()`; the entries' lengths sum to
//! `buf.len() - head`; only the first entry may be partly written
//! (`written - head` of its bytes); the counters equal the sums over the
//! entries of their kind (asserted in debug builds by `check`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use crate::rpc::slot::CallSlot;

/// What one frame in the outbox is.
pub(crate) enum FrameKind {
    /// A one-way message: at most once, dropped if the connection fails.
    OneWay,
    /// A reply or a control answer (pong, "endpoint not found") for the
    /// peer's incarnation `incarnation` (any, if `None`): counted in the
    /// replies budget, never refused for the request limits.
    Answer { incarnation: Option<u64> },
    /// An at-most-once request of the call behind `slot`.
    Request { slot: Rc<dyn CallSlot> },
    /// A copy of reliable frame `seq` (the frame itself stays in the
    /// peer's reliable map until its call ends).
    Reliable { seq: u64 },
}

impl FrameKind {
    /// Whether the frame counts against the request limits.
    fn is_request(&self) -> bool {
        !matches!(self, FrameKind::Answer { .. })
    }
}

/// One frame in the outbox.
pub(crate) struct Entry {
    pub(crate) len: usize,
    pub(crate) kind: FrameKind,
}

/// Frames waiting to be written, as bytes.
#[derive(Default)]
pub(crate) struct Outbox {
    pub(crate) buf: Vec<u8>,
    /// Bytes of `buf` already written to the connection.
    pub(crate) written: usize,
    /// Offset in `buf` of the first entry.
    pub(crate) head: usize,
    pub(crate) entries: VecDeque<Entry>,
    /// Bytes and frames of requests, one-way messages and reliable copies
    /// not fully written: what admission limits.
    pub(crate) request_bytes: usize,
    pub(crate) request_frames: usize,
    /// Bytes of answers not fully written: their own budget.
    pub(crate) answer_bytes: usize,
}

/// Room a drained outbox keeps for the next frames (64 KiB).
const OUTBOX_KEEP_BYTES: usize = 64 * 1024;
/// Room an idle connection's outbox may keep (a few small frames).
const OUTBOX_IDLE_BYTES: usize = 1024;

impl Outbox {
    /// Whether no frame waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records the frame appended to `buf` since `start` as one entry.
    pub(crate) fn commit(&mut self, start: usize, kind: FrameKind) {
        let len = self.buf.len() - start;
        if kind.is_request() {
            self.request_bytes += len;
            self.request_frames += 1;
        } else {
            self.answer_bytes += len;
        }
        self.entries.push_back(Entry { len, kind });
    }

    /// Appends a whole frame.
    pub(crate) fn push(&mut self, frame: &[u8], kind: FrameKind) {
        let start = self.buf.len();
        self.buf.extend_from_slice(frame);
        self.commit(start, kind);
    }

    /// Frees the accounting of a frame that left the outbox.
    pub(crate) fn account_done(&mut self, e: &Entry) {
        if e.kind.is_request() {
            self.request_bytes -= e.len;
            self.request_frames -= 1;
        } else {
            self.answer_bytes -= e.len;
        }
    }

    /// Whether the first entry is reliable frame `seq`, partly written.
    pub(crate) fn is_partly_written(&self, seq: u64) -> bool {
        self.written > self.head
            && matches!(self.entries.front(), Some(Entry { kind: FrameKind::Reliable { seq: s }, .. }) if *s == seq)
    }

    /// Drops the written prefix of `buf` when it is worth it.
    pub(crate) fn compact(&mut self) {
        if self.written == self.buf.len() && self.entries.is_empty() {
            self.buf.clear();
            self.written = 0;
            self.head = 0;
            if self.buf.capacity() > 4 * OUTBOX_KEEP_BYTES {
                self.buf.shrink_to(OUTBOX_KEEP_BYTES);
            }
        } else if self.head > OUTBOX_KEEP_BYTES && 2 * self.head > self.buf.len() {
            self.buf.drain(..self.head);
            self.written -= self.head;
            self.head = 0;
        }
    }

    /// Gives the buffer's memory back if nothing waits and it grew past
    /// `OUTBOX_IDLE_BYTES` (the connection idles after a burst).
    pub(crate) fn release(&mut self) {
        if self.entries.is_empty()
            && self.written == self.buf.len()
            && self.capacity_bytes() > OUTBOX_IDLE_BYTES
        {
            self.buf = Vec::new();
            self.entries = VecDeque::new();
            self.written = 0;
            self.head = 0;
        }
    }

    /// Bytes the outbox holds allocated.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.buf.capacity() + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Skips released reliable copies at the head that nothing of was
    /// written; returns the end of the bytes that may be written next (up
    /// to the next released copy).
    pub(crate) fn writable_end(&mut self, skip: &mut BTreeSet<u64>) -> usize {
        if skip.is_empty() {
            return self.buf.len();
        }
        while let Some(e) = self.entries.front() {
            let skipped = self.written == self.head
                && matches!(e.kind, FrameKind::Reliable { seq } if skip.remove(&seq));
            if !skipped {
                break;
            }
            let len = e.len;
            self.entries.pop_front();
            self.head += len;
            self.written += len;
        }
        let mut at = self.head;
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0
                && let FrameKind::Reliable { seq } = e.kind
                && skip.contains(&seq)
            {
                return at;
            }
            at += e.len;
        }
        self.buf.len()
    }

    /// Drops every frame (the connection or the attempt failed). Returns
    /// how many were not reliable copies (those are sent again from the
    /// reliable map on the next connection).
    pub(crate) fn clear(&mut self) -> u64 {
        let dropped = self
            .entries
            .iter()
            .filter(|e| !matches!(e.kind, FrameKind::Reliable { .. }))
            .count() as u64;
        self.entries.clear();
        self.buf.clear();
        self.written = 0;
        self.head = 0;
        self.request_bytes = 0;
        self.request_frames = 0;
        self.answer_bytes = 0;
        dropped
    }

    /// Prepares the outbox for a new connection to incarnation
    /// `incarnation`: every outstanding reliable frame first, in sending
    /// order, then the frames queued meanwhile, minus answers meant for
    /// another incarnation. Returns how many answers were dropped.
    pub(crate) fn rebuild_for(
        &mut self,
        reliable: &mut BTreeMap<u64, super::ReliableFrame>,
        incarnation: u64,
    ) -> u64 {
        let old = std::mem::take(self);
        let mut dropped = 0;
        self.buf = Vec::with_capacity(old.buf.capacity());
        for (seq, r) in reliable.iter_mut() {
            r.queued = true;
            self.push(&r.frame, FrameKind::Reliable { seq: *seq });
        }
        let mut at = old.head;
        for e in old.entries {
            let bytes = &old.buf[at..at + e.len];
            at += e.len;
            match e.kind {
                FrameKind::Answer {
                    incarnation: Some(i),
                } if i != incarnation => dropped += 1,
                // Copies are re-made above from the map.
                FrameKind::Reliable { .. } => {}
                kind => self.push(bytes, kind),
            }
        }
        dropped
    }

    /// Checks the accounting invariants (debug builds).
    pub(crate) fn check(&self) {
        if cfg!(debug_assertions) {
            let (mut rb, mut rf, mut ab, mut total) = (0, 0, 0, 0);
            for e in &self.entries {
                total += e.len;
                if e.kind.is_request() {
                    rb += e.len;
                    rf += 1;
                } else {
                    ab += e.len;
                }
            }
            debug_assert!(self.head <= self.written && self.written <= self.buf.len());
            debug_assert_eq!(total, self.buf.len() - self.head, "entries and bytes agree");
            debug_assert!(rb >= self.request_bytes && ab == self.answer_bytes);
            debug_assert!(rf >= self.request_frames);
        }
    }
}
