//! Capturing panics of user code as seed failures.
//!
//! A process-wide panic hook is installed once. On a thread that is running
//! a simulation it records the message and location for the runner (which
//! catches the unwind and fails the seed) instead of printing; on every
//! other thread it defers to the hook that was installed before.

use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Installs the hook (once per OS process).
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.with(Cell::get) {
                let message = payload_message(info.payload());
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "<unknown>".to_string());
                // Keep the last panic: a panic unwinds straight to the
                // runner, so the one that failed the seed is the last one
                // raised; an earlier one was caught by user code
                // (`catch_unwind`) and is not the seed's failure.
                CAPTURED.with(|c| *c.borrow_mut() = Some((message, location)));
            } else {
                previous(info);
            }
        }));
    });
}

/// While alive, panics on this thread are captured instead of printed.
pub(crate) struct CaptureGuard {
    was_active: bool,
}

impl CaptureGuard {
    pub(crate) fn new() -> CaptureGuard {
        install_hook();
        CAPTURED.with(|c| c.borrow_mut().take());
        CaptureGuard {
            was_active: ACTIVE.with(|a| a.replace(true)),
        }
    }

    /// The last panic captured since the guard was made (or the last
    /// `take`): (message, location).
    pub(crate) fn take(&self) -> Option<(String, String)> {
        CAPTURED.with(|c| c.borrow_mut().take())
    }
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.was_active));
    }
}

/// The text of a panic payload.
pub(crate) fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".to_string())
}

/// What to say about a panic that comes from using tokio's own runtime
/// services inside a simulation, if `message` is one.
pub(crate) fn misuse_hint(message: &str) -> Option<&'static str> {
    let tokio_runtime = message.contains("must be called from the context of a Tokio")
        || message.contains("no reactor running")
        || message.contains("A Tokio 1.x context was found, but timers are disabled");
    tokio_runtime.then_some(
        "this is tokio's own runtime (its timers, I/O or spawn), which a simulation does \
         not run: simulated code must use its providers instead (TimeProvider::sleep and \
         timeout for timers, TaskProvider::spawn for tasks, NetworkProvider for sockets); \
         never block_on inside a simulated task",
    )
}
