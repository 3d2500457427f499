//! `sim --seed S --timeline FILE.html` on a failing chaos seed of kv: the
//! file is one self-contained page (no fetch), with a lane per process and
//! workload client, partition or clog spans, process kills and reboots,
//! RPC arrows and the failure marker; and headless Chromium renders it to
//! a PNG with its script run to the end (no script error).
//!
//! The Chromium test needs `chromium` on the PATH: `.ci/run` installs it
//! and sets `MOONPOOL_REQUIRE_CHROMIUM=1`, which turns a missing browser
//! into a failure; without that variable a missing browser skips it.

use std::path::{Path, PathBuf};
use std::process::Command;

use moonpool_examples::kv::{self, KvBug};

const KV: &str = env!("CARGO_BIN_EXE_kv");

/// A failing chaos seed of kv with `no-fsync` that had a partition or a
/// clog, and kills: everything the picture draws.
fn eventful_failing_seed() -> u64 {
    let sim = kv::simulation(Some(KvBug::NoFsync)).expect("valid");
    (0..500)
        .map(|seed| sim.run_seed(seed))
        .find(|r| {
            let has = |k: &str| r.counters.get(k).copied().unwrap_or(0) > 0;
            !r.outcome.is_pass() && (has("net.partition") || has("net.clog")) && has("process.kill")
        })
        .expect("a failing seed with a partition or clog and a kill")
        .seed
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moonpool-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

/// Runs `kv sim --bug no-fsync --seed S --timeline PATH`; returns the page.
fn picture(seed: u64, path: &Path) -> String {
    let out = Command::new(KV)
        .args(["sim", "--bug", "no-fsync", "--chaos", "--seed"])
        .arg(format!("{seed:#x}"))
        .arg("--timeline")
        .arg(path)
        .arg("--quiet")
        .output()
        .expect("run kv");
    assert_eq!(out.status.code(), Some(1), "the seed fails");
    std::fs::read_to_string(path).expect("the picture was written")
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

#[test]
fn the_timeline_of_a_failing_kv_seed_has_lanes_spans_arrows_and_the_failure() {
    let seed = eventful_failing_seed();
    let html = picture(seed, &scratch("kv.html"));

    // One self-contained document: inline SVG and script, nothing fetched.
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(count(&html, "<svg id=\"timeline\""), 1);
    assert_eq!(count(&html, "<script>"), 1);
    assert!(!html.contains(" src="), "nothing is loaded from elsewhere");
    assert!(!html.contains("href=\"http"), "no link to fetch");
    assert_eq!(count(&html, "<g"), count(&html, "</g>"), "groups balance");

    // A lane per process and per workload client.
    for lane in [
        "kv-replica-0",
        "kv-replica-1",
        "kv-replica-2",
        "kv-client#0",
        "kv-client#1",
        "kv-client#2",
        "network",
    ] {
        assert!(
            html.contains(&format!("data-lane=\"{lane}\"")),
            "no lane {lane}"
        );
    }
    let lanes = count(&html, "data-lane=\"");
    assert!(html.contains(&format!("data-lanes=\"{lanes}\"")));

    // Faults as spans and marks, processes' lives, RPCs, the failure.
    assert!(
        html.contains("class=\"span partition\"") || html.contains("class=\"span clog\""),
        "a partition or clog span"
    );
    assert!(html.contains("class=\"process-kill\""));
    assert!(html.contains("class=\"alive\""));
    assert!(html.contains("class=\"rpc answered\""), "RPC arrows");
    assert!(html.contains("class=\"conn-open\""), "connections opened");
    assert_eq!(count(&html, "id=\"failure\""), 1);
    assert!(
        html.contains("class=\"lane failing\""),
        "the failing client's lane"
    );
    assert!(html.contains("linearizability"), "the failure's message");
}

#[test]
fn headless_chromium_renders_the_timeline_without_script_errors() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
    else {
        assert!(
            std::env::var_os("MOONPOOL_REQUIRE_CHROMIUM").is_none(),
            "MOONPOOL_REQUIRE_CHROMIUM is set but no chromium is on the PATH"
        );
        eprintln!("skipped: no chromium on the PATH (.ci/run installs it)");
        return;
    };
    let seed = eventful_failing_seed();
    let page = scratch("render.html");
    picture(seed, &page);
    let url = format!("file://{}", page.display());
    let headless = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
    ];
    // The page's script ends by marking the body: it ran without error.
    let dom = Command::new(chromium)
        .args(headless)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-script=\"ok\""),
        "the script did not finish"
    );
    let png = scratch("render.png");
    let shot = Command::new(chromium)
        .args(headless)
        .arg("--window-size=1400,700")
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("a PNG was written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 10_000, "an empty picture");
}
