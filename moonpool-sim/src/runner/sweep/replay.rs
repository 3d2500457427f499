//! Replay lines: the one command that reruns a failed seed exactly.
//!
//! A [`Replay`] is plain data on the [`SweepPlan`](super::SweepPlan): who
//! runs the seeds (a binary, or a `cargo test`). The runner prints it;
//! the front end that parsed the command line fills it in. Two forms:
//! - [`Replay::Command`], printed by binaries using `moonpool_sim::cli::SimCli`
//!   or `SimArgs`:
//!   `<argv0> sim <binary options> [--check-determinism] --chaos|--no-chaos --seed 0x2a`.
//!   `argv0` is the program as it was invoked (e.g.
//!   `target/debug/pingpong`), so the line works from the same directory.
//!   The rest is the command line without the runner's flags: the binary's
//!   own options (`--bug skip-sync`) stay as typed, because they change
//!   the simulation.
//! - [`Replay::CargoTest`], for sweeps run from a test (the default, and
//!   what `SweepPlan::from_env_or` keeps):
//!   `MOONPOOL_SEED=0x2a MOONPOOL_CHAOS=on cargo test -p my-crate my_test -- --exact`.
//!
//! A sweep run under a [`FaultSelection`] prints it too (`--faults
//! net.clog --buggify-sites none`, or `MOONPOOL_FAULTS=net.clog ...`), so
//! the line reruns the seed under the same selection.

use crate::kernel::faults::FaultSelection;

/// How to print the command that replays a seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// A binary: `program args... [--check-determinism] --chaos|--no-chaos --seed S`.
    Command {
        /// The program, as invoked.
        program: String,
        /// The subcommand and the binary's own options.
        args: Vec<String>,
    },
    /// A `cargo test`: `MOONPOOL_SEED=S MOONPOOL_CHAOS=.. cargo test [-p P] [T -- --exact]`.
    CargoTest {
        /// The package (`CARGO_PKG_NAME` when the test runs under cargo).
        package: Option<String>,
        /// The test's name (libtest names each test's thread after it).
        test: Option<String>,
    },
}

impl Replay {
    /// The `cargo test` form for the test running on this thread.
    pub fn cargo_test() -> Replay {
        let test = std::thread::current()
            .name()
            .filter(|name| *name != "main")
            .map(str::to_string);
        Replay::CargoTest {
            package: std::env::var("CARGO_PKG_NAME").ok(),
            test,
        }
    }

    /// The command line that replays `seed`.
    pub fn line(&self, seed: u64, chaos: bool, check_determinism: bool) -> String {
        self.line_with_faults(seed, chaos, check_determinism, &FaultSelection::default())
    }

    /// The command line that replays `seed` under the fault selection
    /// `faults` (`--faults ...` flags, or `MOONPOOL_FAULTS=...` variables;
    /// nothing for an empty selection or a quiet seed).
    pub fn line_with_faults(
        &self,
        seed: u64,
        chaos: bool,
        check_determinism: bool,
        faults: &FaultSelection,
    ) -> String {
        let quiet = FaultSelection::default();
        let faults = if chaos { faults } else { &quiet };
        match self {
            Replay::Command { program, args } => {
                let mut words: Vec<String> = Vec::with_capacity(args.len() + 5);
                words.push(program.clone());
                words.extend(args.iter().cloned());
                if check_determinism {
                    words.push("--check-determinism".to_string());
                }
                words.extend(faults.flags());
                words.push(if chaos { "--chaos" } else { "--no-chaos" }.to_string());
                words.push("--seed".to_string());
                words.push(format!("{seed:#x}"));
                words
                    .iter()
                    .map(|w| shell_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            Replay::CargoTest { package, test } => {
                let mut line = format!(
                    "MOONPOOL_SEED={seed:#x} MOONPOOL_CHAOS={}",
                    if chaos { "on" } else { "off" }
                );
                if check_determinism {
                    line.push_str(" MOONPOOL_CHECK_DETERMINISM=1");
                }
                for (name, value) in faults.env_vars() {
                    line.push_str(&format!(" {name}={}", shell_quote(&value)));
                }
                line.push_str(" cargo test");
                if let Some(p) = package {
                    line.push_str(&format!(" -p {}", shell_quote(p)));
                }
                if let Some(t) = test {
                    line.push_str(&format!(" {} -- --exact", shell_quote(t)));
                }
                line
            }
        }
    }
}

/// `word`, quoted for a POSIX shell if it needs to be.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_needs_quoting() {
        let r = Replay::Command {
            program: "target/debug/demo".into(),
            args: vec!["sim".into(), "--bug".into(), "it's here".into()],
        };
        assert_eq!(
            r.line(42, true, false),
            r"target/debug/demo sim --bug 'it'\''s here' --chaos --seed 0x2a"
        );
        assert_eq!(
            r.line(1, false, true),
            r"target/debug/demo sim --bug 'it'\''s here' --check-determinism --no-chaos --seed 0x1"
        );
    }

    #[test]
    fn lines_carry_the_fault_selection_in_chaos_seeds_only() {
        let faults = FaultSelection {
            only: Some(["net.clog".to_string()].into()),
            ..FaultSelection::default()
        };
        let r = Replay::Command {
            program: "demo".into(),
            args: vec!["sim".into()],
        };
        assert_eq!(
            r.line_with_faults(7, true, false, &faults),
            "demo sim --faults net.clog --chaos --seed 0x7"
        );
        assert_eq!(
            r.line_with_faults(7, false, false, &faults),
            "demo sim --no-chaos --seed 0x7"
        );
        let r = Replay::CargoTest {
            package: None,
            test: None,
        };
        assert_eq!(
            r.line_with_faults(7, true, false, &faults),
            "MOONPOOL_SEED=0x7 MOONPOOL_CHAOS=on MOONPOOL_FAULTS=net.clog cargo test"
        );
    }

    #[test]
    fn cargo_test_lines_set_the_env() {
        let r = Replay::CargoTest {
            package: Some("moonpool-sim".into()),
            test: Some("sweeps::it_works".into()),
        };
        assert_eq!(
            r.line(0xff, false, false),
            "MOONPOOL_SEED=0xff MOONPOOL_CHAOS=off cargo test -p moonpool-sim sweeps::it_works -- --exact"
        );
    }
}
