//! The simulated network: TCP-like streams between simulated processes,
//! and the faults injected into them.
//!
//! # Model
//! Every process (servers and workload clients alike) has an IP. A
//! connection is two independent directions (`connection.rs`): bytes
//! written on one end arrive at the other after a sampled one-way latency,
//! in order, never dropped or reordered while the connection is healthy.
//! Each direction has a bounded buffer (back-pressure), a FIN (`shutdown`,
//! or dropping the stream) and the two ends can each be reset. Faults act
//! around this reliable core, as in FoundationDB's Sim2: latency tails,
//! per-pair latency, refused/hanging connects, failing binds, clogs and
//! partitions (`faults.rs`), random closes and resets (half-open
//! connections included), bit flips, short reads and writes.
//! `docs/src/faults.md` lists every fault with its knob. (Clocks are their own
//! model, `model/clock/`.)
//!
//! # Types
//! - [`NetworkConfig`] (`config.rs`): quiet defaults and the chaos profile.
//! - [`SimTcpStream`] (`stream.rs`) and [`SimListener`] (`listener.rs`): the
//!   provider's stream and listener; `provider`: `bind` and `connect`.
//! - `NetState`: the per-seed state, `world.net`: connections, listeners,
//!   ports, the seed's sampled faults, clogs and partitions.
//! - `control`: the `SimControl` operations the network nemeses
//!   (`crate::nemesis`, one layer up) and tests use.
//!
//! # Determinism and cost
//! Every random decision is a world draw made at a deterministic point.
//! A fault whose knob is zero draws nothing and costs one branch; the
//! per-read/write faults are behind a single `io_faults` flag. Delivery
//! is lazy (see `connection.rs`): one write costs at most one event.

pub(crate) mod config;
mod connection;
mod control;
mod faults;
mod listener;
mod provider;
mod stream;

use crate::kernel::timeline::Mark;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Waker;

pub use config::{ChaosProfile, NetworkConfig, NetworkConfigError, NetworkFaults, OneIn, Range};

/// The network's fault families (swarm testing units, as the report names
/// them) and, for each, the fault counters it increments.
pub const FAULT_FAMILIES: [(&str, &[&str]); 9] = config::family::COUNTERS;
pub use control::{ClogDirection, ConnectionId, ConnectionInfo, KillMode, PartitionId};
pub use listener::SimListener;
pub use stream::SimTcpStream;

use crate::kernel::draw;
use crate::kernel::process::ProcessId;
use crate::model::world::World;
use connection::{Conn, ConnKey, Conns, EventKind, HELD, NEVER};
use faults::{Clogs, Partitions};
use listener::ListenerState;

/// First ephemeral port (IANA's dynamic range, 49152..=65535).
const EPHEMERAL_PORT_MIN: u16 = 49152;

/// The latency model, this seed's faults, clogs and partitions.
#[derive(Default)]
pub(crate) struct Links {
    base_ns: u64,
    jitter_ns: u64,
    pub(crate) buffer_bytes_max: usize,
    pub(crate) backlog_max: usize,
    /// This seed's faults (zeroed when chaos stops).
    pub(crate) faults: NetworkFaults,
    /// Whether any per-read/write fault is on.
    pub(crate) io_faults: bool,
    /// Permanent extra latency per unordered pair of IPs.
    pair_ns: BTreeMap<(IpAddr, IpAddr), u64>,
    pub(crate) clogs: Clogs,
    pub(crate) partitions: Partitions,
    /// Whether a connect across a partition fails (true) or hangs (false).
    partition_connect_fails: bool,
}

