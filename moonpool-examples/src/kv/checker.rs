//! Histories and the checker: is what the clients saw linearizable?
//!
//! # The history
//! Every client records each operation it issued ([`Op`]): the key, a put's
//! value or a get, the invoke time, the completion time and the outcome:
//! [`Outcome::Wrote`], [`Outcome::Read`] (the value returned),
//! [`Outcome::Fail`] (certainly not applied) or [`Outcome::Unknown`] (may
//! have been applied, now or at any later time: its completion time is
//! taken as +∞, so it stays concurrent with everything after its invoke).
//! Times come from the simulation's canonical clock (`TimeProvider::now`),
//! the same for every process; invoke is taken before the first message is
//! sent and completion after the last answer arrived.
//!
//! # What [`check_history`] proves
//! Values are unique per put (the workload guarantees it), so every read
//! names the one write it saw. Per key (a register, checked alone: a
//! linearizable history of independent registers is linearizable per key),
//! the history is **linearizable** if and only if:
//!
//! 1. every value read was written by some put that did not fail, and no
//!    read completed before the put of its value was invoked; and
//! 2. the *cluster graph* is acyclic. A cluster is a write with all the
//!    reads that returned its value (plus a virtual initial write at time
//!    −∞ with the reads that saw no value). In any linearization each
//!    cluster is a contiguous block (its write, then its reads, before the
//!    next write), so if some operation of cluster A completed before some
//!    operation of cluster B was invoked, block A comes before block B:
//!    edge A → B. A topological order of the blocks (each block ordered
//!    write first, reads by completion time) is a linearization; a cycle
//!    means none exists.
//!
//! Both directions hold, so the check is exact for these histories: it
//! rejects every non-linearizable history and accepts every linearizable
//! one, in O(n²) per key. Puts whose outcome is unknown (or failed) and
//! that no read observed are dropped first: such a write can always be
//! linearized as never having happened (any read after it names a later
//! write), and dropping it constrains nothing. An unknown put that some
//! read observed is kept, with completion +∞. Reads that did not return
//! carry no information and are dropped.
//!
//! A cycle is reported with its witnesses: for each edge, the operation
//! that completed and the one invoked after it.
//!
//! # What it does not prove
//! - Only what clients observed is checked: a lost write that no later read
//!   could see (every read of the key after it came from a replica that
//!   still had it) goes unnoticed. The workload therefore reads often.
//! - Real-time order is as precise as the simulation clock: two operations
//!   at the same instant count as concurrent (a lenient choice: it can hide
//!   a violation, never invent one).
//! - Durability across the whole run (every acknowledged write is in some
//!   replica's log at the end) and convergence are separate checks, made
//!   by the simulation after quiesce (see [`sim`](super::sim)).

use std::collections::BTreeMap;
use std::fmt;

use super::{Key, Value};

/// What an operation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Write this value (unique across the history).
    Put(Value),
    /// Read.
    Get,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A put was acknowledged.
    Wrote,
    /// A get returned this value (`None`: the key was never written).
    Read(Option<Value>),
    /// The operation certainly had no effect.
    Fail,
    /// The operation may have taken effect, at any time after its invoke.
    Unknown,
}

// ANCHOR: op
/// One operation of the history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// The client that issued it.
    pub client: usize,
    /// The key.
    pub key: Key,
    /// Put or get.
    pub kind: OpKind,
    /// When it was invoked, in nanoseconds of the canonical clock.
    pub invoke_ns: u64,
    /// When it completed (ignored for [`Outcome::Unknown`]).
    pub complete_ns: u64,
    /// How it ended.
    pub outcome: Outcome,
}
// ANCHOR_END: op

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |ns: u64| format!("{}.{:06}s", ns / 1_000_000_000, ns % 1_000_000_000 / 1_000);
        match self.kind {
            OpKind::Put(v) => write!(f, "put({v:#x})")?,
            OpKind::Get => write!(f, "get")?,
        }
        match self.outcome {
            Outcome::Wrote => write!(f, " ok")?,
            Outcome::Read(Some(v)) => write!(f, " -> {v:#x}")?,
            Outcome::Read(None) => write!(f, " -> nothing")?,
            Outcome::Fail => write!(f, " failed")?,
            Outcome::Unknown => write!(f, " unknown")?,
        }
        let end = if self.outcome == Outcome::Unknown {
            "inf".to_string()
        } else {
            secs(self.complete_ns)
        };
        write!(
            f,
            " by client {} [{} .. {}]",
            self.client,
            secs(self.invoke_ns),
            end
        )
    }
}

