//! The runner's settings, from flags and from `MOONPOOL_*` environment
//! variables.
//!
//! # Types
//! - [`Builtin`]: one runner flag: its name, its environment variable, its
//!   value (if any), its help and default. [`BUILTINS`] is the table every
//!   parser, the help text and the docs follow.
//! - [`Settings`]: what one source (the command line, or the environment)
//!   said, each value tagged with its [`Origin`] so errors name it.
//!
//! # Rules
//! - Within one source, a flag given twice is [`CliError::Duplicate`]; two
//!   that exclude each other are [`CliError::Conflict`].
//! - Flags win over the environment: [`Settings::overlay`] takes each value
//!   from the flags if given there; and if the flags choose a single seed
//!   (`--seed`) the environment's sweep settings are dropped, and vice
//!   versa, so `MOONPOOL_SEEDS=1000` in a shell does not break `--seed S`.
//! - An empty environment variable counts as unset.

use std::fmt;
use std::time::Duration;

use moonpool_core::parse_seed;

use super::CliError;
use crate::runner::sweep::plan::{SeedPlan, Shard, SweepPlan};
use crate::runner::sweep::{DEFAULT_MAX_SEEDS, ShardError, Until};

/// One runner flag.
#[derive(Debug)]
pub(crate) struct Builtin {
    /// Without the leading `--`.
    pub(crate) name: &'static str,
    /// The environment variable that mirrors it.
    pub(crate) env: &'static str,
    /// The value's placeholder, if the flag takes one.
    pub(crate) value_name: Option<&'static str>,
    /// One line of help.
    pub(crate) help: &'static str,
}

/// Every runner flag, in help order.
pub(crate) const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "seed",
        env: "MOONPOOL_SEED",
        value_name: Some("S"),
        help: "replay exactly seed S (decimal or 0x-hex) and print its chaos timeline",
    },
    Builtin {
        name: "seeds",
        env: "MOONPOOL_SEEDS",
        value_name: Some("N"),
        help: "run N seeds [default: 100; unbounded with --time-budget alone]",
    },
    Builtin {
        name: "first-seed",
        env: "MOONPOOL_FIRST_SEED",
        value_name: Some("S"),
        help: "first seed of the sweep [default: a fresh base, printed]",
    },
    Builtin {
        name: "shard",
        env: "MOONPOOL_SHARD",
        value_name: Some("K/N"),
        help: "run only the seeds whose index is K-1 mod N (K is 1-based)",
    },
    Builtin {
        name: "time-budget",
        env: "MOONPOOL_TIME_BUDGET",
        value_name: Some("DURATION"),
        help: "start no new seed after DURATION of wall time (500ms, 30s, 2m, 1h)",
    },
    Builtin {
        name: "check-determinism",
        env: "MOONPOOL_CHECK_DETERMINISM",
        value_name: None,
        help: "run each seed twice; fail it, naming the first diverging step, if the runs differ",
    },
    Builtin {
        name: "chaos",
        env: "MOONPOOL_CHAOS",
        value_name: None,
        help: "turn the chaos profile on (fault families and rates sampled per seed)",
    },
    Builtin {
        name: "no-chaos",
        env: "MOONPOOL_CHAOS",
        value_name: None,
        help: "force the quiet configuration: no faults at all",
    },
    Builtin {
        name: "until-all-sometimes",
        env: "MOONPOOL_UNTIL_ALL_SOMETIMES",
        value_name: None,
        help: "sweep until every sometimes assertion was satisfied (at most --max-seeds seeds)",
    },
    Builtin {
        name: "max-seeds",
        env: "MOONPOOL_MAX_SEEDS",
        value_name: Some("N"),
        help: "seed cap for --until-all-sometimes [default: 10000]",
    },
    Builtin {
        name: "json",
        env: "MOONPOOL_JSON",
        value_name: None,
        help: "print one JSON object per seed and a final summary object on stdout",
    },
    Builtin {
        name: "trace",
        env: "MOONPOOL_TRACE",
        value_name: Some("FILE"),
        help: "write every trace event, stamped with seed, simulated time, process and task, to FILE",
    },
    Builtin {
        name: "quiet",
        env: "MOONPOOL_QUIET",
        value_name: None,
        help: "print only failures and the summary; no progress",
    },
];

