//! A shard's log and the state it replays to.
//!
//! The log (the crate's `RecordLog`: CRC'd records,
//! torn tail cut on recovery) holds one postcard-encoded [`Record`] per
//! change. Everything a shard knows is replayed from it by
//! [`ShardState::apply`], the same function the live shard calls after
//! each append: balances (from [`INITIAL_BALANCE`]), reservations, pending
//! credits, the outcome of every transfer it coordinated, and its ledger.
//!
//! # Invariants
//! - A record is applied to the state only once it is durable (synced),
//!   except `Abort` and `Acked`, which need not be: losing one changes
//!   nothing (presumed abort aborts a `Begin` without decision; an unacked
//!   commit is simply sent again).
//! - Replaying the log gives the state the shard had when the last synced
//!   record was applied, minus transfers begun and undecided, which
//!   [`ShardState::presume_aborts`] aborts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    ACCOUNTS, AbortReason, Account, INITIAL_BALANCE, LedgerEntry, Prepare, SHARDS, ShardDump,
    Transfer, TransferId, TransferReply, shard_of,
};

/// The shard's log file.
pub const LOG_PATH: &str = "bank/log";

/// One change, as logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// Coordinator: a cross-shard transfer begun, its amount reserved.
    Begin(Transfer),
    /// Coordinator: committed, `from` debited.
    Commit(TransferId),
    /// Coordinator: aborted (optional: presumed without it).
    Abort(TransferId),
    /// Coordinator: the participant acknowledged the commit.
    Acked(TransferId),
    /// A transfer within the shard, applied whole.
    Local(Transfer),
    /// Participant: a credit prepared (pending).
    Prepared(Prepare),
    /// Participant: the prepared credit applied.
    Credited(TransferId),
    /// Participant: the prepared credit dropped (the transfer aborted).
    Dropped(TransferId),
}

/// A transfer this shard coordinates, until it is aborted or its commit
/// acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coordinating {
    /// The transfer.
    pub transfer: Transfer,
    /// Whether it committed (its debit is applied).
    pub committed: bool,
}

/// Where a prepared credit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditState {
    /// Prepared, undecided: pending.
    Prepared,
    /// Applied.
    Credited,
    /// Dropped.
    Dropped,
}

/// What a shard knows: replayed from its log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardState {
    /// The shard.
    pub shard: u32,
    /// Balances of its accounts.
    pub balances: BTreeMap<Account, i64>,
    /// Per account, funds reserved by transfers it coordinates.
    pub reserved: BTreeMap<Account, i64>,
    /// Per account, prepared credits not yet decided.
    pub pending: BTreeMap<Account, i64>,
    /// The answer given (or to give) for every transfer it coordinated.
    pub outcomes: BTreeMap<TransferId, TransferReply>,
    /// Transfers begun and not yet aborted or acknowledged.
    pub coordinating: BTreeMap<TransferId, Coordinating>,
    /// Credits it was asked to prepare.
    pub credits: BTreeMap<TransferId, (Prepare, CreditState)>,
    /// Every change applied to a balance, in order.
    pub ledger: Vec<LedgerEntry>,
}

fn add(map: &mut BTreeMap<Account, i64>, account: Account, delta: i64) {
    let v = map.entry(account).or_default();
    *v += delta;
    if *v == 0 {
        map.remove(&account);
    }
}

impl ShardState {
    /// A shard whose accounts all hold [`INITIAL_BALANCE`].
    pub fn new(shard: u32) -> ShardState {
        ShardState {
            shard,
            balances: (0..ACCOUNTS)
                .filter(|a| shard_of(*a) == shard % SHARDS)
                .map(|a| (a, INITIAL_BALANCE))
                .collect(),
            reserved: BTreeMap::new(),
            pending: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            coordinating: BTreeMap::new(),
            credits: BTreeMap::new(),
            ledger: Vec::new(),
        }
    }

    /// The balance of `account`.
    pub fn balance(&self, account: Account) -> i64 {
        self.balances.get(&account).copied().unwrap_or(0)
    }

    /// What `account` can still give: its balance minus reservations.
    pub fn available(&self, account: Account) -> i64 {
        self.balance(account) - self.reserved.get(&account).copied().unwrap_or(0)
    }

    /// What `account` will hold if every pending credit lands.
    pub fn with_pending(&self, account: Account) -> i64 {
        self.balance(account) + self.pending.get(&account).copied().unwrap_or(0)
    }

    fn change(&mut self, id: TransferId, account: Account, delta: i64) {
        *self.balances.entry(account).or_default() += delta;
        self.ledger.push(LedgerEntry { id, account, delta });
    }

