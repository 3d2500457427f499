//! Antithesis-style assertions: properties written into the code under
//! test, checked on every evaluation in simulation and accumulated across
//! seeds.
//!
//! | macro | holds when |
//! |---|---|
//! | [`always!(cond, "msg")`](crate::always!) | `cond` is true every time it is evaluated, and it is evaluated at least once in the sweep |
//! | [`always_or_unreachable!(cond, "msg")`](crate::always_or_unreachable!) | `cond` is true every time it is evaluated (never evaluating it is fine) |
//! | [`sometimes!(cond, "msg")`](crate::sometimes!) | `cond` is true at least once across the sweep |
//! | [`reachable!("msg")`](crate::reachable!) | the line runs at least once across the sweep |
//! | [`assert_unreachable!("msg")`](crate::assert_unreachable!) | the line never runs |
//! | `always_greater_than!(l, r, "msg")` and the other numeric forms | `l > r` (…) every time / at least once, recording `l` and `r` |
//!
//! A violated `always`/`always_or_unreachable`, or a reached
//! `assert_unreachable`, fails the simulated seed with the message and the
//! call's `file:line:column`. `sometimes` and `reachable` cannot fail a
//! seed: they are coverage goals, met or not across many seeds.
//!
//! Every macro takes a message (a string constant naming the property)
//! and, optionally, details in `format!` syntax, formatted only when the
//! assertion is violated:
//!
//! ```
//! use moonpool_core::{always, always_less_than, reachable, sometimes};
//!
//! fn apply(balance: u64, debit: u64) -> u64 {
//!     always!(debit <= balance, "debit never exceeds the balance", "debit {debit} > balance {balance}");
//!     sometimes!(debit == balance, "an account is emptied");
//!     always_less_than!(debit, 1_000_000, "debits are bounded");
//!     let left = balance - debit;
//!     if left == 0 {
//!         reachable!("zero balance");
//!     }
//!     left
//! }
//! assert_eq!(apply(10, 3), 7);
//! ```
//!
//! # Naming
//! `assert_unreachable!` is not called `unreachable!` because the standard
//! library's `unreachable!` panics and its type is `!`; ours records and
//! returns, so silently shadowing std's macro would change what code after
//! it may assume. The other names do not clash with std and keep the short
//! Antithesis names.
//!
//! # Outside a simulation
//! Assertions never panic in production. A violation is logged at `error`
//! level through `tracing` (target `moonpool::assertions`); `sometimes!`
//! and `reachable!` record nothing. See [`sim_hook`](crate::sim_hook).
//!
//! # Sites
//! Each macro call declares a `static` [`AssertionSite`] registered at link
//! time in [`ASSERTION_SITES`], so a coverage report lists every assertion
//! of the binary, including those that never ran.

use std::fmt;

use linkme::distributed_slice;

use crate::sim_hook::AssertionEvent;

/// Every assertion call site linked into the binary.
#[distributed_slice]
pub static ASSERTION_SITES: [AssertionSite];

/// The kind of an assertion.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AssertionKind {
    /// True whenever evaluated, and evaluated at least once.
    Always,
    /// True whenever evaluated.
    AlwaysOrUnreachable,
    /// True at least once.
    Sometimes,
    /// Evaluated at least once.
    Reachable,
    /// Never evaluated.
    Unreachable,
}

impl AssertionKind {
    /// Whether an evaluation with this `condition` violates the assertion
    /// (and so fails a simulated seed).
    pub fn is_violation(self, condition: bool) -> bool {
        match self {
            AssertionKind::Always | AssertionKind::AlwaysOrUnreachable => !condition,
            AssertionKind::Unreachable => true,
            AssertionKind::Sometimes | AssertionKind::Reachable => false,
        }
    }

    /// The macro's name, e.g. `"always"`.
    pub fn name(self) -> &'static str {
        match self {
            AssertionKind::Always => "always",
            AssertionKind::AlwaysOrUnreachable => "always_or_unreachable",
            AssertionKind::Sometimes => "sometimes",
            AssertionKind::Reachable => "reachable",
            AssertionKind::Unreachable => "unreachable",
        }
    }
}

/// The comparison of a numeric assertion: `left OP right`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// `left > right`
    GreaterThan,
    /// `left >= right`
    GreaterThanOrEqualTo,
    /// `left < right`
    LessThan,
    /// `left <= right`
    LessThanOrEqualTo,
}

impl Comparison {
    /// Whether `left OP right`. Incomparable values (a NaN) do not hold.
    #[inline]
    pub fn holds<T: PartialOrd + ?Sized>(self, left: &T, right: &T) -> bool {
        match self {
            Comparison::GreaterThan => left > right,
            Comparison::GreaterThanOrEqualTo => left >= right,
            Comparison::LessThan => left < right,
            Comparison::LessThanOrEqualTo => left <= right,
        }
    }

