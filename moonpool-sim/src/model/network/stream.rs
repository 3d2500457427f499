//! [`SimTcpStream`]: one end of a simulated connection, with tokio's
//! `AsyncRead` and `AsyncWrite`.
//!
//! # Reads
//! Deliver what has arrived (all of it, or with short reads on, a random
//! prefix), flipping a bit now and then when bit flips are on; EOF once
//! the peer's FIN has arrived and everything was read; `ConnectionReset`
//! once this end has learned of a reset. Otherwise wait, with one event
//! scheduled for the next arrival.
//!
//! # Writes
//! Accept as much as fits the direction's buffer (or, with short writes
//! on, a random prefix) and stamp it with its arrival time; return
//! `Pending` when the buffer is full. A write to a peer that is gone
//! fills the buffer as usual (nobody reads it), and the peer's RST resets
//! this end one round trip later: from then on writes fail with
//! `BrokenPipe`, and a writer blocked on the full buffer is woken to that
//! error. `BrokenPipe` after `shutdown` or a reset.
//!
//! # Close
//! `shutdown` sends a FIN after the buffered bytes. Dropping the stream
//! also sends a FIN (unless its process was killed: the kill resets it),
//! discards unread bytes, and frees the connection once both ends are gone.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use moonpool_core::NetStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connection::{ConnKey, EventKind, HELD, NEVER, broken_pipe, reset_error};
use super::control::{Cut, cut};
use super::{NetState, one_way, process_is_dead, reset_end, round_trip, schedule};
use crate::kernel::draw;
use crate::kernel::process::ProcessId;
use crate::model::world::World;

/// A simulated TCP stream (one end of a connection).
pub struct SimTcpStream {
    world: Rc<World>,
    key: ConnKey,
    side: usize,
    local: SocketAddr,
    peer: SocketAddr,
    process: ProcessId,
}

impl std::fmt::Debug for SimTcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTcpStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

