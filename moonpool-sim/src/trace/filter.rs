//! [`TraceFilter`]: which trace events a sink keeps, so that a long seed's
//! trace is readable: by process, task, target and level, and by a window
//! of simulated time.
//!
//! # Syntax (`--trace-filter`)
//! Comma-separated directives, in the spirit of `tracing`'s `EnvFilter`:
//! - `process=NAME`: events of that process only (repeat for several;
//!   `-` is the simulator itself);
//! - `task=NAME`: events of that task only (repeatable);
//! - `level=LEVEL` or a bare `LEVEL` (`error`, `warn`, `info`, `debug`,
//!   `trace`): the most verbose level kept for targets no directive names;
//! - `TARGET=LEVEL` or a bare `TARGET` (a module path such as
//!   `moonpool_transport` or `kv::server`): the level for events whose
//!   target is that path or below it; the longest matching path wins.
//!
//! The window (`--trace-from`, `--trace-until`) keeps events whose
//! simulated time `t` is in `[from, until]`.
//!
//! Filtering decides what is *written*, never what runs: a filtered trace
//! and no trace give the same fingerprint.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use tracing::Level;

/// Which events a sink keeps. The default keeps everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceFilter {
    /// Keep only events of these processes (`None`: every process).
    pub processes: Option<BTreeSet<String>>,
    /// Keep only events of these tasks (`None`: every task).
    pub tasks: Option<BTreeSet<String>>,
    /// The most verbose level kept for targets no directive names
    /// (`None`: every level).
    pub level: Option<Level>,
    /// `(target path, most verbose level)`; the longest matching path wins.
    pub targets: Vec<(String, Level)>,
    /// Keep only events at or after this simulated time.
    pub from: Option<Duration>,
    /// Keep only events at or before this simulated time.
    pub until: Option<Duration>,
}

/// A `--trace-filter` that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceFilterError {
    /// A level that is not `error`, `warn`, `info`, `debug` or `trace`.
    #[error("'{0}' is not a level (error, warn, info, debug, trace)")]
    Level(String),
    /// A directive with an empty name or value.
    #[error("'{0}' is not a directive (process=NAME, task=NAME, level=LEVEL, TARGET=LEVEL)")]
    Directive(String),
    /// A window that ends before it begins.
    #[error("the window ends ({until:?}) before it begins ({from:?})")]
    EmptyWindow {
        /// `--trace-from`.
        from: Duration,
        /// `--trace-until`.
        until: Duration,
    },
}

fn level(text: &str) -> Option<Level> {
    match text.to_ascii_lowercase().as_str() {
        "error" => Some(Level::ERROR),
        "warn" => Some(Level::WARN),
        "info" => Some(Level::INFO),
        "debug" => Some(Level::DEBUG),
        "trace" => Some(Level::TRACE),
        _ => None,
    }
}

impl TraceFilter {
    /// Reads a `--trace-filter` string (see the [module documentation](self)).
    pub fn parse(text: &str) -> Result<TraceFilter, TraceFilterError> {
        let mut filter = TraceFilter::default();
        for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let (key, value) = match directive.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (directive, None),
            };
            if key.is_empty() || value.is_some_and(str::is_empty) {
                return Err(TraceFilterError::Directive(directive.to_string()));
            }
            match (key, value) {
                ("process", Some(name)) => {
                    filter
                        .processes
                        .get_or_insert_with(BTreeSet::new)
                        .insert(name.to_string());
                }
                ("task", Some(name)) => {
                    filter
                        .tasks
                        .get_or_insert_with(BTreeSet::new)
                        .insert(name.to_string());
                }
                ("level", Some(l)) => {
                    filter.level =
                        Some(level(l).ok_or_else(|| TraceFilterError::Level(l.to_string()))?);
                }
                (bare, None) => match level(bare) {
                    Some(l) => filter.level = Some(l),
                    None => filter.targets.push((bare.to_string(), Level::TRACE)),
                },
                (target, Some(l)) => {
                    let l = level(l).ok_or_else(|| TraceFilterError::Level(l.to_string()))?;
                    filter.targets.push((target.to_string(), l));
                }
            }
        }
        Ok(filter)
    }

    /// Sets the window `[from, until]` of simulated time.
    pub fn with_window(
        mut self,
        from: Option<Duration>,
        until: Option<Duration>,
    ) -> Result<TraceFilter, TraceFilterError> {
        if let (Some(from), Some(until)) = (from, until)
            && until < from
        {
            return Err(TraceFilterError::EmptyWindow { from, until });
        }
        self.from = from;
        self.until = until;
        Ok(self)
    }

    /// The most verbose level this filter can keep (for the layer's hint).
    pub(crate) fn max_level(&self) -> Level {
        let mut most = self.level.unwrap_or(if self.targets.is_empty() {
            Level::TRACE
        } else {
            Level::ERROR
        });
        for (_, l) in &self.targets {
            // `Level` orders more verbose as greater.
            most = most.max(*l);
        }
        most
    }

    /// Whether an event of `target` at `level` can be kept (before the
    /// stamps are known).
    pub(crate) fn keeps_level(&self, target: &str, level: Level) -> bool {
        let named = self
            .targets
            .iter()
            .filter(|(path, _)| {
                target == path
                    || target
                        .strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with("::"))
            })
            .max_by_key(|(path, _)| path.len());
        let most = match named {
            Some((_, l)) => *l,
            None if self.targets.is_empty() => self.level.unwrap_or(Level::TRACE),
            // Target directives given: other targets only at `level`.
            None => match self.level {
                Some(l) => l,
                None => return false,
            },
        };
        level <= most
    }

    /// Whether an event stamped with `time`, `process` and `task` is kept.
    pub(crate) fn keeps_stamp(&self, time: Option<Duration>, process: &str, task: &str) -> bool {
        let in_window = match time {
            Some(t) => self.from.is_none_or(|f| t >= f) && self.until.is_none_or(|u| t <= u),
            // Outside a simulation there is no time: only an unwindowed
            // filter keeps it.
            None => self.from.is_none() && self.until.is_none(),
        };
        in_window
            && self.processes.as_ref().is_none_or(|p| p.contains(process))
            && self.tasks.as_ref().is_none_or(|t| t.contains(task))
    }
}

