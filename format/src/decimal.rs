//! Arbitrary-precision decimal numbers, as SQL `DECIMAL` values.
//!
//! A [`Decimal`] is `(-1)^negative × coefficient × 10^exponent` where the coefficient is a
//! string of 1 to [`MAX_DIGITS`] ASCII digits with neither leading nor trailing zeros. Zero
//! has one form (not negative, no digits, exponent 0), so the representation is canonical:
//! `1.50` and `1.5` are the same value and the same struct, and derived `Eq`/`Hash` are
//! numeric equality. `Ord` is numeric order.
//!
//! The *adjusted exponent* — the power of ten of the leading digit, as in scientific
//! notation `d.ddd × 10^adjusted` — must lie in
//! [`MIN_ADJUSTED_EXPONENT`]`..=`[`MAX_ADJUSTED_EXPONENT`].
//!
//! NaN and infinities are not represented.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Most significant digits a [`Decimal`] may have.
pub const MAX_DIGITS: usize = 1000;
/// Largest adjusted exponent (power of ten of the leading digit).
pub const MAX_ADJUSTED_EXPONENT: i32 = 16383;
/// Smallest adjusted exponent (power of ten of the leading digit).
pub const MIN_ADJUSTED_EXPONENT: i32 = -16383;
/// `Display` writes plain notation when it needs at most this many padding zeros
/// (after the digits for large numbers, after the point for small ones), else scientific
/// notation such as `1.5e+50`.
pub const PLAIN_MAX_PADDING: usize = 40;

/// A canonical arbitrary-precision decimal. See the module documentation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    /// ASCII digits, first and last non-zero; empty for zero.
    digits: Vec<u8>,
    /// Power of ten of the last digit.
    exponent: i32,
}

impl Decimal {
    /// The decimal zero.
    pub fn zero() -> Self {
        Decimal {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        }
    }

    /// Builds a decimal from its canonical parts, rejecting any non-canonical form:
    /// `digits` are ASCII `0`-`9` without leading or trailing zeros (empty for zero, which
    /// then must have `negative == false` and `exponent == 0`), at most [`MAX_DIGITS`] of
    /// them, and the adjusted exponent in range. Errors are `Invalid { field: "decimal",
    /// offset: 0, .. }`.
    pub fn from_parts(negative: bool, digits: &[u8], exponent: i64) -> Result<Self> {
        Self::check_parts(negative, digits, exponent).map_err(|reason| Error::Invalid {
            field: "decimal",
            offset: 0,
            reason,
        })
    }

    /// As [`Decimal::from_parts`], with the reason as a plain string (for decoders that
    /// wrap it in their own error variant).
    pub(crate) fn check_parts(
        negative: bool,
        digits: &[u8],
        exponent: i64,
    ) -> std::result::Result<Self, String> {
        let exponent = Self::check_parts_only(negative, digits, exponent)?;
        Ok(Decimal {
            negative,
            digits: digits.to_vec(),
            exponent,
        })
    }

    /// The checks of [`Decimal::check_parts`] without building the value (nothing
    /// allocated unless the parts are refused): the exponent as the value holds it.
    pub(crate) fn check_parts_only(
        negative: bool,
        digits: &[u8],
        exponent: i64,
    ) -> std::result::Result<i32, String> {
        if digits.is_empty() {
            if negative || exponent != 0 {
                return Err("zero must be non-negative with exponent 0".to_string());
            }
            return Ok(0);
        }
        if digits.len() > MAX_DIGITS {
            return Err(format!(
                "{} digits, over the limit of {MAX_DIGITS}",
                digits.len()
            ));
        }
        if let Some(bad) = digits.iter().find(|c| !c.is_ascii_digit()) {
            return Err(format!("byte {bad:#04x} is not an ASCII digit"));
        }
        if digits.first() == Some(&b'0') {
            return Err("leading zero digit".to_string());
        }
        if digits.last() == Some(&b'0') {
            return Err("trailing zero digit".to_string());
        }
        Self::check_exponent(exponent, digits.len())
    }

    /// A decimal from parts [`Decimal::check_parts_only`] accepted.
    pub(crate) fn from_checked(negative: bool, digits: &[u8], exponent: i32) -> Self {
        Decimal {
            negative,
            digits: digits.to_vec(),
            exponent,
        }
    }

    /// Becomes the decimal of parts [`Decimal::check_parts_only`] accepted, its digits'
    /// allocation kept.
    pub(crate) fn set_checked(&mut self, negative: bool, digits: &[u8], exponent: i32) {
        self.negative = negative;
        self.digits.clear();
        self.digits.extend_from_slice(digits);
        self.exponent = exponent;
    }

