//! The invariants of the bank, checked after quiesce over what the
//! clients were told ([`ClientOp`]) and what every shard holds
//! ([`ShardDump`]: balances, ledger, transfers still open).
//!
//! # Invariants ([`check`])
//! 1. **Resolved**: no transfer is still being decided, no credit is in
//!    doubt, nothing is reserved or pending: at quiescence all money sits
//!    in balances.
//! 2. **Balances match their ledgers**: each balance is the initial
//!    balance plus its ledger's changes.
//! 3. **No transfer applied twice**: per transfer, at most one debit and
//!    at most one credit.
//! 4. **Every change belongs to a transfer a client issued**, with its
//!    accounts and amount.
//! 5. **Atomic**: every transfer debited was credited, and the other way
//!    round.
//! 6. **Acknowledged outcomes are durable**: a transfer acknowledged as
//!    committed was applied; one acknowledged as aborted was not. Unknown
//!    outcomes may go either way.
//! 7. **No account ever negative**: replaying each account's ledger in
//!    order, the balance never drops below zero.
//! 8. **Money is conserved**: the balances sum to what was deposited.

use std::collections::BTreeMap;

use super::{ACCOUNTS, Account, INITIAL_BALANCE, ShardDump, Transfer, TransferId};

/// What a client was told about a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Committed: it must be applied, on both sides.
    Committed,
    /// Aborted (or refused as malformed): it must never be applied.
    Aborted,
    /// No answer: it may or may not be applied (but whole, and once).
    Unknown,
}

/// One transfer a client issued, and what it was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOp {
    /// The transfer.
    pub transfer: Transfer,
    /// Its outcome.
    pub outcome: TransferOutcome,
}

/// An invariant the shards break. The message starts with the invariant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// 1.
    #[error("money not conserved at quiescence: shard {shard} still holds {what}")]
    Unresolved {
        /// The shard.
        shard: u32,
        /// What is still open.
        what: String,
    },
    /// 2.
    #[error(
        "a balance disagrees with its ledger: account {account} holds {balance}, its ledger says {ledger}"
    )]
    LedgerMismatch {
        /// The account.
        account: Account,
        /// Its balance.
        balance: i64,
        /// Initial balance plus its ledger.
        ledger: i64,
    },
    /// 3.
    #[error(
        "a transfer was applied twice: transfer {id:#x} changed account {account} {times} times"
    )]
    AppliedTwice {
        /// The transfer.
        id: TransferId,
        /// The account.
        account: Account,
        /// How many times.
        times: usize,
    },
    /// 4.
    #[error("a change no client asked for: transfer {id:#x} changed account {account} by {delta}")]
    Invented {
        /// The transfer.
        id: TransferId,
        /// The account.
        account: Account,
        /// The change.
        delta: i64,
    },
    /// 5.
    #[error("money not conserved: transfer {id:#x} of {amount} was {applied} but not {missing}")]
    NotAtomic {
        /// The transfer.
        id: TransferId,
        /// Its amount.
        amount: i64,
        /// The side applied.
        applied: &'static str,
        /// The side missing.
        missing: &'static str,
    },
    /// 6.
    #[error(
        "an acknowledged transfer is not durable: transfer {id:#x} was acknowledged {told}, and it was {found}"
    )]
    OutcomeBroken {
        /// The transfer.
        id: TransferId,
        /// What the client was told.
        told: &'static str,
        /// What the shards show.
        found: &'static str,
    },
    /// 7.
    #[error("an account went negative: account {account} reached {balance} with transfer {id:#x}")]
    Negative {
        /// The account.
        account: Account,
        /// The balance it reached.
        balance: i64,
        /// The change that took it there.
        id: TransferId,
    },
    /// 8.
    #[error(
        "money not conserved at quiescence: the accounts hold {total}, {expected} were deposited"
    )]
    Total {
        /// What the balances sum to.
        total: i64,
        /// What they should.
        expected: i64,
    },
    /// The dumps do not cover every account once.
    #[error("the shards' dumps cover accounts {accounts:?}, not each of 0..{ACCOUNTS} once")]
    Coverage {
        /// The accounts dumped.
        accounts: Vec<Account>,
    },
}

/// Figures of a checked run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Transfers issued.
    pub transfers: u64,
    /// Acknowledged committed.
    pub committed: u64,
    /// Acknowledged aborted.
    pub aborted: u64,
    /// Unknown outcomes that turned out applied.
    pub unknown_applied: u64,
    /// Unknown outcomes that turned out not applied.
    pub unknown_not_applied: u64,
    /// The money in the accounts.
    pub total: i64,
}

