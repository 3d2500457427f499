//! Finding where two runs of one seed diverge.
//!
//! The first run records every fingerprint fold (what it was, the value,
//! the virtual time, the running hash, and for polls and spawns the task's
//! `process/task` label), up to [`STEPS_RECORDED_MAX`] steps. The second run
//! compares each of its folds with the record as it goes and keeps the first
//! mismatch, so the report can say which event diverged and what each run
//! did there.

use std::fmt;
use std::rc::Rc;

use super::fingerprint::Fold;

/// Folds recorded in detail; beyond this only fingerprints are compared.
pub(crate) const STEPS_RECORDED_MAX: usize = 4_000_000;

/// One recorded fold.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    what: Fold,
    value: u64,
    time_ns: u64,
    hash: u64,
    label: Option<Rc<str>>,
}

impl Step {
    fn same_as(&self, other: &Step) -> bool {
        self.what == other.what
            && self.value == other.value
            && self.time_ns == other.time_ns
            && self.hash == other.hash
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = moonpool_core::Instant::from_nanos(self.time_ns);
        let label = self.label.as_deref().unwrap_or("?");
        match self.what {
            Fold::Poll => write!(f, "t={t} polled task {label}"),
            Fold::Spawn => write!(f, "t={t} spawned task {label}"),
            Fold::Event => write!(f, "t={t} fired event #{}", self.value),
            Fold::Draw => write!(f, "t={t} drew random value {:#018x}", self.value),
            Fold::Mark => write!(f, "t={t} marked {:#x}", self.value),
            Fold::Time => write!(f, "t={t} reached time {}", self.value),
        }
    }
}

/// The first difference between two runs.
#[derive(Clone, Debug)]
pub(crate) struct Divergence {
    /// Index of the first differing fold.
    pub(crate) step: usize,
    expected: Option<Step>,
    actual: Option<Step>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<Step>| {
            s.as_ref().map(|s| s.to_string()).unwrap_or_else(|| {
                "had no such step (it ended, or went on past the other)".to_string()
            })
        };
        write!(
            f,
            "runs diverge at step {}: first run {}; second run {}",
            self.step,
            side(&self.expected),
            side(&self.actual)
        )
    }
}

/// Records the first run, or compares the second against it.
pub(crate) struct Recorder {
    steps: Vec<Step>,
    reference: Option<Rc<Vec<Step>>>,
    index: usize,
    divergence: Option<Divergence>,
}

impl Recorder {
    /// A recorder for the first run.
    pub(crate) fn record() -> Recorder {
        Recorder {
            steps: Vec::new(),
            reference: None,
            index: 0,
            divergence: None,
        }
    }

    /// A recorder for the second run, comparing against `first`.
    pub(crate) fn compare(first: Recorder) -> Recorder {
        Recorder {
            steps: Vec::new(),
            reference: Some(Rc::new(first.steps)),
            index: 0,
            divergence: None,
        }
    }

    pub(crate) fn step(
        &mut self,
        what: Fold,
        value: u64,
        time_ns: u64,
        hash: u64,
        label: Option<Rc<str>>,
    ) {
        let step = Step {
            what,
            value,
            time_ns,
            hash,
            label,
        };
        match &self.reference {
            None => {
                if self.steps.len() < STEPS_RECORDED_MAX {
                    self.steps.push(step);
                }
            }
            Some(reference) => {
                if self.divergence.is_none() && self.index < reference.len() {
                    let expected = &reference[self.index];
                    if !expected.same_as(&step) {
                        self.divergence = Some(Divergence {
                            step: self.index,
                            expected: Some(expected.clone()),
                            actual: Some(step),
                        });
                    }
                }
                self.index += 1;
            }
        }
    }

    /// The first divergence found by a comparing recorder, including a run
    /// that ended before the recorded one did.
    pub(crate) fn divergence(self) -> Option<Divergence> {
        if self.divergence.is_some() {
            return self.divergence;
        }
        let reference = self.reference?;
        if self.index < reference.len() {
            return Some(Divergence {
                step: self.index,
                expected: Some(reference[self.index].clone()),
                actual: None,
            });
        }
        if self.index > reference.len() && reference.len() < STEPS_RECORDED_MAX {
            return Some(Divergence {
                step: reference.len(),
                expected: None,
                actual: None,
            });
        }
        None
    }
}