/// The operations of every client, in any order.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// The operations.
    pub ops: Vec<Op>,
}

impl History {
    /// Adds an operation.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }
}

/// A history that is not linearizable, or not well formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// No linearization exists for this key.
    #[error("linearizability violated on key {key}: {explanation}")]
    NotLinearizable {
        /// The key.
        key: Key,
        /// Why, with the operations involved.
        explanation: String,
    },
    /// The history breaks the checker's assumptions (a test bug).
    #[error("malformed history: {0}")]
    Malformed(String),
}

/// What the checker saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Keys checked.
    pub keys: usize,
    /// Operations in the history.
    pub ops: usize,
    /// Reads that returned.
    pub reads: usize,
    /// Acknowledged puts.
    pub writes_ok: usize,
    /// Puts that certainly failed.
    pub writes_failed: usize,
    /// Unknown puts that some read observed: resolved as applied.
    pub unknown_applied: usize,
    /// Unknown puts never observed: linearized as not applied.
    pub unknown_not_applied: usize,
}

/// Times as the checker orders them: −∞ for the initial write, +∞ for an
/// unknown completion.
type Time = i128;
const MINUS_INF: Time = -1;
const PLUS_INF: Time = i128::MAX;

/// A write and the reads that returned its value.
struct Cluster<'a> {
    /// The write (`None`: the initial state).
    write: Option<&'a Op>,
    reads: Vec<&'a Op>,
}

fn start(op: Option<&Op>) -> Time {
    op.map_or(MINUS_INF, |o| Time::from(o.invoke_ns))
}

fn finish(op: Option<&Op>) -> Time {
    match op {
        None => MINUS_INF,
        Some(o) if o.outcome == Outcome::Unknown => PLUS_INF,
        Some(o) => Time::from(o.complete_ns),
    }
}

fn describe(op: Option<&Op>) -> String {
    op.map_or_else(|| "the initial state".to_string(), |o| o.to_string())
}

impl Cluster<'_> {
    fn ops(&self) -> impl Iterator<Item = Option<&Op>> + '_ {
        std::iter::once(self.write).chain(self.reads.iter().map(|r| Some(*r)))
    }

    /// The operation completing first.
    fn first_finish(&self) -> (Time, Option<&Op>) {
        self.ops()
            .map(|o| (finish(o), o))
            .min_by_key(|(t, _)| *t)
            .unwrap_or((PLUS_INF, None))
    }

    /// The operation invoked last.
    fn last_start(&self) -> (Time, Option<&Op>) {
        self.ops()
            .map(|o| (start(o), o))
            .max_by_key(|(t, _)| *t)
            .unwrap_or((MINUS_INF, None))
    }
}

/// Checks every key's history; the first violation found (keys in order).
pub fn check_history(history: &History) -> Result<CheckStats, CheckError> {
    let mut by_key: BTreeMap<Key, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key).or_default().push(op);
    }
    let mut stats = CheckStats {
        keys: by_key.len(),
        ops: history.ops.len(),
        ..CheckStats::default()
    };
    for (key, ops) in &by_key {
        check_key(*key, ops, &mut stats)?;
    }
    moonpool_core::sometimes!(
        stats.unknown_applied > 0,
        "the checker resolved an unknown-outcome put as applied (a read saw it)"
    );
    moonpool_core::sometimes!(
        stats.unknown_not_applied > 0,
        "the checker resolved an unknown-outcome put as not applied (never observed)"
    );
    Ok(stats)
}