impl Links {
    /// When bytes written now from `src` to `dst` arrive.
    #[inline]
    pub(crate) fn arrival(
        &self,
        world: &World,
        now: u64,
        src: IpAddr,
        dst: IpAddr,
        extra_ns: u64,
    ) -> u64 {
        if self.partitions.blocks(src, dst) {
            return HELD;
        }
        // Saturating throughout: every valid configuration gives the same
        // arithmetic (and fingerprints) in debug and release builds.
        let mut latency = self.base_ns.saturating_add(extra_ns);
        if self.jitter_ns > 0 {
            latency = latency.saturating_add(draw::between(world, 0, self.jitter_ns));
        }
        if draw::bool(world, self.faults.latency_tail) {
            let tail_max = self.faults.latency_tail_ms_max.max(1);
            let tail = draw::between(world, 1, tail_max.saturating_mul(1_000_000));
            let on_system = world.is_system_ip(src) && world.is_system_ip(dst);
            world.note_hit("net.latency_tail", None, on_system, || {
                format!("{src} -> {dst}: +{:.3} ms", tail as f64 / 1e6)
            });
            latency = latency.saturating_add(tail);
        }
        let at = now.saturating_add(latency);
        at.max(self.clogs.until(src, dst))
    }

    /// The permanent extra latency between `a` and `b`, drawn the first
    /// time the pair talks.
    fn pair_extra_ns(&mut self, world: &World, a: IpAddr, b: IpAddr) -> u64 {
        if self.faults.pair_latency_ms_max == 0 || a == b {
            return self
                .pair_ns
                .get(&(a.min(b), a.max(b)))
                .copied()
                .unwrap_or(0);
        }
        let key = (a.min(b), a.max(b));
        if let Some(ns) = self.pair_ns.get(&key) {
            return *ns;
        }
        let ns = draw::between(
            world,
            0,
            self.faults.pair_latency_ms_max.saturating_mul(1_000_000),
        );
        self.pair_ns.insert(key, ns);
        if ns > 0 {
            let on_system = world.is_system_ip(a) && world.is_system_ip(b);
            world.note_hit("net.pair_latency", None, on_system, || {
                format!("{a} <-> {b}: +{:.3} ms one-way", ns as f64 / 1e6)
            });
        }
        ns
    }
}

/// The simulated network's per-seed state, owned by the world.
#[derive(Default)]
pub(crate) struct NetState {
    pub(crate) conns: Conns,
    pub(crate) links: Links,
    pub(crate) listeners: BTreeMap<SocketAddr, ListenerState>,
    /// Listener addresses and client ends' addresses.
    ports_in_use: BTreeSet<SocketAddr>,
    next_port: BTreeMap<IpAddr, u16>,
    next_conn_id: u64,
    next_listener_serial: u64,
}

