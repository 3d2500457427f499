//! `merge FILE...`: the JSON-lines reports of many shards (or many runs)
//! as one.
//!
//! Every input is what `sim --json` prints: per-seed objects, then a
//! `{"summary": {...}}` line (files may hold several runs one after the
//! other). The summaries are read back as
//! [`SweepSummary`](crate::runner::sweep::SweepSummary) and merged (counts,
//! fault tallies and coverage add up; a `sometimes` satisfied in any shard
//! is satisfied; failures keep their replay lines). The per-seed lines
//! are passed through unchanged, file after file, with `--json`, followed
//! by the merged summary: the output is itself a report `merge` reads, so
//! `merge a b c` and `merge (merge a b) c` say the same.
//!
//! Each summary must follow exactly as many seed lines as it says it ran:
//! a shard cut short (killed, out of time) is refused by name rather than
//! merged as if it were whole. A shard that left no report at all (its
//! job died) is named as missing and fails the merge (exit 1): the
//! summaries list the shards they hold, so the merge knows each sharded
//! plan's `N`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::CliError;
use super::sim::refuse;
use crate::report::{human, json};
use crate::runner::sweep::SweepSummary;

/// The longest line `merge` reads; a longer one is refused.
pub const MERGE_LINE_BYTES_MAX: u64 = 64 << 20;

/// The arguments of `merge` (every [`SimCli`](super::SimCli) binary has
/// it; a binary with its own clap parser can flatten this into a `merge`
/// subcommand of its own and call [`MergeArgs::run`]).
#[derive(Args, Clone, Debug)]
pub struct MergeArgs {
    /// JSON-lines reports (`sim --json` outputs, or `merge --json` outputs)
    #[arg(value_name = "FILE", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Print every seed line and the merged summary as JSON lines (a report merge reads again)
    #[arg(long)]
    pub json: bool,
    /// Also fail (exit 1) if a sometimes assertion was satisfied in no shard
    #[arg(long)]
    pub require_sometimes: bool,
}

impl MergeArgs {
    /// Merges the files and prints the summary (`title` names the binary):
    /// exit code 0 if every seed passed, every shard of each sharded plan
    /// was merged exactly once (and, with `--require-sometimes`, every
    /// `sometimes` site was satisfied), 1 otherwise, 2 if a file cannot be
    /// read or is not a whole report.
    pub fn run(&self, title: &str, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
        let totals = match self.merge(out) {
            Ok(totals) => totals,
            Err(e) => return refuse(title, err, &e),
        };
        if self.json {
            let mut line = json::summary_of(&totals);
            if let Some(summary) = line.get_mut("summary").and_then(Value::as_object_mut) {
                summary.insert("shard_gaps".into(), totals.shard_gaps().into());
            }
            let _ = writeln!(out, "{line}");
        } else {
            let text = human::merged(title, &totals, self.require_sometimes);
            let _ = out.write_all(text.as_bytes());
        }
        let _ = out.flush();
        let unmet = self.require_sometimes && !totals.assertions.all_sometimes_satisfied;
        if totals.all_passed() && !unmet && totals.shard_gaps().is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }

    /// Reads every file, passing seed lines to `out` (with `--json`), and
    /// returns the merged summary.
    pub fn merge(&self, out: &mut dyn Write) -> Result<SweepSummary, CliError> {
        let mut totals: Option<SweepSummary> = None;
        for path in &self.files {
            for summary in self.read(path, out)? {
                match &mut totals {
                    Some(t) => t.merge(&summary),
                    None => totals = Some(summary),
                }
            }
        }
        totals.ok_or_else(|| CliError::MergeInput {
            path: String::new(),
            line: 0,
            message: "no report to merge".to_string(),
        })
    }

    /// The summaries of one file.
    fn read(&self, path: &PathBuf, out: &mut dyn Write) -> Result<Vec<SweepSummary>, CliError> {
        let name = path.display().to_string();
        let bad = |line: usize, message: String| CliError::MergeInput {
            path: name.clone(),
            line,
            message,
        };
        let file = File::open(path).map_err(|e| CliError::MergeRead {
            path: name.clone(),
            message: e.to_string(),
        })?;
        let mut reader = BufReader::new(file);
        let mut summaries = Vec::new();
        let mut seed_lines = 0u64;
        let mut buffer = Vec::new();
        let mut number = 0usize;
        loop {
            buffer.clear();
            let read = reader
                .by_ref()
                .take(MERGE_LINE_BYTES_MAX + 1)
                .read_until(b'\n', &mut buffer)
                .map_err(|e| CliError::MergeRead {
                    path: name.clone(),
                    message: e.to_string(),
                })?;
            if read == 0 {
                break;
            }
            number += 1;
            if read as u64 > MERGE_LINE_BYTES_MAX {
                return Err(bad(
                    number,
                    format!("a line longer than {MERGE_LINE_BYTES_MAX} bytes"),
                ));
            }
            let text = std::str::from_utf8(&buffer)
                .map_err(|_| bad(number, "not UTF-8".to_string()))?
                .trim();
            if text.is_empty() {
                continue;
            }
            let value: Value =
                serde_json::from_str(text).map_err(|e| bad(number, format!("not JSON: {e}")))?;
            match json::parse_summary(&value) {
                Ok(Some(summary)) => {
                    if summary.seeds_run != seed_lines {
                        return Err(bad(
                            number,
                            format!(
                                "the summary says {} seed(s) ran but {seed_lines} seed line(s) precede it",
                                summary.seeds_run
                            ),
                        ));
                    }
                    seed_lines = 0;
                    summaries.push(summary);
                }
                Ok(None) if value.get("seed").is_some() => {
                    seed_lines += 1;
                    if self.json {
                        let _ = writeln!(out, "{text}");
                    }
                }
                Ok(None) => {
                    return Err(bad(number, "neither a seed line nor a summary".to_string()));
                }
                Err(e) => return Err(bad(number, format!("a summary merge cannot read: {e}"))),
            }
        }
        if seed_lines > 0 || summaries.is_empty() {
            return Err(bad(
                number,
                format!(
                    "the report is cut short: {seed_lines} seed line(s) after the last summary, or no summary"
                ),
            ));
        }
        Ok(summaries)
    }
}
