//! UTC civil time and the time texts users type: CockroachDB's `AS OF SYSTEM TIME` forms
//! and the way `cockroach sql` prints a `TIMESTAMP`.
//!
//! Pure: nothing here reads the clock. [`parse_as_of`] takes "now" from the caller, who
//! knows which clock (the cluster's HLC, the statement time) a relative time is relative to.
//!
//! Civil dates use the proleptic Gregorian calendar and Howard Hinnant's
//! `days_from_civil` / `civil_from_days` algorithms
//! (<https://howardhinnant.github.io/date_algorithms.html>), written out below. Times are
//! UTC; there are no leap seconds (a day is always 86 400 s, as in Unix time).
//!
//! Accepted `AS OF SYSTEM TIME` texts (surrounding whitespace and one pair of single quotes
//! are stripped first):
//!
//! | form | examples | meaning |
//! |---|---|---|
//! | negative interval | `-10s`, `-1m30s`, `-1h30m`, `-250ms`, `-2us`, `-1.5h`, `-10 seconds` | `now` minus the interval, logical 0 |
//! | absolute time | `2017-06-09 16:13:55.571516+00:00`, `2017-06-09T16:13:55Z`, `2017-06-09 16:13:55` (UTC), `2017-06-09` (midnight UTC), `2017-06-09 18:13:55+02:00` | that instant, logical 0 |
//! | decimal HLC | `1655826000000000000.0000000001` | wall nanoseconds `.` logical (10 digits) |
//! | integer | `1655826000000000000` | wall nanoseconds, logical 0 |
//!
//! The absolute forms are read by one parser, shared with SQL `TIMESTAMP` literals
//! ([`parse_sql_timestamp`]); one printer ([`format_sql_timestamp`]) prints both.
//!
//! As in CockroachDB, an interval must be negative (a zero or positive one is an error) and
//! an absolute or HLC time must not be after `now` (pass [`Timestamp::MAX`] as `now` to
//! parse a time without that check). Times before 1970-01-01 or after
//! 2554-07-21 23:34:33.709551615 (`u64::MAX` nanoseconds) do not fit a [`Timestamp`] and are
//! errors.

use crate::error::{Error, Result};
use crate::mvcc::Timestamp;

/// Nanoseconds in a second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Nanoseconds in a day.
pub const NANOS_PER_DAY: u64 = 86_400 * NANOS_PER_SEC;

/// The `field` of every error from [`parse_as_of`].
const FIELD: &str = "AS OF SYSTEM TIME";

