//! Clogs and partitions: the two ways the network stalls traffic between
//! processes without breaking connections.
//!
//! # Model
//! - A **clog** delays, never drops: bytes sent from `src` to `dst` while a
//!   clog covers that direction arrive no earlier than the clog's end. A
//!   clog covers a pair (`src → dst`), or an interface (everything a process
//!   sends, receives, or both). Clogs have a known end, so a write's
//!   arrival time is computed when it is written.
//! - A **partition** cuts a set of directed pairs of IPs until it is healed:
//!   symmetric (both directions between two sets) or one-way. Bytes written
//!   across a cut are *held* (arrival time `HELD`) and leave, in order, one
//!   latency after the heal. Connects across a cut hang or fail (per seed).
//!   Partitions never reset connections by themselves: as with real TCP,
//!   an application notices a partition through its own timeouts.
//!
//! # Invariants
//! - Both structures are `BTreeMap`s keyed by addresses: iteration order is
//!   deterministic.
//! - `blocks` and `until` cost one branch when nothing is clogged or cut,
//!   which is the quiet configuration's hot path.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Active clogs, each with the virtual time (ns) it ends.
#[derive(Default)]
pub(crate) struct Clogs {
    /// Whether any clog was ever set (expired ones are harmless).
    pub(crate) active: bool,
    pair: BTreeMap<(IpAddr, IpAddr), u64>,
    send: BTreeMap<IpAddr, u64>,
    recv: BTreeMap<IpAddr, u64>,
}

impl Clogs {
    /// When traffic from `src` to `dst` may flow again (0 if it may now).
    #[inline]
    pub(crate) fn until(&self, src: IpAddr, dst: IpAddr) -> u64 {
        if !self.active {
            return 0;
        }
        let pair = self.pair.get(&(src, dst)).copied().unwrap_or(0);
        let send = self.send.get(&src).copied().unwrap_or(0);
        let recv = self.recv.get(&dst).copied().unwrap_or(0);
        pair.max(send).max(recv)
    }

    /// Clogs `src → dst` until `until_ns`.
    pub(crate) fn clog_pair(&mut self, src: IpAddr, dst: IpAddr, until_ns: u64) {
        let e = self.pair.entry((src, dst)).or_insert(0);
        *e = (*e).max(until_ns);
        self.active = true;
    }

    /// Clogs what `ip` sends (and/or receives) until `until_ns`.
    pub(crate) fn clog_interface(&mut self, ip: IpAddr, send: bool, recv: bool, until_ns: u64) {
        if send {
            let e = self.send.entry(ip).or_insert(0);
            *e = (*e).max(until_ns);
        }
        if recv {
            let e = self.recv.entry(ip).or_insert(0);
            *e = (*e).max(until_ns);
        }
        self.active = send || recv || self.active;
    }

    /// Ends every clog now (traffic already delayed keeps its arrival time).
    pub(crate) fn clear(&mut self) {
        *self = Clogs::default();
    }
}

/// Active partitions.
#[derive(Default)]
pub(crate) struct Partitions {
    next_id: u64,
    /// Each partition's cut directed pairs.
    list: BTreeMap<u64, Vec<(IpAddr, IpAddr)>>,
    /// How many partitions cut each directed pair.
    blocked: BTreeMap<(IpAddr, IpAddr), u32>,
}

impl Partitions {
    /// Whether traffic from `src` to `dst` is cut.
    #[inline]
    pub(crate) fn blocks(&self, src: IpAddr, dst: IpAddr) -> bool {
        !self.blocked.is_empty() && self.blocked.contains_key(&(src, dst))
    }

    /// Cuts every pair `from → to` for `from` in `a`, `to` in `b` (and the
    /// reverse if `symmetric`). Returns the partition's id.
    pub(crate) fn add(&mut self, a: &[IpAddr], b: &[IpAddr], symmetric: bool) -> u64 {
        let mut pairs = Vec::new();
        for &x in a {
            for &y in b {
                if x == y {
                    continue;
                }
                pairs.push((x, y));
                if symmetric {
                    pairs.push((y, x));
                }
            }
        }
        for p in &pairs {
            *self.blocked.entry(*p).or_insert(0) += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.list.insert(id, pairs);
        id
    }

    /// Removes partition `id`; false if there is no such partition.
    pub(crate) fn heal(&mut self, id: u64) -> bool {
        let Some(pairs) = self.list.remove(&id) else {
            return false;
        };
        for p in pairs {
            if let Some(n) = self.blocked.get_mut(&p) {
                *n -= 1;
                if *n == 0 {
                    self.blocked.remove(&p);
                }
            }
        }
        true
    }

    /// Removes every partition; returns how many there were.
    pub(crate) fn heal_all(&mut self) -> usize {
        let n = self.list.len();
        self.list.clear();
        self.blocked.clear();
        n
    }

    /// Ids of the partitions in place.
    pub(crate) fn ids(&self) -> Vec<u64> {
        self.list.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn overlapping_partitions_heal_independently() {
        let mut p = Partitions::default();
        let a = p.add(&[ip(1)], &[ip(2)], true);
        let b = p.add(&[ip(1)], &[ip(2), ip(3)], false);
        assert!(p.blocks(ip(1), ip(2)) && p.blocks(ip(2), ip(1)) && p.blocks(ip(1), ip(3)));
        assert!(!p.blocks(ip(3), ip(1)));
        assert!(p.heal(a));
        assert!(p.blocks(ip(1), ip(2)), "still cut by the one-way partition");
        assert!(!p.blocks(ip(2), ip(1)));
        assert!(p.heal(b));
        assert!(p.ids().is_empty() && !p.blocks(ip(1), ip(2)));
        assert!(!p.heal(b));
    }

    #[test]
    fn clogs_take_the_latest_end_of_pair_and_interfaces() {
        let mut c = Clogs::default();
        assert_eq!(c.until(ip(1), ip(2)), 0);
        c.clog_pair(ip(1), ip(2), 50);
        c.clog_interface(ip(2), false, true, 80);
        assert_eq!(c.until(ip(1), ip(2)), 80);
        assert_eq!(c.until(ip(2), ip(1)), 0);
        c.clog_interface(ip(2), true, false, 30);
        assert_eq!(c.until(ip(2), ip(1)), 30);
    }
}
