//! Randomness: deterministic draws from a seeded generator, and [`Ratio`],
//! the probability type used everywhere instead of bare floats.
//!
//! A [`RandomProvider`] only has to produce `u64`s; every other draw
//! (ranges, booleans, shuffles) is derived here, once, so both backends derive
//! them identically and a fixed seed reproduces the same values whatever the
//! provider. Range draws use Lemire's multiply-and-reject method: exactly
//! uniform, and almost always a single `u64` per draw.

use std::ops::{Bound, RangeBounds};

/// A probability or proportion as an exact fraction `numerator/denominator`
/// with `numerator <= denominator`.
///
/// Exact integer fractions make draws reproducible on every platform and
/// make configs readable: `Ratio::new(1, 100_000)` rather than `1e-5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ratio {
    numerator: u64,
    denominator: u64,
}

/// A [`Ratio`] that could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatioError {
    /// The denominator was zero.
    #[error("ratio denominator must not be zero")]
    ZeroDenominator,
    /// The ratio was above one.
    #[error("ratio {numerator}/{denominator} is greater than 1")]
    GreaterThanOne {
        /// The numerator given.
        numerator: u64,
        /// The denominator given.
        denominator: u64,
    },
    /// The text was not `N/D`, `P%` or a decimal in `[0, 1]`.
    #[error("cannot parse {text:?} as a ratio (expected e.g. \"1/1000\", \"2.5%\" or \"0.25\")")]
    Unparsable {
        /// The text given.
        text: String,
    },
}

impl Ratio {
    /// Never.
    pub const ZERO: Ratio = Ratio {
        numerator: 0,
        denominator: 1,
    };
    /// Always.
    pub const ONE: Ratio = Ratio {
        numerator: 1,
        denominator: 1,
    };

    /// `numerator/denominator`.
    ///
    /// # Panics
    /// If `denominator` is zero or `numerator > denominator`; usable in
    /// constants, where that panic is a compile error. Use
    /// [`Ratio::try_new`] for values from users.
    pub const fn new(numerator: u64, denominator: u64) -> Ratio {
        assert!(denominator != 0, "ratio denominator must not be zero");
        assert!(numerator <= denominator, "ratio must not exceed 1");
        Ratio {
            numerator,
            denominator,
        }
    }

    /// `numerator/denominator`, or a typed error.
    pub fn try_new(numerator: u64, denominator: u64) -> Result<Ratio, RatioError> {
        if denominator == 0 {
            return Err(RatioError::ZeroDenominator);
        }
        if numerator > denominator {
            return Err(RatioError::GreaterThanOne {
                numerator,
                denominator,
            });
        }
        Ok(Ratio {
            numerator,
            denominator,
        })
    }

    /// `percent/100`.
    ///
    /// # Panics
    /// If `percent > 100`.
    pub const fn percent(percent: u64) -> Ratio {
        Ratio::new(percent, 100)
    }

    /// The numerator.
    pub const fn numerator(self) -> u64 {
        self.numerator
    }

    /// The denominator.
    pub const fn denominator(self) -> u64 {
        self.denominator
    }

    /// Whether this ratio is zero (an event that never happens).
    pub const fn is_zero(self) -> bool {
        self.numerator == 0
    }

    /// The ratio as a float, for display only: never decide with it.
    pub fn as_f64(self) -> f64 {
        self.numerator as f64 / self.denominator as f64
    }

    /// `self × other`, exact when it fits, otherwise rounded down in the
    /// denominator's precision.
    pub fn product(self, other: Ratio) -> Ratio {
        let n = self.numerator as u128 * other.numerator as u128;
        let d = self.denominator as u128 * other.denominator as u128;
        let shift = (128 - d.leading_zeros()).saturating_sub(63);
        Ratio {
            numerator: (n >> shift) as u64,
            denominator: ((d >> shift) as u64).max(1),
        }
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.numerator, self.denominator)
    }
}

impl std::str::FromStr for Ratio {
    type Err = RatioError;

    /// Parses `"1/1000"`, `"2.5%"` or `"0.25"` (decimals are exact: `0.25`
    /// is `25/100`).
    fn from_str(text: &str) -> Result<Ratio, RatioError> {
        let unparsable = || RatioError::Unparsable {
            text: text.to_string(),
        };
        let t = text.trim();
        if let Some((n, d)) = t.split_once('/') {
            let n = n.trim().parse().map_err(|_| unparsable())?;
            let d = d.trim().parse().map_err(|_| unparsable())?;
            return Ratio::try_new(n, d);
        }
        let (digits, scale) = match t.strip_suffix('%') {
            Some(p) => (p.trim(), 100u64),
            None => (t, 1u64),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty() || frac.len() > 12 {
            return Err(unparsable());
        }
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int) || !all_digits(frac) {
            return Err(unparsable());
        }
        let denominator = 10u64.pow(frac.len() as u32) * scale;
        let joined = format!("{int}{frac}");
        let numerator = if joined.is_empty() {
            0
        } else {
            joined.parse().map_err(|_| unparsable())?
        };
        Ratio::try_new(numerator, denominator)
    }
}