/// Days from 1970-01-01 to the given proleptic Gregorian date (negative before it).
///
/// `month` is 1..=12 and `day` 1..=31; other values give a meaningless (but never
/// panicking) result, so validate first (see [`days_in_month`]).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month.min(12)), i64::from(day.min(31)));
    let y = i64::from(year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number counted from
/// 1970-01-01. Defined for every `i32` day number.
pub fn civil_from_days(days: i32) -> (i64, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    // `m` and `d` are small and positive by construction.
    (y, m.unsigned_abs() as u32, d.unsigned_abs() as u32)
}

/// True for leap years of the proleptic Gregorian calendar.
pub fn is_leap_year(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days in `month` (1..=12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A UTC calendar date and time of day with nanoseconds, as far as a [`Timestamp`] wall
/// time reaches (1970 to 2554).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Civil {
    /// Year, 1970..=2554 for a value made from a wall time.
    pub year: u32,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Nanoseconds within the second, 0..=999 999 999.
    pub nanos: u32,
}

impl Civil {
    /// The UTC date and time of a Unix time in nanoseconds.
    pub fn from_unix_nanos(wall: u64) -> Civil {
        let days = wall / NANOS_PER_DAY; // < 213 504: fits an i32
        let in_day = wall % NANOS_PER_DAY;
        let secs = in_day / NANOS_PER_SEC;
        let (y, month, day) = civil_from_days(i32::try_from(days).unwrap_or(i32::MAX));
        Civil {
            year: u32::try_from(y).unwrap_or(0),
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
            nanos: (in_day % NANOS_PER_SEC) as u32,
        }
    }

    /// The Unix time in nanoseconds; `None` when a field is out of range or the instant is
    /// before 1970 or past `u64::MAX` nanoseconds.
    pub fn to_unix_nanos(&self) -> Option<u64> {
        let year = i64::from(self.year);
        let valid = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && u64::from(self.nanos) < NANOS_PER_SEC;
        if !valid {
            return None;
        }
        let days = days_from_civil(i32::try_from(self.year).ok()?, self.month, self.day);
        let secs = u64::from(self.hour * 3600 + self.minute * 60 + self.second);
        u64::try_from(days)
            .ok()?
            .checked_mul(NANOS_PER_DAY)?
            .checked_add(secs * NANOS_PER_SEC + u64::from(self.nanos))
    }
}

// ---- printing -------------------------------------------------------------------------

/// [`format_sql_timestamp`] of the wall time's microseconds (nanoseconds truncated).
fn format_micros(ts: Timestamp) -> String {
    // u64::MAX / 1000 < i64::MAX: always fits.
    format_sql_timestamp(i64::try_from(ts.wall / 1000).unwrap_or(i64::MAX))
}

/// The wall time as `cockroach sql` prints a `TIMESTAMP`: `2022-06-21 16:06:27.118123`
/// (UTC; microseconds, trailing zeros trimmed and none at all for a whole second;
/// nanoseconds truncated, never rounded up; the logical part is not shown).
pub fn format_sql(ts: Timestamp) -> String {
    format_micros(ts)
}

/// [`format_sql`] with the UTC offset, as `cockroach sql` prints a `TIMESTAMPTZ` in a UTC
/// session: `2022-06-21 16:06:27.118123+00:00`.
pub fn format_sql_tz(ts: Timestamp) -> String {
    let mut s = format_micros(ts);
    s.push_str("+00:00");
    s
}

// ---- parsing --------------------------------------------------------------------------

/// A position in the text being parsed, for error offsets.
struct Scan<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// A run of ASCII digits (possibly empty).
    fn digits(&mut self) -> &'a [u8] {
        self.digits_max(usize::MAX)
    }

    /// A run of at most `max` ASCII digits (possibly empty).
    fn digits_max(&mut self, max: usize) -> &'a [u8] {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or(&[])
    }

    /// A run of ASCII letters (and `µ`, as its two UTF-8 bytes, for `µs`).
    fn unit(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphabetic() || b == 0xc2 || b == 0xb5 || b == 0xce || b == 0xbc {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.s.get(start..self.pos).unwrap_or(&[])
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
}

/// The value of ASCII digits (at most 19, so it fits); `None` for more.
fn digits_value(d: &[u8]) -> Option<u64> {
    if d.len() > 19 {
        return None;
    }
    Some(
        d.iter()
            .fold(0u64, |acc, &b| acc * 10 + u64::from(b.wrapping_sub(b'0'))),
    )
}

/// Parses a CockroachDB `AS OF SYSTEM TIME` text (see the module docs for the forms)
/// relative to `now`.
///
/// Errors are [`Error::Invalid`] with `field` `"AS OF SYSTEM TIME"`, the byte offset in
/// the text (after stripping quotes and whitespace) where the problem is, and a reason that
/// quotes the text.
pub fn parse_as_of(text: &str, now: Timestamp) -> Result<Timestamp> {
    let t = strip_quotes(text.trim()).trim();
    let err = |offset: usize, reason: &str| Error::Invalid {
        field: FIELD,
        offset: offset as u64,
        reason: format!("{text:?}: {reason}"),
    };
    let b = t.as_bytes();
    if b.is_empty() {
        return Err(err(0, "empty; expected an interval such as '-10s', a time such as '2017-06-09 16:13:55+00:00', or an HLC timestamp"));
    }
    let ts = if looks_like_date(b) {
        let utc = parse_absolute(b).map_err(|(at, why)| err(at, &why))?;
        match u64::try_from(utc) {
            Ok(wall) => Timestamp::new(wall, 0),
            Err(_) if utc < 0 => return Err(err(0, "time is before 1970-01-01 00:00:00 UTC")),
            Err(_) => return Err(err(0, "time is after 2554-07-21 23:34:33.709551615 UTC")),
        }
    } else if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        t.parse::<Timestamp>().map_err(|e| {
            let why = match e {
                Error::Invalid { reason, .. } => reason,
                other => other.to_string(),
            };
            err(0, &format!("not an HLC timestamp ({why})"))
        })?
    } else {
        let d = parse_interval(b).map_err(|(at, why)| err(at, &why))?;
        match d {
            Interval::Back(n) => {
                let wall = now.wall.checked_sub(n).ok_or_else(|| {
                    err(
                        0,
                        "the interval reaches back before 1970-01-01 00:00:00 UTC",
                    )
                })?;
                return Ok(Timestamp::new(wall, 0));
            }
            Interval::Zero => return Err(err(0, "interval value must be negative, not zero")),
            Interval::Forward => {
                return Err(err(
                    0,
                    "interval value must be negative (a time in the past, e.g. '-10s')",
                ))
            }
        }
    };
    if ts > now {
        return Err(err(
            0,
            &format!(
                "cannot specify a time in the future ({} > now {})",
                format_sql_tz(ts),
                format_sql_tz(now)
            ),
        ));
    }
    Ok(ts)
}

/// `'text'` → `text`; anything else unchanged.
fn strip_quotes(t: &str) -> &str {
    t.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .unwrap_or(t)
}

/// Four digits and a dash: a date, not a number or an interval.
fn looks_like_date(b: &[u8]) -> bool {
    b.len() >= 5 && b.iter().take(4).all(u8::is_ascii_digit) && b.get(4) == Some(&b'-')
}

type ParseError = (usize, String);

/// Reads exactly `n` digits as a number.
fn fixed(s: &mut Scan<'_>, n: usize, what: &str) -> Result<u32, ParseError> {
    let at = s.pos;
    let d = s.digits_max(n);
    if d.len() != n {
        return Err((at, format!("{what} must be {n} digits")));
    }
    Ok(digits_value(d).unwrap_or(0) as u32)
}