    /// Applies one record (replay, or live once it is durable).
    pub fn apply(&mut self, record: &Record) {
        match *record {
            Record::Begin(t) => {
                add(&mut self.reserved, t.from, t.amount);
                self.coordinating.insert(
                    t.id,
                    Coordinating {
                        transfer: t,
                        committed: false,
                    },
                );
            }
            Record::Commit(id) => {
                if let Some(c) = self.coordinating.get_mut(&id)
                    && !c.committed
                {
                    c.committed = true;
                    let t = c.transfer;
                    add(&mut self.reserved, t.from, -t.amount);
                    self.change(id, t.from, -t.amount);
                    self.outcomes.insert(id, TransferReply::Committed);
                }
            }
            Record::Abort(id) => {
                if let Some(c) = self.coordinating.get(&id).copied()
                    && !c.committed
                {
                    self.coordinating.remove(&id);
                    add(&mut self.reserved, c.transfer.from, -c.transfer.amount);
                    self.outcomes
                        .entry(id)
                        .or_insert(TransferReply::Aborted(AbortReason::Timeout));
                }
            }
            Record::Acked(id) => {
                if self.coordinating.get(&id).is_some_and(|c| c.committed) {
                    self.coordinating.remove(&id);
                }
            }
            Record::Local(t) => {
                self.change(t.id, t.from, -t.amount);
                self.change(t.id, t.to, t.amount);
                self.outcomes.insert(t.id, TransferReply::Committed);
            }
            Record::Prepared(p) => {
                if !self.credits.contains_key(&p.id) {
                    add(&mut self.pending, p.to, p.amount);
                    self.credits.insert(p.id, (p, CreditState::Prepared));
                }
            }
            Record::Credited(id) => {
                if let Some((p, state)) = self.credits.get(&id).copied()
                    && state == CreditState::Prepared
                {
                    add(&mut self.pending, p.to, -p.amount);
                    self.change(id, p.to, p.amount);
                    self.credits.insert(id, (p, CreditState::Credited));
                }
            }
            Record::Dropped(id) => {
                if let Some((p, state)) = self.credits.get(&id).copied()
                    && state == CreditState::Prepared
                {
                    add(&mut self.pending, p.to, -p.amount);
                    self.credits.insert(id, (p, CreditState::Dropped));
                }
            }
        }
    }

    /// Presumed abort after a restart: every transfer begun and not
    /// decided is aborted (nobody was told it committed). Returns them.
    pub fn presume_aborts(&mut self) -> Vec<TransferId> {
        let undecided: Vec<TransferId> = self
            .coordinating
            .iter()
            .filter(|(_, c)| !c.committed)
            .map(|(id, _)| *id)
            .collect();
        for id in &undecided {
            self.apply(&Record::Abort(*id));
        }
        undecided
    }

    /// The shard's state for the checks.
    pub fn dump(&self) -> ShardDump {
        ShardDump {
            shard: self.shard,
            balances: self.balances.iter().map(|(a, b)| (*a, *b)).collect(),
            ledger: self.ledger.clone(),
            coordinating: self.coordinating.keys().copied().collect(),
            in_doubt: self
                .credits
                .iter()
                .filter(|(_, (_, s))| *s == CreditState::Prepared)
                .map(|(id, _)| *id)
                .collect(),
            reserved: self.reserved.values().sum(),
            pending: self.pending.values().sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(id: TransferId, from: Account, to: Account, amount: i64) -> Transfer {
        Transfer {
            id,
            from,
            to,
            amount,
        }
    }

    #[test]
    fn a_coordinated_transfer_reserves_then_debits_once() {
        let mut s = ShardState::new(0);
        let t = transfer(1, 0, 1, 30);
        s.apply(&Record::Begin(t));
        assert_eq!(s.available(0), 70);
        assert_eq!(s.balance(0), 100);
        s.apply(&Record::Commit(1));
        s.apply(&Record::Commit(1));
        assert_eq!((s.balance(0), s.available(0)), (70, 70));
        assert_eq!(s.outcomes.get(&1), Some(&TransferReply::Committed));
        assert_eq!(s.coordinating.len(), 1, "committed, not yet acknowledged");
        s.apply(&Record::Acked(1));
        assert!(s.coordinating.is_empty());
        assert_eq!(s.ledger.len(), 1);
    }

    #[test]
    fn undecided_transfers_are_presumed_aborted() {
        let mut s = ShardState::new(0);
        s.apply(&Record::Begin(transfer(1, 0, 1, 30)));
        s.apply(&Record::Begin(transfer(2, 3, 1, 10)));
        s.apply(&Record::Commit(2));
        assert_eq!(s.presume_aborts(), vec![1]);
        assert_eq!(s.available(0), 100);
        assert_eq!(
            s.outcomes.get(&1),
            Some(&TransferReply::Aborted(AbortReason::Timeout))
        );
        assert_eq!(s.balance(3), 90, "the committed one stays");
    }

    #[test]
    fn a_prepared_credit_is_pending_until_credited_or_dropped() {
        let mut s = ShardState::new(1);
        let p = |id| Prepare {
            id,
            to: 1,
            amount: 20,
            coordinator: 0,
        };
        s.apply(&Record::Prepared(p(1)));
        s.apply(&Record::Prepared(p(2)));
        assert_eq!(s.with_pending(1), 140);
        s.apply(&Record::Credited(1));
        s.apply(&Record::Dropped(2));
        s.apply(&Record::Credited(2));
        assert_eq!((s.balance(1), s.with_pending(1)), (120, 120));
        assert!(s.dump().in_doubt.is_empty());
    }

    #[test]
    fn a_local_transfer_moves_the_money_in_one_record() {
        let mut s = ShardState::new(0);
        s.apply(&Record::Local(transfer(5, 0, 3, 40)));
        assert_eq!((s.balance(0), s.balance(3)), (60, 140));
        assert_eq!(s.ledger.len(), 2);
    }
}