/// The runner flag named `name` (without `--`).
pub(crate) fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A flag, without `--`.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "--{name}"),
            Origin::Env(var) => f.write_str(var),
        }
    }
}

type Slot<T> = Option<(T, Origin)>;

/// What one source said. See the [module documentation](self).
#[derive(Clone, Debug, Default)]
pub(crate) struct Settings {
    pub(crate) seed: Slot<u64>,
    pub(crate) seeds: Slot<u64>,
    pub(crate) first_seed: Slot<u64>,
    pub(crate) shard: Slot<Shard>,
    pub(crate) time_budget: Slot<Duration>,
    pub(crate) check_determinism: Slot<bool>,
    pub(crate) chaos: Slot<bool>,
    pub(crate) until_all_sometimes: Slot<bool>,
    pub(crate) max_seeds: Slot<u64>,
    pub(crate) json: Slot<bool>,
    pub(crate) quiet: Slot<bool>,
    pub(crate) trace: Slot<String>,
}

fn put<T>(slot: &mut Slot<T>, value: T, origin: Origin) -> Result<(), CliError> {
    if let Some((_, previous)) = slot {
        return Err(if *previous == origin {
            CliError::Duplicate {
                flag: origin.to_string(),
            }
        } else {
            CliError::Conflict {
                first: previous.to_string(),
                second: origin.to_string(),
                why: "they say opposite things",
            }
        });
    }
    *slot = Some((value, origin));
    Ok(())
}

/// Whether a boolean slot is set to true.
fn on(slot: &Slot<bool>) -> Option<Origin> {
    match slot {
        Some((true, origin)) => Some(*origin),
        _ => None,
    }
}

impl Settings {
    /// Applies runner flag `spec` with its value (`None` for switches).
    pub(crate) fn apply(
        &mut self,
        spec: &'static Builtin,
        value: Option<&str>,
        origin: Origin,
    ) -> Result<(), CliError> {
        let text = value.unwrap_or("");
        match spec.name {
            "seed" => put(&mut self.seed, seed(text, origin)?, origin),
            "seeds" => put(&mut self.seeds, count(text, origin)?, origin),
            "first-seed" => put(&mut self.first_seed, seed(text, origin)?, origin),
            "shard" => put(&mut self.shard, shard(text, origin)?, origin),
            "time-budget" => put(&mut self.time_budget, duration(text, origin)?, origin),
            "max-seeds" => put(&mut self.max_seeds, count(text, origin)?, origin),
            "trace" => put(&mut self.trace, text.to_string(), origin),
            "check-determinism" => put(&mut self.check_determinism, switch(value, origin)?, origin),
            "until-all-sometimes" => put(
                &mut self.until_all_sometimes,
                switch(value, origin)?,
                origin,
            ),
            "json" => put(&mut self.json, switch(value, origin)?, origin),
            "quiet" => put(&mut self.quiet, switch(value, origin)?, origin),
            "chaos" | "no-chaos" => {
                let on = switch(value, origin)?;
                let on = if spec.name == "no-chaos" { !on } else { on };
                put(&mut self.chaos, on, origin)
            }
            other => Err(CliError::Definition(format!(
                "runner flag --{other} has no parser"
            ))),
        }
    }

    /// The settings given by `MOONPOOL_*` variables, read through `env`.
    pub(crate) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, CliError> {
        let mut settings = Settings::default();
        for spec in BUILTINS {
            if spec.name == "no-chaos" {
                continue; // MOONPOOL_CHAOS is read for `chaos`, as a boolean
            }
            let Some(text) = env(spec.env).filter(|t| !t.trim().is_empty()) else {
                continue;
            };
            // A switch's variable holds a boolean, which `switch` parses.
            settings.apply(spec, Some(text.trim()), Origin::Env(spec.env))?;
        }
        Ok(settings)
    }

