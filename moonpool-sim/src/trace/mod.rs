//! Tracing in simulated time: a [`tracing_subscriber::Layer`] that stamps
//! every event with the seed, the simulated time, and the process and task
//! being polled.
//!
//! # Types
//! - [`TraceSink`]: where trace lines go (a file, a test's captured output,
//!   memory, any writer), and the most verbose level kept (default
//!   `TRACE`: everything). Cheap to clone; clones share the writer.
//! - [`TraceFilter`]: which events a sink keeps: by process, task, target
//!   and level, and by a window of simulated time (`--trace-filter`,
//!   `--trace-from`, `--trace-until`; `filter.rs`).
//! - [`SimTraceLayer`]: the layer. Each event becomes one line:
//!
//!   ```text
//!   seed=0x2a t=0.012000s process=server task=main DEBUG demo::server: accepted peer=10.254.0.1
//!   ```
//!
//!   `t` is the simulated clock of the current world; `process`/`task` are
//!   `-` when the simulator itself (an event callback) is running, and all
//!   four stamps are `-` outside a simulation. Active spans are listed as
//!   `span=outer:inner` before the level.
//!
//! # Layer
//! This module belongs to the runner's layer (4): a
//! [`SweepPlan`](crate::SweepPlan) carries a [`TraceSink`] and the sweep
//! installs it, so a `cargo test` replay traces with `MOONPOOL_TRACE` alone.
//! It reads only the kernel (the current kernel's clock, task and process
//! names); the CLI, one layer up, opens the sink for `--trace`.
//!
//! # Invariants
//! - Tracing never changes an execution: the layer only reads the kernel
//!   (clock, current task, labels) through non-panicking borrows and never
//!   draws randomness, schedules, or wakes. A seed's fingerprint is the same
//!   with and without a trace (tested).
//! - A line is formatted before the writer's lock is taken, so user `Debug`
//!   impls never run under the lock.
//!
//! # Use
//! `--trace FILE` on the CLI (or `MOONPOOL_TRACE=FILE`) installs the layer
//! for the whole run. In a test, [`with_sink`] installs it for a closure:
//!
//! ```
//! # use moonpool_sim::trace::{TraceSink, with_sink};
//! let (sink, buffer) = TraceSink::memory();
//! with_sink(&sink, || tracing::info!(answer = 42, "hello"));
//! assert!(buffer.contents().contains("INFO"));
//! ```

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::kernel::{Kernel, with_current};

mod filter;

pub use filter::{TraceFilter, TraceFilterError};

type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where trace lines go. See the [module documentation](self).
#[derive(Clone)]
pub struct TraceSink {
    writer: SharedWriter,
    filter: Arc<TraceFilter>,
    name: Arc<str>,
}

impl fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceSink")
            .field("name", &self.name)
            .field("filter", &self.filter)
            .finish()
    }
}

/// The lines a [`TraceSink::memory`] sink collected.
#[derive(Clone, Debug, Default)]
pub struct TraceBuffer(Arc<Mutex<Vec<u8>>>);

impl TraceBuffer {
    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&lock(&self.0)).into_owned()
    }
}

impl Write for TraceBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes through `eprint!`, which the test harness captures per test.
struct TestOutput;

impl Write for TestOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        eprint!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a line was written leaves at worst a partial line.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TraceSink {
    /// Trace lines to `writer`, described as `name` in reports.
    pub fn writer(name: impl Into<String>, writer: impl Write + Send + 'static) -> TraceSink {
        let name: String = name.into();
        TraceSink {
            writer: Arc::new(Mutex::new(Box::new(writer))),
            filter: Arc::new(TraceFilter::default()),
            name: name.into(),
        }
    }

    /// Trace lines to a new (truncated) file at `path`, buffered.
    pub fn file(path: impl AsRef<Path>) -> io::Result<TraceSink> {
        let path = path.as_ref();
        let file = std::fs::File::create(path)?;
        Ok(TraceSink::writer(
            path.display().to_string(),
            io::BufWriter::new(file),
        ))
    }

    /// Trace lines to the running test's captured output (shown when the
    /// test fails, or with `cargo test -- --nocapture`).
    pub fn test_output() -> TraceSink {
        TraceSink::writer("test output", TestOutput)
    }

