//! Passes 1 and 2 of validation: entries folded by canonical key (duplicates
//! judged, `${...}` references resolved), each key classified and its value
//! parsed by its [`Kind`]; and the [`Report`] of every problem found.

use crate::{Invalid, invalid};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::Problem;

use super::super::model::{ClientProperties, ClientValue};
use super::super::properties::{self, Key, Kind, PassThrough, Property};
use super::super::reference::Resolver;
use super::super::secret::{Secret, shown};
use super::super::source::RawConfig;

#[derive(Default)]
pub(super) struct Report {
    pub(super) errors: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
}

impl Report {
    pub(super) fn error(&mut self, property: &str, message: impl Into<String>) {
        self.errors.push(Problem::new(property, message));
    }
    pub(super) fn warn(&mut self, property: &str, message: impl Into<String>) {
        self.warnings.push(Problem::new(property, message));
    }
}

/// One key's value after folding duplicates and aliases.
pub(super) struct Entry {
    /// The spelling the user wrote (an alias, or the key itself).
    pub(super) written_as: String,
    /// `None` when a `${...}` reference in it could not be resolved (reported).
    pub(super) value: Option<String>,
    pub(super) secret: bool,
}

/// Pass 1: one value per canonical key, references resolved.
pub(super) fn fold_entries(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> BTreeMap<String, Entry> {
    let mut folded: BTreeMap<String, Entry> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in &raw.entries {
        let key = e.key.trim();
        let Some(value) = &e.value else { continue };
        let canonical = properties::canonical_name(key).unwrap_or(key).to_string();
        let secret = properties::is_secret(&canonical);
        match folded.get(&canonical) {
            Some(prev) if prev.value.as_ref() == Some(value) => report.warn(
                key,
                format!(
                    "set more than once{}, to the same value; the repetition is ignored",
                    also_as(&prev.written_as, key)
                ),
            ),
            Some(prev) => report.error(
                key,
                format!(
                    "set more than once with different values{}: {} and {}; keep one",
                    also_as(&prev.written_as, key),
                    shown(prev.value.as_deref().unwrap_or_default(), secret),
                    shown(value, secret)
                ),
            ),
            None => {
                order.push(canonical.clone());
                folded.insert(
                    canonical,
                    Entry {
                        written_as: key.to_string(),
                        value: Some(value.clone()),
                        secret,
                    },
                );
            }
        }
    }
    let mut resolver = Resolver::new(env);
    for entry in folded.values_mut() {
        let Some(value) = &entry.value else { continue };
        match resolver.resolve(value) {
            Ok(v) => entry.value = Some(v),
            Err(e) => {
                report.error(&entry.written_as, e);
                entry.value = None;
            }
        }
    }
    folded
}

pub(super) fn also_as(first: &str, again: &str) -> String {
    if first == again {
        String::new()
    } else {
        format!(" (also as {first})")
    }
}

/// A parsed table value.
#[derive(Clone, Debug)]
pub(super) enum Parsed {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

/// Pass 2 output: parsed table values and pass-through properties. Records
/// which table properties the builder read, so a test can prove the table has
/// no entry the code ignores.
#[derive(Default)]
pub(super) struct Values {
    pub(super) table: HashMap<&'static str, Parsed>,
    /// Table properties present but unparseable: already reported, and the
    /// builder must not report them again as missing.
    pub(super) invalid: BTreeSet<&'static str>,
    pub(super) pass_through: BTreeMap<PassThrough, ClientProperties>,
    /// `transforms*` and `predicates*` keys, for the transform chain.
    pub(super) transforms: BTreeMap<String, String>,
    pub(super) read: RefCell<BTreeSet<&'static str>>,
}

/// Pass 2 for one key.
pub(super) fn classify(key: &str, entry: &Entry, values: &mut Values, report: &mut Report) {
    let shown_as = entry.written_as.as_str();
    if crate::transform::is_transform_key(key) {
        if let Some(value) = &entry.value {
            values.transforms.insert(key.to_string(), value.clone());
        }
        return;
    }
    let Some(value) = &entry.value else {
        if let Key::Property(p) = properties::classify(key) {
            values.invalid.insert(p.name);
        }
        return;
    };
    match properties::classify(key) {
        Key::Property(p) => match parse_value(p, value) {
            Ok(Some(v)) => {
                values.table.insert(p.name, v);
            }
            Ok(None) => {}
            Err(message) => {
                values.invalid.insert(p.name);
                report.error(shown_as, message);
            }
        },
        Key::PassThrough(target, client_key) => {
            if let Some(reason) = properties::forbidden_pass_through(target, client_key) {
                report.error(
                    shown_as,
                    format!("cannot be set through pass-through: {reason}"),
                );
            } else {
                values.pass_through.entry(target).or_default().insert(
                    client_key.to_string(),
                    ClientValue::new(value.trim(), entry.secret),
                );
            }
        }
        Key::Unsupported(advice) => report.error(shown_as, format!("not supported: {advice}")),
        Key::Unknown(Some(suggestion)) => report.error(
            shown_as,
            format!("unknown property; did you mean \"{suggestion}\"?"),
        ),
        Key::Unknown(None) => report.error(
            shown_as,
            "unknown property; `lambda-sink plugin describe` lists every property, and librdkafka \
             properties go under kafka., consumer.override. or producer.override.",
        ),
        // Aliases were folded into their canonical key in pass 1.
        Key::Alias(_) => {}
    }
}

/// Parses `text` by the property's kind. `Ok(None)`: blank, meaning unset,
/// for kinds where blank has no meaning of its own.
pub(super) fn parse_value(p: &Property, text: &str) -> Result<Option<Parsed>, Invalid> {
    let text = text.trim();
    let value = || shown(text, p.is_secret());
    let valid = || {
        p.valid_values()
            .map(|v| format!("; valid values: {v}"))
            .unwrap_or_default()
    };
    match p.kind {
        Kind::String | Kind::Password => Ok(Some(Parsed::Text(text.to_string()))),
        _ if text.is_empty() => Ok(None),
        Kind::Int { min, max } => match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(Parsed::Int(n))),
            Ok(_) => Err(invalid!("{} is out of range{}", value(), valid())),
            Err(_) => Err(invalid!("{} is not an integer{}", value(), valid())),
        },
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(Parsed::Bool(true))),
            "false" => Ok(Some(Parsed::Bool(false))),
            _ => Err(invalid!("{} is not a boolean{}", value(), valid())),
        },
        Kind::List => Ok(Some(Parsed::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ))),
        Kind::Enum { values, aliases } => values
            .iter()
            .copied()
            .find(|v| v.eq_ignore_ascii_case(text))
            .or_else(|| {
                aliases
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(text))
                    .map(|(_, c)| *c)
            })
            .map(|c| Some(Parsed::Text(c.to_string())))
            .ok_or_else(|| invalid!("{} is not a valid value{}", value(), valid())),
    }
}