    /// Checks that a value with `n >= 1` digits and last-digit exponent `exponent` has its
    /// adjusted exponent in range, and returns the exponent as `i32`.
    fn check_exponent(exponent: i64, n: usize) -> std::result::Result<i32, String> {
        let adjusted = i128::from(exponent) + n as i128 - 1;
        if adjusted < i128::from(MIN_ADJUSTED_EXPONENT)
            || adjusted > i128::from(MAX_ADJUSTED_EXPONENT)
        {
            return Err(format!(
                "adjusted exponent {adjusted} outside {MIN_ADJUSTED_EXPONENT}..={MAX_ADJUSTED_EXPONENT}"
            ));
        }
        // In range, so |exponent| <= 16383 + 999 and it fits.
        i32::try_from(exponent).map_err(|_| format!("exponent {exponent} out of range"))
    }

    /// True for zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// True for values below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The coefficient's ASCII digits, without leading or trailing zeros; empty for zero.
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// The power of ten of the last digit: the value is `±digits × 10^exponent`.
    pub fn exponent(&self) -> i32 {
        self.exponent
    }

    /// The power of ten of the first digit (`d.ddd × 10^adjusted`); 0 for zero.
    pub fn adjusted_exponent(&self) -> i32 {
        if self.digits.is_empty() {
            return 0;
        }
        // Bounded by MAX_ADJUSTED_EXPONENT at construction.
        self.exponent
            .saturating_add(i32::try_from(self.digits.len()).unwrap_or(i32::MAX))
            .saturating_sub(1)
    }

    /// The same magnitude with the opposite sign (zero stays zero).
    pub fn negated(&self) -> Self {
        let mut d = self.clone();
        d.negative = !d.negative && !d.digits.is_empty();
        d
    }

    /// Compares magnitudes of two non-zero values.
    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        self.adjusted_exponent()
            .cmp(&other.adjusted_exponent())
            // Same leading power: digit strings compare lexicographically, and as neither has
            // trailing zeros, a strict prefix is the smaller value.
            .then_with(|| self.digits.cmp(&other.digits))
    }

    /// -1, 0 or 1.
    fn signum(&self) -> i8 {
        if self.digits.is_empty() {
            0
        } else if self.negative {
            -1
        } else {
            1
        }
    }
}

impl Default for Decimal {
    fn default() -> Self {
        Decimal::zero()
    }
}

impl From<i64> for Decimal {
    fn from(v: i64) -> Self {
        if v == 0 {
            return Decimal::zero();
        }
        let mut digits = v.unsigned_abs().to_string().into_bytes();
        let mut exponent = 0i32;
        while digits.last() == Some(&b'0') {
            digits.pop();
            exponent += 1;
        }
        Decimal {
            negative: v < 0,
            digits,
            exponent,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.signum().cmp(&other.signum()) {
            Ordering::Equal => {}
            o => return o,
        }
        match self.signum() {
            0 => Ordering::Equal,
            1 => self.cmp_magnitude(other),
            _ => other.cmp_magnitude(self),
        }
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

fn write_zeros(f: &mut fmt::Formatter<'_>, n: usize) -> fmt::Result {
    for _ in 0..n {
        f.write_str("0")?;
    }
    Ok(())
}

/// Writes ASCII digits (always valid UTF-8 by construction).
fn write_digits(f: &mut fmt::Formatter<'_>, d: &[u8]) -> fmt::Result {
    f.write_str(std::str::from_utf8(d).map_err(|_| fmt::Error)?)
}

impl fmt::Display for Decimal {
    /// Canonical text: `0` for zero; otherwise an optional `-`, then plain notation
    /// (`12.34`, `0.005`, `1200`) when at most [`PLAIN_MAX_PADDING`] padding zeros are
    /// needed, else scientific notation `d[.ddd]e±X` (`1e+50`, `-1.25e-60`). The text
    /// parses back to the same value, and equal values give equal text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.digits.is_empty() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let n = self.digits.len() as i64;
        let e = i64::from(self.exponent);
        if e >= 0 {
            if e as u64 <= PLAIN_MAX_PADDING as u64 {
                write_digits(f, &self.digits)?;
                return write_zeros(f, e as usize);
            }
        } else {
            // Digits before the point.
            let before = n + e;
            if before > 0 {
                let k = before as usize;
                write_digits(f, self.digits.get(..k).unwrap_or_default())?;
                f.write_str(".")?;
                return write_digits(f, self.digits.get(k..).unwrap_or_default());
            }
            if (-before) as u64 <= PLAIN_MAX_PADDING as u64 {
                f.write_str("0.")?;
                write_zeros(f, (-before) as usize)?;
                return write_digits(f, &self.digits);
            }
        }
        let first = self.digits.get(..1).unwrap_or_default();
        let rest = self.digits.get(1..).unwrap_or_default();
        write_digits(f, first)?;
        if !rest.is_empty() {
            f.write_str(".")?;
            write_digits(f, rest)?;
        }
        let adjusted = self.adjusted_exponent();
        if adjusted >= 0 {
            write!(f, "e+{adjusted}")
        } else {
            write!(f, "e{adjusted}")
        }
    }
}

fn invalid(offset: usize, reason: String) -> Error {
    Error::Invalid {
        field: "decimal",
        offset: offset as u64,
        reason,
    }
}

fn describe_at(s: &str, i: usize) -> String {
    match s.get(i..).and_then(|r| r.chars().next()) {
        Some(c) => format!("unexpected character {c:?}"),
        None => "unexpected end of text".to_string(),
    }
}

impl FromStr for Decimal {
    type Err = Error;

    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` where at least one mantissa digit is
    /// present on either side of the point (`.5`, `5.`, `-12.3400`, `1e10`, `0.000`). No
    /// whitespace, no `_`, no NaN or infinity. Errors are `Invalid { field: "decimal",
    /// offset }` with the character offset of the problem, or `Limit { field: "decimal
    /// digits" }` past [`MAX_DIGITS`] significant digits.
    fn from_str(s: &str) -> Result<Self> {
        let b = s.as_bytes();
        let is_digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let mut i = 0usize;
        let mut negative = false;
        match b.first() {
            Some(b'-') => {
                negative = true;
                i = 1;
            }
            Some(b'+') => i = 1,
            _ => {}
        }
        let int_start = i;
        while is_digit(i) {
            i += 1;
        }
        let int_end = i;
        let (frac_start, frac_end) = if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while is_digit(i) {
                i += 1;
            }
            (start, i)
        } else {
            (i, i)
        };
        if int_end == int_start && frac_end == frac_start {
            return Err(invalid(
                i,
                format!("{}: expected a digit", describe_at(s, i)),
            ));
        }
        let mut exp: i64 = 0;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let mut exp_negative = false;
            match b.get(i) {
                Some(b'-') => {
                    exp_negative = true;
                    i += 1;
                }
                Some(b'+') => i += 1,
                _ => {}
            }
            let exp_start = i;
            if !is_digit(i) {
                return Err(invalid(
                    i,
                    format!("{}: expected an exponent digit", describe_at(s, i)),
                ));
            }
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                exp = exp
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(i64::from(c - b'0')))
                    .ok_or_else(|| invalid(exp_start, "exponent out of range".to_string()))?;
                i += 1;
            }
            if exp_negative {
                exp = -exp;
            }
        }
        if i != b.len() {
            return Err(invalid(i, describe_at(s, i)));
        }

