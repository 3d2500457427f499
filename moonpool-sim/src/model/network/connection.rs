//! Connections: two independent directions, each a byte queue with delivery
//! times, and the two ends that read and write them.
//!
//! # Types
//! - [`ConnKey`]: slot index + generation of a connection in the
//!   [`Conns`] slab; a key whose generation does not match is stale.
//! - [`Conn`]: `pipes[d]` carries bytes written by side `d` to side `1-d`
//!   (side 0 is the connecting client, side 1 the accepted server end);
//!   `ends[s]` is side `s`'s view (open, shut down, reset).
//! - [`Pipe`]: one direction. `data` holds every byte written and not yet
//!   read; `segs` marks which of them are still in flight and when each
//!   batch arrives. Bytes `read..delivered` are visible to the reader,
//!   `delivered..written` are on the wire.
//!
//! # Invariants
//! - Order: a segment's arrival time is at least its predecessor's (writes
//!   take `max(sampled, last_at)`), so bytes are delivered in the order
//!   they were written, never reordered, never dropped while the
//!   connection is healthy.
//! - Delivery is lazy: a reader advances `delivered` itself by comparing
//!   arrival times with the clock. An event is scheduled only when a reader
//!   waits, for the first in-flight arrival, and at most one at a time per
//!   pipe (`wake_at`), so one write costs at most one event.
//! - `data.len() <= capacity`: a write beyond it returns `Pending` and the
//!   reader wakes the writer when it frees space (back-pressure).
//! - Time `HELD` means "held by a partition": such segments have no arrival
//!   time until the partition heals. `NEVER` means "not scheduled".
//! - A reset end (`reset_at <= now`) fails every read with
//!   `ConnectionReset` and every write with `BrokenPipe`. A write whose
//!   peer end is closed or reset still fills the buffer (nobody will read
//!   it), and resets the writer one round trip later (the peer's RST): a
//!   half-open connection is discovered by writing; a writer blocked on a
//!   full buffer stays blocked until that reset fails it.
//! - A reset on its way to an end arrives after every byte and FIN
//!   already in flight towards it (`reset_end`): an RST never overtakes
//!   data sent earlier in the same direction.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Waker;

use crate::kernel::process::ProcessId;

/// "Not scheduled / never".
pub(crate) const NEVER: u64 = u64::MAX;
/// "Held by a partition until it heals".
pub(crate) const HELD: u64 = u64::MAX - 1;

/// Identifies a connection in the slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Generations are kept to 24 bits so a key fits an event token.
const GENERATION_MASK: u32 = 0x00FF_FFFF;

/// What a network event does when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// Bytes (or a FIN) of `pipes[d]` arrive: wake its reader.
    Deliver(usize),
    /// A reset reaches end `s`: wake its reader and writer.
    Reset(usize),
}

impl ConnKey {
    /// Packs key and kind into an event token.
    pub(crate) fn token(self, kind: EventKind) -> u64 {
        let k = match kind {
            EventKind::Deliver(d) => d as u64,
            EventKind::Reset(s) => 2 + s as u64,
        };
        (self.index as u64) << 32 | ((self.generation & GENERATION_MASK) as u64) << 8 | k
    }

    /// Unpacks an event token.
    pub(crate) fn from_token(token: u64) -> (ConnKey, EventKind) {
        let key = ConnKey {
            index: (token >> 32) as u32,
            generation: ((token >> 8) as u32) & GENERATION_MASK,
        };
        let kind = match token & 0xFF {
            0 => EventKind::Deliver(0),
            1 => EventKind::Deliver(1),
            2 => EventKind::Reset(0),
            _ => EventKind::Reset(1),
        };
        (key, kind)
    }
}

/// A batch of bytes on the wire: bytes up to offset `end` arrive at `at`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    pub(crate) end: u64,
    pub(crate) at: u64,
}

/// One direction of a connection.
pub(crate) struct Pipe {
    /// Bytes written and not yet read (delivered or in flight).
    pub(crate) data: VecDeque<u8>,
    /// In-flight batches, in order.
    pub(crate) segs: VecDeque<Seg>,
    /// Total bytes ever written.
    pub(crate) written: u64,
    /// Offset up to which bytes have arrived.
    pub(crate) delivered: u64,
    /// Offset up to which bytes have been read.
    pub(crate) read: u64,
    /// Arrival time of the last batch (`0` before any).
    pub(crate) last_at: u64,
    /// Arrival time of the writer's FIN (`NEVER` if not shut down).
    pub(crate) fin_at: u64,
    /// Deadline of the pending wake event for the reader (`NEVER` if none).
    pub(crate) wake_at: u64,
    /// The waiting reader.
    pub(crate) reader: Option<Waker>,
    /// The writer waiting for space.
    pub(crate) writer: Option<Waker>,
    /// Permanent extra latency of this pair of processes.
    pub(crate) extra_ns: u64,
    /// Source and destination IPs (for partitions and clogs).
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
}