    /// The operator, e.g. `">="`.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::GreaterThan => ">",
            Comparison::GreaterThanOrEqualTo => ">=",
            Comparison::LessThan => "<",
            Comparison::LessThanOrEqualTo => "<=",
        }
    }

    /// How far `left OP right` is from failing (positive or zero: it holds
    /// with that much room; negative: it misses by that much). For display
    /// and for finding the closest miss, never for a decision.
    pub fn margin(self, left: Number, right: Number) -> f64 {
        let (l, r) = (left.as_f64(), right.as_f64());
        match self {
            Comparison::GreaterThan | Comparison::GreaterThanOrEqualTo => l - r,
            Comparison::LessThan | Comparison::LessThanOrEqualTo => r - l,
        }
    }
}

/// A value compared by a numeric assertion, kept for the report.
/// Serializes as a plain number (an `i64` or `u64` when it fits, else a
/// float), so JSON readers need no 128-bit support.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// Any integer that fits an `i128` (durations are nanoseconds).
    Int(i128),
    /// A float, or an integer too large for `i128`.
    Float(f64),
}

impl Number {
    /// The value as a float (display and margins only).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl serde::Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Int(i) => {
                if let Ok(v) = i64::try_from(i) {
                    serializer.serialize_i64(v)
                } else if let Ok(v) = u64::try_from(i) {
                    serializer.serialize_u64(v)
                } else {
                    serializer.serialize_f64(i as f64)
                }
            }
            Number::Float(f) => serializer.serialize_f64(f),
        }
    }
}

/// Reads what [`Number`]'s `Serialize` writes: an integer as
/// [`Number::Int`], anything else as [`Number::Float`] (merged reports
/// read numbers back this way).
impl<'de> serde::Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(i128::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::Int(i128::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A type the numeric assertions accept: integers, floats, and
/// `Duration` (as nanoseconds).
pub trait AssertNumber: PartialOrd {
    /// The value, for the report.
    fn to_number(&self) -> Number;
}

macro_rules! int_numbers {
    ($($t:ty),*) => {$(
        impl AssertNumber for $t {
            #[inline]
            fn to_number(&self) -> Number {
                Number::Int(*self as i128)
            }
        }
    )*};
}
int_numbers!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, usize);

impl AssertNumber for u128 {
    fn to_number(&self) -> Number {
        match i128::try_from(*self) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Float(*self as f64),
        }
    }
}

impl AssertNumber for f32 {
    fn to_number(&self) -> Number {
        Number::Float(f64::from(*self))
    }
}

impl AssertNumber for f64 {
    fn to_number(&self) -> Number {
        Number::Float(*self)
    }
}

impl AssertNumber for std::time::Duration {
    fn to_number(&self) -> Number {
        Number::Int(self.as_nanos() as i128)
    }
}

impl<T: AssertNumber + ?Sized> AssertNumber for &T {
    fn to_number(&self) -> Number {
        (**self).to_number()
    }
}

/// The static descriptor of one assertion call site.
#[derive(Debug)]
pub struct AssertionSite {
    /// Which property.
    pub kind: AssertionKind,
    /// For numeric forms, the comparison.
    pub comparison: Option<Comparison>,
    /// The message naming the property.
    pub message: &'static str,
    /// Source file of the call.
    pub file: &'static str,
    /// Line of the call.
    pub line: u32,
    /// Column of the call.
    pub column: u32,
    /// `module_path!()` at the call.
    pub module_path: &'static str,
}

impl AssertionSite {
    /// This site's index in [`ASSERTION_SITES`]: a dense, stable identity
    /// for per-seed tables. `None` only for a site built by hand rather
    /// than by the macros.
    pub fn index(&'static self) -> Option<usize> {
        index_in(&ASSERTION_SITES, self)
    }

    /// `file:line:column`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.column)
    }

    /// The macro's name, e.g. `always_greater_than`.
    pub fn macro_name(&self) -> String {
        match self.comparison {
            None => self.kind.name().to_string(),
            Some(c) => {
                let op = match c {
                    Comparison::GreaterThan => "greater_than",
                    Comparison::GreaterThanOrEqualTo => "greater_than_or_equal_to",
                    Comparison::LessThan => "less_than",
                    Comparison::LessThanOrEqualTo => "less_than_or_equal_to",
                };
                format!("{}_{op}", self.kind.name())
            }
        }
    }
}