        let int = b.get(int_start..int_end).unwrap_or(&[]);
        let frac = b.get(frac_start..frac_end).unwrap_or(&[]);
        let total = int.len() + frac.len();
        let mantissa = || int.iter().chain(frac.iter()).copied();
        let Some(first) = mantissa().position(|c| c != b'0') else {
            return Ok(Decimal::zero());
        };
        let last = total - 1 - mantissa().rev().position(|c| c != b'0').unwrap_or(0);
        let n = last + 1 - first;
        if n > MAX_DIGITS {
            return Err(Error::Limit {
                field: "decimal digits",
                offset: 0,
                value: n as u64,
                limit: MAX_DIGITS as u64,
            });
        }
        let mut digits = Vec::with_capacity(n);
        digits.extend(mantissa().skip(first).take(n));
        let trailing = total - 1 - last;
        let exponent = i128::from(exp) - frac.len() as i128 + trailing as i128;
        let adjusted = exponent + n as i128 - 1;
        if adjusted < i128::from(MIN_ADJUSTED_EXPONENT)
            || adjusted > i128::from(MAX_ADJUSTED_EXPONENT)
        {
            return Err(invalid(
                0,
                format!(
                    "adjusted exponent {adjusted} outside {MIN_ADJUSTED_EXPONENT}..={MAX_ADJUSTED_EXPONENT}"
                ),
            ));
        }
        let exponent = i32::try_from(exponent)
            .map_err(|_| invalid(0, format!("exponent {exponent} out of range")))?;
        Ok(Decimal {
            negative,
            digits,
            exponent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn parse_normalizes() {
        let x = d("-12.3400");
        assert!(x.is_negative());
        assert_eq!(x.digits(), b"1234");
        assert_eq!(x.exponent(), -2);
        assert_eq!(x.adjusted_exponent(), 1);
        assert_eq!(d("0.000"), Decimal::zero());
        assert_eq!(d("-0"), Decimal::zero());
        assert_eq!(d("1e10").digits(), b"1");
        assert_eq!(d("1e10").exponent(), 10);
        assert_eq!(d(".5").to_string(), "0.5");
        assert_eq!(d("1.50"), d("1.5"));
        assert_eq!(Decimal::from(-1200), d("-1.2e3"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "0",
            "1",
            "-1",
            "12.34",
            "0.005",
            "1200",
            "1e+50",
            "-1.25e-60",
        ] {
            assert_eq!(d(s).to_string(), s);
            assert_eq!(d(&d(s).to_string()), d(s));
        }
    }

    #[test]
    fn rejects_junk() {
        for s in [
            "", ".", "-", "e5", "1e", "1e+", "--1", " 1", "1 ", "1_0", "NaN", "1.2.3",
        ] {
            assert!(s.parse::<Decimal>().is_err(), "{s:?}");
        }
    }
}