impl Pipe {
    pub(crate) fn new(src: IpAddr, dst: IpAddr, extra_ns: u64) -> Pipe {
        Pipe {
            data: VecDeque::new(),
            segs: VecDeque::new(),
            written: 0,
            delivered: 0,
            read: 0,
            last_at: 0,
            fin_at: NEVER,
            wake_at: NEVER,
            reader: None,
            writer: None,
            extra_ns,
            src,
            dst,
        }
    }

    /// Moves `delivered` past every batch that has arrived by `now`.
    #[inline]
    pub(crate) fn advance(&mut self, now: u64) {
        while let Some(seg) = self.segs.front() {
            if seg.at > now {
                break;
            }
            self.delivered = seg.end;
            self.segs.pop_front();
        }
    }

    /// When the reader next has something to see (an arrival or the FIN),
    /// or `NEVER`/`HELD` if nothing is scheduled.
    #[inline]
    pub(crate) fn next_arrival(&self) -> u64 {
        match self.segs.front() {
            Some(seg) => seg.at,
            None => self.fin_at,
        }
    }

    /// Whether the reader has seen every byte and the FIN has arrived.
    #[inline]
    pub(crate) fn at_eof(&self, now: u64) -> bool {
        self.fin_at <= now && self.read == self.written
    }

    /// Appends `bytes` arriving at `at` (already ordered after `last_at`).
    #[inline]
    pub(crate) fn push(&mut self, bytes: &[u8], at: u64) {
        self.data.extend(bytes.iter());
        self.written += bytes.len() as u64;
        match self.segs.back_mut() {
            Some(last) if last.at == at => last.end = self.written,
            _ => self.segs.push_back(Seg {
                end: self.written,
                at,
            }),
        }
        self.last_at = at;
    }

    /// Throws away everything unread (the reader is gone).
    pub(crate) fn discard(&mut self) {
        self.data.clear();
        self.segs.clear();
        self.read = self.written;
        self.delivered = self.written;
    }

    /// Arrival time of the last byte or FIN in flight (`0` if none; traffic
    /// held by a partition has none).
    pub(crate) fn last_arrival(&self) -> u64 {
        let last_seg = self
            .segs
            .iter()
            .rev()
            .map(|seg| seg.at)
            .find(|&at| at < HELD)
            .unwrap_or(0);
        let fin = if self.fin_at < HELD { self.fin_at } else { 0 };
        last_seg.max(fin)
    }

    /// Whether some of this pipe's traffic waits for a partition to heal.
    pub(crate) fn is_held(&self) -> bool {
        self.last_at == HELD || self.fin_at == HELD
    }
}

/// One side's view of a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct End {
    /// Its stream handle exists (or, for a server end, it waits in a backlog).
    pub(crate) open: bool,
    /// `shutdown()` was called: no more writes.
    pub(crate) shut: bool,
    /// When this side learns the connection was reset (`NEVER` if not).
    pub(crate) reset_at: u64,
}

impl End {
    const NEW: End = End {
        open: true,
        shut: false,
        reset_at: NEVER,
    };
}

/// A connection.
pub(crate) struct Conn {
    /// Public serial number (`ConnectionId`), unique within a seed.
    pub(crate) id: u64,
    pub(crate) pipes: [Pipe; 2],
    pub(crate) ends: [End; 2],
    /// `addrs[0]` is the client's address, `addrs[1]` the server's.
    pub(crate) addrs: [SocketAddr; 2],
    pub(crate) procs: [ProcessId; 2],
}

impl Conn {
    pub(crate) fn new(
        id: u64,
        addrs: [SocketAddr; 2],
        procs: [ProcessId; 2],
        extra_ns: u64,
    ) -> Conn {
        let (a, b) = (addrs[0].ip(), addrs[1].ip());
        Conn {
            id,
            pipes: [Pipe::new(a, b, extra_ns), Pipe::new(b, a, extra_ns)],
            ends: [End::NEW, End::NEW],
            addrs,
            procs,
        }
    }

    /// Whether side `s`'s peer can no longer receive: closed, or reset.
    #[inline]
    pub(crate) fn peer_gone(&self, s: usize) -> bool {
        let peer = &self.ends[1 - s];
        !peer.open || peer.reset_at != NEVER
    }
}

struct Slot {
    generation: u32,
    conn: Option<Conn>,
}

/// The slab of connections.
#[derive(Default)]
pub(crate) struct Conns {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Conns {
    pub(crate) fn insert(&mut self, conn: Conn) -> ConnKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.conn = Some(conn);
        ConnKey {
            index,
            generation: slot.generation,
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: ConnKey) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.conn.as_mut()
    }

    /// Removes a connection; the caller drops it after releasing borrows.
    pub(crate) fn remove(&mut self, key: ConnKey) -> Option<Conn> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        self.free.push(key.index);
        Some(conn)
    }

    /// Every live connection, in slot order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (ConnKey, &mut Conn)> {
        self.slots.iter_mut().enumerate().filter_map(|(i, s)| {
            let generation = s.generation;
            s.conn.as_mut().map(|c| {
                (
                    ConnKey {
                        index: i as u32,
                        generation,
                    },
                    c,
                )
            })
        })
    }
}

/// The error a reset end's reads get.
pub(crate) fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")
}

/// The error a reset or shut-down end's writes get.
pub(crate) fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "broken pipe")
}