/// Wakers collected under a borrow, woken after it is released.
#[derive(Default)]
pub(crate) struct Wakes {
    one: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakes {
    fn wake(self) {
        if let Some(w) = self.one {
            w.wake();
        }
        for w in self.more {
            w.wake();
        }
    }
}

/// Stores `waker` in `slot` unless it already holds an equivalent one.
#[inline]
fn store(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl SimTcpStream {
    pub(crate) fn new(
        world: Rc<World>,
        key: ConnKey,
        side: usize,
        local: SocketAddr,
        peer: SocketAddr,
        process: ProcessId,
    ) -> SimTcpStream {
        SimTcpStream {
            world,
            key,
            side,
            local,
            peer,
            process,
        }
    }

    /// The connection's id, as [`SimControl::connections`](crate::SimControl::connections) lists it.
    pub fn connection_id(&self) -> Option<super::ConnectionId> {
        let mut net = self.world.net.borrow_mut();
        net.conns
            .get_mut(self.key)
            .map(|c| super::ConnectionId(c.id))
    }

    fn read_inner(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        wakes: &mut Wakes,
    ) -> Poll<io::Result<()>> {
        let world = &*self.world;
        let now = world.now_ns();
        let s = self.side;
        let mut net = world.net.borrow_mut();
        let NetState { conns, links, .. } = &mut *net;
        let Some(conn) = conns.get_mut(self.key) else {
            return Poll::Ready(Err(reset_error()));
        };
        if conn.ends[s].reset_at <= now {
            return Poll::Ready(Err(reset_error()));
        }
        if links.io_faults && draw::bool(world, links.faults.random_close) {
            let how = Cut::random(world);
            if cut(
                world,
                links,
                self.key,
                conn,
                s,
                how,
                &mut wakes.more,
                "net.random_close",
            ) {
                return Poll::Ready(Err(reset_error()));
            }
        }
        let pipe = &mut conn.pipes[1 - s];
        pipe.advance(now);
        let available = (pipe.delivered - pipe.read) as usize;
        if available > 0 {
            let room = buf.remaining();
            if room == 0 {
                return Poll::Ready(Ok(()));
            }
            let mut n = available.min(room);
            if links.io_faults && n > 1 && draw::bool(world, links.faults.short_read) {
                let full = n;
                n = draw::between(world, 1, n as u64 - 1) as usize;
                world.note("net.short_read", Some(self.process), || {
                    format!("read {n} of {full} bytes on {}", self.local)
                });
            }
            let (a, b) = pipe.data.as_slices();
            if n <= a.len() {
                buf.put_slice(&a[..n]);
            } else {
                buf.put_slice(a);
                buf.put_slice(&b[..n - a.len()]);
            }
            if links.io_faults && draw::bool(world, links.faults.bit_flip) {
                let byte = draw::below(world, n as u64) as usize;
                let bit = draw::below(world, 8) as u32;
                let filled = buf.filled_mut();
                let at = filled.len() - n + byte;
                filled[at] ^= 1 << bit;
                world.note("net.bit_flip", Some(self.process), || {
                    format!(
                        "bit {bit} of byte {byte} of a {n}-byte read on {}",
                        self.local
                    )
                });
            }
            pipe.data.drain(..n);
            pipe.read += n as u64;
            pipe.reader = None;
            if pipe.writer.is_some() && pipe.data.len() < links.buffer_bytes_max {
                wakes.one = pipe.writer.take();
            }
            return Poll::Ready(Ok(()));
        }
        if pipe.at_eof(now) {
            return Poll::Ready(Ok(()));
        }
        store(&mut pipe.reader, cx.waker());
        let next = pipe.next_arrival();
        if next < HELD && (pipe.wake_at == NEVER || pipe.wake_at <= now || pipe.wake_at > next) {
            pipe.wake_at = next;
            schedule(world, next, self.key, EventKind::Deliver(1 - s));
        }
        Poll::Pending
    }

    fn write_inner(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        wakes: &mut Wakes,
    ) -> Poll<io::Result<usize>> {
        let world = &*self.world;
        let now = world.now_ns();
        let s = self.side;
        let mut net = world.net.borrow_mut();
        let NetState { conns, links, .. } = &mut *net;
        let Some(conn) = conns.get_mut(self.key) else {
            return Poll::Ready(Err(broken_pipe()));
        };
        if conn.ends[s].reset_at <= now || conn.ends[s].shut {
            return Poll::Ready(Err(broken_pipe()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if links.io_faults && draw::bool(world, links.faults.random_close) {
            let how = Cut::random(world);
            if cut(
                world,
                links,
                self.key,
                conn,
                s,
                how,
                &mut wakes.more,
                "net.random_close",
            ) {
                return Poll::Ready(Err(broken_pipe()));
            }
        }
        if conn.peer_gone(s) && conn.ends[s].reset_at == NEVER {
            // Nobody will read these bytes; the peer's RST answers them a
            // round trip later, and fails this end's writes from then on.
            // Until then they fill the buffer like any other (a writer that
            // fills it blocks until the reset), as with real TCP.
            let at = round_trip(world, links, conn, s);
            reset_end(world, links, self.key, conn, s, at, &mut wakes.more);
        }
        let pipe = &mut conn.pipes[s];
        let space = links.buffer_bytes_max.saturating_sub(pipe.data.len());
        if space == 0 {
            store(&mut pipe.writer, cx.waker());
            return Poll::Pending;
        }
        let mut n = space.min(buf.len());
        if links.io_faults && n > 1 && draw::bool(world, links.faults.short_write) {
            let full = n;
            n = draw::between(world, 1, n as u64 - 1) as usize;
            world.note("net.short_write", Some(self.process), || {
                format!("wrote {n} of {full} bytes on {}", self.local)
            });
        }
        let at = links
            .arrival(world, now, pipe.src, pipe.dst, pipe.extra_ns)
            .max(pipe.last_at);
        pipe.push(&buf[..n], at);
        if pipe.reader.is_some() && at < HELD && (pipe.wake_at == NEVER || pipe.wake_at <= now) {
            let next = pipe.next_arrival();
            pipe.wake_at = next;
            schedule(world, next, self.key, EventKind::Deliver(s));
        }
        Poll::Ready(Ok(n))
    }

    /// Sends this end's FIN after its buffered bytes (once).
    fn send_fin(&self, wakes: &mut Wakes) {
        let world = &*self.world;
        let now = world.now_ns();
        let s = self.side;
        let mut net = world.net.borrow_mut();
        let NetState { conns, links, .. } = &mut *net;
        let Some(conn) = conns.get_mut(self.key) else {
            return;
        };
        if conn.ends[s].shut {
            return;
        }
        conn.ends[s].shut = true;
        if conn.ends[s].reset_at != NEVER || conn.peer_gone(s) {
            return;
        }
        let pipe = &mut conn.pipes[s];
        pipe.fin_at = links
            .arrival(world, now, pipe.src, pipe.dst, pipe.extra_ns)
            .max(pipe.last_at);
        if pipe.reader.is_some()
            && pipe.fin_at < HELD
            && (pipe.wake_at == NEVER || pipe.wake_at <= now)
        {
            let next = pipe.next_arrival();
            pipe.wake_at = next;
            schedule(world, next, self.key, EventKind::Deliver(s));
        }
        // A writer of ours blocked on space stays blocked: it errors on retry.
        wakes.more.extend(pipe.writer.take());
    }
}

impl AsyncRead for SimTcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut wakes = Wakes::default();
        let poll = self.read_inner(cx, buf, &mut wakes);
        wakes.wake();
        poll
    }
}

impl AsyncWrite for SimTcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut wakes = Wakes::default();
        let poll = self.write_inner(cx, buf, &mut wakes);
        wakes.wake();
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // No Nagle, no user-space buffer: written bytes are already on their way.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let reset = {
            let now = self.world.now_ns();
            let mut net = self.world.net.borrow_mut();
            net.conns
                .get_mut(self.key)
                .is_none_or(|c| c.ends[self.side].reset_at <= now)
        };
        if reset {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection was reset",
            )));
        }
        let mut wakes = Wakes::default();
        self.send_fin(&mut wakes);
        wakes.wake();
        Poll::Ready(Ok(()))
    }
}