    /// Trace lines kept in memory, readable from the returned buffer.
    pub fn memory() -> (TraceSink, TraceBuffer) {
        let buffer = TraceBuffer::default();
        (TraceSink::writer("memory", buffer.clone()), buffer)
    }

    /// Keeps only events at `level` or more severe (default `TRACE`).
    pub fn with_level(mut self, level: Level) -> TraceSink {
        Arc::make_mut(&mut self.filter).level = Some(level);
        self
    }

    /// Keeps only the events `filter` selects (`--trace-filter`,
    /// `--trace-from`, `--trace-until`).
    pub fn with_filter(mut self, filter: TraceFilter) -> TraceSink {
        self.filter = Arc::new(filter);
        self
    }

    /// Keeps only the events `directives` enable: `RUST_LOG`-style
    /// `target=level` pairs and a bare default level, comma-separated
    /// (`info,my_app::net=trace`); targets not named are off unless a
    /// default is given. The same syntax as `--trace-filter`
    /// ([`TraceFilter::parse`]); a window already set is kept.
    pub fn with_directives(self, directives: &str) -> Result<TraceSink, TraceFilterError> {
        let parsed = TraceFilter::parse(directives)?;
        let filter = TraceFilter {
            from: self.filter.from,
            until: self.filter.until,
            ..parsed
        };
        Ok(self.with_filter(filter))
    }

    /// The filter of this sink.
    pub fn filter(&self) -> &TraceFilter {
        &self.filter
    }

    /// What the sink writes to (a path, "memory", ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Flushes buffered lines; errors are ignored (tracing is best effort).
    pub fn flush(&self) {
        let _ = lock(&self.writer).flush();
    }

    fn write_line(&self, line: &str) {
        let _ = lock(&self.writer).write_all(line.as_bytes());
    }
}

/// Keeping `tracing`'s per-site cache right when sinks are per thread.
///
/// `tracing` caches, for each event site and for the whole process,
/// whether any subscriber wants it (its *interest*). While exactly one
/// scoped subscriber is registered, `tracing-core` computes the interest
/// of a site hit for the first time from the subscriber *of the thread
/// that hits it*. With `with_sink` on one thread (a test tracing a seed)
/// and seeds running untraced on another (the other tests, sweep jobs),
/// a site first hit on the untraced thread is cached as unwanted, and the
/// trace silently misses every event of that site
/// (`tests/trace_threads.rs`). An *anchor* subscriber registered once,
/// before the first sink, keeps two subscribers registered from then on,
/// so `tracing-core` asks all of them: the anchor answers "ask per event"
/// for every site, and each event goes to its own thread's subscriber. It
/// wants no level (`OFF`), so it never widens what the macros evaluate,
/// and it is never any thread's subscriber, so it sees no event.
mod site_interest {
    use std::sync::OnceLock;

    use tracing::level_filters::LevelFilter;
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Dispatch, Event, Metadata, Subscriber};

    pub(super) fn keep_per_event() {
        static ANCHOR: OnceLock<Dispatch> = OnceLock::new();
        ANCHOR.get_or_init(|| Dispatch::new(Anchor));
    }

    struct Anchor;

    impl Subscriber for Anchor {
        fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn max_level_hint(&self) -> Option<LevelFilter> {
            Some(LevelFilter::OFF)
        }
        fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _span: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _span: &Id, _values: &Record<'_>) {}
        fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
        fn event(&self, _event: &Event<'_>) {}
        fn enter(&self, _span: &Id) {}
        fn exit(&self, _span: &Id) {}
    }
}

/// The layer that writes stamped events to a [`TraceSink`].
#[derive(Debug, Clone)]
pub struct SimTraceLayer {
    sink: TraceSink,
}

impl SimTraceLayer {
    /// A layer writing to `sink`.
    pub fn new(sink: TraceSink) -> SimTraceLayer {
        SimTraceLayer { sink }
    }
}

/// A complete subscriber (registry + [`SimTraceLayer`]) writing to `sink`,
/// for `tracing::subscriber::set_global_default` or `with_default`.
pub fn subscriber(sink: &TraceSink) -> impl Subscriber + Send + Sync + 'static {
    tracing_subscriber::registry().with(SimTraceLayer::new(sink.clone()))
}

