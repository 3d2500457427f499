//! The book's first-simulation chapter (`docs/src/first-simulation.md`),
//! walked as a reader walks it: the crate in `docs/first-simulation/` is
//! copied into a fresh directory outside the repository, its path
//! dependencies are pointed at this repository's crates (as the chapter
//! tells the reader to), and it is built with `cargo build`, as a crate of
//! its own. Then its binary is run as the chapter runs it: a sweep passes;
//! with `--bug` a sweep fails and prints replay lines; the first replay
//! line, run as printed, fails again with the same fingerprint; its trace
//! shows the addition applied twice; without `--bug` the seed passes.
//!
//! The chapter quotes real output, so every quoted line this test can
//! reproduce is compared with what the binary prints now: rows (seed,
//! outcome, fingerprint), errors, replay lines, results, trace lines. A
//! change of the simulator that changes these executions fails here, and
//! the chapter must be updated with the new output.
//!
//! The build needs `cargo` (the `CARGO` variable `cargo test` sets, else
//! `cargo` on the PATH): without it the test fails. It builds against
//! this workspace's `Cargo.lock` (the versions the workspace was tested
//! with, already downloaded by its own build; cargo may fetch what a
//! reader's build would), into
//! `$CARGO_TARGET_TMPDIR/first-simulation` (kept, so a second run only
//! relinks): never the workspace's own `target/debug`, whose lock the
//! running `cargo test` holds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The seeds the tests sweep: the chapter's `--seeds 200 --first-seed 1`.
const SWEEP: [&str; 4] = ["--seeds", "200", "--first-seed", "1"];

/// How the chapter names the binary (`cargo run` builds it there).
const CHAPTER_PROGRAM: &str = "target/debug/first-simulation";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("moonpool-examples sits in the workspace root")
        .to_path_buf()
}

/// The chapter's text.
fn chapter() -> String {
    std::fs::read_to_string(repo_root().join("docs/src/first-simulation.md"))
        .expect("docs/src/first-simulation.md")
}

/// The lines of the chapter's fenced blocks, trimmed at the end.
fn chapter_output_lines() -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in chapter().lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if in_fence {
            out.push(line.trim_end().to_string());
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory of the copy");
    for entry in std::fs::read_dir(from).expect("read the first-simulation crate") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        // A build made in place is not part of the crate.
        if name == "target" || name == "Cargo.lock" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy a file of the crate");
        }
    }
}

/// The crate built once for every test: the path of its binary.
fn binary() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build)
}