impl fmt::Display for TraceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        for p in self.processes.iter().flatten() {
            parts.push(format!("process={p}"));
        }
        for t in self.tasks.iter().flatten() {
            parts.push(format!("task={t}"));
        }
        if let Some(l) = self.level {
            parts.push(format!("level={}", l.as_str().to_ascii_lowercase()));
        }
        for (path, l) in &self.targets {
            parts.push(format!("{path}={}", l.as_str().to_ascii_lowercase()));
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse_into_processes_levels_and_targets() {
        let f = TraceFilter::parse("process=kv-replica-1, level=debug,moonpool_transport=warn,kv")
            .expect("valid");
        assert_eq!(f.processes, Some(["kv-replica-1".to_string()].into()));
        assert_eq!(f.level, Some(Level::DEBUG));
        assert_eq!(
            f.targets,
            vec![
                ("moonpool_transport".to_string(), Level::WARN),
                ("kv".to_string(), Level::TRACE)
            ]
        );
        assert_eq!(
            f.to_string(),
            "process=kv-replica-1,level=debug,moonpool_transport=warn,kv=trace"
        );
    }

    #[test]
    fn the_longest_target_path_decides_and_others_fall_back_to_the_level() {
        let f = TraceFilter::parse("info,kv=trace,kv::server=warn").expect("valid");
        assert!(f.keeps_level("kv::client", Level::TRACE));
        assert!(!f.keeps_level("kv::server", Level::INFO));
        assert!(f.keeps_level("kv::server::log", Level::WARN));
        assert!(
            !f.keeps_level("kvx", Level::DEBUG),
            "kv is a path, not a prefix of kvx"
        );
        assert!(f.keeps_level("other", Level::INFO));
        assert!(!f.keeps_level("other", Level::DEBUG));
        let only = TraceFilter::parse("kv=debug").expect("valid");
        assert!(!only.keeps_level("other", Level::ERROR), "only kv is named");
        assert_eq!(only.max_level(), Level::DEBUG);
    }

    #[test]
    fn bad_directives_and_empty_windows_are_refused() {
        assert_eq!(
            TraceFilter::parse("level=loud"),
            Err(TraceFilterError::Level("loud".to_string()))
        );
        assert_eq!(
            TraceFilter::parse("process="),
            Err(TraceFilterError::Directive("process=".to_string()))
        );
        let window = TraceFilter::default()
            .with_window(Some(Duration::from_secs(2)), Some(Duration::from_secs(1)));
        assert!(matches!(window, Err(TraceFilterError::EmptyWindow { .. })));
    }

    #[test]
    fn the_window_and_processes_select_stamps() {
        let f = TraceFilter::parse("process=a")
            .and_then(|f| {
                f.with_window(
                    Some(Duration::from_millis(1200)),
                    Some(Duration::from_millis(1500)),
                )
            })
            .expect("valid");
        assert!(f.keeps_stamp(Some(Duration::from_millis(1300)), "a", "main"));
        assert!(!f.keeps_stamp(Some(Duration::from_millis(1300)), "b", "main"));
        assert!(!f.keeps_stamp(Some(Duration::from_millis(1600)), "a", "main"));
        assert!(!f.keeps_stamp(None, "a", "main"));
    }
}
