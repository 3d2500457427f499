//! Finding where two runs of one seed diverge.
//!
//! The first run records every fingerprint fold (what it was, the value,
//! the virtual time, the running hash, and for polls and spawns the task's
//! `process/task` label), up to [`STEPS_RECORDED_MAX`] steps. The second run
//! compares each of its folds with the record as it goes and keeps the first
//! mismatch, so the report can say which event diverged and what each run
//! did there.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use super::fingerprint::Fold;

/// Folds recorded in detail; beyond this only fingerprints are compared.
pub(crate) const STEPS_RECORDED_MAX: usize = 4_000_000;

/// One recorded fold: 32 bytes, no label (see [`Recorder`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    what: Fold,
    value: u64,
    time_ns: u64,
    hash: u64,
}

impl Step {
    fn same_as(&self, other: &Step) -> bool {
        self.what == other.what
            && self.value == other.value
            && self.time_ns == other.time_ns
            && self.hash == other.hash
    }

    /// Whether the step's value is a task id (a poll or a spawn).
    fn is_task(&self) -> bool {
        matches!(self.what, Fold::Poll | Fold::Spawn)
    }
}

/// A step as a divergence prints it: with its task's `process/task`.
#[derive(Clone, Debug)]
struct Shown {
    step: Step,
    label: Option<Rc<str>>,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = &self.step;
        let t = moonpool_core::Instant::from_nanos(step.time_ns);
        let label = self.label.as_deref().unwrap_or("?");
        match step.what {
            Fold::Poll => write!(f, "t={t} polled task {label}"),
            Fold::Spawn => write!(f, "t={t} spawned task {label}"),
            Fold::Event => write!(f, "t={t} fired event #{}", step.value),
            Fold::Draw => write!(f, "t={t} drew random value {:#018x}", step.value),
            Fold::Mark => write!(f, "t={t} marked {:#x}", step.value),
            Fold::Time => write!(f, "t={t} reached time {}", step.value),
        }
    }
}

/// The first difference between two runs.
#[derive(Clone, Debug)]
pub(crate) struct Divergence {
    /// Index of the first differing fold.
    pub(crate) step: usize,
    expected: Option<Shown>,
    actual: Option<Shown>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |s: &Option<Shown>| {
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

/// The first run's record: its steps, and the label of each task it
/// spawned (once per task, not per step).
struct Reference {
    steps: Vec<Step>,
    labels: BTreeMap<u64, Rc<str>>,
}

impl Reference {
    fn shown(&self, index: usize) -> Option<Shown> {
        let step = *self.steps.get(index)?;
        let label = if step.is_task() {
            self.labels.get(&step.value).cloned()
        } else {
            None
        };
        Some(Shown { step, label })
    }
}

/// Records the first run, or compares the second against it.
///
/// Memory: the first run keeps 32 bytes per step and one label per task
/// it spawned; the second keeps nothing but its position and, once, the
/// first mismatch with its label. Labels are built only for spawns of the
/// first run and for the one step a divergence prints.
pub(crate) struct Recorder {
    steps: Vec<Step>,
    labels: BTreeMap<u64, Rc<str>>,
    reference: Option<Rc<Reference>>,
    index: usize,
    divergence: Option<Divergence>,
}

impl Recorder {
    /// A recorder for the first run.
    pub(crate) fn record() -> Recorder {
        Recorder {
            steps: Vec::new(),
            labels: BTreeMap::new(),
            reference: None,
            index: 0,
            divergence: None,
        }
    }

    /// A recorder for the second run, comparing against `first`.
    pub(crate) fn compare(first: Recorder) -> Recorder {
        Recorder {
            steps: Vec::new(),
            labels: BTreeMap::new(),
            reference: Some(Rc::new(Reference {
                steps: first.steps,
                labels: first.labels,
            })),
            index: 0,
            divergence: None,
        }
    }

    /// One fold. `label` gives the `process/task` of a poll's or spawn's
    /// task; it is called only when the label must be kept.
    pub(crate) fn step(
        &mut self,
        what: Fold,
        value: u64,
        time_ns: u64,
        hash: u64,
        label: impl FnOnce() -> Option<Rc<str>>,
    ) {
        let step = Step {
            what,
            value,
            time_ns,
            hash,
        };
        match &self.reference {
            None => {
                if self.steps.len() < STEPS_RECORDED_MAX {
                    self.steps.push(step);
                    if what == Fold::Spawn
                        && self.labels.len() < STEPS_RECORDED_MAX
                        && let Some(label) = label()
                    {
                        self.labels.insert(value, label);
                    }
                }
            }
            Some(reference) => {
                if self.divergence.is_none() && self.index < reference.steps.len() {
                    let expected = &reference.steps[self.index];
                    if !expected.same_as(&step) {
                        let label = if step.is_task() { label() } else { None };
                        self.divergence = Some(Divergence {
                            step: self.index,
                            expected: reference.shown(self.index),
                            actual: Some(Shown { step, label }),
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
        if self.index < reference.steps.len() {
            return Some(Divergence {
                step: self.index,
                expected: reference.shown(self.index),
                actual: None,
            });
        }
        if self.index > reference.steps.len() && reference.steps.len() < STEPS_RECORDED_MAX {
            return Some(Divergence {
                step: reference.steps.len(),
                expected: None,
                actual: None,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_step_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Step>(), 32);
    }

    #[test]
    fn labels_are_built_for_spawns_and_for_the_divergence_only() {
        let built = std::cell::Cell::new(0);
        let label = |name: &'static str| {
            built.set(built.get() + 1);
            Some(Rc::from(name))
        };
        let mut first = Recorder::record();
        first.step(Fold::Spawn, 7, 0, 1, || label("p/t"));
        for i in 0..100 {
            first.step(Fold::Poll, 7, i, 2 + i, || label("p/t"));
        }
        assert_eq!(built.get(), 1, "one label per spawned task");
        let mut second = Recorder::compare(first);
        second.step(Fold::Spawn, 7, 0, 1, || label("p/t"));
        for i in 0..50 {
            second.step(Fold::Poll, 7, i, 2 + i, || label("p/t"));
        }
        second.step(Fold::Poll, 7, 50, 999, || label("p/t"));
        for i in 51..100 {
            second.step(Fold::Poll, 7, i, 2 + i, || label("p/t"));
        }
        assert_eq!(built.get(), 2, "and one for the divergence");
        let d = second.divergence().expect("a divergence");
        assert_eq!(d.step, 51);
        assert_eq!(
            d.to_string(),
            "runs diverge at step 51: first run t=0.000000s polled task p/t; \
             second run t=0.000000s polled task p/t"
        );
    }
}
