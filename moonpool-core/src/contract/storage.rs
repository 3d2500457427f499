//! Contract cases for [`StorageProvider`].

use crate::{OpenMode, Providers, StorageError, StorageFile, StorageProvider};

/// Synced data reads back after the file is closed and reopened.
pub async fn write_sync_reopen_read<P: Providers>(p: P) {
    let s = p.storage();
    {
        let f = s
            .open("data/log", OpenMode::CreateNew)
            .await
            .expect("create");
        f.write_at(b"hello, ", 0).await.expect("write 1");
        f.write_at(b"world", 7).await.expect("write 2");
        f.sync().await.expect("sync");
        assert_eq!(f.len().await.expect("len"), 12, "length after two writes");
    }
    let f = s.open("data/log", OpenMode::Open).await.expect("reopen");
    let mut buf = [0u8; 32];
    let n = f.read_at(&mut buf, 0).await.expect("read");
    assert_eq!(&buf[..n], b"hello, world", "synced bytes did not read back");
    let n = f.read_at(&mut buf, 7).await.expect("read at offset");
    assert_eq!(&buf[..n], b"world");
    assert_eq!(f.read_at(&mut buf, 100).await.expect("read past end"), 0);
}

/// Opening a missing file for `Open` is `NotFound`.
pub async fn open_missing_file_is_not_found<P: Providers>(p: P) {
    match p.storage().open("missing", OpenMode::Open).await {
        Err(StorageError::NotFound { path }) => assert_eq!(path, "missing"),
        other => panic!("expected NotFound, got {:?}", other.err()),
    }
}

/// `CreateNew` on an existing file is `AlreadyExists`.
pub async fn create_new_on_existing_file_fails<P: Providers>(p: P) {
    let s = p.storage();
    s.open("once", OpenMode::CreateNew).await.expect("create");
    assert!(matches!(
        s.open("once", OpenMode::CreateNew).await,
        Err(StorageError::AlreadyExists { .. })
    ));
    s.open("once", OpenMode::OpenOrCreate)
        .await
        .expect("open or create");
}

/// `truncate` cuts the file, and extending it reads back zeros.
pub async fn truncate_shrinks_and_zero_extends<P: Providers>(p: P) {
    let f = p
        .storage()
        .open("t", OpenMode::Truncate)
        .await
        .expect("open");
    f.write_at(&[7u8; 100], 0).await.expect("write");
    f.truncate(10).await.expect("shrink");
    assert_eq!(f.len().await.expect("len"), 10);
    f.truncate(20).await.expect("extend");
    let mut buf = [0xFFu8; 20];
    assert_eq!(f.read_at(&mut buf, 0).await.expect("read"), 20);
    assert_eq!(&buf[..10], &[7u8; 10]);
    assert_eq!(&buf[10..], &[0u8; 10], "extension must read as zeros");
}

/// Writing past the end fills the gap with zeros.
pub async fn write_past_end_zero_fills_the_gap<P: Providers>(p: P) {
    let f = p
        .storage()
        .open("gap", OpenMode::Truncate)
        .await
        .expect("open");
    f.write_at(b"xy", 6).await.expect("write");
    assert_eq!(f.len().await.expect("len"), 8);
    let mut buf = [0xFFu8; 8];
    assert_eq!(f.read_at(&mut buf, 0).await.expect("read"), 8);
    assert_eq!(&buf, b"\0\0\0\0\0\0xy");
}

/// A deleted file no longer exists; deleting it again is `NotFound`.
pub async fn delete_removes_the_file<P: Providers>(p: P) {
    let s = p.storage();
    s.open("doomed", OpenMode::CreateNew).await.expect("create");
    assert!(s.exists("doomed").await.expect("exists"));
    s.delete("doomed").await.expect("delete");
    assert!(!s.exists("doomed").await.expect("exists"));
    assert!(matches!(
        s.delete("doomed").await,
        Err(StorageError::NotFound { .. })
    ));
}

/// Paths that escape the namespace are rejected with a typed error.
pub async fn invalid_paths_are_rejected<P: Providers>(p: P) {
    for bad in ["/abs", "../up", "a/../b", ""] {
        assert!(
            matches!(
                p.storage().open(bad, OpenMode::OpenOrCreate).await,
                Err(StorageError::InvalidPath { .. })
            ),
            "{bad:?} accepted"
        );
    }
}

/// `Truncate` empties a file that has content.
pub async fn open_truncate_empties_an_existing_file<P: Providers>(p: P) {
    let s = p.storage();
    let f = s.open("full", OpenMode::CreateNew).await.expect("create");
    f.write_at(b"content", 0).await.expect("write");
    f.sync().await.expect("sync");
    drop(f);
    let f = s.open("full", OpenMode::Truncate).await.expect("truncate");
    assert_eq!(f.len().await.expect("len"), 0);
}
