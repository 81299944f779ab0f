//! Java `SimpleDateFormat` patterns (as TimestampConverter and
//! TimestampRouter take them), always in UTC, translated once to chrono's
//! format items. The common letters are supported (`y M d H h m s SSS E a
//! D Z X z` and quoted literals, and `Y`, the week year, for formatting);
//! any other letter is a config error rather than a silent difference.
//!
//! `Y` is Java's week year in the `en-US` calendar a Connect worker
//! usually runs with (weeks start on Sunday; week 1 is the week holding
//! January 1st), so from the Sunday before a January 1st on, the week
//! year is already the next year — the classic `YYYY` surprise, kept.

use crate::{Invalid, invalid};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

/// A translated pattern.
#[derive(Clone, Debug)]
pub(super) struct DateFormat {
    pattern: String,
    chrono: String,
    has_date: bool,
    has_time: bool,
    has_offset: bool,
    has_week_year: bool,
}

/// Stand-ins for the week year in the chrono pattern (private-use code
/// points, which no pattern contains), replaced after formatting.
const WEEK_YEAR: char = '\u{E000}';
const WEEK_YEAR_2: char = '\u{E001}';

/// Java's `en-US` week year of `day` (see the module documentation).
fn week_year(day: NaiveDate) -> i32 {
    use chrono::Datelike;
    let next = day.year() + 1;
    let Some(january_first) = NaiveDate::from_ymd_opt(next, 1, 1) else {
        return day.year();
    };
    let days_since_sunday = i64::from(january_first.weekday().num_days_from_sunday());
    let week_one = january_first - chrono::Duration::days(days_since_sunday);
    if day >= week_one { next } else { day.year() }
}

