//! Crash semantics: what a killed process's disk holds when it comes back.
//!
//! The model is FoundationDB's `AsyncFileNonDurable`: **synced data always
//! survives**; what was written but not synced is up to the seed.
//!
//! For each file of the killed process, in name order:
//! 1. A file whose name was never synced (created, never successfully
//!    synced) vanishes, contents and all (`disk.crash_file_lost`).
//! 2. Otherwise the file restarts from its durable image, and its unsynced
//!    operations are replayed onto it in completion order, each deciding
//!    its own fate:
//!    - with probability [`CrashModel::intact`] (drawn once per file) every
//!      unsynced operation survives whole;
//!    - otherwise a write is cut at 4 KiB page boundaries (of the file
//!      offset) and each page is kept (`page_keep`), torn (`page_tear`:
//!      each 512-byte sector kept with probability `sector_keep`, the rest
//!      keeping whatever the file held before) or dropped; a truncation
//!      survives with probability `page_keep`.
//!
//!    A torn page is garbage-free: each sector is either the new data or
//!    the old (zeros past the old end of file). Writes within one sector
//!    are atomic. Each unsynced operation is counted by what actually
//!    survived of it: `disk.crash_kept` (all of it), `disk.crash_lost`
//!    (none), `disk.crash_torn` (part).
//!
//! # Invariant (checked here, on every crash)
//! Every durable byte that no unsynced operation could have touched is
//! unchanged after the crash. The other side of the boundary — a completed
//! `sync` leaves `durable == current` when nothing is pending — is checked
//! in `disk.rs`.

use moonpool_core::Ratio;

use super::config::{CrashModel, PAGE_BYTES, SECTOR_BYTES};
use super::disk::{FileNode, PendingOp, apply_truncate, apply_write};
use crate::kernel::process::ProcessId;
use crate::model::world::World;

/// The fate of a page of an unsynced write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PageFate {
    Keep,
    Tear,
    Drop,
}

/// Draws one of three fates: keep with `keep`, tear with `tear`, drop
/// otherwise, from a single uniform draw over the common denominator.
fn page_fate(world: &World, keep: Ratio, tear: Ratio) -> PageFate {
    if keep == Ratio::ONE {
        return PageFate::Keep;
    }
    let (a, b) = (keep.numerator() as u128, keep.denominator() as u128);
    let (c, d) = (tear.numerator() as u128, tear.denominator() as u128);
    let (keep_below, tear_below, total) = match u64::try_from(b * d) {
        Ok(total) => (a * d, a * d + c * b, total),
        // Huge denominators: fall back to parts per million.
        Err(_) => {
            let k = a * 1_000_000 / b;
            (k, k + c * 1_000_000 / d, 1_000_000)
        }
    };
    if tear_below == 0 {
        return PageFate::Drop;
    }
    let u = crate::kernel::draw::below(world, total) as u128;
    if u < keep_below {
        PageFate::Keep
    } else if u < tear_below {
        PageFate::Tear
    } else {
        PageFate::Drop
    }
}

/// Replays one unsynced write onto `image` under a non-intact crash;
/// returns how many of its bytes survived.
fn crash_write(
    world: &World,
    model: &CrashModel,
    image: &mut Vec<u8>,
    offset: u64,
    data: &[u8],
) -> usize {
    let end = offset + data.len() as u64;
    let mut kept = 0usize;
    let mut page_start = offset;
    while page_start < end {
        let page_end = ((page_start / PAGE_BYTES + 1) * PAGE_BYTES).min(end);
        match page_fate(world, model.page_keep, model.page_tear) {
            PageFate::Keep => {
                let piece = &data[(page_start - offset) as usize..(page_end - offset) as usize];
                apply_write(image, page_start, piece);
                kept += piece.len();
            }
            PageFate::Drop => {}
            PageFate::Tear => {
                let mut sector_start = page_start;
                while sector_start < page_end {
                    let sector_end =
                        ((sector_start / SECTOR_BYTES + 1) * SECTOR_BYTES).min(page_end);
                    if crate::kernel::draw::bool(world, model.sector_keep) {
                        let piece =
                            &data[(sector_start - offset) as usize..(sector_end - offset) as usize];
                        apply_write(image, sector_start, piece);
                        kept += piece.len();
                    }
                    sector_start = sector_end;
                }
            }
        }
        page_start = page_end;
    }
    kept
}

/// Computes what `node` holds after a crash of `process`, counting the
/// fate of each unsynced operation. `None`: the file vanishes.
pub(crate) fn crash_file(
    world: &World,
    model: &CrashModel,
    process: ProcessId,
    path: &str,
    node: &FileNode,
) -> Option<Vec<u8>> {
    if !node.durable_exists {
        world.note("disk.crash_file_lost", Some(process), || {
            format!("{path}: created but never synced; the file is gone")
        });
        return None;
    }
    let mut image = node.durable.clone();
    if node.pending.is_empty() {
        return Some(image);
    }
    let intact = crate::kernel::draw::bool(world, model.intact);
    for op in &node.pending {
        match op {
            PendingOp::Truncate { len } => {
                let keep = intact || crate::kernel::draw::bool(world, model.page_keep);
                if keep {
                    apply_truncate(&mut image, *len);
                }
                let kind = if keep {
                    "disk.crash_kept"
                } else {
                    "disk.crash_lost"
                };
                world.note(kind, Some(process), || {
                    format!(
                        "{path}: unsynced truncate to {len} {}",
                        if keep { "kept" } else { "lost" }
                    )
                });
            }
            PendingOp::Write { offset, data } => {
                let kept = if intact {
                    apply_write(&mut image, *offset, data);
                    data.len()
                } else {
                    crash_write(world, model, &mut image, *offset, data)
                };
                let (kind, word) = if kept == data.len() {
                    ("disk.crash_kept", "kept")
                } else if kept == 0 {
                    ("disk.crash_lost", "lost")
                } else {
                    ("disk.crash_torn", "torn")
                };
                world.note(kind, Some(process), || {
                    format!(
                        "{path}: unsynced write of {} bytes at {offset} {word} ({kept} bytes survive)",
                        data.len()
                    )
                });
            }
        }
    }
    check_synced_data_survived(node, &image, path);
    Some(image)
}

/// Asserts the durability invariant: every durable byte that no pending
/// operation could touch is unchanged in `image`.
fn check_synced_data_survived(node: &FileNode, image: &[u8], path: &str) {
    // Bytes at or past the smallest length a pending truncation could set
    // are fair game; so are the bytes of every pending write.
    let mut min_len = node.durable.len() as u64;
    for op in &node.pending {
        if let PendingOp::Truncate { len } = op {
            min_len = min_len.min(*len);
        }
    }
    let guarded = (min_len as usize).min(node.durable.len());
    let mut touched = vec![false; guarded];
    for op in &node.pending {
        if let PendingOp::Write { offset, data } = op {
            let start = (*offset as usize).min(guarded);
            let end = (*offset as usize + data.len()).min(guarded);
            touched[start..end].iter_mut().for_each(|t| *t = true);
        }
    }
    assert!(
        image.len() >= guarded,
        "crash semantics lost synced data of {path}: {} bytes left of {guarded} synced",
        image.len()
    );
    for (i, t) in touched.iter().enumerate() {
        assert!(
            *t || image[i] == node.durable[i],
            "crash semantics changed synced byte {i} of {path}"
        );
    }
}