fn check_key(key: Key, ops: &[&Op], stats: &mut CheckStats) -> Result<(), CheckError> {
    let violation = |explanation: String| CheckError::NotLinearizable { key, explanation };
    // Writes by value.
    let mut writes: BTreeMap<Value, &Op> = BTreeMap::new();
    for op in ops {
        match (op.kind, op.outcome) {
            (OpKind::Put(v), Outcome::Wrote | Outcome::Fail | Outcome::Unknown) => {
                if let Some(other) = writes.insert(v, op) {
                    return Err(CheckError::Malformed(format!(
                        "value {v:#x} written twice: {other} and {op}"
                    )));
                }
            }
            (OpKind::Put(_), Outcome::Read(_)) | (OpKind::Get, Outcome::Wrote) => {
                return Err(CheckError::Malformed(format!("{op}")));
            }
            (OpKind::Get, _) => {}
        }
        if op.outcome != Outcome::Unknown && op.complete_ns < op.invoke_ns {
            return Err(CheckError::Malformed(format!(
                "{op} completes before it begins"
            )));
        }
    }
    // Reads by the value they returned; reads of values nobody wrote.
    let mut readers: BTreeMap<Option<Value>, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        let Outcome::Read(seen) = op.outcome else {
            continue;
        };
        stats.reads += 1;
        if let Some(v) = seen {
            match writes.get(&v) {
                None => return Err(violation(format!("{op} returned a value never written"))),
                Some(w) if w.outcome == Outcome::Fail => {
                    return Err(violation(format!(
                        "{op} returned the value of {w}, a put that certainly failed"
                    )));
                }
                Some(w) if Time::from(op.complete_ns) < start(Some(w)) => {
                    return Err(violation(format!(
                        "{op} returned the value of {w}, which began only after the read completed"
                    )));
                }
                Some(_) => {}
            }
        }
        readers.entry(seen).or_default().push(op);
    }
    // Clusters: the initial state, acknowledged puts, observed unknown puts.
    let mut clusters = vec![Cluster {
        write: None,
        reads: readers.remove(&None).unwrap_or_default(),
    }];
    for (v, w) in &writes {
        let reads = readers.remove(&Some(*v)).unwrap_or_default();
        match w.outcome {
            Outcome::Wrote => stats.writes_ok += 1,
            Outcome::Fail => {
                stats.writes_failed += 1;
                continue;
            }
            Outcome::Unknown if reads.is_empty() => {
                stats.unknown_not_applied += 1;
                continue;
            }
            Outcome::Unknown => stats.unknown_applied += 1,
            Outcome::Read(_) => {}
        }
        clusters.push(Cluster {
            write: Some(w),
            reads,
        });
    }
    if let Some(cycle) = find_cycle(&clusters) {
        return Err(violation(explain_cycle(&clusters, &cycle)));
    }
    Ok(())
}

/// A cycle of the cluster graph, as cluster indices (`c0 → c1 → … → c0`).
fn find_cycle(clusters: &[Cluster<'_>]) -> Option<Vec<usize>> {
    let n = clusters.len();
    let first_finish: Vec<Time> = clusters.iter().map(|c| c.first_finish().0).collect();
    let last_start: Vec<Time> = clusters.iter().map(|c| c.last_start().0).collect();
    // a → b: some operation of a completed before some operation of b
    // began, so block a precedes block b in every linearization.
    let edge = |a: usize, b: usize| a != b && first_finish[a] < last_start[b];
    // Prefer a two-cycle: the most readable explanation.
    for a in 0..n {
        for b in a + 1..n {
            if edge(a, b) && edge(b, a) {
                return Some(vec![a, b]);
            }
        }
    }
    // Iterative DFS with colours; a grey successor closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let mut colour = vec![Colour::White; n];
    for root in 0..n {
        if colour[root] != Colour::White {
            continue;
        }
        // (node, next successor to try)
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = Colour::Grey;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next >= n {
                colour[node] = Colour::Black;
                stack.pop();
                continue;
            }
            let succ = *next;
            *next += 1;
            if !edge(node, succ) {
                continue;
            }
            match colour[succ] {
                Colour::Grey => {
                    let from = stack.iter().position(|(c, _)| *c == succ).unwrap_or(0);
                    return Some(stack[from..].iter().map(|(c, _)| *c).collect());
                }
                Colour::White => {
                    colour[succ] = Colour::Grey;
                    stack.push((succ, 0));
                }
                Colour::Black => {}
            }
        }
    }
    None
}

/// Edges of a cycle shown at most.
const CYCLE_EDGES_SHOWN: usize = 4;