impl NetState {
    /// A free ephemeral port on `ip`, marked in use.
    fn alloc_port(&mut self, ip: IpAddr) -> io::Result<u16> {
        let next = self.next_port.entry(ip).or_insert(EPHEMERAL_PORT_MIN);
        for _ in 0..=(u16::MAX - EPHEMERAL_PORT_MIN) {
            let port = *next;
            *next = if port == u16::MAX {
                EPHEMERAL_PORT_MIN
            } else {
                port + 1
            };
            if self.ports_in_use.insert(SocketAddr::new(ip, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("no ephemeral port left on {ip}"),
        ))
    }
}

/// Schedules a network event at `at`.
#[inline]
pub(crate) fn schedule(world: &World, at: u64, key: ConnKey, kind: EventKind) {
    world.schedule_model_event(at, key.token(kind));
}

/// Samples this seed's network parameters (called once per seed, before
/// any process starts).
pub(crate) fn init_seed(world: &World) {
    let config = &world.config.network;
    let faults = config::sample_faults(world, config);
    let partition_connect_fails = world.config.chaos
        && world.fault_family_on(config::family::PARTITION)
        && draw::bool(world, moonpool_core::Ratio::new(1, 2));
    {
        let mut net = world.net.borrow_mut();
        let links = &mut net.links;
        links.base_ns = config.latency_base_us.saturating_mul(1_000);
        links.jitter_ns = config.latency_jitter_us.saturating_mul(1_000);
        links.buffer_bytes_max = config.send_buffer_bytes_max.max(1);
        links.backlog_max = config.backlog_max.max(1);
        links.io_faults = faults.any_io_fault();
        links.faults = faults;
        links.partition_connect_fails = partition_connect_fails;
    }
    world.on_quiesce(quiesce);
}

/// Chaos is over: no new faults, every partition healed, every clog ended.
fn quiesce(world: &World) {
    let healed = {
        let mut net = world.net.borrow_mut();
        net.links.faults = NetworkFaults::NONE;
        net.links.io_faults = false;
        net.links.clogs.clear();
        net.links.partitions.heal_all()
    };
    if healed > 0 {
        release_held(world);
        world.note("net.heal", None, || {
            format!("chaos over: {healed} partition(s) healed")
        });
    }
}

/// Sends traffic held by partitions that no longer cut its path.
pub(crate) fn release_held(world: &World) {
    let now = world.now_ns();
    let mut wakes: Vec<(u64, ConnKey, usize)> = Vec::new();
    {
        let mut net = world.net.borrow_mut();
        let NetState { conns, links, .. } = &mut *net;
        for (key, conn) in conns.iter_mut() {
            for (d, pipe) in conn.pipes.iter_mut().enumerate() {
                if !pipe.is_held() || links.partitions.blocks(pipe.src, pipe.dst) {
                    continue;
                }
                let prev = pipe.segs.iter().map(|s| s.at).filter(|&at| at < HELD).max();
                let at = links
                    .arrival(world, now, pipe.src, pipe.dst, pipe.extra_ns)
                    .max(prev.unwrap_or(0));
                for seg in pipe.segs.iter_mut().filter(|s| s.at == HELD) {
                    seg.at = at;
                }
                if pipe.last_at == HELD {
                    pipe.last_at = at;
                }
                if pipe.fin_at == HELD {
                    pipe.fin_at = at;
                }
                if pipe.reader.is_some() {
                    let next = pipe.next_arrival();
                    pipe.wake_at = next;
                    wakes.push((next, key, d));
                }
            }
        }
    }
    for (at, key, d) in wakes {
        schedule(world, at, key, EventKind::Deliver(d));
    }
}

/// A network event fired: wake whoever it concerns.
pub(crate) fn on_event(world: &World, token: u64) {
    let (key, kind) = ConnKey::from_token(token);
    let now = world.now_ns();
    let mut wakes = Vec::new();
    let reader = {
        let mut net = world.net.borrow_mut();
        let NetState { conns, links, .. } = &mut *net;
        let Some(conn) = conns.get_mut(key) else {
            return;
        };
        match kind {
            EventKind::Deliver(d) => {
                let pipe = &mut conn.pipes[d];
                if pipe.wake_at <= now {
                    pipe.wake_at = NEVER;
                }
                pipe.reader.take()
            }
            EventKind::Reset(s) => {
                if conn.ends[s].reset_at <= now {
                    learn_reset(world, links, key, conn, s, &mut wakes);
                }
                None
            }
        }
    };
    if let Some(w) = reader {
        w.wake();
    }
    for w in wakes {
        w.wake();
    }
}

/// Makes end `s` of `conn` learn of a reset at `at` (now, or later: an RST
/// on its way) and wakes its waiting reader and writer then (now, into
/// `wakes`, or by an event).
///
/// # The reset rule
/// An RST on its way never overtakes what was sent before it: a reset
/// that reaches end `s` later than now arrives at least one nanosecond
/// after the last byte (or FIN) already in flight towards `s`, so a
/// reader that keeps reading gets every byte its peer wrote before the
/// reset and then `ConnectionReset`. Traffic held by a partition is lost
/// with the connection. A reset "now" (the end's own process died, or the
/// end itself was cut) takes effect at once.
pub(crate) fn reset_end(
    world: &World,
    links: &Links,
    key: ConnKey,
    conn: &mut Conn,
    s: usize,
    at: u64,
    wakes: &mut Vec<Waker>,
) {
    let now = world.now_ns();
    let at = if at > now {
        at.max(conn.pipes[1 - s].last_arrival().saturating_add(1))
    } else {
        at
    };
    let end = &mut conn.ends[s];
    if end.reset_at <= at {
        return;
    }
    end.reset_at = at;
    world.mark("conn.reset", Some(conn.procs[s]), || Mark {
        detail: format!(
            "connection {}: {} learns of a reset",
            conn.id, conn.addrs[s]
        ),
        pair: Some(conn.id),
        peers: vec![world.entry_name(Some(conn.procs[1 - s]))],
        ..Mark::default()
    });
    if at <= now {
        learn_reset(world, links, key, conn, s, wakes);
    } else {
        schedule(world, at, key, EventKind::Reset(s));
    }
}

/// End `s` has learned of its reset: what it had not read is gone, and
/// whoever waits on it is woken to see the error. A peer writer blocked on
/// a full buffer stays blocked, as with real TCP: its unacknowledged bytes
/// are retransmitted and answered by an RST one round trip later, which
/// fails it; the peer learns nothing sooner.
fn learn_reset(
    world: &World,
    links: &Links,
    key: ConnKey,
    conn: &mut Conn,
    s: usize,
    wakes: &mut Vec<Waker>,
) {
    conn.pipes[1 - s].discard();
    wakes.extend(conn.pipes[1 - s].reader.take());
    wakes.extend(conn.pipes[s].writer.take());
    if conn.pipes[1 - s].writer.is_some() && conn.ends[1 - s].reset_at == NEVER {
        let at = round_trip(world, links, conn, 1 - s);
        reset_end(world, links, key, conn, 1 - s, at, wakes);
    }
}

/// When an RST answering what side `s` sends now comes back: one way
/// there, one way back.
pub(crate) fn round_trip(world: &World, links: &Links, conn: &Conn, s: usize) -> u64 {
    let now = world.now_ns();
    let there = one_way(world, links, conn, s);
    let back = one_way(world, links, conn, 1 - s);
    there.saturating_add(back.saturating_sub(now))
}

/// One-way latency from side `s` of `conn` to the other side (for RSTs).
pub(crate) fn one_way(world: &World, links: &Links, conn: &Conn, s: usize) -> u64 {
    let pipe = &conn.pipes[s];
    let now = world.now_ns();
    let mut latency = links.base_ns.saturating_add(pipe.extra_ns);
    if links.jitter_ns > 0 {
        latency = latency.saturating_add(draw::between(world, 0, links.jitter_ns));
    }
    now.saturating_add(latency)
}

/// Resets the connections of a killed process, so its peers see errors,
/// and closes its listeners.
pub(crate) fn process_killed(world: &World, process: ProcessId) {
    let now = world.now_ns();
    let mut wakes = Vec::new();
    let mut dropped: Vec<ListenerState> = Vec::new();
    {
        let mut net = world.net.borrow_mut();
        let addrs: Vec<SocketAddr> = net
            .listeners
            .iter()
            .filter(|(_, l)| l.process == process)
            .map(|(a, _)| *a)
            .collect();
        for addr in addrs {
            if let Some(l) = net.listeners.remove(&addr) {
                net.ports_in_use.remove(&addr);
                dropped.push(l);
            }
        }
        let NetState { conns, links, .. } = &mut *net;
        for (key, conn) in conns.iter_mut() {
            for s in 0..2 {
                if conn.procs[s] != process {
                    continue;
                }
                // The killed side is gone at once; its OS resets the peer,
                // which learns one latency later.
                reset_end(world, links, key, conn, s, now, &mut wakes);
                if conn.ends[1 - s].open {
                    let at = one_way(world, links, conn, s);
                    reset_end(world, links, key, conn, 1 - s, at, &mut wakes);
                }
            }
        }
    }
    assert!(
        world
            .net
            .borrow()
            .listeners
            .values()
            .all(|l| l.process != process),
        "a killed process keeps no listener"
    );
    for l in &mut dropped {
        listener::abandon_backlog(world, l);
    }
    drop(dropped);
    for w in wakes {
        w.wake();
    }
}

/// Marks a process dead for the purpose of stream drops (its kill resets
/// its connections instead of closing them gracefully).
pub(crate) fn process_is_dead(world: &World, process: ProcessId) -> bool {
    world
        .kernel
        .processes
        .try_borrow()
        .ok()
        .is_some_and(|r| r.name(process).is_some() && !r.is_alive(process))
}