/// A seed that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid seed {text:?}: {reason} (expected a decimal or 0x-prefixed hexadecimal u64)")]
pub struct SeedParseError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: SeedSyntaxError,
}

/// Why a text is not a seed: [`parse_seed`] accepts a decimal `u64` or a
/// `0x`-prefixed hexadecimal one, and nothing that could be read another way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeedSyntaxError {
    /// Nothing (or only `0x`) was given.
    #[error("no digits")]
    Empty,
    /// Spaces, tabs or newlines around or inside the seed.
    #[error("whitespace is not allowed")]
    Whitespace,
    /// A leading `+` or `-`.
    #[error("a sign is not allowed")]
    Sign,
    /// A decimal with a leading zero (`010`), which some tools read as octal.
    #[error("a leading zero reads as octal elsewhere; write 0x for hex")]
    LeadingZero,
    /// Another base's prefix (`0b`, `0o`).
    #[error("only decimal and 0x hex are accepted")]
    OtherBase,
    /// An underscore that does not sit between two digits.
    #[error("an underscore must sit between two digits")]
    MisplacedUnderscore,
    /// A character that is not a digit of the base.
    #[error("not a digit")]
    InvalidDigit,
    /// More than `u64::MAX`.
    #[error("more than 2^64 - 1")]
    TooLarge,
}

/// A seed from OS entropy, for choosing seeds (the real providers' seed,
/// a sweep's first seed) — never for a decision inside a simulation.
///
/// std's `RandomState` keys are drawn from the OS random source; the time
/// and process id are mixed in as well, and the result goes through a
/// full-avalanche finalizer so consecutive calls look unrelated.
pub fn entropy_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    hasher.write_u128(since_unix);
    hasher.write_u32(std::process::id());
    let mut z = hasher.finish().wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Parses a seed written in decimal (`12345`) or hexadecimal (`0x3039`).
/// Underscores are allowed between digits (`0xdead_beef`, `1_000`).
///
/// Nothing else is accepted, so no text silently means another number:
/// no sign, no whitespace, no leading zero in decimal (`010` is octal 8
/// to C and shells), no other base (`0b`, `0o`).
pub fn parse_seed(text: &str) -> Result<u64, SeedParseError> {
    parse_seed_digits(text).map_err(|reason| SeedParseError {
        text: text.to_string(),
        reason,
    })
}

fn parse_seed_digits(text: &str) -> Result<u64, SeedSyntaxError> {
    if text.chars().any(char::is_whitespace) {
        return Err(SeedSyntaxError::Whitespace);
    }
    if text.starts_with(['+', '-']) {
        return Err(SeedSyntaxError::Sign);
    }
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() {
        return Err(SeedSyntaxError::Empty);
    }
    if radix == 10 && digits.len() > 1 && digits.starts_with('0') {
        let other_base = digits[1..].starts_with(|c: char| c.is_ascii_alphabetic());
        return Err(if other_base {
            SeedSyntaxError::OtherBase
        } else {
            SeedSyntaxError::LeadingZero
        });
    }
    let mut value: u64 = 0;
    let mut previous_was_digit = false;
    let mut chars = digits.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '_' {
            let next_is_digit = chars.peek().is_some_and(|n| n.is_digit(radix));
            if !previous_was_digit || !next_is_digit {
                return Err(SeedSyntaxError::MisplacedUnderscore);
            }
            previous_was_digit = false;
            continue;
        }
        let digit = c.to_digit(radix).ok_or(SeedSyntaxError::InvalidDigit)?;
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(digit)))
            .ok_or(SeedSyntaxError::TooLarge)?;
        previous_was_digit = true;
    }
    Ok(value)
}