impl DateFormat {
    /// Translates a `SimpleDateFormat` pattern.
    ///
    /// # Errors
    /// A pattern letter or run that is not supported, or an unclosed quote.
    #[allow(
        clippy::too_many_lines,
        reason = "one match arm per SimpleDateFormat letter: the table of what is supported reads best in one place"
    )]
    pub(super) fn parse(pattern: &str) -> Result<Self, Invalid> {
        let mut out = String::new();
        let (mut has_date, mut has_time, mut has_offset) = (false, false, false);
        let mut has_week_year = false;
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                // '' is a quote; 'text' is literal text.
                if chars.get(i + 1) == Some(&'\'') {
                    out.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err(invalid!("{pattern:?}: unterminated quote")),
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            out.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some('%') => {
                            out.push_str("%%");
                            j += 1;
                        }
                        Some(other) => {
                            out.push(*other);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                if c == '%' {
                    out.push_str("%%");
                } else {
                    out.push(c);
                }
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            if c == 'Y' {
                out.push(if n == 2 { WEEK_YEAR_2 } else { WEEK_YEAR });
                has_week_year = true;
                i += n;
                continue;
            }
            let item = match (c, n) {
                ('y', 2) => "%y",
                ('y', _) => "%Y",
                ('M', 1) => "%-m",
                ('M', 2) => "%m",
                ('M', 3) => "%b",
                ('M', _) => "%B",
                ('d', 1) => "%-d",
                ('d', _) => "%d",
                ('D', _) => "%j",
                ('E', 1..=3) => "%a",
                ('E', _) => "%A",
                ('H', 1) => "%-H",
                ('H', _) => "%H",
                ('h', 1) => "%-I",
                ('h', _) => "%I",
                ('m', 1) => "%-M",
                ('m', _) => "%M",
                ('s', 1) => "%-S",
                ('s', _) => "%S",
                ('S', 3) => "%3f",
                ('a', _) => "%p",
                ('Z', _) => "%z",
                // Always UTC: ISO 8601's zero offset, and the zone's name.
                ('X', _) => "Z",
                ('z', _) => "UTC",
                _ => {
                    return Err(invalid!(
                        "{pattern:?}: the pattern letter run {:?} is not supported; supported: y, Y, M, d, D, E, H, h, m, s, SSS, a, Z, X, z and quoted text",
                        std::iter::repeat_n(c, n).collect::<String>()
                    ));
                }
            };
            match c {
                'y' | 'M' | 'd' | 'D' | 'E' => has_date = true,
                'H' | 'h' | 'm' | 's' | 'S' | 'a' => has_time = true,
                'Z' => has_offset = true,
                _ => {}
            }
            out.push_str(item);
            i += n;
        }
        Ok(Self {
            pattern: pattern.to_string(),
            chrono: out,
            has_date,
            has_time,
            has_offset,
            has_week_year,
        })
    }

    /// The pattern as configured.
    pub(super) fn pattern(&self) -> &str {
        &self.pattern
    }

    /// `ms` (epoch milliseconds) formatted in UTC.
    pub(super) fn format_millis(&self, ms: i64) -> String {
        let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
            return String::new();
        };
        let text = t.format(&self.chrono).to_string();
        if !self.has_week_year {
            return text;
        }
        let year = week_year(t.date_naive());
        text.replace(WEEK_YEAR, &year.to_string())
            .replace(WEEK_YEAR_2, &format!("{:02}", year.rem_euclid(100)))
    }

    /// Epoch milliseconds of `text` in this pattern (UTC unless the
    /// pattern has an offset); missing date parts are 1970-01-01, missing
    /// time parts midnight.
    ///
    /// # Errors
    /// The text does not match the pattern.
    pub(super) fn parse_millis(&self, text: &str) -> Result<i64, Invalid> {
        if self.has_week_year {
            return Err(invalid!(
                "{:?}: Y (the week year) formats a timestamp but cannot parse one; use y",
                self.pattern
            ));
        }
        let f = self.chrono.as_str();
        let e = |e: chrono::ParseError| Invalid::new(e.to_string());
        if self.has_offset {
            return DateTime::parse_from_str(text, f)
                .map(|t| t.timestamp_millis())
                .map_err(e);
        }
        let at = match (self.has_date, self.has_time) {
            (true, true) => NaiveDateTime::parse_from_str(text, f).map_err(e)?,
            (true, false) => NaiveDate::parse_from_str(text, f)
                .map_err(e)?
                .and_time(NaiveTime::MIN),
            (false, _) => NaiveDate::from_ymd_opt(1970, 1, 1)
                .unwrap_or_default()
                .and_time(NaiveTime::parse_from_str(text, f).map_err(e)?),
        };
        Ok(at.and_utc().timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_patterns_round_trip_in_utc() {
        let f = DateFormat::parse("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap();
        assert_eq!(
            f.format_millis(1_700_000_000_123),
            "2023-11-14T22:13:20.123"
        );
        assert_eq!(
            f.parse_millis("2023-11-14T22:13:20.123"),
            Ok(1_700_000_000_123)
        );
        let day = DateFormat::parse("yyyyMMdd").unwrap();
        assert_eq!(day.format_millis(1_700_000_000_123), "20231114");
        assert_eq!(day.parse_millis("20231114"), Ok(1_699_920_000_000));
        let quoted = DateFormat::parse("'at' HH 'o''clock' %").unwrap();
        assert_eq!(quoted.format_millis(0), "at 00 o'clock %");
        assert!(day.parse_millis("2023-11-14").is_err());
    }

    #[test]
    fn the_week_year_turns_at_the_sunday_before_january_first() {
        // Java: new SimpleDateFormat("YYYY-MM-dd") in en-US, UTC.
        let f = DateFormat::parse("YYYY-MM-dd").unwrap();
        let at = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_time(NaiveTime::MIN)
                .and_utc()
                .timestamp_millis()
        };
        // 2019-01-01 is a Tuesday: its week starts on Sunday 2018-12-30.
        assert_eq!(f.format_millis(at(2018, 12, 29)), "2018-12-29");
        assert_eq!(f.format_millis(at(2018, 12, 30)), "2019-12-30");
        assert_eq!(f.format_millis(at(2019, 1, 5)), "2019-01-05");
        // 2023-01-01 is a Sunday: nothing turns early.
        assert_eq!(f.format_millis(at(2022, 12, 31)), "2022-12-31");
        assert_eq!(
            DateFormat::parse("YY")
                .unwrap()
                .format_millis(at(2018, 12, 30)),
            "19"
        );
        assert!(f.parse_millis("2019-12-30").is_err());
    }

    #[test]
    fn unsupported_letters_are_refused() {
        let e = DateFormat::parse("yyyy-ww").unwrap_err();
        assert!(e.reason().contains("\"ww\" is not supported"), "{e}");
        assert!(DateFormat::parse("'open").is_err());
    }
}
