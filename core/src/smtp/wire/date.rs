//! Dates as mail headers write them (RFC 5322 §3.3 `date-time`), in UTC:
//! `Thu, 01 Jan 2026 00:00:00 +0000` (the form of `date -R`).
//!
//! Written by hand rather than with a date crate: the proxy needs this one format, from a
//! Unix time it is given (core reads no clock), and the calendar arithmetic is a dozen lines
//! (Howard Hinnant's `civil_from_days`, the algorithm `chrono` and C++20 `<chrono>` use).

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `unix_ms` (milliseconds since 1970-01-01T00:00:00Z) as an RFC 5322 date-time in UTC,
/// to the second.
pub fn rfc5322(unix_ms: u64) -> String {
    let mut out = String::with_capacity(31);
    push_rfc5322(&mut out, unix_ms);
    out
}

/// As [`rfc5322`], appended to `out`.
pub fn push_rfc5322(out: &mut String, unix_ms: u64) {
    let secs = unix_ms / 1_000;
    let days = secs / 86_400;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday, the first of `DAYS`.
    let weekday = DAYS[(days % 7) as usize];
    let month = MONTHS[(month - 1) as usize];
    // Pushed piece by piece: the proxy stamps every message it passes with this date, and
    // `format!` with six padded fields cost about ten times as much (callgrind).
    out.push_str(weekday);
    out.push_str(", ");
    push_two_digits(out, day);
    out.push(' ');
    out.push_str(month);
    out.push(' ');
    out.push_str(itoa::Buffer::new().format(year));
    out.push(' ');
    push_two_digits(out, of_day / 3_600);
    out.push(':');
    push_two_digits(out, of_day / 60 % 60);
    out.push(':');
    push_two_digits(out, of_day % 60);
    out.push_str(" +0000");
}

/// `n` (below 100) as two decimal digits, as `{:02}` writes it.
fn push_two_digits(out: &mut String, n: u64) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// Year, month (1–12) and day (1–31) of the day `days` after 1970-01-01, in the proleptic
/// Gregorian calendar (Hinnant, "chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days since 0000-03-01, so that a leap day falls at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        // Each checked with `date -u -R -d @SECONDS`.
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_767_225_600, "Thu, 01 Jan 2026 00:00:00 +0000"),
            (1_796_037_544, "Mon, 30 Nov 2026 11:19:04 +0000"),
            (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 +0000"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 +0000"),
        ];
        for (secs, text) in cases {
            assert_eq!(rfc5322(secs * 1_000 + 999), text, "{secs}");
        }
    }

    #[test]
    fn agrees_with_the_padded_format_over_four_centuries() {
        // Every 7,919th hour over 400 years (a full Gregorian cycle), plus odd seconds.
        for secs in (0..12_622_780_800u64).step_by(7_919 * 3_600 + 61) {
            let days = secs / 86_400;
            let of_day = secs % 86_400;
            let (year, month, day) = civil_from_days(days);
            let expected = format!(
                "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
                DAYS[(days % 7) as usize],
                MONTHS[(month - 1) as usize],
                of_day / 3_600,
                of_day / 60 % 60,
                of_day % 60
            );
            assert_eq!(rfc5322(secs * 1_000), expected);
        }
    }

    #[test]
    fn the_far_future_does_not_overflow() {
        let text = rfc5322(u64::MAX);
        assert!(text.ends_with(" +0000"), "{text}");
    }
}