fn expect(s: &mut Scan<'_>, b: u8, after: &str) -> Result<(), ParseError> {
    if s.eat(b) {
        Ok(())
    } else {
        Err((s.pos, format!("expected '{}' after the {after}", b as char)))
    }
}

/// `YYYY-MM-DD` (year 0000 to 9999, month and day of that month, every part its exact
/// number of digits): `(year, month, day)`.
fn scan_date(s: &mut Scan<'_>) -> Result<(u32, u32, u32), ParseError> {
    let year = fixed(s, 4, "year")?;
    expect(s, b'-', "year")?;
    let month_at = s.pos;
    let month = fixed(s, 2, "month")?;
    if !(1..=12).contains(&month) {
        return Err((month_at, format!("month {month} is not 01 to 12")));
    }
    expect(s, b'-', "month")?;
    let day_at = s.pos;
    let day = fixed(s, 2, "day")?;
    let dim = days_in_month(i64::from(year), month);
    if day == 0 || day > dim {
        return Err((
            day_at,
            format!("day {day} is not 01 to {dim} ({year:04}-{month:02} has {dim} days)"),
        ));
    }
    Ok((year, month, day))
}

/// The one absolute-time parser, behind both `AS OF SYSTEM TIME` ([`parse_as_of`]) and SQL
/// `TIMESTAMP` literals ([`parse_sql_timestamp`]):
/// `YYYY-MM-DD[( |T|t)HH:MM[:SS[.f{1,9}]]][ ][Z|z|UTC|(+|-)HH[[:]MM]]`, hours 00 to 23 in
/// the time and the offset. Returns nanoseconds since 1970-01-01 00:00:00 UTC, negative
/// before; each caller checks the range of its own type. Errors: the byte offset in `b`
/// and why.
fn parse_absolute(b: &[u8]) -> Result<i128, ParseError> {
    let mut s = Scan { s: b, pos: 0 };
    let (year, month, day) = scan_date(&mut s)?;
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    let mut offset_secs: i64 = 0;
    if !s.at_end() {
        if !(s.eat(b' ') || s.eat(b'T') || s.eat(b't')) {
            return Err((
                s.pos,
                "expected ' ' or 'T' and a time after the date".into(),
            ));
        }
        let hour_at = s.pos;
        hour = fixed(&mut s, 2, "hour")?;
        if hour > 23 {
            return Err((hour_at, format!("hour {hour} is not 00 to 23")));
        }
        expect(&mut s, b':', "hour")?;
        let minute_at = s.pos;
        minute = fixed(&mut s, 2, "minute")?;
        if minute > 59 {
            return Err((minute_at, format!("minute {minute} is not 00 to 59")));
        }
        if s.eat(b':') {
            let second_at = s.pos;
            second = fixed(&mut s, 2, "second")?;
            if second > 59 {
                return Err((second_at, format!("second {second} is not 00 to 59")));
            }
            if s.eat(b'.') {
                let frac_at = s.pos;
                let f = s.digits();
                if f.is_empty() || f.len() > 9 {
                    return Err((frac_at, "fraction of a second must be 1 to 9 digits".into()));
                }
                let v = digits_value(f).unwrap_or(0);
                nanos = v * 10u64.pow(9 - f.len() as u32);
            }
        }
        s.skip_spaces();
        if !s.at_end() {
            offset_secs = parse_zone(&mut s)?;
        }
    }
    s.skip_spaces();
    if !s.at_end() {
        return Err((s.pos, "unexpected text after the time".into()));
    }
    // year < 10 000: an i32.
    let days = days_from_civil(year as i32, month, day);
    let secs = i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Ok(i128::from(days) * i128::from(NANOS_PER_DAY)
        + i128::from(secs) * i128::from(NANOS_PER_SEC)
        + i128::from(nanos))
}

/// `Z`, `UTC`, or `+HH`, `+HH:MM`, `+HHMM` (or `-`); returns seconds east of UTC.
fn parse_zone(s: &mut Scan<'_>) -> Result<i64, ParseError> {
    let at = s.pos;
    if s.eat(b'Z') || s.eat(b'z') {
        return Ok(0);
    }
    if s.s.get(s.pos..) == Some(&b"UTC"[..]) {
        s.pos += 3;
        return Ok(0);
    }
    let sign = if s.eat(b'+') {
        1
    } else if s.eat(b'-') {
        -1
    } else {
        return Err((
            at,
            "expected a UTC offset ('Z', '+hh:mm' or '-hh:mm')".into(),
        ));
    };
    let h_at = s.pos;
    let h = fixed(s, 2, "offset hours")?;
    let m = if s.eat(b':') || s.peek().is_some_and(|b| b.is_ascii_digit()) {
        fixed(s, 2, "offset minutes")?
    } else {
        0
    };
    if h > 23 || m > 59 {
        return Err((h_at, format!("UTC offset {h:02}:{m:02} is out of range")));
    }
    Ok(sign * i64::from(h * 3600 + m * 60))
}

/// What an interval text means.
enum Interval {
    /// That many nanoseconds into the past.
    Back(u64),
    Zero,
    Forward,
}

