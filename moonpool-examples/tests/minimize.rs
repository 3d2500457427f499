//! `sim --seed S --minimize` on every planted bug of kv and wal: from the
//! first failing seed, the search ends with a configuration that has
//! strictly fewer fault families, fails the same way, and whose printed
//! replay line reproduces the failure (`common::assert_minimizes`).

mod common;

use moonpool_examples::kv::{self, KvBug};
use moonpool_examples::wal::{self, WalBug};

const KV: &str = env!("CARGO_BIN_EXE_kv");
const WAL: &str = env!("CARGO_BIN_EXE_wal");
/// Seeds searched for the first failure of a bug.
const BUDGET: u64 = 500;

#[test]
fn kv_stale_read_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(KV, kv::simulation, KvBug::StaleRead, BUDGET);
}

#[test]
fn kv_ack_before_quorum_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(KV, kv::simulation, KvBug::AckBeforeQuorum, BUDGET);
}

#[test]
fn kv_no_timestamp_check_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(KV, kv::simulation, KvBug::NoTimestampCheck, BUDGET);
}

#[test]
fn kv_no_write_back_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(KV, kv::simulation, KvBug::NoWriteBack, BUDGET);
}

#[test]
fn kv_no_fsync_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(KV, kv::simulation, KvBug::NoFsync, BUDGET);
}

#[test]
fn wal_skip_sync_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(WAL, wal::simulation, WalBug::SkipSync, BUDGET);
}

#[test]
fn wal_unordered_sync_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(WAL, wal::simulation, WalBug::UnorderedSync, BUDGET);
}

#[test]
fn wal_append_after_torn_tail_minimizes_to_fewer_fault_families() {
    common::assert_minimizes(WAL, wal::simulation, WalBug::AppendAfterTornTail, BUDGET);
}