fn explain_cycle(clusters: &[Cluster<'_>], cycle: &[usize]) -> String {
    let name = |c: &Cluster<'_>| match c.write {
        None => "the initial state".to_string(),
        Some(w) => match w.kind {
            OpKind::Put(v) => format!("the write of {v:#x}"),
            OpKind::Get => "?".to_string(),
        },
    };
    let mut parts = Vec::new();
    for (i, &a) in cycle.iter().enumerate().take(CYCLE_EDGES_SHOWN) {
        let b = cycle[(i + 1) % cycle.len()];
        let (_, done) = clusters[a].first_finish();
        let (_, began) = clusters[b].last_start();
        parts.push(format!(
            "{} must precede {} ({} completed before {} began)",
            name(&clusters[a]),
            name(&clusters[b]),
            describe(done),
            describe(began)
        ));
    }
    let more = cycle.len().saturating_sub(CYCLE_EDGES_SHOWN);
    let tail = if more > 0 {
        format!("; and {more} more edge(s)")
    } else {
        String::new()
    };
    format!(
        "no order of the writes and their reads exists: {}{tail}",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(client: usize, kind: OpKind, at: (u64, u64), outcome: Outcome) -> Op {
        Op {
            client,
            key: 1,
            kind,
            invoke_ns: at.0,
            complete_ns: at.1,
            outcome,
        }
    }

    fn check(ops: Vec<Op>) -> Result<CheckStats, CheckError> {
        check_history(&History { ops })
    }

    fn violated(ops: Vec<Op>) -> String {
        match check(ops) {
            Err(e @ CheckError::NotLinearizable { .. }) => e.to_string(),
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn sequential_history_passes() {
        let stats = check(vec![
            op(0, OpKind::Get, (0, 1), Outcome::Read(None)),
            op(0, OpKind::Put(10), (2, 3), Outcome::Wrote),
            op(1, OpKind::Get, (4, 5), Outcome::Read(Some(10))),
            op(1, OpKind::Put(11), (6, 7), Outcome::Wrote),
            op(0, OpKind::Get, (8, 9), Outcome::Read(Some(11))),
        ])
        .expect("linearizable");
        assert_eq!((stats.reads, stats.writes_ok), (3, 2));
    }

    #[test]
    fn concurrent_reads_may_see_either_value() {
        // Two reads overlap a write: one sees it, the later-invoked one
        // still sees the old value. Legal: the new-old order is only
        // forbidden when the reads do not overlap.
        check(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Wrote),
            op(1, OpKind::Put(11), (2, 10), Outcome::Wrote),
            op(2, OpKind::Get, (3, 5), Outcome::Read(Some(11))),
            op(3, OpKind::Get, (4, 6), Outcome::Read(Some(10))),
        ])
        .expect("linearizable");
    }

    #[test]
    fn stale_read_after_a_completed_write_is_caught() {
        let message = violated(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Wrote),
            op(0, OpKind::Put(11), (2, 3), Outcome::Wrote),
            op(1, OpKind::Get, (4, 5), Outcome::Read(Some(10))),
        ]);
        assert!(
            message.contains("linearizability violated on key 1"),
            "{message}"
        );
        assert!(message.contains("the write of 0xb"), "{message}");
    }

    #[test]
    fn new_old_inversion_is_caught() {
        // The write of 11 is in flight; one read sees it, a later read
        // (invoked after the first completed) sees 10 again.
        violated(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Wrote),
            op(1, OpKind::Put(11), (2, 100), Outcome::Unknown),
            op(2, OpKind::Get, (3, 4), Outcome::Read(Some(11))),
            op(3, OpKind::Get, (5, 6), Outcome::Read(Some(10))),
        ]);
    }

    #[test]
    fn reading_nothing_after_a_write_is_caught() {
        violated(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Wrote),
            op(1, OpKind::Get, (2, 3), Outcome::Read(None)),
        ]);
    }

    #[test]
    fn reads_of_failed_invented_or_future_writes_are_caught() {
        let failed = violated(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Fail),
            op(1, OpKind::Get, (2, 3), Outcome::Read(Some(10))),
        ]);
        assert!(failed.contains("certainly failed"), "{failed}");
        let invented = violated(vec![op(1, OpKind::Get, (2, 3), Outcome::Read(Some(99)))]);
        assert!(invented.contains("never written"), "{invented}");
        let future = violated(vec![
            op(1, OpKind::Get, (2, 3), Outcome::Read(Some(10))),
            op(0, OpKind::Put(10), (4, 5), Outcome::Wrote),
        ]);
        assert!(future.contains("began only after"), "{future}");
    }

    #[test]
    fn unknown_writes_stay_concurrent_with_everything_after_them() {
        // An unknown put invoked at 0 may take effect at any later time:
        // a read at 50 may see it, after a read at 20 did not.
        let stats = check(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Unknown),
            op(1, OpKind::Get, (20, 21), Outcome::Read(None)),
            op(1, OpKind::Get, (50, 51), Outcome::Read(Some(10))),
        ])
        .expect("linearizable");
        assert_eq!((stats.unknown_applied, stats.unknown_not_applied), (1, 0));
        // Never observed: linearized as not applied.
        let stats = check(vec![
            op(0, OpKind::Put(10), (0, 1), Outcome::Unknown),
            op(1, OpKind::Get, (20, 21), Outcome::Read(None)),
        ])
        .expect("linearizable");
        assert_eq!(stats.unknown_not_applied, 1);
    }

    #[test]
    fn a_longer_cycle_is_found_and_explained() {
        // w1 < w2 < w3 in real time, then reads force w3 < w1 through
        // overlapping reads (no two-cycle between any pair).
        let message = violated(vec![
            op(0, OpKind::Put(1), (0, 10), Outcome::Wrote),
            op(1, OpKind::Put(2), (11, 20), Outcome::Wrote),
            op(2, OpKind::Put(3), (0, 30), Outcome::Wrote),
            op(3, OpKind::Get, (12, 40), Outcome::Read(Some(3))),
            op(4, OpKind::Get, (31, 50), Outcome::Read(Some(1))),
        ]);
        assert!(message.contains("must precede"), "{message}");
    }

    #[test]
    fn keys_are_independent_and_duplicate_values_are_malformed() {
        let mut a = op(0, OpKind::Put(10), (0, 1), Outcome::Wrote);
        let mut b = op(1, OpKind::Get, (2, 3), Outcome::Read(None));
        a.key = 1;
        b.key = 2;
        check(vec![a, b]).expect("other key");
        assert!(matches!(
            check(vec![
                op(0, OpKind::Put(10), (0, 1), Outcome::Wrote),
                op(1, OpKind::Put(10), (2, 3), Outcome::Wrote),
            ]),
            Err(CheckError::Malformed(_))
        ));
    }

    /// Brute force: tries every order of the ops (small histories only).
    fn brute_force(ops: &[Op]) -> bool {
        fn go(ops: &[Op], used: &mut Vec<bool>, value: Option<Value>, done: usize) -> bool {
            if done == ops.len() {
                return true;
            }
            for i in 0..ops.len() {
                if used[i] {
                    continue;
                }
                // i may go next only if no unused op completed before i began.
                let blocked = (0..ops.len()).any(|j| {
                    j != i
                        && !used[j]
                        && ops[j].outcome != Outcome::Unknown
                        && ops[j].complete_ns < ops[i].invoke_ns
                });
                if blocked {
                    continue;
                }
                let next = match (ops[i].kind, ops[i].outcome) {
                    (OpKind::Put(v), _) => Some(Some(v)),
                    (OpKind::Get, Outcome::Read(seen)) if seen == value => Some(value),
                    _ => None,
                };
                let Some(next) = next else { continue };
                used[i] = true;
                if go(ops, used, next, done + 1) {
                    return true;
                }
                used[i] = false;
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], None, 0)
    }

    #[test]
    fn agrees_with_brute_force_on_random_small_histories() {
        // A tiny deterministic generator: 3 puts and 3 gets per history,
        // random intervals, reads of random values.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let (mut yes, mut no) = (0, 0);
        for _ in 0..3000 {
            let mut ops = Vec::new();
            for w in 0..3u64 {
                let s = next(20);
                ops.push(op(
                    w as usize,
                    OpKind::Put(w + 1),
                    (s, s + next(10)),
                    Outcome::Wrote,
                ));
            }
            for r in 0..3usize {
                let s = next(20);
                let seen = match next(4) {
                    0 => None,
                    v => Some(v),
                };
                ops.push(op(
                    3 + r,
                    OpKind::Get,
                    (s, s + next(10)),
                    Outcome::Read(seen),
                ));
            }
            let fast = check(ops.clone()).is_ok();
            assert_eq!(fast, brute_force(&ops), "disagreement on {ops:#?}");
            if fast {
                yes += 1;
            } else {
                no += 1;
            }
        }
        assert!(yes > 100 && no > 100, "{yes} linearizable, {no} not");
    }
}
