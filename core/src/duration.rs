//! Durations in configuration files, written the way operators write them: `90s`, `10m`,
//! `2h`, `5d`, `250ms`, a combination such as `1h30m`, or a fraction such as `8.5m`. A bare
//! number is seconds.
//!
//! Values are exact to the millisecond (the simulator's and the trace's resolution): a
//! fraction that does not come out in whole milliseconds (`1.5ms`, `0.0001s`) is refused,
//! never rounded. Every value is at most [`MAX`], so that adding one to any clock reading
//! cannot overflow.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// The longest duration any configuration may name: 100 years (36,500 days). Longer than
/// anything a mail system waits for, and short enough that a clock plus a few of them stays
/// far from overflowing (`Instant + Duration` panics on overflow).
pub const MAX: Duration = Duration::from_secs(36_500 * 86_400);

/// Milliseconds per unit.
const UNITS: [(&str, u128); 6] = [
    ("ms", 1),
    ("min", 60_000),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses `10m`, `1h30m`, `8.5m`, `250ms`, `5d`, `42` or `1.5` (seconds).
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let bad = |why: String| format!("bad duration {text:?}: {why}");
    let mut total_ms: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let (number, tail) = split_number(rest).map_err(bad)?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let unit_ms = if unit.is_empty() {
            // A bare number is seconds, but only alone: in `1h30` the 30 lacks its unit.
            match tail.chars().next() {
                None if rest == t => 1_000,
                None => return Err(bad(format!("{number} has no unit (ms, s, m, h, d)"))),
                Some(c) => return Err(bad(format!("unexpected {c:?} after {number}"))),
            }
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, ms)| *ms)
                .ok_or_else(|| bad(format!("unit {unit:?} is not one of ms, s, m, h, d")))?
        };
        total_ms += number
            .millis(unit_ms)
            .map_err(|why| bad(format!("{number}{unit} {why}")))?;
        if total_ms > MAX.as_millis() {
            return Err(bad(format!("over the limit of {}", format(MAX))));
        }
        rest = tail;
    }
    // At most MAX, so it fits a u64 of milliseconds.
    Ok(Duration::from_millis(total_ms as u64))
}

/// A decimal number as written: whole part and fraction digits (trailing zeros dropped).
struct Number<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl fmt::Display for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fraction.is_empty() {
            f.write_str(self.whole)
        } else {
            write!(f, "{}.{}", self.whole, self.fraction)
        }
    }
}

impl Number<'_> {
    /// The number times `unit_ms`, in whole milliseconds.
    fn millis(&self, unit_ms: u128) -> Result<u128, String> {
        // Past these lengths the value is over MAX anyway, or finer than any unit can make
        // whole; the limits keep the arithmetic inside u128.
        if self.whole.len() > 20 {
            return Err(format!("is over the limit of {}", format(MAX)));
        }
        if self.fraction.len() > 18 {
            return Err("is not a whole number of milliseconds".into());
        }
        let whole: u128 = self.whole.parse().map_err(|_| "is not a number")?;
        let fraction: u128 = if self.fraction.is_empty() {
            0
        } else {
            self.fraction.parse().map_err(|_| "is not a number")?
        };
        let scale = 10u128.pow(self.fraction.len() as u32);
        if !(fraction * unit_ms).is_multiple_of(scale) {
            return Err("is not a whole number of milliseconds".into());
        }
        Ok(whole * unit_ms + fraction * unit_ms / scale)
    }
}

/// Splits `8.5m…` into the number `8.5` and the rest `m…`.
fn split_number(text: &str) -> Result<(Number<'_>, &str), String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected a number at {text:?}"));
    }
    let (whole, tail) = text.split_at(digits);
    let Some(after_point) = tail.strip_prefix('.') else {
        return Ok((
            Number {
                whole,
                fraction: "",
            },
            tail,
        ));
    };
    let digits = after_point.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("expected digits after \"{whole}.\""));
    }
    let (fraction, tail) = after_point.split_at(digits);
    let fraction = fraction.trim_end_matches('0');
    Ok((Number { whole, fraction }, tail))
}