    /// `flags` over `env`. See the [module documentation](self).
    pub(crate) fn overlay(mut env: Settings, flags: Settings) -> Settings {
        let flags_sweep = flags.seeds.is_some()
            || flags.first_seed.is_some()
            || flags.shard.is_some()
            || on(&flags.until_all_sometimes).is_some()
            || flags.max_seeds.is_some();
        if flags.seed.is_some() {
            env.seeds = None;
            env.first_seed = None;
            env.shard = None;
            env.until_all_sometimes = None;
            env.max_seeds = None;
        }
        if flags_sweep {
            env.seed = None;
        }
        if on(&flags.until_all_sometimes).is_some() {
            env.seeds = None;
        }
        if flags.seeds.is_some() {
            env.until_all_sometimes = None;
            env.max_seeds = None;
        }
        Settings {
            seed: flags.seed.or(env.seed),
            seeds: flags.seeds.or(env.seeds),
            first_seed: flags.first_seed.or(env.first_seed),
            shard: flags.shard.or(env.shard),
            time_budget: flags.time_budget.or(env.time_budget),
            check_determinism: flags.check_determinism.or(env.check_determinism),
            chaos: flags.chaos.or(env.chaos),
            until_all_sometimes: flags.until_all_sometimes.or(env.until_all_sometimes),
            max_seeds: flags.max_seeds.or(env.max_seeds),
            json: flags.json.or(env.json),
            quiet: flags.quiet.or(env.quiet),
            trace: flags.trace.or(env.trace),
        }
    }

    /// Rejects settings that exclude each other.
    pub(crate) fn validate(&self) -> Result<(), CliError> {
        let until = on(&self.until_all_sometimes);
        if let Some((_, seed)) = self.seed {
            let sweep = [
                self.seeds.map(|s| s.1),
                self.first_seed.map(|s| s.1),
                self.shard.map(|s| s.1),
                until,
                self.max_seeds.map(|s| s.1),
            ];
            if let Some(other) = sweep.into_iter().flatten().next() {
                return Err(CliError::Conflict {
                    first: seed.to_string(),
                    second: other.to_string(),
                    why: "--seed replays one seed, the other describes a sweep",
                });
            }
        }
        if let (Some(until), Some((_, seeds))) = (until, self.seeds) {
            return Err(CliError::Conflict {
                first: seeds.to_string(),
                second: until.to_string(),
                why: "--until-all-sometimes sweeps until its goal; cap it with --max-seeds",
            });
        }
        if let (None, Some((_, max))) = (until, self.max_seeds) {
            return Err(CliError::Requires {
                setting: max.to_string(),
                needs: "--until-all-sometimes",
            });
        }
        Ok(())
    }

    /// The sweep plan these (validated) settings describe. `fresh` picks
    /// the first seed when none was given; `default_seeds` is the count
    /// when neither a count nor a budget was given.
    pub(crate) fn plan(
        &self,
        default_seeds: u64,
        fresh: impl FnOnce() -> u64,
    ) -> Result<SweepPlan, CliError> {
        let mut plan = match self.seed {
            Some((seed, _)) => SweepPlan::one(seed),
            None => {
                let first = self.first_seed.map(|s| s.0).unwrap_or_else(fresh);
                let count = if on(&self.until_all_sometimes).is_some() {
                    self.max_seeds.map_or(DEFAULT_MAX_SEEDS, |s| s.0)
                } else if let Some((n, _)) = self.seeds {
                    n
                } else if self.time_budget.is_some() {
                    u64::MAX
                } else {
                    default_seeds
                };
                SweepPlan::range(first, count)
            }
        };
        if let Some((shard, _)) = self.shard {
            plan.set_shard(shard)?;
        }
        plan.time_budget = self.time_budget.map(|t| t.0);
        plan.check_determinism = self.check_determinism.is_some_and(|c| c.0);
        if on(&self.until_all_sometimes).is_some() {
            plan.until = Some(Until::AllSometimes);
        }
        plan.chaos = self.chaos.map(|c| c.0);
        Ok(plan)
    }
}

