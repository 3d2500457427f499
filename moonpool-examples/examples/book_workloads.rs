//! The book's chapter "Workloads and invariants" (`docs/src/workloads.md`):
//! a workload checked against a reference model, a conservation law
//! checked during the run by a background workload and after it, and an
//! operation log checked for linearizability by the kv example's checker.
//!
//! Each system has a planted bug the tests show is caught, and passes its
//! checks without it. `cargo run -p moonpool-examples --example
//! book_workloads` prints how many seeds each bug needed.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use moonpool_core::{Instant, Providers, RandomProvider, TaskProvider, TimeProvider};
use moonpool_examples::kv::{History, Op, OpKind, Outcome, check_history};
use moonpool_sim::{
    FnWorkload, SeedFailure, SimContext, SimProviders, Simulation, SimulationBuilder, Workload,
    WorkloadResult,
};

// ANCHOR: cache
/// The system under test: a cache whose entries expire after a time to
/// live. A sweeper task removes expired entries every `SWEEP_INTERVAL`.
pub struct TtlCache<P: Providers> {
    p: P,
    entries: RefCell<BTreeMap<u64, (u64, Instant)>>,
    /// The planted bug: `get` trusts the sweeper and serves an expired
    /// entry until the next sweep.
    trust_the_sweeper: bool,
}

/// How often the sweeper runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(10);

impl<P: Providers> TtlCache<P> {
    /// A cache and its sweeper task (dropping the handle stops it).
    pub fn start(
        p: &P,
        trust_the_sweeper: bool,
    ) -> (Rc<Self>, <P::Task as TaskProvider>::Handle<()>) {
        let cache = Rc::new(TtlCache {
            p: p.clone(),
            entries: RefCell::new(BTreeMap::new()),
            trust_the_sweeper,
        });
        let sweeper = p.task().spawn("sweeper", Rc::clone(&cache).sweep());
        (cache, sweeper)
    }

    /// Stores `value` under `key` for `ttl`.
    pub fn put(&self, key: u64, value: u64, ttl: Duration) {
        let deadline = self.p.time().now() + ttl;
        self.entries.borrow_mut().insert(key, (value, deadline));
    }

    /// The value of `key`, unless it has expired.
    pub fn get(&self, key: u64) -> Option<u64> {
        let (value, deadline) = *self.entries.borrow().get(&key)?;
        if !self.trust_the_sweeper && self.p.time().now() >= deadline {
            return None;
        }
        Some(value)
    }

    /// Entries not yet swept.
    pub fn unswept(&self) -> usize {
        self.entries.borrow().len()
    }

    async fn sweep(self: Rc<Self>) {
        loop {
            self.p.time().sleep(SWEEP_INTERVAL).await;
            let now = self.p.time().now();
            self.entries
                .borrow_mut()
                .retain(|_, (_, deadline)| *deadline > now);
        }
    }
}
// ANCHOR_END: cache

// ANCHOR: model_workload
/// One client: random puts and gets, each answer compared with a model.
struct CacheWorkload {
    trust_the_sweeper: bool,
    cache: Option<Rc<TtlCache<SimProviders>>>,
    sweeper: Option<<<SimProviders as Providers>::Task as TaskProvider>::Handle<()>>,
    /// The reference model: what the cache must answer, in the simplest
    /// code that could be right.
    model: BTreeMap<u64, (u64, Instant)>,
}

impl Workload for CacheWorkload {
    async fn setup(&mut self, ctx: &SimContext) -> WorkloadResult {
        let (cache, sweeper) = TtlCache::start(ctx.providers(), self.trust_the_sweeper);
        self.cache = Some(cache);
        self.sweeper = Some(sweeper);
        Ok(())
    }

    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        let cache = self.cache.as_ref().ok_or("not set up")?;
        for value in 0..200u64 {
            let key = p.random_range(0..8u64);
            if p.random_range(0..10u32) < 4 {
                let ttl = Duration::from_millis(p.random_range(1..=30u64));
                cache.put(key, value, ttl);
                self.model.insert(key, (value, p.now() + ttl));
            } else {
                let expected = match self.model.get(&key) {
                    Some(&(v, deadline)) if p.now() < deadline => Some(v),
                    _ => None,
                };
                let got = cache.get(key);
                if got != expected {
                    return Err(format!(
                        "the cache diverged from its model at t={}: get({key}) returned \
                         {got:?}, the model says {expected:?}",
                        p.now()
                    )
                    .into());
                }
            }
            p.sleep(Duration::from_millis(p.random_range(0..=5u64)))
                .await;
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &SimContext) -> WorkloadResult {
        // Every entry expired 30 ms after the last put at the latest: once
        // a sweep has passed after that, the cache is empty.
        ctx.providers()
            .sleep(Duration::from_millis(30) + 2 * SWEEP_INTERVAL)
            .await;
        let left = self.cache.as_ref().ok_or("not set up")?.unswept();
        if left != 0 {
            return Err(format!("{left} expired entries were never swept").into());
        }
        Ok(())
    }
}