/// Every registered assertion site: every assertion macro call linked into
/// the binary, whether it ever ran or not.
///
/// ```
/// fn never_called(x: u32) {
///     moonpool_core::sometimes!(x == 42, "the answer comes up");
/// }
/// let site = moonpool_core::assertion_sites()
///     .iter()
///     .find(|s| s.message == "the answer comes up")
///     .expect("registered at link time, though never run");
/// assert_eq!(site.kind, moonpool_core::AssertionKind::Sometimes);
/// ```
pub fn assertion_sites() -> &'static [AssertionSite] {
    &ASSERTION_SITES
}

/// The index of `item` in `slice`, if it is one of its elements.
pub(crate) fn index_in<T>(slice: &'static [T], item: &'static T) -> Option<usize> {
    let size = std::mem::size_of::<T>();
    let start = slice.as_ptr() as usize;
    let at = item as *const T as usize;
    let offset = at.checked_sub(start)?;
    if size == 0 || offset % size != 0 {
        return None;
    }
    let index = offset / size;
    (index < slice.len()).then_some(index)
}

/// One line describing a violation: the values compared or what was
/// reached, then the details if any.
pub fn describe(site: &AssertionSite, event: &AssertionEvent<'_>) -> String {
    let mut text = match (site.kind, site.comparison, event.values) {
        (AssertionKind::Unreachable, _, _) => "an unreachable point was reached".to_string(),
        (_, Some(c), Some((l, r))) => {
            format!(
                "left = {l}, right = {r}: expected left {} right",
                c.symbol()
            )
        }
        _ if event.condition => "condition was true".to_string(),
        _ => "condition was false".to_string(),
    };
    if let Some(details) = event.details {
        text.push_str("; ");
        text.push_str(&details.to_string());
    }
    text
}

/// Declares and registers an assertion site; the expression is the
/// `&'static AssertionSite`. Internal to the assertion macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __assertion_site {
    ($kind:ident, $comparison:expr, $msg:expr) => {{
        #[$crate::__private::linkme::distributed_slice($crate::assertions::ASSERTION_SITES)]
        #[linkme(crate = $crate::__private::linkme)]
        static __MOONPOOL_ASSERTION_SITE: $crate::assertions::AssertionSite =
            $crate::assertions::AssertionSite {
                kind: $crate::assertions::AssertionKind::$kind,
                comparison: $comparison,
                message: $msg,
                file: ::core::file!(),
                line: ::core::line!(),
                column: ::core::column!(),
                module_path: ::core::module_path!(),
            };
        &__MOONPOOL_ASSERTION_SITE
    }};
}

/// `Some(format_args!(..))` or `None`. Internal to the assertion macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __assertion_details {
    () => {
        ::core::option::Option::None
    };
    ($($details:tt)+) => {
        ::core::option::Option::Some(::core::format_args!($($details)+))
    };
}

/// A boolean assertion. Internal to the assertion macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __assert_bool {
    ($kind:ident, $cond:expr, $msg:expr $(, $($details:tt)+)?) => {{
        let __site = $crate::__assertion_site!($kind, ::core::option::Option::None, $msg);
        let __condition: bool = $cond;
        if __condition {
            $crate::sim_hook::assertion(
                __site,
                &$crate::sim_hook::AssertionEvent {
                    condition: true,
                    values: ::core::option::Option::None,
                    details: ::core::option::Option::None,
                },
            )
        } else {
            $crate::sim_hook::assertion(
                __site,
                &$crate::sim_hook::AssertionEvent {
                    condition: false,
                    values: ::core::option::Option::None,
                    details: $crate::__assertion_details!($($($details)+)?),
                },
            )
        }
    }};
}

/// A numeric assertion. Internal to the assertion macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __assert_cmp {
    ($kind:ident, $cmp:ident, $left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {{
        let __site = $crate::__assertion_site!(
            $kind,
            ::core::option::Option::Some($crate::assertions::Comparison::$cmp),
            $msg
        );
        let (__left, __right) = (&$left, &$right);
        let __condition = $crate::assertions::Comparison::$cmp.holds(__left, __right);
        let __values = ::core::option::Option::Some((
            $crate::assertions::AssertNumber::to_number(__left),
            $crate::assertions::AssertNumber::to_number(__right),
        ));
        if __condition {
            $crate::sim_hook::assertion(
                __site,
                &$crate::sim_hook::AssertionEvent {
                    condition: true,
                    values: __values,
                    details: ::core::option::Option::None,
                },
            )
        } else {
            $crate::sim_hook::assertion(
                __site,
                &$crate::sim_hook::AssertionEvent {
                    condition: false,
                    values: __values,
                    details: $crate::__assertion_details!($($($details)+)?),
                },
            )
        }
    }};
}