/// Formats a duration in the largest units that divide it exactly (`600s` → `10m`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

/// `#[serde(with = "crate::duration::serde_text")]` for a `Duration` field.
pub mod serde_text {
    use super::*;

    /// Writes the duration as text (`10m`).
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    /// Reads text (`10m`) or an integer (seconds).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

/// The same for an `Option<Duration>` field (absent or `"off"` is `None`).
pub mod serde_text_opt {
    use super::*;

    /// Writes `None` as `"off"`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format(*d)),
            None => s.serialize_str("off"),
        }
    }

    /// Reads `"off"` as `None`, otherwise a duration.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(OptVisitor)
    }

    struct OptVisitor;

    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"10m\", or \"off\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.eq_ignore_ascii_case("off") {
                Ok(None)
            } else {
                DurationVisitor.visit_str(v).map(Some)
            }
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            DurationVisitor.visit_u64(v).map(Some)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            DurationVisitor.visit_i64(v).map(Some)
        }
    }
}

struct DurationVisitor;

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"90s\", \"10m\", \"2h\", \"5d\" or a number of seconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        let d = Duration::from_secs(v);
        if d > MAX {
            return Err(E::custom(format!(
                "duration {v} s is over the limit of {}",
                format(MAX)
            )));
        }
        Ok(d)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
        self.visit_u64(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operator_notation() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("5d"), Ok(Duration::from_secs(432_000)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("42"), Ok(Duration::from_secs(42)));
        assert!(parse("10 minutes").is_err());
        assert!(parse("m").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn fractions_are_exact_to_the_millisecond() {
        assert_eq!(parse("8.5m"), Ok(Duration::from_secs(510)));
        assert_eq!(parse("1.25h"), Ok(Duration::from_secs(4_500)));
        assert_eq!(parse("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1_500)));
        assert_eq!(parse("1h7.5m"), Ok(Duration::from_secs(4_050)));
        assert_eq!(parse("2.000ms"), Ok(Duration::from_millis(2)));
        let finer = parse("1.5ms").expect_err("refused");
        assert!(
            finer.contains("1.5ms is not a whole number of milliseconds"),
            "{finer}"
        );
        assert!(parse("0.0001s").is_err());
        assert!(
            parse("3.m")
                .expect_err("refused")
                .contains("expected digits after \"3.\"")
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let no_unit = parse("1h30").expect_err("refused");
        assert!(no_unit.contains("30 has no unit"), "{no_unit}");
        let space = parse("8.5 m").expect_err("refused");
        assert!(space.contains("unexpected ' ' after 8.5"), "{space}");
        let unit = parse("3w").expect_err("refused");
        assert!(unit.contains("unit \"w\" is not one of"), "{unit}");
    }

    #[test]
    fn values_over_the_limit_are_refused() {
        assert_eq!(parse("36500d"), Ok(MAX));
        for text in [
            "36501d",
            "18446744073709551615",
            "99999999999999999999999d",
            "36500d1ms",
        ] {
            let e = parse(text).expect_err("refused");
            assert!(e.contains("over the limit of 36500d"), "{text}: {e}");
        }
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[serde(with = "serde_text")]
            d: Duration,
        }
        let read = |text: &str| toml::from_str::<T>(text).map(|t| t.d);
        assert_eq!(read("d = 60").ok(), Some(Duration::from_secs(60)));
        let e = read("d = 9223372036854775807").expect_err("refused");
        assert!(e.to_string().contains("over the limit"), "{e}");
    }

    #[test]
    fn formats_in_largest_exact_unit() {
        for text in ["10m", "2h", "5d", "90s", "250ms", "0s"] {
            let d = parse(text).expect("valid");
            assert_eq!(format(d), text);
        }
    }
}