/// Runs `f` with the trace layer writing to `sink` as this thread's
/// subscriber, then flushes the sink.
pub fn with_sink<R>(sink: &TraceSink, f: impl FnOnce() -> R) -> R {
    site_interest::keep_per_event();
    let result = tracing::subscriber::with_default(subscriber(sink), f);
    sink.flush();
    result
}

impl<S> tracing_subscriber::Layer<S> for SimTraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        // Spans are kept whatever their level: they only label events.
        metadata.is_span()
            || self
                .sink
                .filter
                .keeps_level(metadata.target(), *metadata.level())
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(
            self.sink.filter.max_level(),
        ))
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = String::with_capacity(160);
        let stamp = with_current(|kernel| stamp(kernel)).unwrap_or_else(|| Stamp {
            seed: "-".to_string(),
            time_ns: None,
            time: "-".to_string(),
            process: "-".to_string(),
            task: "-".to_string(),
        });
        let time = stamp.time_ns.map(Duration::from_nanos);
        if !self
            .sink
            .filter
            .keeps_stamp(time, &stamp.process, &stamp.task)
        {
            return;
        }
        let _ = write!(
            line,
            "seed={} t={} process={} task={} ",
            stamp.seed, stamp.time, stamp.process, stamp.task
        );
        if let Some(scope) = ctx.event_scope(event) {
            let names: Vec<&str> = scope.from_root().map(|span| span.name()).collect();
            if !names.is_empty() {
                let _ = write!(line, "span={} ", names.join(":"));
            }
        }
        let metadata = event.metadata();
        let _ = write!(line, "{} {}:", metadata.level(), metadata.target());
        let mut visitor = Fields {
            message: String::new(),
            fields: String::new(),
        };
        event.record(&mut visitor);
        if !visitor.message.is_empty() {
            line.push(' ');
            line.push_str(&visitor.message);
        }
        line.push_str(&visitor.fields);
        line.push('\n');
        self.sink.write_line(&line);
    }
}

struct Stamp {
    seed: String,
    time_ns: Option<u64>,
    time: String,
    process: String,
    task: String,
}

/// The seed, clock and current task of `kernel`, read without panicking
/// (a table borrowed elsewhere shows as `?`).
fn stamp(kernel: &Kernel) -> Stamp {
    let time_ns = kernel.now_ns();
    let time = moonpool_core::Instant::from_nanos(time_ns).to_string();
    let (process, task) = match kernel.current() {
        None => ("-".to_string(), "-".to_string()),
        Some((task_id, process_id)) => {
            let process = kernel
                .process_name(process_id)
                .map(|n| n.to_string())
                .unwrap_or_else(|| "?".to_string());
            let task = kernel
                .tasks
                .try_borrow()
                .ok()
                .and_then(|t| t.get(task_id).map(|e| e.name.to_string()))
                .unwrap_or_else(|| "?".to_string());
            (process, task)
        }
    };
    Stamp {
        seed: format!("{:#x}", kernel.seed),
        time_ns: Some(time_ns),
        time,
        process,
        task,
    }
}

struct Fields {
    message: String,
    fields: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_simulation_the_stamps_are_dashes() {
        let (sink, buffer) = TraceSink::memory();
        with_sink(&sink, || tracing::warn!(x = 1, name = "a b", "hello {}", 7));
        let text = buffer.contents();
        assert_eq!(
            text,
            "seed=- t=- process=- task=- WARN moonpool_sim::trace::tests: hello 7 x=1 name=\"a b\"\n"
        );
    }

    #[test]
    fn the_level_filter_drops_verbose_events() {
        let (sink, buffer) = TraceSink::memory();
        let sink = sink.with_level(Level::INFO);
        with_sink(&sink, || {
            tracing::debug!("dropped");
            tracing::info!("kept");
        });
        let text = buffer.contents();
        assert!(text.contains("kept"));
        assert!(!text.contains("dropped"));
    }

    #[test]
    fn spans_are_listed_outermost_first() {
        let (sink, buffer) = TraceSink::memory();
        with_sink(&sink, || {
            let outer = tracing::info_span!("outer");
            let _o = outer.enter();
            let inner = tracing::info_span!("inner");
            let _i = inner.enter();
            tracing::info!("in spans");
        });
        assert!(buffer.contents().contains("span=outer:inner INFO"));
    }
}