fn build() -> PathBuf {
    let repo = repo_root();
    let dir = std::env::temp_dir().join(format!(
        "moonpool-first-simulation-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    assert!(
        !dir.starts_with(&repo),
        "the copy must be outside the repository, as a reader's crate is: {}",
        dir.display()
    );
    copy_dir(&repo.join("docs/first-simulation"), &dir);

    // What the chapter tells the reader: point the three paths at the
    // clone of moonpool (`../../moonpool-core` is where they are from the
    // crate's place in the repository).
    let manifest_path = dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("the crate's Cargo.toml");
    let mut rewritten = manifest.clone();
    for krate in ["moonpool-core", "moonpool-sim", "moonpool-transport"] {
        let from = format!("path = \"../../{krate}\"");
        assert!(
            manifest.contains(&from),
            "docs/first-simulation/Cargo.toml no longer has `{from}`, which the chapter tells \
             the reader to change"
        );
        let to = format!("path = {:?}", repo.join(krate).display().to_string());
        rewritten = rewritten.replace(&from, &to);
    }
    assert!(
        !rewritten.contains("../../"),
        "a path the chapter does not mention is left relative to the repository:\n{rewritten}"
    );
    std::fs::write(&manifest_path, rewritten).expect("write the crate's Cargo.toml");
    // The workspace's versions of every dependency: the build needs no
    // registry and compiles what the workspace's tests compiled.
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");

    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("first-simulation");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo:?} (needed to build the crate): {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "the first-simulation crate does not build on its own:\n{stderr}"
    );
    assert!(
        !stderr.contains("warning"),
        "the first-simulation crate builds with warnings:\n{stderr}"
    );
    let binary = target
        .join("debug")
        .join(format!("first-simulation{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "no binary at {}", binary.display());
    binary
}

/// What one run of the binary printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Rows of the report: `(seed, outcome, fingerprint)`.
    fn rows(&self) -> Vec<(String, String, String)> {
        self.stdout
            .lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    [seed, outcome @ ("FAIL" | "pass"), fingerprint, ..]
                        if seed.starts_with("0x") && fingerprint.starts_with("0x") =>
                    {
                        Some((
                            seed.to_string(),
                            outcome.to_string(),
                            fingerprint.to_string(),
                        ))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    /// The commands of the rows' `replay:` lines, in order.
    fn replay_lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("  replay: "))
            .map(str::to_string)
            .collect()
    }

    /// The rows' `error:` lines, trimmed.
    fn error_lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter(|l| l.trim_start().starts_with("error:"))
            .map(|l| l.trim().to_string())
            .collect()
    }

    fn line_starting(&self, prefix: &str) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{}", self.stdout))
            .to_string()
    }

    fn describe(&self) -> String {
        format!(
            "exit code {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program args`, with no `MOONPOOL_*` or `RUST_LOG` variable of
/// the caller's environment (they would change the run).
fn run(program: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(program);
    command.args(args);
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        if name_str.starts_with("MOONPOOL_") || name_str == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    Run::from(command.output().expect("run the first-simulation binary"))
}

/// `sim --bug` over the chapter's seeds, run once for every test.
fn bug_sweep() -> &'static Run {
    static SWEEP_RUN: OnceLock<Run> = OnceLock::new();
    SWEEP_RUN.get_or_init(|| run(binary(), &[&["sim", "--bug"][..], &SWEEP[..]].concat()))
}

/// A replay line as the chapter prints it (`cargo run` names the binary
/// `target/debug/first-simulation`).
fn as_in_chapter(replay: &str) -> String {
    let program = binary().display().to_string();
    match replay.strip_prefix(&program) {
        Some(rest) => format!("{CHAPTER_PROGRAM}{rest}"),
        None => replay.to_string(),
    }
}

/// The first failing seed's replay line, run exactly as printed.
fn replay_of_first_failure(extra: &[&str]) -> (String, Run) {
    let line = bug_sweep()
        .replay_lines()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no replay line:\n{}", bug_sweep().describe()));
    let words: Vec<&str> = line.split_whitespace().collect();
    let (program, args) = words.split_first().expect("a replay line names a program");
    assert_eq!(
        Path::new(program),
        binary(),
        "the replay line names another program than the one that ran: {line}"
    );
    let args: Vec<&str> = args.iter().copied().chain(extra.iter().copied()).collect();
    let replay = run(Path::new(program), &args);
    (line, replay)
}

/// The chapter's rows (`0x4  FAIL  0x8930...`) as `(seed, outcome,
/// fingerprint)`, with the line they come from.
fn chapter_rows() -> Vec<((String, String, String), String)> {
    let as_run = Run {
        code: None,
        stdout: chapter_output_lines().join("\n"),
        stderr: String::new(),
    };
    as_run
        .rows()
        .into_iter()
        .map(|row| {
            let line = format!("{} {} {}", row.0, row.1, row.2);
            (row, line)
        })
        .collect()
}

#[test]
fn a_sweep_of_the_correct_system_passes_and_exercises_the_retry_path() {
    let sweep = run(binary(), &[&["sim"][..], &SWEEP[..]].concat());
    assert_eq!(sweep.code, Some(0), "{}", sweep.describe());
    assert_eq!(sweep.line_starting("RESULT:"), "RESULT: PASS (200 seeds)");
    // The `sometimes` assertion was true in some seed: duplicates reached
    // the server and were not applied.
    let site = sweep
        .stdout
        .lines()
        .find(|l| l.contains("\"an addition arrives twice\""))
        .unwrap_or_else(|| panic!("no coverage row for the sometimes site:\n{}", sweep.stdout));
    assert!(
        site.trim_start().starts_with("ok "),
        "the retry path was never exercised: {site}"
    );
    for line in chapter_output_lines() {
        if line.starts_with("RESULT: PASS") {
            assert_eq!(
                line, "RESULT: PASS (200 seeds)",
                "the chapter quotes {line}"
            );
        }
    }
}

#[test]
fn a_sweep_with_the_planted_bug_fails_and_prints_replay_lines() {
    let sweep = bug_sweep();
    assert_eq!(sweep.code, Some(1), "{}", sweep.describe());
    let failed = sweep.rows().into_iter().filter(|r| r.1 == "FAIL").count();
    assert!(failed > 0, "{}", sweep.describe());
    let replays = sweep.replay_lines();
    // One replay line under each failed seed's row.
    assert_eq!(replays.len(), failed, "{}", sweep.describe());
    for line in &replays {
        assert!(
            line.contains(" sim --bug --chaos --seed 0x"),
            "a replay line without the binary's flag or the seed: {line}"
        );
    }

    // What the chapter quotes from this sweep.
    let printed: BTreeSet<String> = replays.iter().map(|l| as_in_chapter(l)).collect();
    let errors: BTreeSet<String> = sweep.error_lines().into_iter().collect();
    let result = sweep.line_starting("RESULT:");
    let summary = sweep.line_starting("seeds ");
    let mut quoted = 0;
    for line in chapter_output_lines() {
        let trimmed = line.trim();
        if let Some(replay) = trimmed.strip_prefix("replay: ") {
            quoted += 1;
            assert!(
                printed.contains(replay),
                "the chapter quotes `replay: {replay}`, which the sweep no longer prints; \
                 it prints:\n{}",
                printed.iter().cloned().collect::<Vec<_>>().join("\n")
            );
        } else if trimmed.starts_with("error:") {
            quoted += 1;
            assert!(
                errors.contains(trimmed),
                "the chapter quotes `{trimmed}`, which the sweep no longer prints"
            );
        } else if trimmed.starts_with("RESULT: FAIL") {
            quoted += 1;
            assert_eq!(trimmed, result, "the chapter's result line is stale");
        } else if trimmed.starts_with("seeds ") && trimmed.contains(" failed") {
            quoted += 1;
            let failed_now = !trimmed.ends_with(" 0 failed");
            if failed_now {
                assert_eq!(trimmed, summary, "the chapter's summary line is stale");
            }
        }
    }
    assert!(quoted >= 4, "the chapter quotes nothing of the sweep");
}

#[test]
fn the_printed_replay_line_fails_again_with_the_same_fingerprint() {
    let (line, replay) = replay_of_first_failure(&[]);
    assert_eq!(replay.code, Some(1), "{line}\n{}", replay.describe());
    let seed = line
        .split_whitespace()
        .last()
        .expect("the replay line ends with the seed")
        .to_string();
    let in_sweep = bug_sweep()
        .rows()
        .into_iter()
        .find(|r| r.0 == seed)
        .expect("the sweep's row of the seed");
    assert_eq!(
        replay.rows(),
        vec![in_sweep.clone()],
        "{}",
        replay.describe()
    );
    // The same error, and the same replay line again.
    let errors = replay.error_lines();
    assert_eq!(errors.len(), 1, "{}", replay.describe());
    assert!(
        bug_sweep().error_lines().contains(&errors[0]),
        "the replay fails otherwise than the sweep's seed: {}",
        errors[0]
    );
    assert_eq!(replay.replay_lines(), vec![line.clone()]);

    // The chapter's rows are rows of the sweep or of this replay.
    // (The chapter also shows the seed replayed without `--bug`.)
    let known: BTreeSet<(String, String, String)> = bug_sweep()
        .rows()
        .into_iter()
        .chain(replay.rows())
        .chain(replay_without_bug().rows())
        .collect();
    let mut quoted = 0;
    for (row, text) in chapter_rows() {
        quoted += 1;
        assert!(
            known.contains(&row),
            "the chapter quotes the row `{text}`, which no run prints now"
        );
    }
    assert!(quoted >= 3, "the chapter quotes no row");
    // The chapter replays the seed the sweep reports first.
    assert!(
        chapter().contains(&as_in_chapter(&line)),
        "the chapter does not show the first replay line, {}",
        as_in_chapter(&line)
    );
}

/// The first failing seed replayed without `--bug`.
fn replay_without_bug() -> Run {
    let (line, _) = replay_of_first_failure(&[]);
    let words: Vec<&str> = line
        .split_whitespace()
        .skip(1)
        .filter(|w| *w != "--bug")
        .collect();
    run(binary(), &words)
}

#[test]
fn without_the_bug_the_failing_seed_passes() {
    let replay = replay_without_bug();
    assert_eq!(replay.code, Some(0), "{}", replay.describe());
    let rows = replay.rows();
    assert_eq!(rows.len(), 1, "{}", replay.describe());
    assert_eq!(rows[0].1, "pass");
}

#[test]
fn the_trace_of_the_replayed_seed_shows_an_addition_applied_twice() {
    let dir = std::env::temp_dir().join(format!(
        "moonpool-first-simulation-trace-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path = dir.join("trace.log");
    let path_str = path.display().to_string();
    let (line, replay) = replay_of_first_failure(&["--trace", &path_str]);
    assert_eq!(replay.code, Some(1), "{line}\n{}", replay.describe());
    let trace = std::fs::read_to_string(&path).expect("the trace file");
    let _ = std::fs::remove_dir_all(&dir);
    let seed = line.split_whitespace().last().expect("a seed").to_string();

    // Every line is stamped with the seed (or `-` for the runner's own
    // lines between seeds).
    let stamp = format!("seed={seed} ");
    assert!(trace.lines().count() > 10, "a short trace:\n{trace}");
    for l in trace.lines() {
        assert!(
            l.starts_with(&stamp) || l.starts_with("seed=- "),
            "a trace line not stamped with the seed: {l}"
        );
    }
    // The server's `applied` events: some addition is applied twice.
    let mut applied = BTreeSet::new();
    let mut twice = Vec::new();
    for l in trace.lines() {
        if let Some((_, event)) = l.split_once("first_simulation::server: applied ") {
            let seq = event
                .split_whitespace()
                .find(|w| w.starts_with("seq="))
                .expect("an applied event names its seq")
                .to_string();
            if !applied.insert(seq.clone()) {
                twice.push(seq);
            }
        }
    }
    assert_eq!(applied.len(), 100, "every addition is applied:\n{trace}");
    assert!(!twice.is_empty(), "no addition applied twice:\n{trace}");

    // The lines the chapter quotes are lines of this trace.
    let lines: BTreeSet<&str> = trace.lines().collect();
    let mut quoted = 0;
    for l in chapter_output_lines() {
        if l.starts_with("seed=0x") {
            quoted += 1;
            assert!(
                lines.contains(l.as_str()),
                "the chapter quotes a trace line the replay no longer writes: {l}"
            );
        }
    }
    assert!(quoted > 0, "the chapter quotes no trace line");
}

#[test]
fn without_chaos_the_planted_bug_goes_unseen_and_the_report_says_why() {
    let quiet = run(
        binary(),
        &[&["sim", "--bug", "--no-chaos"][..], &SWEEP[..]].concat(),
    );
    assert_eq!(quiet.code, Some(0), "{}", quiet.describe());
    let never = quiet
        .stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("NEVER TRUE     sometimes \"an addition arrives twice\" at")
        })
        .unwrap_or_else(|| {
            panic!(
                "the unsatisfied sometimes is not reported:\n{}",
                quiet.stdout
            )
        })
        .trim()
        .to_string();
    // The chapter quotes the line with the location in the reader's file
    // (without this repository's ANCHOR comments): compare the rest.
    let without_location = |l: &str| -> String {
        l.split_whitespace()
            .map(|w| {
                if w.starts_with("src/server.rs:") {
                    "src/server.rs:_"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let quoted: Vec<String> = chapter_output_lines()
        .into_iter()
        .filter(|l| l.trim_start().starts_with("NEVER TRUE"))
        .collect();
    assert!(!quoted.is_empty(), "the chapter does not quote the report");
    for q in quoted {
        assert_eq!(without_location(q.trim()), without_location(&never));
    }
}
