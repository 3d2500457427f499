//! Seeds files (`--seeds-file`, `--save-failures`): regression seeds kept
//! in a repository and replayed by CI.
//!
//! ```text
//! # kv: seeds that once failed, replayed on every CI run
//! 0x2a
//! 0x1f3 --no-chaos                     # a quiet seed
//! 7 --chaos --bug stale-read           # options of the binary, as on its command line
//! ```
//!
//! One seed per line (decimal or `0x` hex), then optionally `--chaos` or
//! `--no-chaos` and the binary's own `sim` options; `#` starts a comment;
//! blank lines are skipped. A line without options runs with the command
//! line's; a line with options of the binary's own runs with exactly
//! those. Words are split on whitespace; single quotes keep a word whole
//! (`'two words'`), as the replay lines quote them.
//!
//! `--save-failures` appends lines of this format, so a file of failures
//! found by a sweep is a seeds file.

use std::io::Write as _;

use moonpool_core::parse_seed;

use super::CliError;
use crate::runner::sweep::shell_quote;

/// Lines of a seeds file at most (a limit on what one file can ask for).
pub const SEEDS_FILE_LINES_MAX: usize = 1_000_000;

/// One line of a seeds file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeedEntry {
    /// The seed.
    pub(crate) seed: u64,
    /// `--chaos` (`Some(true)`) or `--no-chaos` on the line.
    pub(crate) chaos: Option<bool>,
    /// The binary's own options on the line (empty: the command line's).
    pub(crate) options: Vec<String>,
    /// The line number, 1-based.
    pub(crate) line: usize,
}

/// Reads and checks the seeds file at `path`.
pub(crate) fn read(path: &str) -> Result<Vec<SeedEntry>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::SeedsFileRead {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    parse(path, &text)
}

/// The entries of a seeds file whose text is `text` (`path` names it in
/// errors).
pub(crate) fn parse(path: &str, text: &str) -> Result<Vec<SeedEntry>, CliError> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |message: String| CliError::SeedsFile {
            path: path.to_string(),
            line,
            message,
        };
        if line > SEEDS_FILE_LINES_MAX {
            return Err(bad(format!(
                "more than {SEEDS_FILE_LINES_MAX} lines; split the file"
            )));
        }
        let words = split_words(raw).map_err(|e| bad(e.to_string()))?;
        let Some((seed, rest)) = words.split_first() else {
            continue;
        };
        let seed =
            parse_seed(seed).map_err(|e| bad(format!("'{seed}' is not a seed: {}", e.reason)))?;
        let mut entry = SeedEntry {
            seed,
            chaos: None,
            options: Vec::new(),
            line,
        };
        for word in rest {
            let chaos = match word.as_str() {
                "--chaos" => Some(true),
                "--no-chaos" => Some(false),
                _ => None,
            };
            if let Some(on) = chaos {
                if entry.chaos.is_some_and(|c| c != on) {
                    return Err(bad("--chaos and --no-chaos on one line".to_string()));
                }
                entry.chaos = Some(on);
                continue;
            }
            let runner_flag = word
                .strip_prefix("--")
                .map(|body| body.split_once('=').map_or(body, |(name, _)| name))
                .is_some_and(super::args::is_runner_flag);
            if runner_flag {
                return Err(bad(format!(
                    "{word} is a runner flag; a line takes a seed, --chaos or --no-chaos, and the binary's own options"
                )));
            }
            entry.options.push(word.clone());
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The line `--save-failures` writes for a failed seed: the seed, chaos,
/// the binary's own options, and the failure as a comment.
pub(crate) fn line(seed: u64, chaos: bool, options: &[String], error: &str) -> String {
    let mut words = vec![
        format!("{seed:#x}"),
        if chaos { "--chaos" } else { "--no-chaos" }.to_string(),
    ];
    words.extend(options.iter().map(|o| shell_quote(o)));
    let comment: String = error
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    format!("{}  # {comment}", words.join(" "))
}

/// Appends `lines` to the file at `path` (created if missing).
pub(crate) fn append(path: &str, lines: &[String]) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::SeedsFileRead {
        path: path.to_string(),
        message: e.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(io)
}

/// Why a line cannot be split into words.
#[derive(Debug, thiserror::Error)]
#[error("a quote is not closed")]
struct UnclosedQuote;

/// Splits `line` into words: whitespace separates them, `'...'` keeps
/// its content whole, `#` outside quotes starts a comment.
fn split_words(line: &str) -> Result<Vec<String>, UnclosedQuote> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' if word.is_none() => break,
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(UnclosedQuote),
                    }
                }
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    word.get_or_insert_with(String::new).push(next);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_a_seed_chaos_and_options_and_comments_are_skipped() {
        let text =
            "# header\n\n0x2a\n7 --no-chaos   # quiet\n0x10 --chaos --bug 'stale read' --x=1\n";
        let entries = parse("f", text).expect("valid");
        assert_eq!(
            entries,
            vec![
                SeedEntry {
                    seed: 0x2a,
                    chaos: None,
                    options: vec![],
                    line: 3
                },
                SeedEntry {
                    seed: 7,
                    chaos: Some(false),
                    options: vec![],
                    line: 4
                },
                SeedEntry {
                    seed: 0x10,
                    chaos: Some(true),
                    options: vec!["--bug".into(), "stale read".into(), "--x=1".into()],
                    line: 5
                },
            ]
        );
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        for (text, line, needle) in [
            ("0x2a\nzz\n", 2, "not a seed"),
            ("1 --chaos --no-chaos\n", 1, "--chaos and --no-chaos"),
            ("\n\n3 --seeds 4\n", 3, "runner flag"),
            ("4 --bug 'open\n", 1, "quote"),
        ] {
            match parse("r.seeds", text) {
                Err(CliError::SeedsFile {
                    path,
                    line: l,
                    message,
                }) => {
                    assert_eq!((path.as_str(), l), ("r.seeds", line), "{text:?}");
                    assert!(message.contains(needle), "{message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn saved_lines_read_back_as_the_same_entry() {
        let options = vec!["--bug".to_string(), "it's here".to_string()];
        let text = line(0xdead, false, &options, "workload 'w' failed:\nboom");
        assert!(!text.contains('\n'), "{text}");
        let entries = parse("f", &text).expect("a saved line parses");
        assert_eq!(
            entries,
            vec![SeedEntry {
                seed: 0xdead,
                chaos: Some(false),
                options,
                line: 1
            }]
        );
    }
}