impl NetStream for SimTcpStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for SimTcpStream {
    fn drop(&mut self) {
        let killed = process_is_dead(&self.world, self.process);
        let mut wakes = Wakes::default();
        if !killed {
            self.send_fin(&mut wakes);
        }
        let gone = {
            let Ok(mut net) = self.world.net.try_borrow_mut() else {
                return;
            };
            let s = self.side;
            let NetState { conns, links, .. } = &mut *net;
            let Some(conn) = conns.get_mut(self.key) else {
                return;
            };
            conn.ends[s].open = false;
            // Unread bytes are thrown away and, as a close with unread data
            // does, answered with an RST: the peer learns of the reset one
            // latency later (a writer of its blocked on them stays blocked
            // until then).
            let unread = !conn.pipes[1 - s].data.is_empty();
            conn.pipes[1 - s].discard();
            if unread && !killed && conn.ends[1 - s].open && conn.ends[1 - s].reset_at == NEVER {
                let at = one_way(&self.world, links, conn, s);
                reset_end(
                    &self.world,
                    links,
                    self.key,
                    conn,
                    1 - s,
                    at,
                    &mut wakes.more,
                );
            }
            if conn.ends[1 - s].open {
                None
            } else {
                let conn = net.conns.remove(self.key);
                if let Some(c) = &conn {
                    net.ports_in_use.remove(&c.addrs[0]);
                }
                conn
            }
        };
        drop(gone);
        wakes.wake();
    }
}