/// The plan of `default` with the environment's settings applied (the
/// library entry point behind [`SweepPlan::from_env_or`]).
pub(crate) fn plan_from_env(
    default: SweepPlan,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SweepPlan, CliError> {
    let settings = Settings::from_env(env)?;
    settings.validate()?;
    let mut plan = default;
    if let Some((seed, _)) = settings.seed {
        plan.seeds = SeedPlan::One(seed);
        plan.shard = None;
        plan.until = None;
        plan.record_timeline = true;
    } else if settings.seeds.is_some()
        || settings.first_seed.is_some()
        || on(&settings.until_all_sometimes).is_some()
    {
        let default_count = match plan.seeds {
            SeedPlan::One(_) => crate::runner::sweep::DEFAULT_SEEDS,
            SeedPlan::Range { count, .. } => count,
        };
        let from_env = settings.plan(default_count, || plan.seeds.first())?;
        plan.seeds = from_env.seeds;
        plan.until = from_env.until;
        plan.record_timeline = false;
    }
    if let Some((shard, _)) = settings.shard {
        plan.set_shard(shard)?;
    }
    if let Some((budget, _)) = settings.time_budget {
        plan.time_budget = Some(budget);
    }
    if let Some((check, _)) = settings.check_determinism {
        plan.check_determinism = check;
    }
    if let Some((chaos, _)) = settings.chaos {
        plan.chaos = Some(chaos);
    }
    if let Some((path, _)) = &settings.trace {
        plan.trace = Some(open_trace(path)?);
    }
    Ok(plan)
}

/// Creates the trace file at `path`.
pub(crate) fn open_trace(path: &str) -> Result<crate::trace::TraceSink, CliError> {
    crate::trace::TraceSink::file(path).map_err(|e| CliError::TraceFile {
        path: path.to_string(),
        message: e.to_string(),
    })
}

fn seed(text: &str, origin: Origin) -> Result<u64, CliError> {
    parse_seed(text).map_err(|_| CliError::InvalidSeed {
        setting: origin.to_string(),
        text: text.to_string(),
    })
}

fn count(text: &str, origin: Origin) -> Result<u64, CliError> {
    match parse_seed(text) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(CliError::InvalidCount {
            setting: origin.to_string(),
            text: text.to_string(),
        }),
    }
}

fn shard(text: &str, origin: Origin) -> Result<Shard, CliError> {
    let invalid = |reason: String| CliError::InvalidShard {
        setting: origin.to_string(),
        text: text.to_string(),
        reason,
    };
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| invalid("no '/'".to_string()))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| invalid(format!("'{part}' is not a whole number")))
    };
    let (k, n) = (number(k)?, number(n)?);
    Shard::new(k, n).map_err(|e| match e {
        ShardError::ZeroCount => invalid("N must be at least 1".to_string()),
        ShardError::OutOfRange { .. } => invalid(format!("K must be between 1 and {n}")),
    })
}

/// A switch: no value on the command line; a boolean in the environment.
fn switch(value: Option<&str>, origin: Origin) -> Result<bool, CliError> {
    match (origin, value) {
        (Origin::Flag(name), Some(_)) => Err(CliError::UnexpectedValue {
            flag: format!("--{name}"),
        }),
        (Origin::Flag(_), None) => Ok(true),
        (Origin::Env(_), text) => {
            let text = text.unwrap_or("");
            match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "on" | "yes" => Ok(true),
                "0" | "false" | "off" | "no" => Ok(false),
                _ => Err(CliError::InvalidBool {
                    setting: origin.to_string(),
                    text: text.to_string(),
                }),
            }
        }
    }
}

fn duration(text: &str, origin: Origin) -> Result<Duration, CliError> {
    parse_duration(text).map_err(|reason| CliError::InvalidDuration {
        setting: origin.to_string(),
        text: text.to_string(),
        reason,
    })
}

/// `500ms`, `30s`, `2m`, `1h`: a whole number and a unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("missing unit")?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err("it must start with a whole number");
    }
    let n: u64 = digits.parse().map_err(|_| "the number is too large")?;
    let ms_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        _ => return Err("unknown unit (use ms, s, m or h)"),
    };
    let ms = n
        .checked_mul(ms_per_unit)
        .ok_or("the number is too large")?;
    if ms == 0 {
        return Err("it must be more than zero");
    }
    Ok(Duration::from_millis(ms))
}

/// The known name closest to `flag`, if any is close (edit distance 2).
pub(crate) fn suggest<'a>(flag: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let wanted = flag.trim_start_matches('-');
    let wanted = wanted.split_once('=').map_or(wanted, |(name, _)| name);
    known
        .map(|name| (edit_distance(wanted, name), name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| format!("--{name}"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "30",
            "s",
            "0s",
            "1.5s",
            "10x",
            "-1s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn suggestions() {
        let names = || BUILTINS.iter().map(|b| b.name);
        assert_eq!(suggest("--sed", names()), Some("--seed".to_string()));
        assert_eq!(suggest("--jsno", names()), Some("--json".to_string()));
        assert_eq!(suggest("--frobnicate", names()), None);
    }
}