/// Integer types that [`RandomProvider::random_range`] can draw.
///
/// Implemented for all primitive integers; sealed.
pub trait UniformInt: Copy + PartialOrd + sealed::Sealed {
    /// Maps the value to an offset-preserving `u64` (order is kept).
    #[doc(hidden)]
    fn to_ordered_u64(self) -> u64;
    /// The inverse of `to_ordered_u64`.
    #[doc(hidden)]
    fn from_ordered_u64(v: u64) -> Self;
    /// The type's maximum, for unbounded ranges.
    #[doc(hidden)]
    const MAX_VALUE: Self;
    /// The type's minimum, for unbounded ranges.
    #[doc(hidden)]
    const MIN_VALUE: Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! uniform_unsigned {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl UniformInt for $t {
            fn to_ordered_u64(self) -> u64 { self as u64 }
            fn from_ordered_u64(v: u64) -> Self { v as $t }
            const MAX_VALUE: Self = <$t>::MAX;
            const MIN_VALUE: Self = <$t>::MIN;
        }
    )*};
}
macro_rules! uniform_signed {
    ($($t:ty => $u:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl UniformInt for $t {
            // Flipping the sign bit maps signed order onto unsigned order.
            fn to_ordered_u64(self) -> u64 { (self as i64 as u64) ^ (1 << 63) }
            fn from_ordered_u64(v: u64) -> Self { (v ^ (1 << 63)) as i64 as $t }
            const MAX_VALUE: Self = <$t>::MAX;
            const MIN_VALUE: Self = <$t>::MIN;
        }
    )*};
}
uniform_unsigned!(u8, u16, u32, u64, usize);
uniform_signed!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, isize => usize);

/// A uniform draw in `0..n` from `next` (Lemire's nearly divisionless method).
/// `n == 0` means the whole `u64` range.
///
/// This is the primitive behind every derived draw; it is public so that a
/// simulator drawing outside a provider derives values the same way.
pub fn below(n: u64, mut next: impl FnMut() -> u64) -> u64 {
    if n == 0 {
        return next();
    }
    let mut m = next() as u128 * n as u128;
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = next() as u128 * n as u128;
        }
    }
    (m >> 64) as u64
}

/// `true` with probability `p`, drawing from `next` only when `p` is
/// strictly between zero and one. The primitive behind
/// [`RandomProvider::random_bool`].
pub fn bool_with(p: Ratio, next: impl FnMut() -> u64) -> bool {
    if p.numerator == 0 {
        return false;
    }
    if p.numerator == p.denominator {
        return true;
    }
    below(p.denominator, next) < p.numerator
}

