//! Planted bugs: one trait and one macro for every example.
//!
//! An example declares its bugs once with [`planted_bugs!`]; the macro
//! writes the enum, its [`PlantedBug`] implementation (every bug, its
//! command-line name and one-line description), [`std::str::FromStr`]
//! (the `--bug NAME` parser) and [`std::fmt::Display`] (the name). The
//! binary's `--bug` and `--list-bugs` come from [`super::main`], which
//! only needs the trait.

use std::fmt;
use std::str::FromStr;

/// A bug an example can plant in its own code, selected by name on the
/// command line (`--bug NAME`). The simulation must catch each one within
/// a bounded number of seeds: that is what proves the chaos finds bugs.
pub trait PlantedBug:
    Copy + Eq + Send + Sync + fmt::Debug + fmt::Display + FromStr<Err = UnknownBug> + 'static
{
    /// Every bug of the example, in the order `--list-bugs` prints them.
    const ALL: &'static [Self];

    /// The command-line name (`--bug NAME`): lowercase words joined by `-`.
    fn name(self) -> &'static str;

    /// What the bug does and why it is wrong, in one line.
    fn description(self) -> &'static str;

    /// The bug named `name`.
    fn parse(name: &str) -> Result<Self, UnknownBug> {
        Self::ALL
            .iter()
            .copied()
            .find(|bug| bug.name() == name)
            .ok_or_else(|| UnknownBug {
                name: name.to_string(),
                known: Self::ALL.iter().map(|bug| bug.name()).collect(),
            })
    }
}

/// A `--bug` name the example does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown bug {name:?} (known: {})", known.join(", "))]
pub struct UnknownBug {
    /// The name given.
    pub name: String,
    /// The names the example knows.
    pub known: Vec<&'static str>,
}

/// The lines `--list-bugs` prints: each bug's name, padded to one column,
/// and its description.
pub fn bug_list<B: PlantedBug>() -> Vec<String> {
    let width = B::ALL.iter().map(|b| b.name().len()).max().unwrap_or(0);
    B::ALL
        .iter()
        .map(|b| format!("{:<width$}  {}", b.name(), b.description()))
        .collect()
}

/// Declares an example's planted bugs:
///
/// ```text
/// planted_bugs! {
///     /// The bugs of the example.
///     pub enum DemoBug {
///         /// Doc of the variant.
///         SkipSync = "skip-sync": "acknowledges before syncing: a crash loses acknowledged data",
///     }
/// }
/// ```
///
/// generates the enum (`Clone, Copy, Debug, PartialEq, Eq, PartialOrd,
/// Ord, Hash`), `impl PlantedBug`, `impl FromStr` (errors are
/// [`UnknownBug`]) and `impl Display` (the name).
macro_rules! planted_bugs {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $cli:literal : $desc:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::harness::PlantedBug for $name {
            const ALL: &'static [$name] = &[$($name::$variant),+];

            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $cli),+
                }
            }

            fn description(self) -> &'static str {
                match self {
                    $($name::$variant => $desc),+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::harness::UnknownBug;

            fn from_str(s: &str) -> Result<$name, $crate::harness::UnknownBug> {
                <$name as $crate::harness::PlantedBug>::parse(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::harness::PlantedBug::name(*self))
            }
        }
    };
}

pub(crate) use planted_bugs;

#[cfg(test)]
mod tests {
    use super::*;

    planted_bugs! {
        /// Bugs of a test.
        enum TestBug {
            /// One.
            First = "first-bug": "the first",
            /// Two.
            Second = "second": "the second",
        }
    }

    #[test]
    fn names_parse_back_and_unknown_names_are_refused() {
        for bug in TestBug::ALL {
            assert_eq!(bug.name().parse::<TestBug>(), Ok(*bug));
            assert_eq!(bug.to_string(), bug.name());
        }
        let err = "nope".parse::<TestBug>().expect_err("unknown");
        assert_eq!(err.known, vec!["first-bug", "second"]);
        assert!(err.to_string().contains("first-bug, second"), "{err}");
    }

    #[test]
    fn the_list_aligns_descriptions() {
        assert_eq!(
            bug_list::<TestBug>(),
            vec!["first-bug  the first", "second     the second"]
        );
    }
}
