//! Network operations of [`SimControl`]: what nemeses and tests do to the
//! simulated network (clog, partition, heal, kill connections).
//!
//! Every operation is counted (`net.clog`, `net.partition`, `net.heal`,
//! `net.connection_kill`) and appears in the chaos timeline. They work
//! whether or not chaos is on: the nemeses decide when to call them.

use crate::kernel::timeline::Mark;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use moonpool_core::Ratio;

use super::connection::{Conn, ConnKey};
use super::{Links, one_way, release_held, reset_end};
use crate::kernel::draw;
use crate::kernel::process::ProcessId;
use crate::model::control::SimControl;
use crate::model::process::ProcessKind;
use crate::model::world::World;

/// Identifies a connection, unique within a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub(crate) u64);

/// A live connection, as [`SimControl::connections`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// The connecting end's address.
    pub client: SocketAddr,
    /// The accepting end's address.
    pub server: SocketAddr,
    /// The connecting end's process.
    pub client_process: ProcessId,
    /// The accepting end's process.
    pub server_process: ProcessId,
}

/// How [`SimControl::kill_connection`] breaks a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillMode {
    /// Both ends see a reset: the client at once, the server one latency later.
    Both,
    /// Only the client end is reset; the server end is half-open and learns
    /// when it writes (the client's RST comes back).
    ClientOnly,
    /// Only the server end is reset; the client end is half-open.
    ServerOnly,
}

/// Which direction of an interface a clog stalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClogDirection {
    /// What the process sends.
    Send,
    /// What the process receives.
    Receive,
    /// Both.
    Both,
}

/// Identifies a partition, to heal it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId(pub(crate) u64);

/// Who is reset by [`cut`], relative to the side that triggered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// This side at once, the peer one latency later.
    Both,
    /// This side only (the peer is half-open).
    Mine,
    /// The peer only (this side is half-open).
    Peer,
}

impl Cut {
    /// A third each, as in FDB's random connection failures.
    pub(crate) fn random(world: &World) -> Cut {
        match draw::below(world, 3) {
            0 => Cut::Both,
            1 => Cut::Mine,
            _ => Cut::Peer,
        }
    }
}

/// Breaks `conn` as `how` says, relative to side `s`, counting it under
/// `kind`. Returns whether side `s` is reset now.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cut(
    world: &World,
    links: &Links,
    key: ConnKey,
    conn: &mut Conn,
    s: usize,
    how: Cut,
    wakes: &mut Vec<std::task::Waker>,
    kind: &'static str,
) -> bool {
    let now = world.now_ns();
    let (first, both) = match how {
        Cut::Both => (s, true),
        Cut::Mine => (s, false),
        Cut::Peer => (1 - s, false),
    };
    reset_end(world, links, key, conn, first, now, wakes);
    if both {
        let at = one_way(world, links, conn, first);
        reset_end(world, links, key, conn, 1 - first, at, wakes);
    }
    let (a, b) = (conn.addrs[s], conn.addrs[1 - s]);
    let on_system = conn.procs.iter().all(|&p| world.is_system_process(p));
    world.note_hit(kind, Some(conn.procs[s]), on_system, || {
        let who = match how {
            Cut::Both => "both ends reset",
            Cut::Mine => "this end reset, peer half-open",
            Cut::Peer => "peer reset, this end half-open",
        };
        format!("{a} <-> {b}: {who}")
    });
    first == s
}

impl SimControl {
    /// The IPs of every server and workload process, in process order.
    pub fn process_ips(&self) -> Vec<IpAddr> {
        self.processes()
            .into_iter()
            .filter(|(_, p)| p.kind != ProcessKind::System)
            .map(|(_, p)| p.ip)
            .collect()
    }

    /// The IPs of the system under test
    /// ([`system_processes`](Self::system_processes)), in process order:
    /// what the network nemeses clog and partition.
    pub fn system_ips(&self) -> Vec<IpAddr> {
        self.system_processes()
            .into_iter()
            .map(|(_, p)| p.ip)
            .collect()
    }