/// Nanoseconds in one of each unit name.
fn unit_nanos(u: &[u8]) -> Option<u64> {
    let lower = u.to_ascii_lowercase();
    Some(match lower.as_slice() {
        b"ns" | b"nsec" | b"nsecs" | b"nanosecond" | b"nanoseconds" => 1,
        b"us" | b"\xc2\xb5s" | b"\xce\xbcs" | b"usec" | b"usecs" | b"microsecond"
        | b"microseconds" => 1_000,
        b"ms" | b"msec" | b"msecs" | b"millisecond" | b"milliseconds" => 1_000_000,
        b"s" | b"sec" | b"secs" | b"second" | b"seconds" => NANOS_PER_SEC,
        b"m" | b"min" | b"mins" | b"minute" | b"minutes" => 60 * NANOS_PER_SEC,
        b"h" | b"hr" | b"hrs" | b"hour" | b"hours" => 3600 * NANOS_PER_SEC,
        b"d" | b"day" | b"days" => NANOS_PER_DAY,
        b"w" | b"week" | b"weeks" => 7 * NANOS_PER_DAY,
        _ => return None,
    })
}

/// `[+|-] (number [ ] unit [ ])+`, the sign applying to the whole (Go's `-1h30m` is
/// minus ninety minutes); numbers may have a fraction (`-1.5h`).
fn parse_interval(b: &[u8]) -> Result<Interval, ParseError> {
    let mut s = Scan { s: b, pos: 0 };
    let negative = if s.eat(b'-') {
        true
    } else {
        s.eat(b'+');
        false
    };
    s.skip_spaces();
    let mut total: u128 = 0;
    let mut parts = 0;
    while !s.at_end() {
        let num_at = s.pos;
        if matches!(s.peek(), Some(b'-' | b'+')) {
            return Err((
                num_at,
                "only one sign is allowed, before the first number; it applies to the whole interval ('-1h30m' is 90 minutes ago)".into(),
            ));
        }
        let int = s.digits();
        let frac = if s.eat(b'.') { s.digits() } else { &[][..] };
        if int.is_empty() && frac.is_empty() {
            return Err((
                num_at,
                if parts == 0 {
                    "not an interval, a time or an HLC timestamp: expected a number with a unit such as '-10s'".into()
                } else {
                    "expected a number".to_string()
                },
            ));
        }
        if int.len() > 19 || frac.len() > 18 {
            return Err((num_at, "number is too long".into()));
        }
        s.skip_spaces();
        let unit_at = s.pos;
        let unit = s.unit();
        let Some(per) = unit_nanos(unit) else {
            return Err((
                unit_at,
                if unit.is_empty() {
                    "a number needs a unit (ns, us, ms, s, m, h, d, w); a bare number is an HLC timestamp and cannot be negative".into()
                } else {
                    format!(
                        "unknown unit {:?} (expected ns, us, ms, s, m, h, d or w)",
                        String::from_utf8_lossy(unit)
                    )
                },
            ));
        };
        let whole = u128::from(digits_value(int).unwrap_or(0)) * u128::from(per);
        let frac_part = u128::from(digits_value(frac).unwrap_or(0)) * u128::from(per)
            / 10u128.pow(frac.len() as u32);
        total += whole + frac_part;
        if total > u128::from(u64::MAX) {
            return Err((num_at, "interval is too large".into()));
        }
        parts += 1;
        s.skip_spaces();
    }
    if parts == 0 {
        return Err((s.pos, "expected a number with a unit after the sign".into()));
    }
    Ok(match (total, negative) {
        (0, _) => Interval::Zero,
        (n, true) => Interval::Back(u64::try_from(n).unwrap_or(u64::MAX)),
        (_, false) => Interval::Forward,
    })
}

