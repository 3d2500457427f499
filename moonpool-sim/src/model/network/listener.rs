//! Listeners: a bound address with a backlog of arrived connections.
//!
//! # Model
//! A connect's SYN reaches the listener one latency after `connect` is
//! called: the connection is then created and queued in the backlog, and
//! the client's connect completes one latency later (SYN-ACK). `accept`
//! takes connections in arrival order; any number may wait (up to
//! `backlog_max`, beyond which connects are refused), none is replaced.
//! Dropping a listener (or killing its process) frees its port and resets
//! the clients of connections never accepted.

use crate::kernel::timeline::Mark;
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::task::{Poll, Waker};

use moonpool_core::Listener;

use super::connection::{Conn, ConnKey};
use super::stream::SimTcpStream;
use super::{NetState, one_way, reset_end};
use crate::kernel::draw;
use crate::kernel::process::ProcessId;
use crate::model::world::World;

/// A bound listener's state, in `NetState::listeners`.
pub(crate) struct ListenerState {
    pub(crate) process: ProcessId,
    /// Distinguishes this listener from a later one bound to the same address.
    serial: u64,
    backlog: VecDeque<ConnKey>,
    acceptor: Option<Waker>,
}

impl ListenerState {
    pub(crate) fn new(process: ProcessId, serial: u64) -> ListenerState {
        ListenerState {
            process,
            serial,
            backlog: VecDeque::new(),
            acceptor: None,
        }
    }
}

/// Why a SYN found no taker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The process is up but refuses (no listener, full backlog, or a fault).
    Refused,
    /// No live process has that address.
    Unreachable,
}

/// A SYN from `client` (at `src`) reaches `target`: queue a connection in
/// the listener's backlog and return the client's end, or say why not.
pub(crate) fn arrive(
    world: &Rc<World>,
    client: ProcessId,
    src: IpAddr,
    target: SocketAddr,
    extra_ns: u64,
) -> io::Result<Result<SimTcpStream, Refusal>> {
    let target_process = {
        let table = world.process_table.borrow();
        let found = table.by_ip(target.ip());
        debug_assert!(
            found.is_none_or(|p| table.ip(p) == Some(target.ip())),
            "the IP index sent a connect for {target} to process {found:?}"
        );
        found
    };
    let target_alive = target_process.is_some_and(|p| !world.is_dead(p));
    let (stream, acceptor) = {
        let mut net = world.net.borrow_mut();
        let refuse_p = net.links.faults.connect_refuse;
        let backlog_max = net.links.backlog_max;
        let Some(listener) = net.listeners.get(&target) else {
            return Ok(Err(if target_alive {
                Refusal::Refused
            } else {
                Refusal::Unreachable
            }));
        };
        let server = listener.process;
        if listener.backlog.len() >= backlog_max {
            return Ok(Err(Refusal::Refused));
        }
        if draw::bool(world, refuse_p) {
            world.note("net.connect_refused", Some(client), || {
                format!("connect {src} -> {target} refused")
            });
            return Ok(Err(Refusal::Refused));
        }
        let port = net.alloc_port(src)?;
        let local = SocketAddr::new(src, port);
        let id = net.next_conn_id;
        net.next_conn_id += 1;
        let conn = Conn::new(id, [local, target], [client, server], extra_ns);
        world.mark("conn.open", Some(client), || Mark {
            detail: format!("connection {id}: {local} -> {target}"),
            pair: Some(id),
            peers: vec![world.entry_name(Some(server))],
            ..Mark::default()
        });
        let key = net.conns.insert(conn);
        let Some(listener) = net.listeners.get_mut(&target) else {
            unreachable!("looked up above, under the same borrow")
        };
        listener.backlog.push_back(key);
        let acceptor = listener.acceptor.take();
        (
            SimTcpStream::new(Rc::clone(world), key, 0, local, target, client),
            acceptor,
        )
    };
    if let Some(w) = acceptor {
        w.wake();
    }
    Ok(Ok(stream))
}

/// Resets the clients of connections left in a dropped listener's backlog.
pub(crate) fn abandon_backlog(world: &World, listener: &mut ListenerState) {
    let mut wakes = Vec::new();
    let mut freed = Vec::new();
    let mut gone = Vec::new();
    {
        let mut net = world.net.borrow_mut();
        let NetState { conns, links, .. } = &mut *net;
        for key in listener.backlog.drain(..) {
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            conn.ends[1].open = false;
            let at = one_way(world, links, conn, 1);
            reset_end(world, links, key, conn, 0, at, &mut wakes);
            if !conn.ends[0].open {
                freed.push(key);
            }
        }
        for key in freed {
            if let Some(conn) = net.conns.remove(key) {
                net.ports_in_use.remove(&conn.addrs[0]);
                // Dropped below, outside the borrow.
                gone.push(conn);
            }
        }
    }
    drop(gone);
    let waker = listener.acceptor.take();
    drop(waker);
    for w in wakes {
        w.wake();
    }
}

/// A simulated listening socket. Dropping it closes it.
pub struct SimListener {
    world: Rc<World>,
    addr: SocketAddr,
    serial: u64,
}

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimListener")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimListener {
    pub(crate) fn new(world: Rc<World>, addr: SocketAddr, serial: u64) -> SimListener {
        SimListener {
            world,
            addr,
            serial,
        }
    }

    fn poll_accept(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<(SimTcpStream, SocketAddr)>> {
        let mut net = self.world.net.borrow_mut();
        let net = &mut *net;
        let Some(listener) = net
            .listeners
            .get_mut(&self.addr)
            .filter(|l| l.serial == self.serial)
        else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "listener closed (its process was killed)",
            )));
        };
        while let Some(key) = listener.backlog.pop_front() {
            let Some(conn) = net.conns.get_mut(key) else {
                continue;
            };
            let peer = conn.addrs[0];
            let stream = SimTcpStream::new(
                Rc::clone(&self.world),
                key,
                1,
                self.addr,
                peer,
                listener.process,
            );
            return Poll::Ready(Ok((stream, peer)));
        }
        match &listener.acceptor {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => listener.acceptor = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Listener for SimListener {
    type Stream = SimTcpStream;

    async fn accept(&self) -> io::Result<(SimTcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let removed = {
            let Ok(mut net) = self.world.net.try_borrow_mut() else {
                return;
            };
            match net.listeners.get(&self.addr) {
                Some(l) if l.serial == self.serial => {
                    net.ports_in_use.remove(&self.addr);
                    net.listeners.remove(&self.addr)
                }
                _ => None,
            }
        };
        if let Some(mut l) = removed {
            abandon_backlog(&self.world, &mut l);
        }
    }
}