/// Asserts that `cond` holds every time this line runs, and that it runs
/// at least once across a sweep. In simulation a violation fails the seed
/// with the message and location; outside, it is logged at `error`.
///
/// `always!(cond, "message")` or `always!(cond, "message", "details {}", x)`
/// (details are formatted only on violation).
#[macro_export]
macro_rules! always {
    ($cond:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_bool!(Always, $cond, $msg $(, $($details)+)?)
    };
}

/// Asserts that `cond` holds every time this line runs; never running it is
/// fine. Otherwise as [`always!`](crate::always!).
#[macro_export]
macro_rules! always_or_unreachable {
    ($cond:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_bool!(AlwaysOrUnreachable, $cond, $msg $(, $($details)+)?)
    };
}

/// Asserts that `cond` is true at least once across a sweep of seeds. It
/// never fails a seed; the coverage report lists it until it is satisfied.
#[macro_export]
macro_rules! sometimes {
    ($cond:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_bool!(Sometimes, $cond, $msg $(, $($details)+)?)
    };
}

/// Asserts that this line runs at least once across a sweep of seeds.
#[macro_export]
macro_rules! reachable {
    ($msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_bool!(Reachable, true, $msg $(, $($details)+)?)
    };
}

/// Asserts that this line never runs. In simulation reaching it fails the
/// seed; outside, it is logged at `error`. Unlike `std::unreachable!` it
/// does not panic and returns `()`: code after it still runs.
#[macro_export]
macro_rules! assert_unreachable {
    ($msg:expr $(, $($details:tt)+)?) => {{
        let __site = $crate::__assertion_site!(Unreachable, ::core::option::Option::None, $msg);
        $crate::sim_hook::assertion(
            __site,
            &$crate::sim_hook::AssertionEvent {
                condition: true,
                values: ::core::option::Option::None,
                details: $crate::__assertion_details!($($($details)+)?),
            },
        )
    }};
}

/// [`always!`](crate::always!)`(left > right, ..)`, recording both values
/// for the report; a violation's failure message shows them.
#[macro_export]
macro_rules! always_greater_than {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Always, GreaterThan, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`always!`](crate::always!)`(left >= right, ..)`, recording both values
/// for the report; a violation's failure message shows them.
#[macro_export]
macro_rules! always_greater_than_or_equal_to {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Always, GreaterThanOrEqualTo, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`always!`](crate::always!)`(left < right, ..)`, recording both values
/// for the report; a violation's failure message shows them.
#[macro_export]
macro_rules! always_less_than {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Always, LessThan, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`always!`](crate::always!)`(left <= right, ..)`, recording both values
/// for the report; a violation's failure message shows them.
#[macro_export]
macro_rules! always_less_than_or_equal_to {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Always, LessThanOrEqualTo, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`sometimes!`](crate::sometimes!)`(left > right, ..)`, recording both
/// values so the report shows how close the sweep came.
#[macro_export]
macro_rules! sometimes_greater_than {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Sometimes, GreaterThan, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`sometimes!`](crate::sometimes!)`(left >= right, ..)`, recording both
/// values so the report shows how close the sweep came.
#[macro_export]
macro_rules! sometimes_greater_than_or_equal_to {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Sometimes, GreaterThanOrEqualTo, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`sometimes!`](crate::sometimes!)`(left < right, ..)`, recording both
/// values so the report shows how close the sweep came.
#[macro_export]
macro_rules! sometimes_less_than {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Sometimes, LessThan, $left, $right, $msg $(, $($details)+)?)
    };
}

/// [`sometimes!`](crate::sometimes!)`(left <= right, ..)`, recording both
/// values so the report shows how close the sweep came.
#[macro_export]
macro_rules! sometimes_less_than_or_equal_to {
    ($left:expr, $right:expr, $msg:expr $(, $($details:tt)+)?) => {
        $crate::__assert_cmp!(Sometimes, LessThanOrEqualTo, $left, $right, $msg $(, $($details)+)?)
    };
}

/// The same assertion as [`assert_unreachable!`], under the name the
/// Antithesis vocabulary uses: asserts that this line never runs.
///
/// Call it by path, `moonpool_core::unreachable!("...")`: imported by name
/// it would shadow `std::unreachable!`, which panics and has type `!`,
/// while this one records the violation and returns `()`. (Defined last in
/// this file, so nothing in this crate sees it in place of std's.)
#[macro_export]
macro_rules! unreachable {
    ($($args:tt)+) => {
        $crate::assert_unreachable!($($args)+)
    };
}
