//! Per-seed shared state: plain data read after the seed (transports
//! are dropped inside the seed).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use moonpool_transport::{Transport, TransportMetrics};

use crate::VIOLATIONS_MAX;
use crate::service::Mode;
use crate::tap::{TapLog, TapProviders};

// dropped inside the seed).

/// What happened to one call.
#[derive(Clone, Debug)]
pub(crate) struct CallRecord {
    pub(crate) mode: Mode,
    pub(crate) outcome: Option<&'static str>,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) tap: Rc<RefCell<TapLog>>,
    /// Every transport of the seed, until the snapshot.
    pub(crate) transports: RefCell<Vec<(String, Transport<TapProviders>)>>,
    /// Their counters at the snapshot.
    pub(crate) snapshot: RefCell<Option<Vec<(String, TransportMetrics)>>>,
    pub(crate) violations: RefCell<Vec<String>>,
    pub(crate) violations_dropped: Cell<u64>,
    pub(crate) calls: RefCell<BTreeMap<u64, CallRecord>>,
    /// Times each call id was processed by a server.
    pub(crate) processed: RefCell<BTreeMap<u64, u32>>,
    pub(crate) tally: RefCell<BTreeMap<&'static str, u64>>,
    /// Long calls during which the client's connection to the server dropped
    /// and that still got their reply.
    pub(crate) survived_disconnect: Cell<u64>,
    pub(crate) clients_done: Cell<usize>,
}

impl Shared {
    /// Forgets everything (a new run of the simulation starts).
    pub(crate) fn reset(&self) {
        *self.tap.borrow_mut() = TapLog::default();
        let transports = std::mem::take(&mut *self.transports.borrow_mut());
        drop(transports);
        *self.snapshot.borrow_mut() = None;
        self.violations.borrow_mut().clear();
        self.violations_dropped.set(0);
        self.calls.borrow_mut().clear();
        self.processed.borrow_mut().clear();
        self.tally.borrow_mut().clear();
        self.survived_disconnect.set(0);
        self.clients_done.set(0);
    }

    pub(crate) fn violation(&self, what: String) {
        let mut v = self.violations.borrow_mut();
        if v.len() < VIOLATIONS_MAX {
            v.push(what);
        } else {
            self.violations_dropped
                .set(self.violations_dropped.get() + 1);
        }
    }

    pub(crate) fn register(&self, name: String, t: &Transport<TapProviders>) {
        self.transports.borrow_mut().push((name, t.clone()));
    }

    pub(crate) fn count(&self, what: &'static str) {
        *self.tally.borrow_mut().entry(what).or_default() += 1;
    }

    pub(crate) fn issue(&self, id: u64, mode: Mode) {
        let fresh = self
            .calls
            .borrow_mut()
            .insert(
                id,
                CallRecord {
                    mode,
                    outcome: None,
                },
            )
            .is_none();
        if !fresh {
            self.violation(format!("call id {id} issued twice"));
        }
    }

    pub(crate) fn finish(&self, id: u64, outcome: &'static str) {
        let previous = self
            .calls
            .borrow_mut()
            .get_mut(&id)
            .map(|c| c.outcome.replace(outcome));
        match previous {
            Some(None) => self.count(outcome),
            Some(Some(first)) => {
                self.violation(format!("call {id} ended twice: {first}, then {outcome}"))
            }
            None => self.violation(format!("call {id} ended but was never issued")),
        }
    }

    /// Reads every registered transport's counters, stops the tap at the
    /// same instant, and drops the handles.
    pub(crate) fn take_snapshot(&self) {
        let transports = std::mem::take(&mut *self.transports.borrow_mut());
        let metrics = transports
            .iter()
            .map(|(name, t)| (name.clone(), t.metrics()))
            .collect();
        self.tap.borrow_mut().freeze();
        *self.snapshot.borrow_mut() = Some(metrics);
        drop(transports);
    }
}