impl Values {
    pub(super) fn property(&self, name: &'static str) -> &'static Property {
        self.read.borrow_mut().insert(name);
        properties::find(name)
            .unwrap_or_else(|| panic!("BUG: property {name} is read but not in the table"))
    }

    /// The configured value, else the table's default (parsed like a value).
    pub(super) fn get(&self, name: &'static str) -> Option<Parsed> {
        let p = self.property(name);
        self.table.get(name).cloned().or_else(|| match p.default {
            properties::DefaultValue::Value(d) => parse_value(p, d).ok().flatten(),
            _ => None,
        })
    }

    /// Whether the property has a non-blank value (configured or default).
    pub(super) fn has_value(&self, name: &'static str) -> bool {
        match self.get(name) {
            Some(Parsed::Text(s)) => !s.is_empty(),
            Some(Parsed::List(items)) => !items.is_empty(),
            Some(_) => true,
            None => false,
        }
    }

    pub(super) fn is_set(&self, name: &'static str) -> bool {
        self.property(name);
        self.table.contains_key(name)
    }

    pub(super) fn is_invalid(&self, name: &'static str) -> bool {
        self.invalid.contains(name)
    }

    /// Text value; blank counts as unset.
    pub(super) fn text(&self, name: &'static str) -> Option<String> {
        match self.get(name) {
            Some(Parsed::Text(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// Text value where blank is meaningful (`Some("")`).
    pub(super) fn raw_text(&self, name: &'static str) -> Option<String> {
        match self.get(name) {
            Some(Parsed::Text(s)) => Some(s),
            _ => None,
        }
    }

    pub(super) fn secret(&self, name: &'static str) -> Option<Secret<String>> {
        debug_assert!(self.property(name).is_secret());
        self.text(name).map(Secret::new)
    }

    pub(super) fn int(&self, name: &'static str) -> Option<i64> {
        match self.get(name) {
            Some(Parsed::Int(n)) => Some(n),
            _ => None,
        }
    }

    pub(super) fn bool(&self, name: &'static str) -> bool {
        matches!(self.get(name), Some(Parsed::Bool(true)))
    }

    pub(super) fn list(&self, name: &'static str) -> Vec<String> {
        match self.get(name) {
            Some(Parsed::List(items)) => items,
            _ => Vec::new(),
        }
    }

    pub(super) fn choice<E>(&self, name: &'static str, from: fn(&str) -> Option<E>) -> Option<E> {
        self.text(name).and_then(|t| from(&t))
    }

    pub(super) fn pass_through(&self, target: PassThrough) -> ClientProperties {
        self.pass_through.get(&target).cloned().unwrap_or_default()
    }
}

pub(super) fn millis(n: i64) -> Duration {
    Duration::from_millis(u64::try_from(n).unwrap_or(0))
}

pub(super) fn usize_of(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// Checks a `host:port` (optionally `PROTOCOL://host:port`, IPv6 in brackets).
pub(super) fn check_host_port(s: &str) -> Result<(), Invalid> {
    let hostport = s.split_once("://").map_or(s, |(_, rest)| rest);
    let port = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split_once("]:").map(|(_, p)| p)
    } else {
        hostport.rsplit_once(':').map(|(_, p)| p)
    };
    let host_ok =
        !hostport.is_empty() && !hostport.starts_with(':') && !s.contains(char::is_whitespace);
    match port {
        Some(p) if host_ok && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(invalid!(
            "{} is not host:port (for example broker-1.example.com:9092)",
            shown(s, false)
        )),
    }
}

pub(super) fn check_url(property: &str, url: &str, report: &mut Report) -> bool {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty())
        && !url.contains(char::is_whitespace);
    if !ok {
        report.error(
            property,
            format!("{} is not an http:// or https:// URL", shown(url, false)),
        );
    }
    ok
}
