//! The one hang the simulator cannot see from inside: a task that blocks
//! its thread (`futures::executor::block_on`, `std::thread::sleep`, a
//! blocking lock, channel or socket). The loop never gets control back, so
//! no deadlock or limit can fire; the process would just sit there.
//!
//! Every kernel registers a [`Heartbeat`] here, and its loop publishes its
//! step count every few hundred steps. One process-wide watchdog thread
//! looks once a second: a seed that is running and has made no step for
//! [`HANG_SECS_DEFAULT`] seconds of wall time (or `MOONPOOL_HANG_SECS`)
//! ends the process with a message saying what happened and what to use
//! instead, and exit code [`HANG_EXIT_CODE`].
//!
//! # Invariants
//! - The watchdog only reads atomics: it never touches a kernel, and
//!   nothing it does changes an execution (wall time is read here only).
//! - Registration is one short lock per seed; dead heartbeats are dropped
//!   from the list as it grows, so it stays as long as the seeds running.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Seconds without a simulator step, while a seed runs, before the process
/// is stopped (`MOONPOOL_HANG_SECS` overrides; a poll may legitimately
/// compute for a while, so the default is generous).
pub const HANG_SECS_DEFAULT: u64 = 60;

/// The exit code of a process stopped by the watchdog (`EX_SOFTWARE`).
pub const HANG_EXIT_CODE: i32 = 70;

/// How often the loop publishes its step count (a power of two, minus one).
pub(crate) const BEAT_MASK: u64 = 0xff;

/// One kernel's sign of life.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    seed: u64,
    beats: AtomicU64,
    running: AtomicBool,
}

impl Heartbeat {
    /// Publishes the loop's step count.
    #[inline]
    pub(crate) fn beat(&self, steps: u64) {
        self.beats.store(steps, Ordering::Relaxed);
    }

    /// Whether the loop is running (only then can it hang).
    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }
}

static WATCHED: Mutex<Vec<Weak<Heartbeat>>> = Mutex::new(Vec::new());
static WATCHDOG: OnceLock<()> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A heartbeat for the kernel of `seed`, watched from now on.
pub(crate) fn watch(seed: u64) -> Arc<Heartbeat> {
    let heartbeat = Arc::new(Heartbeat {
        seed,
        beats: AtomicU64::new(0),
        running: AtomicBool::new(false),
    });
    {
        let mut watched = lock(&WATCHED);
        if watched.len() >= 64 && watched.len().is_power_of_two() {
            watched.retain(|w| w.strong_count() > 0);
        }
        watched.push(Arc::downgrade(&heartbeat));
    }
    WATCHDOG.get_or_init(|| {
        // Without the thread, a blocked task hangs as it always would.
        let _ = std::thread::Builder::new()
            .name("moonpool-watchdog".to_string())
            .spawn(watchdog);
    });
    heartbeat
}

fn hang_secs() -> u64 {
    std::env::var("MOONPOOL_HANG_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(HANG_SECS_DEFAULT)
}

fn watchdog() {
    let limit = Duration::from_secs(hang_secs());
    // Heartbeat address -> (steps seen, since when).
    let mut seen: HashMap<usize, (u64, Instant)> = HashMap::new();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = Instant::now();
        let live: Vec<Arc<Heartbeat>> = lock(&WATCHED).iter().filter_map(Weak::upgrade).collect();
        let mut still = HashMap::with_capacity(live.len());
        for h in &live {
            let key = Arc::as_ptr(h) as usize;
            let beats = h.beats.load(Ordering::Relaxed);
            let running = h.running.load(Ordering::Relaxed);
            let since = match seen.get(&key) {
                Some(&(b, since)) if b == beats && running => since,
                _ => now,
            };
            if running && now.duration_since(since) >= limit {
                eprintln!(
                    "moonpool: seed {:#x} has made no simulator step for {} s of wall time: \
                     a simulated task is blocking its thread (futures::executor::block_on, \
                     std::thread::sleep, a blocking lock, channel or socket, or one poll \
                     computing for that long). Inside a simulation, .await the future instead, \
                     and sleep and do I/O through the providers. MOONPOOL_HANG_SECS sets this \
                     limit (now {} s).",
                    h.seed,
                    limit.as_secs(),
                    limit.as_secs()
                );
                std::process::exit(HANG_EXIT_CODE);
            }
            still.insert(key, (beats, since));
        }
        seen = still;
    }
}