fn cache_simulation(trust_the_sweeper: bool) -> Simulation {
    SimulationBuilder::new()
        .workload("cache-client", 1, move |_| CacheWorkload {
            trust_the_sweeper,
            cache: None,
            sweeper: None,
            model: BTreeMap::new(),
        })
        .build()
        .expect("a valid simulation")
}
// ANCHOR_END: model_workload

// ANCHOR: ledger
/// Accounts and the money moving between them.
const ACCOUNTS: usize = 4;
const OPENING_BALANCE: i64 = 100;

/// The system under test: transfers between accounts, each debit and
/// credit written to a (simulated) log before it is applied.
pub struct Ledger {
    balances: RefCell<Vec<i64>>,
    /// Debited, not yet credited.
    in_flight: Cell<i64>,
    /// The planted bug: the debit is computed from a balance read before
    /// the log write, so a concurrent transfer's debit is overwritten.
    lost_update: bool,
}

impl Ledger {
    fn new(lost_update: bool) -> Ledger {
        Ledger {
            balances: RefCell::new(vec![OPENING_BALANCE; ACCOUNTS]),
            in_flight: Cell::new(0),
            lost_update,
        }
    }

    /// Moves `amount` from `from` to `to`; false if the funds are short.
    pub async fn transfer<P: Providers>(&self, p: &P, from: usize, to: usize, amount: i64) -> bool {
        if self.lost_update {
            let before = self.balances.borrow()[from];
            if before < amount {
                return false;
            }
            log_write(p).await;
            self.balances.borrow_mut()[from] = before - amount;
            self.in_flight.set(self.in_flight.get() + amount);
        } else {
            {
                let mut balances = self.balances.borrow_mut();
                if balances[from] < amount {
                    return false;
                }
                balances[from] -= amount;
                self.in_flight.set(self.in_flight.get() + amount);
            }
            log_write(p).await;
        }
        log_write(p).await;
        self.balances.borrow_mut()[to] += amount;
        self.in_flight.set(self.in_flight.get() - amount);
        true
    }
}

/// A log write: a few milliseconds during which other tasks run.
async fn log_write<P: Providers>(p: &P) {
    let ms = p.random().random_range(1..=3u64);
    p.time().sleep(Duration::from_millis(ms)).await;
}
// ANCHOR_END: ledger

// ANCHOR: conservation
/// The conservation law: money is neither created nor destroyed. What the
/// accounts hold plus what is in flight is what was deposited.
fn money_conserved(ledger: &Ledger) -> Result<(), String> {
    let held: i64 = ledger.balances.borrow().iter().sum();
    let total = held + ledger.in_flight.get();
    let deposited = OPENING_BALANCE * ACCOUNTS as i64;
    if total != deposited {
        return Err(format!(
            "money not conserved: the accounts hold {held} and {} is in flight, \
             {deposited} was deposited",
            ledger.in_flight.get()
        ));
    }
    Ok(())
}

fn ledger_simulation(lost_update: bool) -> Simulation {
    // One ledger per simulation, shared by the workloads; reset by client
    // 0's setup at the start of every seed.
    let ledger = Rc::new(Ledger::new(lost_update));
    let auditor_ledger = Rc::clone(&ledger);
    SimulationBuilder::new()
        .workload("transfers", 3, move |client_id| Transfers {
            client_id,
            ledger: Rc::clone(&ledger),
        })
        // The auditor runs beside the clients and checks the law while
        // money moves; it stops when every client's run phase is over.
        .background_workload("auditor", 1, move |_| {
            let ledger = Rc::clone(&auditor_ledger);
            FnWorkload::new(move |ctx: SimContext| {
                let ledger = Rc::clone(&ledger);
                async move {
                    while ctx.pause(Duration::from_millis(1)).await {
                        money_conserved(&ledger)?;
                    }
                    Ok(())
                }
            })
        })
        .build()
        .expect("a valid simulation")
}

/// A client making random transfers; client 0 checks the law at the end.
struct Transfers {
    client_id: usize,
    ledger: Rc<Ledger>,
}

impl Workload for Transfers {
    async fn setup(&mut self, _ctx: &SimContext) -> WorkloadResult {
        if self.client_id == 0 {
            *self.ledger.balances.borrow_mut() = vec![OPENING_BALANCE; ACCOUNTS];
            self.ledger.in_flight.set(0);
        }
        Ok(())
    }

    async fn run(&mut self, ctx: &SimContext) -> WorkloadResult {
        let p = ctx.providers();
        for _ in 0..30 {
            let from = p.random_range(0..ACCOUNTS);
            let to = (from + p.random_range(1..ACCOUNTS)) % ACCOUNTS;
            let amount = p.random_range(1..=40i64);
            self.ledger.transfer(p, from, to, amount).await;
        }
        Ok(())
    }

