//! The configured chain of transforms ([`Chain`]): built from the
//! `transforms` / `predicates` properties with every problem reported, and
//! applied to a record stage by stage.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog;
use super::props::Props;
use super::record::{Predicate, Record, Transform, TransformError};
use crate::Problem;

/// Most transforms a connector may chain (Confluent Cloud's limit).
pub const MAX_TRANSFORMS: usize = 10;

/// One configured transform with its optional predicate.
#[derive(Debug)]
struct Stage {
    alias: String,
    class: &'static str,
    transform: Box<dyn Transform>,
    /// The predicate and `negate`.
    predicate: Option<(Arc<dyn Predicate>, bool)>,
}

/// The configured chain of transforms, in `transforms` order.
#[derive(Debug, Default)]
pub struct Chain {
    stages: Vec<Stage>,
}

impl Chain {
    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The aliases, in order.
    pub fn aliases(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.alias.as_str()).collect()
    }

    /// Applies every stage in order: a stage applies iff it has no
    /// predicate, or `negate XOR predicate.test(record)` (Connect's rule).
    /// `Ok(None)`: a transform dropped the record.
    ///
    /// # Errors
    /// The first transform that failed on the record.
    pub fn apply(&self, mut record: Record) -> Result<Option<Record>, TransformError> {
        for stage in &self.stages {
            if let Some((predicate, negate)) = &stage.predicate
                && *negate == predicate.test(&record)
            {
                continue;
            }
            match stage.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(message) => {
                    return Err(TransformError {
                        class: stage.class,
                        alias: stage.alias.clone(),
                        message: message.into(),
                    });
                }
            }
        }
        Ok(Some(record))
    }

    /// Builds the chain from the `transforms*` and `predicates*` keys of a
    /// connector config (`keys`: key → value, nothing else in it).
    ///
    /// # Errors
    /// Every problem found, each naming the key to fix.
    pub fn configure(keys: &BTreeMap<String, String>) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let transforms = aliases(keys, "transforms", &mut problems);
        let predicate_aliases = aliases(keys, "predicates", &mut problems);
        if transforms.len() > MAX_TRANSFORMS {
            problems.push(Problem::new(
                "transforms",
                format!(
                    "{} transforms listed; at most {MAX_TRANSFORMS} per connector (Confluent Cloud's limit)",
                    transforms.len()
                ),
            ));
        }
        unlisted_keys(keys, &transforms, &predicate_aliases, &mut problems);
        let mut predicates: BTreeMap<&str, Arc<dyn Predicate>> = BTreeMap::new();
        for alias in &predicate_aliases {
            let mut props = Props::new("predicates", alias, keys);
            if let Some(p) = catalog::build_predicate(&mut props) {
                predicates.insert(alias, p);
            }
            problems.extend(props.finish());
        }
        let mut stages = Vec::new();
        for alias in &transforms {
            let mut props = Props::new("transforms", alias, keys);
            let predicate = props.take_raw("predicate");
            let predicate = stage_predicate(
                &mut props,
                alias,
                predicate,
                &predicates,
                &predicate_aliases,
            );
            let built = catalog::build_transform(&mut props);
            problems.extend(props.finish());
            if let Some((class, transform)) = built {
                stages.push(Stage {
                    alias: alias.clone(),
                    class,
                    transform,
                    predicate,
                });
            }
        }
        if problems.is_empty() {
            Ok(Self { stages })
        } else {
            Err(problems)
        }
    }
}

/// Keys under an alias that is not listed are mistakes.
fn unlisted_keys(
    keys: &BTreeMap<String, String>,
    transforms: &[String],
    predicates: &[String],
    problems: &mut Vec<Problem>,
) {
    for key in keys.keys() {
        for (root, listed) in [("transforms", transforms), ("predicates", predicates)] {
            if let Some(rest) = key.strip_prefix(root).and_then(|r| r.strip_prefix('.'))
                && !listed.iter().any(|a| {
                    rest.strip_prefix(a.as_str())
                        .is_some_and(|r| r.starts_with('.'))
                })
            {
                let alias = rest.split('.').next().unwrap_or_default();
                problems.push(Problem::new(
                    key,
                    format!(
                        "alias {alias:?} is not listed in `{root}`; add it there or remove this key"
                    ),
                ));
            }
        }
    }
}

/// A transform's `predicate` (one of the `predicates` built) and
/// `negate`, as Connect checks them.
fn stage_predicate(
    props: &mut Props<'_>,
    alias: &str,
    predicate: Option<String>,
    predicates: &BTreeMap<&str, Arc<dyn Predicate>>,
    predicate_aliases: &[String],
) -> Option<(Arc<dyn Predicate>, bool)> {
    let negate = props.take_raw("negate");
    let negate = match negate.as_deref().map(str::trim) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            props.problem(
                "negate",
                format!("{v:?} is not a boolean; valid values: true, false"),
            );
            false
        }
    };
    match predicate.as_deref().map(str::trim) {
        None | Some("") => {
            if props.was_set("negate") {
                props.problem(
                    "negate",
                    format!("Config 'transforms.{alias}.negate' was provided but there is no config 'transforms.{alias}.predicate' defining a predicate to be negated."),
                );
            }
            None
        }
        Some(name) => match predicates.get(name) {
            Some(p) => Some((p.clone(), negate)),
            None => {
                if !predicate_aliases.iter().any(|a| a == name) {
                    props.problem(
                        "predicate",
                        format!("predicate {name:?} is not listed in `predicates`"),
                    );
                }
                // A listed predicate that failed to build was reported.
                None
            }
        },
    }
}

/// The aliases listed under `root` (`transforms` or `predicates`): trimmed,
/// non-empty, each once.
fn aliases(
    keys: &BTreeMap<String, String>,
    root: &str,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let Some(list) = keys.get(root) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for alias in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if out.iter().any(|a| a == alias) {
            problems.push(Problem::new(
                root,
                format!(
                    "alias {alias:?} is listed twice; each alias names one {}",
                    &root[..root.len() - 1]
                ),
            ));
        } else if alias.contains('.') {
            problems.push(Problem::new(
                root,
                format!("alias {alias:?} contains a '.'; aliases are simple names"),
            ));
        } else {
            out.push(alias.to_string());
        }
    }
    out
}

/// Whether `key` belongs to the transforms or predicates configuration.
pub fn is_transform_key(key: &str) -> bool {
    ["transforms", "predicates"].iter().any(|root| {
        key == *root
            || key
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}