    /// Live connections, in creation order of their slots.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut net = self.world.net.borrow_mut();
        let mut out: Vec<ConnectionInfo> = net
            .conns
            .iter_mut()
            .filter(|(_, c)| c.ends.iter().all(|e| e.open && e.reset_at == u64::MAX))
            .map(|(_, c)| ConnectionInfo {
                id: ConnectionId(c.id),
                client: c.addrs[0],
                server: c.addrs[1],
                client_process: c.procs[0],
                server_process: c.procs[1],
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }

    /// Breaks connection `id`; false if it does not exist any more.
    pub fn kill_connection(&self, id: ConnectionId, mode: KillMode) -> bool {
        let world = &*self.world;
        let mut wakes = Vec::new();
        let found = {
            let mut net = world.net.borrow_mut();
            let super::NetState { conns, links, .. } = &mut *net;
            match conns.iter_mut().find(|(_, c)| c.id == id.0) {
                Some((key, conn)) => {
                    let how = match mode {
                        KillMode::Both => Cut::Both,
                        KillMode::ClientOnly => Cut::Mine,
                        KillMode::ServerOnly => Cut::Peer,
                    };
                    cut(
                        world,
                        links,
                        key,
                        conn,
                        0,
                        how,
                        &mut wakes,
                        "net.connection_kill",
                    );
                    true
                }
                None => false,
            }
        };
        for w in wakes {
            w.wake();
        }
        found
    }

    /// Delays everything `from` sends to `to` until `duration` from now
    /// (delays, never drops).
    pub fn clog_pair(&self, from: IpAddr, to: IpAddr, duration: Duration) {
        let until = self.deadline(duration);
        self.world
            .net
            .borrow_mut()
            .links
            .clogs
            .clog_pair(from, to, until);
        let on_system = self.world.is_system_ip(from) && self.world.is_system_ip(to);
        let (clogged, other) = {
            let table = self.world.process_table.borrow();
            (table.by_ip(from), table.by_ip(to))
        };
        self.world
            .note_hit_mark("net.clog", clogged, on_system, || Mark {
                detail: format!("pair {from} -> {to} clogged for {duration:?}"),
                end: Some(Duration::from_nanos(until)),
                peers: vec![self.world.entry_name(other)],
                ..Mark::default()
            });
    }

    /// Delays what `ip` sends and/or receives until `duration` from now.
    pub fn clog_interface(&self, ip: IpAddr, direction: ClogDirection, duration: Duration) {
        let until = self.deadline(duration);
        let (send, recv) = match direction {
            ClogDirection::Send => (true, false),
            ClogDirection::Receive => (false, true),
            ClogDirection::Both => (true, true),
        };
        self.world
            .net
            .borrow_mut()
            .links
            .clogs
            .clog_interface(ip, send, recv, until);
        let clogged = self.world.process_table.borrow().by_ip(ip);
        let on_system = self.world.is_system_ip(ip);
        self.world
            .note_hit_mark("net.clog", clogged, on_system, || Mark {
                detail: format!("interface {ip} clogged ({direction:?}) for {duration:?}"),
                end: Some(Duration::from_nanos(until)),
                ..Mark::default()
            });
    }

    /// Cuts every direction between the processes at IPs `a` and those at
    /// IPs `b`, until healed.
    pub fn partition(&self, a: &[IpAddr], b: &[IpAddr]) -> PartitionId {
        self.add_partition(a, b, true)
    }

    /// Cuts traffic from the processes at IPs `from` to those at IPs `to`
    /// (not the reverse), until healed.
    pub fn partition_one_way(&self, from: &[IpAddr], to: &[IpAddr]) -> PartitionId {
        self.add_partition(from, to, false)
    }

    fn add_partition(&self, a: &[IpAddr], b: &[IpAddr], symmetric: bool) -> PartitionId {
        let id = self
            .world
            .net
            .borrow_mut()
            .links
            .partitions
            .add(a, b, symmetric);
        let on_system = a.iter().chain(b).all(|&ip| self.world.is_system_ip(ip));
        self.world
            .note_hit_mark("net.partition", None, on_system, || {
                let arrow = if symmetric { "<-/->" } else { "-/->" };
                let table = self.world.process_table.borrow();
                let names = a
                    .iter()
                    .chain(b)
                    .map(|ip| self.world.entry_name(table.by_ip(*ip)))
                    .collect();
                Mark {
                    detail: format!("partition {id}: {a:?} {arrow} {b:?}"),
                    pair: Some(id),
                    peers: names,
                    ..Mark::default()
                }
            });
        PartitionId(id)
    }

    /// Heals a partition; held traffic leaves one latency later. False if
    /// it was already healed.
    pub fn heal(&self, id: PartitionId) -> bool {
        let healed = self.world.net.borrow_mut().links.partitions.heal(id.0);
        if healed {
            release_held(&self.world);
            self.world.note_mark("net.heal", None, || Mark {
                detail: format!("partition {} healed", id.0),
                pair: Some(id.0),
                ..Mark::default()
            });
        }
        healed
    }

    /// Heals every partition and ends every clog.
    pub fn heal_all(&self) {
        let ids = self.world.net.borrow().links.partitions.ids();
        for id in ids {
            self.heal(PartitionId(id));
        }
        self.world.net.borrow_mut().links.clogs.clear();
    }

    fn deadline(&self, duration: Duration) -> u64 {
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.world.now_ns().saturating_add(ns)
    }

    /// A probability draw from the seed's generator, for nemeses.
    pub(crate) fn draw_bool(&self, p: Ratio) -> bool {
        draw::bool(&self.world, p)
    }
}
