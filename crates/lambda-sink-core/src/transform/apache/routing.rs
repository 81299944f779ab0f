//! Apache's Filter and the routers: RegexRouter, TimestampRouter.

use crate::{Invalid, invalid};
use std::sync::Arc;

use regex::Regex;

use super::super::props::Props;
use super::super::record::{Built, Part, Record, Transform};
use super::super::timefmt::DateFormat;

// ── Filter and the routers ─────────────────────────────────────────────

#[derive(Debug)]
struct Filter;

pub(crate) fn filter(_: &mut Props, _: Part) -> Built {
    Some(Box::new(Filter))
}

impl Transform for Filter {
    fn apply(&self, _: Record) -> Result<Option<Record>, Invalid> {
        Ok(None)
    }
}

/// A Java `Matcher.replaceFirst` replacement (`$1`, `${name}`, `\$`) in
/// the `regex` crate's syntax.
pub(crate) fn java_replacement(text: &str) -> Result<String, Invalid> {
    let mut out = String::with_capacity(text.len() + 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err(invalid!("{text:?} ends with a lone backslash")),
            },
            '$' => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut digits = String::new();
                    while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        digits.push(*d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{digits}}}"));
                }
                _ => {
                    return Err(invalid!(
                        "{text:?}: '$' must be followed by a group number or {{name}} (write \\$ for a literal one)"
                    ));
                }
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct RegexRouter {
    regex: Regex,
    replacement: String,
}

pub(crate) fn regex_router(p: &mut Props, _: Part) -> Built {
    let regex = p.full_match_regex("regex");
    let replacement = p.verbatim("replacement");
    let Some(replacement) = replacement else {
        p.required("replacement");
        return None;
    };
    let replacement = match java_replacement(&replacement) {
        Ok(r) => r,
        Err(e) => {
            p.problem("replacement", e);
            return None;
        }
    };
    Some(Box::new(RegexRouter {
        regex: regex?,
        replacement,
    }))
}

impl Transform for RegexRouter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        if self.regex.is_match(&record.topic) {
            let topic = self
                .regex
                .replace(&record.topic, self.replacement.as_str())
                .into_owned();
            record.topic = Arc::from(topic);
        }
        Ok(Some(record))
    }
}

#[derive(Debug)]
struct TimestampRouter {
    topic_format: String,
    timestamp_format: DateFormat,
}

pub(crate) fn timestamp_router(p: &mut Props, _: Part) -> Built {
    let topic_format = p
        .verbatim("topic.format")
        .unwrap_or_else(|| "${topic}-${timestamp}".into());
    let pattern = p
        .verbatim("timestamp.format")
        .unwrap_or_else(|| "yyyyMMdd".into());
    match DateFormat::parse(&pattern) {
        Ok(timestamp_format) => Some(Box::new(TimestampRouter {
            topic_format,
            timestamp_format,
        })),
        Err(e) => {
            p.problem("timestamp.format", e);
            None
        }
    }
}

impl Transform for TimestampRouter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        let Some(ts) = record.timestamp else {
            return Err(invalid!(
                "Timestamp missing on record: {}-{}@{}",
                record.topic,
                record.partition,
                record.offset
            ));
        };
        let topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &self.timestamp_format.format_millis(ts));
        record.topic = Arc::from(topic);
        Ok(Some(record))
    }
}