/// Deterministic random draws.
///
/// Implementations provide [`next_u64`](RandomProvider::next_u64); every
/// other method is derived from it and should not be overridden, so that a
/// seed means the same draws under every provider.
pub trait RandomProvider: Clone + 'static {
    /// The next raw 64 random bits.
    fn next_u64(&self) -> u64;

    /// A uniform integer in `range` (`a..b`, `a..=b`, `a..`, `..b`).
    ///
    /// # Panics
    /// If the range is empty: that is a bug in the caller, not bad input.
    fn random_range<T: UniformInt, R: RangeBounds<T>>(&self, range: R) -> T {
        let lo = match range.start_bound() {
            Bound::Included(v) => v.to_ordered_u64(),
            Bound::Excluded(v) => v
                .to_ordered_u64()
                .checked_add(1)
                .expect("random_range: empty range"),
            Bound::Unbounded => T::MIN_VALUE.to_ordered_u64(),
        };
        let hi_inclusive = match range.end_bound() {
            Bound::Included(v) => v.to_ordered_u64(),
            Bound::Excluded(v) => v
                .to_ordered_u64()
                .checked_sub(1)
                .expect("random_range: empty range"),
            Bound::Unbounded => T::MAX_VALUE.to_ordered_u64(),
        };
        assert!(lo <= hi_inclusive, "random_range: empty range");
        // span == 0 encodes the full 2^64 range.
        let span = hi_inclusive.wrapping_sub(lo).wrapping_add(1);
        T::from_ordered_u64(lo.wrapping_add(below(span, || self.next_u64())))
    }

    /// A uniform float in `[0, 1)` with 53 bits of precision.
    fn random_ratio(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`. Draws nothing when `p` is zero or one,
    /// so a disabled fault costs no randomness.
    fn random_bool(&self, p: Ratio) -> bool {
        bool_with(p, || self.next_u64())
    }

    /// Shuffles `slice` in place (Fisher–Yates).
    fn shuffle<T>(&self, slice: &mut [T]) {
        for i in (1..slice.len()).rev() {
            let j = below(i as u64 + 1, || self.next_u64()) as usize;
            slice.swap(i, j);
        }
    }

    /// A uniformly chosen element, or `None` if `slice` is empty.
    fn choose<'a, T>(&self, slice: &'a [T]) -> Option<&'a T> {
        if slice.is_empty() {
            return None;
        }
        slice.get(below(slice.len() as u64, || self.next_u64()) as usize)
    }

    /// Fills `dest` with random bytes.
    fn fill_bytes(&self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// SplitMix64, enough to exercise the derived draws.
    #[derive(Clone)]
    struct Counter(std::rc::Rc<Cell<u64>>);
    impl RandomProvider for Counter {
        fn next_u64(&self) -> u64 {
            let mut z = self.0.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }
    fn rng() -> Counter {
        Counter(std::rc::Rc::new(Cell::new(7)))
    }

    #[test]
    fn signed_ranges_stay_in_bounds_and_cover_both_ends() {
        let r = rng();
        let (mut saw_lo, mut saw_hi) = (false, false);
        for _ in 0..10_000 {
            let v: i32 = r.random_range(-3..=2);
            assert!((-3..=2).contains(&v));
            saw_lo |= v == -3;
            saw_hi |= v == 2;
        }
        assert!(saw_lo && saw_hi);
    }

    #[test]
    fn full_range_draws_do_not_panic() {
        let r = rng();
        let _: u64 = r.random_range(..);
        let _: i64 = r.random_range(i64::MIN..=i64::MAX);
        let v: u8 = r.random_range(250..);
        assert!(v >= 250);
    }

    #[test]
    #[should_panic(expected = "empty range")]
    fn empty_range_panics() {
        let _: u32 = rng().random_range(5..5);
    }

    #[test]
    fn random_bool_respects_extremes_without_drawing() {
        let r = rng();
        let before = r.0.get();
        assert!(!r.random_bool(Ratio::ZERO));
        assert!(r.random_bool(Ratio::ONE));
        assert_eq!(before, r.0.get(), "zero/one ratios must not consume draws");
    }

    #[test]
    fn random_bool_frequency_matches_ratio() {
        let r = rng();
        let hits = (0..100_000)
            .filter(|_| r.random_bool(Ratio::percent(25)))
            .count();
        assert!((23_500..26_500).contains(&hits), "hits = {hits}");
    }

    #[test]
    fn ratio_parses_fractions_percentages_and_decimals() {
        assert_eq!("1/1000".parse::<Ratio>(), Ok(Ratio::new(1, 1000)));
        assert_eq!("2.5%".parse::<Ratio>(), Ok(Ratio::new(25, 1000)));
        assert_eq!("0.25".parse::<Ratio>(), Ok(Ratio::new(25, 100)));
        assert_eq!("1".parse::<Ratio>(), Ok(Ratio::new(1, 1)));
        assert!(matches!(
            "3/2".parse::<Ratio>(),
            Err(RatioError::GreaterThanOne { .. })
        ));
        assert_eq!("1/0".parse::<Ratio>(), Err(RatioError::ZeroDenominator));
        assert!(matches!(
            "abc".parse::<Ratio>(),
            Err(RatioError::Unparsable { .. })
        ));
        assert!(matches!(
            "-1%".parse::<Ratio>(),
            Err(RatioError::Unparsable { .. })
        ));
    }

    #[test]
    fn ratio_product_is_exact_when_it_fits() {
        assert_eq!(
            Ratio::percent(25).product(Ratio::percent(25)),
            Ratio::new(625, 10_000)
        );
        let tiny = Ratio::new(1, u64::MAX).product(Ratio::new(1, u64::MAX));
        assert!(tiny.numerator() <= tiny.denominator());
    }

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("0x2A"), Ok(42));
        assert_eq!(parse_seed("0xdead_beef"), Ok(0xdead_beef));
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_seed("1_000"), Ok(1000));
        assert_eq!(parse_seed("0"), Ok(0));
        assert_eq!(parse_seed("0x0"), Ok(0));
        assert_eq!(parse_seed("0x00ff"), Ok(255));
        assert_eq!(parse_seed("0xFFFFFFFFFFFFFFFF"), Ok(u64::MAX));
    }

    #[test]
    fn seeds_reject_everything_but_decimal_and_0x_hex() {
        use SeedSyntaxError::*;
        for (bad, reason) in [
            ("", Empty),
            ("0x", Empty),
            (" 5", Whitespace),
            ("5 ", Whitespace),
            ("5\n", Whitespace),
            ("1 000", Whitespace),
            ("+5", Sign),
            ("-1", Sign),
            ("010", LeadingZero),
            ("00", LeadingZero),
            ("0b101", OtherBase),
            ("0o17", OtherBase),
            ("0B1", OtherBase),
            ("_5", MisplacedUnderscore),
            ("5_", MisplacedUnderscore),
            ("1__0", MisplacedUnderscore),
            ("0x_ff", MisplacedUnderscore),
            ("12abc", InvalidDigit),
            ("1.5", InvalidDigit),
            ("0xfg", InvalidDigit),
            ("0x-1", InvalidDigit),
            ("18446744073709551616", TooLarge),
            ("0x1_0000_0000_0000_0000", TooLarge),
        ] {
            assert_eq!(
                parse_seed(bad),
                Err(SeedParseError {
                    text: bad.to_string(),
                    reason
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let r = rng();
        let mut v: Vec<u32> = (0..100).collect();
        r.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted, "a 100-element shuffle left everything in place");
    }
}
