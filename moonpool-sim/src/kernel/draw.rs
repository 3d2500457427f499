//! Random draws the simulator itself makes (fault decisions, scheduling
//! perturbation), derived exactly as the providers derive user draws.

use moonpool_core::Ratio;
use moonpool_core::random::{below as uniform_below, bool_with};

use super::Kernel;

/// `true` with probability `p`; draws nothing when `p` is zero or one, so a
/// disabled fault costs no randomness and does not shift later draws.
#[inline]
pub(crate) fn bool(kernel: &Kernel, p: Ratio) -> bool {
    bool_with(p, || kernel.draw_u64())
}

/// A uniform value in `0..n` (`n > 0`).
#[inline]
pub(crate) fn below(kernel: &Kernel, n: u64) -> u64 {
    uniform_below(n, || kernel.draw_u64())
}

/// A uniform value in `lo..=hi`.
#[inline]
pub(crate) fn between(kernel: &Kernel, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    match (hi - lo).checked_add(1) {
        Some(n) => lo + uniform_below(n, || kernel.draw_u64()),
        // The whole `u64` range.
        None => kernel.draw_u64(),
    }
}