/// A `DATE` literal, `YYYY-MM-DD` (4-digit year from 0001, 2-digit month and day), as days
/// since 1970-01-01. It may be followed by a space or `T` and anything (so a timestamp reads
/// as its date), nothing else.
pub fn parse_sql_date(s: &str) -> Option<i32> {
    let mut scan = Scan {
        s: s.trim().as_bytes(),
        pos: 0,
    };
    let (y, m, d) = scan_date(&mut scan).ok()?;
    if !(scan.at_end() || matches!(scan.peek(), Some(b' ' | b'T' | b't'))) || y == 0 {
        return None;
    }
    i32::try_from(days_from_civil(y as i32, m, d)).ok()
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A `TIMESTAMP` literal — `YYYY-MM-DD`, then optionally ` HH:MM[:SS[.fraction]]` (or
/// `T` as the separator), then optionally `Z`, `UTC` or a `±HH[[:]MM]` offset, the rules of
/// [`parse_as_of`]'s absolute times — as microseconds since 1970-01-01 00:00:00 UTC,
/// negative before it, in years 0001 to 9999 (after the offset). Fractions beyond
/// microseconds are truncated. Errors are [`Error::Invalid`] with `field` `"TIMESTAMP"`
/// and the byte offset in the text (surrounding whitespace removed).
pub fn parse_sql_timestamp_checked(text: &str) -> Result<i64> {
    let t = text.trim();
    let err = |offset: usize, reason: &str| Error::Invalid {
        field: "TIMESTAMP",
        offset: offset as u64,
        reason: format!("{text:?}: {reason}"),
    };
    let nanos = parse_absolute(t.as_bytes()).map_err(|(at, why)| err(at, &why))?;
    let us = nanos.div_euclid(1000);
    // An offset may push the instant out of years 0001–9999, which print in another form.
    let first = i128::from(days_from_civil(1, 1, 1)) * i128::from(MICROS_PER_DAY);
    let end = i128::from(days_from_civil(9999, 12, 31) + 1) * i128::from(MICROS_PER_DAY);
    if !(first..end).contains(&us) {
        return Err(err(0, "time is not in years 0001 to 9999"));
    }
    i64::try_from(us).map_err(|_| err(0, "time is not in years 0001 to 9999"))
}

/// [`parse_sql_timestamp_checked`] without the reason.
pub fn parse_sql_timestamp(text: &str) -> Option<i64> {
    parse_sql_timestamp_checked(text).ok()
}

/// A `DATE` (days since 1970-01-01) as `cockroach sql` prints it: `YYYY-MM-DD`.
pub fn format_sql_date(days: i32) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A `TIMESTAMP` (microseconds since 1970-01-01 00:00:00 UTC, negative before) as
/// `cockroach sql` prints it: the form of [`format_sql`], for any year.
pub fn format_sql_timestamp(us: i64) -> String {
    let days = us.div_euclid(MICROS_PER_DAY);
    let rem = us.rem_euclid(MICROS_PER_DAY);
    // |us| < 2^63 µs is about 1.07e8 days: always an i32.
    let date = i32::try_from(days).map_or_else(|_| format!("{days} days"), format_sql_date);
    let secs = rem / 1_000_000;
    let mut out = format!(
        "{date} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let frac = rem % 1_000_000;
    if frac != 0 {
        out.push('.');
        out.push_str(format!("{frac:06}").trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::new(1_700_000_000_123_456_789, 7);

    fn at(text: &str) -> Timestamp {
        parse_as_of(text, NOW).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn wall(text: &str) -> u64 {
        at(text).wall
    }

    fn error(text: &str) -> (u64, String) {
        match parse_as_of(text, NOW) {
            Err(Error::Invalid {
                field,
                offset,
                reason,
            }) => {
                assert_eq!(field, "AS OF SYSTEM TIME");
                (offset, reason)
            }
            other => panic!("{text:?}: expected an Invalid error, got {other:?}"),
        }
    }

    #[test]
    fn civil_conversions_known_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2100, 3, 1), 47_541);
        assert_eq!(civil_from_days(47_540), (2100, 2, 28)); // 2100 is not a leap year
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        // Defined for every i32 day number.
        for d in [i32::MIN, i32::MIN + 1, -1, i32::MAX - 1, i32::MAX] {
            let (y, m, dd) = civil_from_days(d);
            assert!((1..=12).contains(&m) && (1..=31).contains(&dd), "{d}");
            assert_eq!(days_from_civil(y as i32, m, dd), i64::from(d));
        }
        assert!(is_leap_year(2000) && is_leap_year(2024) && !is_leap_year(2100));
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2023, 13), 0);
        for d in -800_000..800_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y as i32, m, dd), i64::from(d));
        }
    }

    #[test]
    fn civil_from_wall_time() {
        let c = Civil::from_unix_nanos(1_497_024_835_571_516_000);
        assert_eq!(
            c,
            Civil {
                year: 2017,
                month: 6,
                day: 9,
                hour: 16,
                minute: 13,
                second: 55,
                nanos: 571_516_000
            }
        );
        assert_eq!(c.to_unix_nanos(), Some(1_497_024_835_571_516_000));
        let max = Civil::from_unix_nanos(u64::MAX);
        assert_eq!(
            (max.year, max.month, max.day, max.hour, max.minute, max.second, max.nanos),
            (2554, 7, 21, 23, 34, 33, 709_551_615)
        );
        assert_eq!(max.to_unix_nanos(), Some(u64::MAX));
        assert_eq!(
            Civil {
                nanos: 709_551_616,
                ..max
            }
            .to_unix_nanos(),
            None
        );
        assert_eq!(
            Civil {
                day: 30,
                month: 2,
                ..c
            }
            .to_unix_nanos(),
            None
        );
        assert_eq!(Civil { year: 1969, ..c }.to_unix_nanos(), None);
    }

    #[test]
    fn absolute_times() {
        assert_eq!(
            wall("'2017-06-09 16:13:55.571516+00:00'"),
            1_497_024_835_571_516_000
        );
        assert_eq!(
            wall("2017-06-09 16:13:55.571516+00:00"),
            1_497_024_835_571_516_000
        );
        assert_eq!(wall("2017-06-09T16:13:55Z"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09t16:13:55z"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09 16:13:55"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09 16:13"), 1_497_024_780_000_000_000);
        assert_eq!(wall("2017-06-09"), 1_496_966_400_000_000_000);
        assert_eq!(wall("2017-06-09 18:13:55+02:00"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09 18:13:55+0200"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09 18:13:55 +02"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09 12:43:55-03:30"), 1_497_024_835_000_000_000);
        assert_eq!(wall("2017-06-09 16:13:55 UTC"), 1_497_024_835_000_000_000);
        assert_eq!(
            wall("2017-06-09 16:13:55.123456789"),
            1_497_024_835_123_456_789
        );
        assert_eq!(wall("2017-06-09 16:13:55.1"), 1_497_024_835_100_000_000);
        assert_eq!(wall("  '2017-02-26 10:00:00'  "), 1_488_103_200_000_000_000);
        assert_eq!(wall("1970-01-01"), 0);
        assert_eq!(wall("1970-01-01 01:00:00+01:00"), 0);
        assert_eq!(wall("2000-02-29"), 951_782_400_000_000_000);
        assert_eq!(at("2017-06-09").logical, 0);
        let later = Timestamp::MAX;
        assert_eq!(
            parse_as_of("2100-03-01", later).unwrap().wall,
            4_107_542_400_000_000_000
        );
        assert_eq!(
            parse_as_of("2554-07-21 23:34:33.709551615", later).unwrap(),
            Timestamp::new(u64::MAX, 0)
        );
    }

    #[test]
    fn hlc_and_integer_times() {
        assert_eq!(
            at("1655826000000000000.0000000001"),
            Timestamp::new(1_655_826_000_000_000_000, 1)
        );
        assert_eq!(
            at("'1655826000000000000.0000000000'"),
            Timestamp::new(1_655_826_000_000_000_000, 0)
        );
        assert_eq!(
            at("1655826000000000000"),
            Timestamp::new(1_655_826_000_000_000_000, 0)
        );
        assert_eq!(at("0"), Timestamp::MIN);
        assert_eq!(at(&NOW.to_string()), NOW);
    }

    #[test]
    fn relative_intervals() {
        let s = NANOS_PER_SEC;
        let back = |text: &str| NOW.wall - wall(text);
        assert_eq!(back("-10s"), 10 * s);
        assert_eq!(back("'-10s'"), 10 * s);
        assert_eq!(back("-1h"), 3600 * s);
        assert_eq!(back("-5m"), 300 * s);
        assert_eq!(back("-1m30s"), 90 * s);
        assert_eq!(back("-1h30m"), 5400 * s);
        assert_eq!(back("-250ms"), 250_000_000);
        assert_eq!(back("-2us"), 2_000);
        assert_eq!(back("-2µs"), 2_000);
        assert_eq!(back("-7ns"), 7);
        assert_eq!(back("-1.5h"), 5400 * s);
        assert_eq!(back("-0.5s"), s / 2);
        assert_eq!(back("-.5s"), s / 2);
        assert_eq!(back("-10 seconds"), 10 * s);
        assert_eq!(back("- 1 hour 30 minutes"), 5400 * s);
        assert_eq!(back("-1d"), 86_400 * s);
        assert_eq!(back("-1w"), 7 * 86_400 * s);
        assert_eq!(back("-1H"), 3600 * s);
        assert_eq!(at("-10s").logical, 0);
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases: &[(&str, u64, &str)] = &[
            ("", 0, "empty"),
            ("''", 0, "empty"),
            ("10s", 0, "interval value must be negative"),
            ("+10s", 0, "interval value must be negative"),
            ("-0s", 0, "not zero"),
            ("-10", 3, "needs a unit"),
            ("-10x", 3, "unknown unit \"x\""),
            ("-10s5", 5, "needs a unit"),
            ("-", 1, "after the sign"),
            ("-s", 1, "expected a number with a unit"),
            ("yesterday", 0, "not an interval"),
            ("-100000000000000000000s", 1, "too long"),
            ("-99999999999d", 1, "too large"),
            ("-100000d", 0, "before 1970"),
            ("-1h -30m", 4, "only one sign"),
            ("-1h+30m", 3, "only one sign"),
            ("-1mon", 2, "unknown unit \"mon\""),
            ("2017-13-01", 5, "month 13 is not 01 to 12"),
            ("2017-02-29", 8, "day 29 is not 01 to 28"),
            ("2017-06-31", 8, "day 31 is not 01 to 30"),
            ("2017-06-00", 8, "day 0"),
            ("2017-6-09", 5, "month must be 2 digits"),
            ("2017-06-09X", 10, "expected ' ' or 'T'"),
            ("2017-06-09 24:00:00", 11, "hour 24"),
            ("2017-06-09 16:60:00", 14, "minute 60"),
            ("2017-06-09 16:13:60", 17, "second 60"),
            ("2017-06-09 16:13:55.", 20, "1 to 9 digits"),
            ("2017-06-09 16:13:55.1234567890", 20, "1 to 9 digits"),
            ("2017-06-09 16:13:55+24:00", 20, "out of range"),
            ("2017-06-09 16:13:55+2", 20, "offset hours must be 2 digits"),
            ("2017-06-09 16:13:55 PST", 20, "expected a UTC offset"),
            ("2017-06-09 16:13:55Z junk", 21, "unexpected text"),
            ("1969-12-31 23:59:59", 0, "before 1970"),
            ("1970-01-01 00:00:00+00:01", 0, "before 1970"),
            ("2554-07-21 23:34:34", 0, "after 2554"),
            ("2030-01-01", 0, "in the future"),
            ("9999999999999999999", 0, "in the future"),
            ("99999999999999999999", 0, "out of range"),
            ("1.2.3", 0, "not an HLC timestamp"),
            ("1.", 0, "not an HLC timestamp"),
            ("'-10s", 0, "not an interval"),
        ];
        for &(text, offset, needle) in cases {
            let (got_offset, reason) = error(text);
            assert!(
                reason.contains(needle),
                "{text:?}: reason {reason:?} lacks {needle:?}"
            );
            assert!(
                reason.contains(&format!("{text:?}")),
                "{reason:?} does not quote the text"
            );
            assert_eq!(got_offset, offset, "{text:?}: {reason}");
        }
        // The message reads well as a whole.
        assert_eq!(
            parse_as_of("'10s'", NOW).unwrap_err().to_string(),
            "invalid AS OF SYSTEM TIME at offset 0: \"'10s'\": interval value must be negative (a time in the past, e.g. '-10s')"
        );
    }

    #[test]
    fn quote_stripping_error_offset_of_unquoted_text() {
        // "'-10s" has one quote only: it is kept, and the text is not a valid interval.
        assert!(parse_as_of("'-10s", NOW).is_err());
        assert!(parse_as_of("-10s'", NOW).is_err());
    }

    #[test]
    fn sql_formatting() {
        let t = Timestamp::new(1_655_827_587_118_123_999, 3);
        assert_eq!(format_sql(t), "2022-06-21 16:06:27.118123");
        assert_eq!(format_sql_tz(t), "2022-06-21 16:06:27.118123+00:00");
        assert_eq!(
            format_sql(Timestamp::new(1_497_024_835_571_500_000, 0)),
            "2017-06-09 16:13:55.5715"
        );
        assert_eq!(
            format_sql(Timestamp::new(1_497_024_835_000_000_999, 0)),
            "2017-06-09 16:13:55"
        );
        assert_eq!(format_sql_tz(Timestamp::MIN), "1970-01-01 00:00:00+00:00");
        assert_eq!(
            format_sql(Timestamp::new(951_782_400_000_001_000, 0)),
            "2000-02-29 00:00:00.000001"
        );
        assert_eq!(format_sql(Timestamp::MAX), "2554-07-21 23:34:33.709551");
    }

    proptest! {
        #[test]
        fn civil_round_trip(wall in any::<u64>()) {
            prop_assert_eq!(Civil::from_unix_nanos(wall).to_unix_nanos(), Some(wall));
        }

        #[test]
        fn sql_text_parses_back_to_the_microsecond(wall in any::<u64>(), logical in any::<u32>()) {
            let t = Timestamp::new(wall, logical);
            let micros = Timestamp::new(wall / 1000 * 1000, 0);
            prop_assert_eq!(parse_as_of(&format_sql(t), Timestamp::MAX), Ok(micros));
            prop_assert_eq!(parse_as_of(&format_sql_tz(t), Timestamp::MAX), Ok(micros));
            prop_assert_eq!(parse_as_of(&format!("'{t}'"), Timestamp::MAX), Ok(t));
        }

        #[test]
        fn intervals_go_back_exactly(h in 0u64..1000, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
            let text = format!("-{h}h{m}m{s}s{ms}ms");
            let back = ((h * 60 + m) * 60 + s) * NANOS_PER_SEC + ms * 1_000_000;
            let got = parse_as_of(&text, NOW);
            if back == 0 {
                prop_assert!(got.is_err());
            } else {
                prop_assert_eq!(got, Ok(Timestamp::new(NOW.wall - back, 0)));
            }
        }

        #[test]
        fn offsets_shift_exactly(wall in 0u64..(1u64 << 62), east in -(23 * 60 + 59)..=(23i64 * 60 + 59)) {
            let wall = wall / 1000 * 1000;
            let local = i128::from(wall) + i128::from(east) * 60 * i128::from(NANOS_PER_SEC);
            prop_assume!(local >= 0);
            let text = format_sql(Timestamp::new(local as u64, 0));
            let sign = if east < 0 { '-' } else { '+' };
            let text = format!("{text}{sign}{:02}:{:02}", east.abs() / 60, east.abs() % 60);
            prop_assert_eq!(parse_as_of(&text, Timestamp::MAX), Ok(Timestamp::new(wall, 0)));
        }

        #[test]
        fn never_panics(text in "\\PC{0,40}", now in any::<u64>()) {
            let _ = parse_as_of(&text, Timestamp::new(now, 0));
        }

        #[test]
        fn never_panics_on_near_misses(text in "'?[-+ ]?[0-9:. TZz+-]{0,34}[smhdu]?s?'?") {
            let _ = parse_as_of(&text, NOW);
        }
    }

    #[test]
    fn sql_timestamps_parse_and_print_before_and_after_1970() {
        assert_eq!(parse_sql_timestamp("1969-12-31 23:59:59.5"), Some(-500_000));
        assert_eq!(parse_sql_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_sql_timestamp("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_sql_timestamp("1970-01-01 02:00:00+02:00"), Some(0));
        assert_eq!(
            parse_sql_timestamp("1970-01-01 00:00:00-0130"),
            Some(5_400_000_000)
        );
        assert_eq!(
            parse_sql_timestamp("1970-01-01 00:00:00.1234569"),
            Some(123_456)
        );
        for bad in [
            "1970-01-01 24:00:00",
            "1970-01-01 00:60",
            "1970-01-01 00:00:00.",
            "1970-01-01 00:00:00.1234567890",
            "1970-01-01 00:00:00 +25:00",
            "1970-01-011",
            "1970-13-01",
            "-1h",
            "",
        ] {
            assert_eq!(parse_sql_timestamp(bad), None, "{bad:?}");
        }
        // After 1970 the same instants as the AS OF SYSTEM TIME parser of `format`.
        for text in [
            "2017-06-09 16:13:55.571516+00:00",
            "2024-02-29 23:59:59.999999",
            "2000-01-01 00:00:00",
        ] {
            let want = parse_as_of(text, Timestamp::MAX).unwrap().wall / 1_000;
            assert_eq!(
                parse_sql_timestamp(text),
                Some(i64::try_from(want).unwrap()),
                "{text}"
            );
        }
        for us in [
            0,
            -1,
            -500_000,
            1_497_024_835_571_516,
            -2_208_988_800_000_000,
        ] {
            assert_eq!(
                parse_sql_timestamp(&format_sql_timestamp(us)),
                Some(us),
                "{us}"
            );
        }
        assert_eq!(format_sql_timestamp(-1), "1969-12-31 23:59:59.999999");
        assert_eq!(format_sql_timestamp(1_500_000), "1970-01-01 00:00:01.5");
        // After 1970 the same text as format_sql.
        let ts = Timestamp::new(1_497_024_835_571_516_000, 0);
        assert_eq!(format_sql_timestamp(1_497_024_835_571_516), format_sql(ts));
        assert_eq!(format_sql_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(
            format_sql_timestamp(1_497_024_835_571_516),
            "2017-06-09 16:13:55.571516"
        );
        assert_eq!(format_sql_date(0), "1970-01-01");
        assert_eq!(format_sql_date(-1), "1969-12-31");
        assert_eq!(parse_sql_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_sql_date("2023-02-29"), None);
        // Found by the text_parse fuzz target: a 5-digit year read as its first 10 chars.
        assert_eq!(parse_sql_date("10008-4-10"), None);
        assert_eq!(parse_sql_timestamp("10008-4-10"), None);
        assert_eq!(parse_sql_date("2024-02-29 12:00"), Some(19_782));
        assert_eq!(parse_sql_date("2024-02-29x"), None);
        assert_eq!(parse_sql_timestamp("0001-01-01 00:00:00+01:00"), None);
        assert_eq!(parse_sql_timestamp("9999-12-31 23:00:00-02:00"), None);
    }

    #[test]
    fn one_absolute_time_parser_for_as_of_and_sql() {
        // The same rules for both: the same instants where both types reach.
        for text in [
            "2017-06-09 16:13:55.571516+00:00",
            "2017-06-09t16:13:55z",
            "2017-06-09 16:13:55 UTC",
            "2017-06-09 18:13:55+0200",
            "2017-06-09 18:13:55 +02",
            "2017-06-09 16:13",
            "2017-06-09",
        ] {
            let wall = parse_as_of(text, Timestamp::MAX).unwrap().wall;
            assert_eq!(
                parse_sql_timestamp(text),
                Some(i64::try_from(wall / 1000).unwrap()),
                "{text}"
            );
        }
        // And the same refusals, at the same offsets.
        for (text, offset) in [
            ("2017-06-09  16:13", 11),
            ("2017-06-09 1:05", 11),
            ("2017-06-09 16:13.5", 16),
            ("2017-06-09Z", 10),
            ("2017-06-09+02:00", 10),
            ("2017-06-09 16:13:55+24:00", 20),
            ("2017-06-09 16:13:55 PST", 20),
            ("2017-6-09", 5),
        ] {
            match parse_sql_timestamp_checked(text) {
                Err(Error::Invalid {
                    field: "TIMESTAMP",
                    offset: o,
                    ..
                }) => assert_eq!(o, offset, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
            assert_eq!(error(text).0, offset, "{text}");
        }
        // Each type's own range.
        assert_eq!(
            parse_sql_timestamp("1969-12-31 23:59:59.1234567"),
            Some(-876_544)
        );
        assert!(parse_as_of("1969-12-31 23:59:59", Timestamp::MAX).is_err());
        assert_eq!(parse_sql_timestamp("0000-12-31 23:59:59"), None);
        assert_eq!(parse_sql_date("0000-12-31"), None);
        assert_eq!(parse_sql_date("2024-02-29t12:00"), Some(19_782));
        assert!(matches!(
            parse_sql_timestamp_checked("0001-01-01 00:00:00+01:00"),
            Err(Error::Invalid { offset: 0, .. })
        ));
    }
}