    async fn check(&mut self, _ctx: &SimContext) -> WorkloadResult {
        if self.client_id == 0 {
            money_conserved(&self.ledger)?;
            if self.ledger.in_flight.get() != 0 {
                return Err("a transfer never finished".into());
            }
        }
        Ok(())
    }
}
// ANCHOR_END: conservation

// ANCHOR: operation_log
/// A history of one key: client 0 wrote 7 between t=0 and t=10 ms, and
/// was told it succeeded; client 1 read afterwards and got `read`.
fn history_with_read(read: Option<u64>) -> History {
    let ms = |n: u64| n * 1_000_000;
    let mut history = History::default();
    history.push(Op {
        client: 0,
        key: 1,
        kind: OpKind::Put(7),
        invoke_ns: ms(0),
        complete_ns: ms(10),
        outcome: Outcome::Wrote,
    });
    history.push(Op {
        client: 1,
        key: 1,
        kind: OpKind::Get,
        invoke_ns: ms(20),
        complete_ns: ms(30),
        outcome: Outcome::Read(read),
    });
    history
}
// ANCHOR_END: operation_log

/// The first seed in `0..limit` that fails, and the failure.
fn first_failure(sim: &Simulation, limit: u64) -> Option<(u64, SeedFailure)> {
    (0..limit).find_map(|seed| {
        let report = sim.run_seed(seed);
        report.outcome.failure().cloned().map(|f| (seed, f))
    })
}

fn main() {
    for (name, sim) in [
        ("ttl cache, get trusts the sweeper", cache_simulation(true)),
        ("ledger, lost update", ledger_simulation(true)),
    ] {
        let failed = (0..100)
            .filter(|&s| !sim.run_seed(s).outcome.is_pass())
            .count();
        match first_failure(&sim, 100) {
            Some((seed, failure)) => {
                println!("{name}: {failed} of seeds 0..100 fail; seed {seed}: {failure}")
            }
            None => println!("{name}: 100 seeds pass"),
        }
    }
    for (name, sim) in [
        ("ttl cache", cache_simulation(false)),
        ("ledger", ledger_simulation(false)),
    ] {
        let passed = (0..100)
            .filter(|&s| sim.run_seed(s).outcome.is_pass())
            .count();
        println!("{name} without the bug: {passed} of 100 seeds pass");
    }
    println!(
        "stale read: {:?}",
        check_history(&history_with_read(None)).map(|_| ())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_passes(sim: &Simulation, seeds: std::ops::Range<u64>) {
        for seed in seeds {
            let r = sim.run_seed(seed);
            assert!(r.outcome.is_pass(), "seed {seed}: {:?}", r.outcome);
        }
    }

    #[test]
    fn the_reference_model_catches_a_cache_serving_expired_entries() {
        let (seed, failure) =
            first_failure(&cache_simulation(true), 50).expect("caught within 50 seeds");
        let text = failure.to_string();
        assert!(
            text.contains("the cache diverged from its model"),
            "seed {seed}: {text}"
        );
        // The failure replays: same seed, same failure.
        assert_eq!(
            cache_simulation(true).run_seed(seed).outcome.failure(),
            Some(&failure)
        );
    }

    #[test]
    fn the_cache_without_the_bug_agrees_with_its_model() {
        assert_passes(&cache_simulation(false), 0..50);
    }

    #[test]
    fn the_conservation_law_catches_a_lost_update() {
        let (_, failure) =
            first_failure(&ledger_simulation(true), 50).expect("caught within 50 seeds");
        assert!(
            failure.to_string().contains("money not conserved"),
            "{failure}"
        );
    }

    #[test]
    fn the_ledger_without_the_bug_conserves_money() {
        assert_passes(&ledger_simulation(false), 0..50);
    }

    #[test]
    fn the_auditor_catches_the_lost_update_while_money_moves() {
        // Some failing seed is caught by the background auditor, during the
        // run phase, not only by the check after it.
        let sim = ledger_simulation(true);
        let by_auditor = (0..50).any(|seed| {
            matches!(
                sim.run_seed(seed).outcome.failure(),
                Some(SeedFailure::WorkloadFailed { workload, phase: "run", .. })
                    if workload == "auditor"
            )
        });
        assert!(by_auditor, "the auditor never caught it");
    }

    #[test]
    fn the_linearizability_checker_rejects_a_stale_read_and_accepts_a_fresh_one() {
        let stale = check_history(&history_with_read(None)).expect_err("a stale read");
        assert!(
            stale
                .to_string()
                .starts_with("linearizability violated on key 1"),
            "{stale}"
        );
        check_history(&history_with_read(Some(7))).expect("a fresh read is linearizable");
    }
}