/// Checks the shards' `dumps` against the clients' `ops`.
pub fn check(ops: &[ClientOp], dumps: &[ShardDump]) -> Result<CheckStats, Violation> {
    // 1.
    for d in dumps {
        let mut open = Vec::new();
        if !d.coordinating.is_empty() {
            open.push(format!("transfers being decided {:x?}", d.coordinating));
        }
        if !d.in_doubt.is_empty() {
            open.push(format!("credits in doubt {:x?}", d.in_doubt));
        }
        if d.reserved != 0 {
            open.push(format!("{} reserved", d.reserved));
        }
        if d.pending != 0 {
            open.push(format!("{} of pending credits", d.pending));
        }
        if !open.is_empty() {
            return Err(Violation::Unresolved {
                shard: d.shard,
                what: open.join(", "),
            });
        }
    }
    let balances: BTreeMap<Account, i64> = dumps
        .iter()
        .flat_map(|d| d.balances.iter().copied())
        .collect();
    let dumped: Vec<Account> = dumps
        .iter()
        .flat_map(|d| d.balances.iter().map(|(a, _)| *a))
        .collect();
    if dumped.len() != ACCOUNTS as usize || balances.keys().copied().ne(0..ACCOUNTS) {
        return Err(Violation::Coverage { accounts: dumped });
    }
    // ANCHOR: ledger_replay
    // 2, 3, 4, 7.
    let issued: BTreeMap<TransferId, &ClientOp> = ops.iter().map(|o| (o.transfer.id, o)).collect();
    let mut debits: BTreeMap<TransferId, usize> = BTreeMap::new();
    let mut credits: BTreeMap<TransferId, usize> = BTreeMap::new();
    for d in dumps {
        let mut running: BTreeMap<Account, i64> = d
            .balances
            .iter()
            .map(|(a, _)| (*a, INITIAL_BALANCE))
            .collect();
        for e in &d.ledger {
            let fits = issued.get(&e.id).is_some_and(|o| {
                let t = o.transfer;
                (e.account == t.from && e.delta == -t.amount)
                    || (e.account == t.to && e.delta == t.amount)
            });
            if !fits {
                return Err(Violation::Invented {
                    id: e.id,
                    account: e.account,
                    delta: e.delta,
                });
            }
            let side = if e.delta < 0 {
                &mut debits
            } else {
                &mut credits
            };
            let times = side.entry(e.id).or_default();
            *times += 1;
            if *times > 1 {
                return Err(Violation::AppliedTwice {
                    id: e.id,
                    account: e.account,
                    times: *times,
                });
            }
            let balance = running.entry(e.account).or_insert(INITIAL_BALANCE);
            *balance += e.delta;
            if *balance < 0 {
                return Err(Violation::Negative {
                    account: e.account,
                    balance: *balance,
                    id: e.id,
                });
            }
        }
        for (account, balance) in &d.balances {
            let ledger = running.get(account).copied().unwrap_or(INITIAL_BALANCE);
            if ledger != *balance {
                return Err(Violation::LedgerMismatch {
                    account: *account,
                    balance: *balance,
                    ledger,
                });
            }
        }
    }
    // ANCHOR_END: ledger_replay
    // 5, 6.
    let mut stats = CheckStats {
        transfers: ops.len() as u64,
        ..CheckStats::default()
    };
    for op in ops {
        let t = op.transfer;
        let debited = debits.contains_key(&t.id);
        let credited = credits.contains_key(&t.id);
        if debited != credited {
            let (applied, missing) = if debited {
                ("debited", "credited")
            } else {
                ("credited", "debited")
            };
            return Err(Violation::NotAtomic {
                id: t.id,
                amount: t.amount,
                applied,
                missing,
            });
        }
        match (op.outcome, debited) {
            (TransferOutcome::Committed, false) => {
                return Err(Violation::OutcomeBroken {
                    id: t.id,
                    told: "committed",
                    found: "never applied",
                });
            }
            (TransferOutcome::Aborted, true) => {
                return Err(Violation::OutcomeBroken {
                    id: t.id,
                    told: "aborted",
                    found: "applied",
                });
            }
            (TransferOutcome::Committed, true) => stats.committed += 1,
            (TransferOutcome::Aborted, false) => stats.aborted += 1,
            (TransferOutcome::Unknown, true) => stats.unknown_applied += 1,
            (TransferOutcome::Unknown, false) => stats.unknown_not_applied += 1,
        }
    }
    // ANCHOR: conservation
    // 8.
    stats.total = balances.values().sum();
    let expected = INITIAL_BALANCE * ACCOUNTS as i64;
    if stats.total != expected {
        return Err(Violation::Total {
            total: stats.total,
            expected,
        });
    }
    // ANCHOR_END: conservation
    moonpool_core::sometimes!(
        stats.unknown_applied > 0,
        "a transfer whose client got no answer turned out applied"
    );
    moonpool_core::sometimes!(
        stats.unknown_not_applied > 0,
        "a transfer whose client got no answer turned out not applied"
    );
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::super::{LedgerEntry, SHARDS, shard_of};
    use super::*;

    fn op(
        id: TransferId,
        from: Account,
        to: Account,
        amount: i64,
        outcome: TransferOutcome,
    ) -> ClientOp {
        ClientOp {
            transfer: Transfer {
                id,
                from,
                to,
                amount,
            },
            outcome,
        }
    }

    /// Shards after applying `applied` (each whole, in order).
    fn dumps(applied: &[ClientOp]) -> Vec<ShardDump> {
        let mut dumps: Vec<ShardDump> = (0..SHARDS)
            .map(|s| ShardDump {
                shard: s,
                balances: (0..ACCOUNTS)
                    .filter(|a| shard_of(*a) == s)
                    .map(|a| (a, INITIAL_BALANCE))
                    .collect(),
                ..ShardDump::default()
            })
            .collect();
        for o in applied {
            let t = o.transfer;
            for (account, delta) in [(t.from, -t.amount), (t.to, t.amount)] {
                let d = &mut dumps[shard_of(account) as usize];
                d.ledger.push(LedgerEntry {
                    id: t.id,
                    account,
                    delta,
                });
                if let Some(b) = d.balances.iter_mut().find(|(a, _)| *a == account) {
                    b.1 += delta;
                }
            }
        }
        dumps
    }

    #[test]
    fn applied_commits_and_absent_aborts_pass() {
        let ops = [
            op(1, 0, 1, 30, TransferOutcome::Committed),
            op(2, 1, 2, 200, TransferOutcome::Aborted),
            op(3, 4, 5, 10, TransferOutcome::Unknown),
            op(4, 7, 8, 10, TransferOutcome::Unknown),
        ];
        let stats = check(&ops, &dumps(&[ops[0], ops[2]])).expect("consistent");
        assert_eq!(stats.committed, 1);
        assert_eq!(stats.aborted, 1);
        assert_eq!((stats.unknown_applied, stats.unknown_not_applied), (1, 1));
        assert_eq!(stats.total, 900);
    }

    #[test]
    fn each_broken_invariant_is_named() {
        let t = op(1, 0, 1, 30, TransferOutcome::Committed);
        // Acknowledged and lost.
        assert!(matches!(
            check(&[t], &dumps(&[])),
            Err(Violation::OutcomeBroken {
                told: "committed",
                ..
            })
        ));
        // Aborted and applied.
        let aborted = ClientOp {
            outcome: TransferOutcome::Aborted,
            ..t
        };
        assert!(matches!(
            check(&[aborted], &dumps(&[t])),
            Err(Violation::OutcomeBroken {
                told: "aborted",
                ..
            })
        ));
        // Twice.
        assert!(matches!(
            check(&[t], &dumps(&[t, t])),
            Err(Violation::AppliedTwice { times: 2, .. })
        ));
        // Credited only: money created.
        let mut half = dumps(&[t]);
        half[0].ledger.clear();
        half[0].balances[0].1 = INITIAL_BALANCE;
        assert!(matches!(
            check(&[t], &half),
            Err(Violation::NotAtomic {
                applied: "credited",
                ..
            })
        ));
        // Invented.
        assert!(matches!(
            check(&[], &dumps(&[t])),
            Err(Violation::Invented { .. })
        ));
        // Negative on the way.
        let big = [
            op(1, 0, 1, 90, TransferOutcome::Committed),
            op(2, 0, 2, 90, TransferOutcome::Committed),
            op(3, 4, 0, 90, TransferOutcome::Committed),
        ];
        assert!(matches!(
            check(&big, &dumps(&big)),
            Err(Violation::Negative {
                account: 0,
                balance: -80,
                ..
            })
        ));
        // A balance off its ledger, and money created outright.
        let mut off = dumps(&[]);
        off[0].balances[0].1 += 5;
        assert!(matches!(
            check(&[], &off),
            Err(Violation::LedgerMismatch { .. })
        ));
        // Open transfers at quiescence.
        let mut open = dumps(&[]);
        open[2].in_doubt.push(9);
        open[2].pending = 10;
        assert!(matches!(
            check(&[], &open),
            Err(Violation::Unresolved { shard: 2, .. })
        ));
    }
}
