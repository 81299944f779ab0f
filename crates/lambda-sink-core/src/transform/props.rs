//! [`Props`]: one transform's or predicate's properties
//! (`transforms.<alias>.*`), read by typed getters that report every
//! problem against the full key, as the rest of the config does; and
//! [`PropertyDoc`], how the catalog describes each.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use crate::Problem;

/// One property of a transform or predicate.
#[derive(Debug)]
pub struct PropertyDoc {
    /// The key under `transforms.<alias>.`.
    pub name: &'static str,
    /// Connect's type name (`STRING`, `LIST`, `BOOLEAN`, `INT`).
    pub kind: &'static str,
    /// Whether it must be set.
    pub required: bool,
    /// The default, when it has one.
    pub default: Option<&'static str>,
    /// What it does.
    pub doc: &'static str,
}

/// The properties under `<root>.<alias>.`, and the problems found reading them.
#[derive(Debug)]
pub struct Props<'k> {
    root: &'static str,
    alias: String,
    keys: &'k BTreeMap<String, String>,
    read: BTreeSet<String>,
    problems: Vec<Problem>,
    class: Option<&'static str>,
}

impl<'k> Props<'k> {
    /// The properties of `alias` under `root` (`transforms` or `predicates`).
    pub fn new(root: &'static str, alias: &str, keys: &'k BTreeMap<String, String>) -> Self {
        Self {
            root,
            alias: alias.to_string(),
            keys,
            read: BTreeSet::new(),
            problems: Vec::new(),
            class: None,
        }
    }

    /// The full key of property `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}.{}.{name}", self.root, self.alias)
    }

    /// Reports a problem with property `name`.
    pub fn problem(&mut self, name: &str, message: impl Into<String>) {
        let key = self.key(name);
        self.problems.push(Problem::new(key, message));
    }

    /// Whether property `name` is present (even blank).
    pub fn was_set(&self, name: &str) -> bool {
        self.keys.contains_key(&self.key(name))
    }

    /// The value of `name` as written, marking it known.
    pub fn take_raw(&mut self, name: &str) -> Option<String> {
        self.read.insert(name.to_string());
        self.keys.get(&self.key(name)).cloned()
    }

    /// An optional text property; blank is unset.
    pub fn string(&mut self, name: &str) -> Option<String> {
        self.take_raw(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A text property kept exactly as written (spaces included); blank is
    /// a value of its own.
    pub fn verbatim(&mut self, name: &str) -> Option<String> {
        self.take_raw(name)
    }

    /// A required text property.
    pub fn required(&mut self, name: &str) -> Option<String> {
        let value = self.string(name);
        if value.is_none() {
            self.missing(name);
        }
        value
    }

    fn missing(&mut self, name: &str) {
        let key = self.key(name);
        self.problem(
            name,
            format!("Missing required configuration \"{key}\" which has no default value."),
        );
    }

    /// A comma-separated list; unset is empty.
    pub fn list(&mut self, name: &str) -> Vec<String> {
        self.take_raw(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A required, non-empty list.
    pub fn required_list(&mut self, name: &str) -> Option<Vec<String>> {
        let present = self.was_set(name);
        let list = self.list(name);
        if list.is_empty() {
            if present {
                self.problem(name, "must list at least one entry");
            } else {
                self.missing(name);
            }
            return None;
        }
        Some(list)
    }

    /// One of `valid` (compared ignoring ASCII case when `any_case`), or
    /// `default` when unset; `None` after reporting a bad or missing value.
    pub fn choice(
        &mut self,
        name: &str,
        valid: &'static [&'static str],
        default: Option<&'static str>,
        any_case: bool,
    ) -> Option<&'static str> {
        let Some(value) = self.string(name) else {
            if default.is_none() {
                self.missing(name);
            }
            return default;
        };
        let found = valid.iter().find(|v| {
            if any_case {
                v.eq_ignore_ascii_case(&value)
            } else {
                **v == value
            }
        });
        if found.is_none() {
            self.problem(
                name,
                format!(
                    "{value:?} is not a valid value; valid values: {}",
                    valid.join(", ")
                ),
            );
        }
        found.copied()
    }

    /// A boolean, `default` when unset.
    pub fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.choice(
            name,
            &["true", "false"],
            Some(if default { "true" } else { "false" }),
            true,
        ) {
            Some(v) => v == "true",
            None => default,
        }
    }

    /// An integer, `default` when unset.
    pub fn int(&mut self, name: &str, default: Option<i64>) -> Option<i64> {
        match self.string(name) {
            None => default,
            Some(v) => match v.parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    self.problem(name, format!("{v:?} is not an integer"));
                    None
                }
            },
        }
    }

    /// A regular expression that must match a whole string (Java's
    /// `Matcher.matches`).
    pub fn full_match_regex(&mut self, name: &str) -> Option<Regex> {
        let pattern = self.required(name)?;
        match Regex::new(&format!("^(?:{pattern})$")) {
            Ok(r) => Some(r),
            Err(e) => {
                self.problem(
                    name,
                    format!("{pattern:?} is not a valid regular expression: {e}"),
                );
                None
            }
        }
    }

    /// Records the class being configured and its declared properties:
    /// they are known even if a failed build did not read them.
    pub fn set_class(&mut self, class: &'static str, known: &[PropertyDoc]) {
        self.class = Some(class);
        self.read.extend(known.iter().map(|p| p.name.to_string()));
    }

    /// Every problem found, plus one per key under this alias that no
    /// getter read (a typo, or a property of another class), with the
    /// closest known name.
    pub fn finish(mut self) -> Vec<Problem> {
        let prefix = format!("{}.{}.", self.root, self.alias);
        let unread: Vec<String> = self
            .keys
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|name| !self.read.contains(*name))
            .map(str::to_string)
            .collect();
        for name in unread {
            let suggestion = self
                .read
                .iter()
                .map(|known| (known, strsim::levenshtein(&name, known)))
                .min_by_key(|(_, d)| *d)
                .filter(|(_, d)| *d <= 3)
                .map(|(known, _)| format!("; did you mean \"{prefix}{known}\"?"))
                .unwrap_or_default();
            let of = self.class.map_or_else(String::new, |c| format!(" of {c}"));
            self.problem(&name, format!("unknown property{of}{suggestion}"));
        }
        self.problems
    }
}
