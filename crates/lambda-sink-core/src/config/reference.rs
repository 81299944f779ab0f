//! Resolving secret references in property values: `${env:NAME}` and
//! `${file:/path/to/file.properties:key}` (Kafka's EnvVar and File config
//! providers' syntax).
//!
//! A reference is `${provider:rest}` where `provider` is a word. Text such as
//! `success-${connector}` (no colon) is not a reference and is left alone.
//! Error messages name the reference, never a resolved value.

use crate::{Invalid, invalid};
use std::collections::HashMap;
use std::path::Path;

/// Resolves references, reading each referenced file at most once.
pub struct Resolver<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    files: HashMap<String, Result<HashMap<String, String>, Invalid>>,
}

impl<'a> Resolver<'a> {
    /// A resolver reading environment variables through `env`.
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            env,
            files: HashMap::new(),
        }
    }

    /// `value` with every reference replaced.
    ///
    /// # Errors
    /// A message naming the first reference that cannot be resolved and why.
    pub fn resolve(&mut self, value: &str) -> Result<String, Invalid> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let body = &after[..end];
            let Some((provider, target)) = body
                .split_once(':')
                .filter(|(p, _)| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphabetic()))
            else {
                // Not a reference: keep the text and carry on after "${".
                out.push_str(&rest[..start + 2]);
                rest = after;
                continue;
            };
            out.push_str(&rest[..start]);
            out.push_str(&self.lookup(provider, target, body)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(&mut self, provider: &str, target: &str, body: &str) -> Result<String, Invalid> {
        match provider {
            "env" => (self.env)(target).ok_or_else(|| {
                invalid!("${{{body}}} refers to environment variable {target}, which is not set")
            }),
            "file" => {
                let Some((path, key)) = target
                    .rsplit_once(':')
                    .filter(|(p, k)| !p.is_empty() && !k.is_empty())
                else {
                    return Err(invalid!(
                        "${{{body}}} must name a file and a key: ${{file:/path/to/file.properties:key}}"
                    ));
                };
                let file = self
                    .files
                    .entry(path.to_string())
                    .or_insert_with(|| read_properties(Path::new(path)));
                match file {
                    Err(e) => Err(invalid!("${{{body}}}: {e}")),
                    Ok(map) => map
                        .get(key)
                        .cloned()
                        .ok_or_else(|| invalid!("${{{body}}}: {path} has no key \"{key}\"")),
                }
            }
            other => Err(invalid!(
                "${{{body}}} uses unknown config provider \"{other}\"; \
                 use ${{env:NAME}} or ${{file:/path/to/file.properties:key}}"
            )),
        }
    }
}

fn read_properties(path: &Path) -> Result<HashMap<String, String>, Invalid> {
    let text = std::fs::read(path).map_err(|e| invalid!("cannot read {}: {e}", path.display()))?;
    java_properties::read(text.as_slice())
        .map_err(|e| invalid!("{} is not a valid .properties file: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "API_SECRET").then(|| "s3cr3t".to_string())
    }

    #[test]
    fn env_references_resolve_inside_text() {
        let mut r = Resolver::new(&env);
        assert_eq!(r.resolve("${env:API_SECRET}").unwrap(), "s3cr3t");
        assert_eq!(r.resolve("a-${env:API_SECRET}-b").unwrap(), "a-s3cr3t-b");
        assert_eq!(r.resolve("plain").unwrap(), "plain");
    }

    #[test]
    fn non_references_are_left_alone() {
        let mut r = Resolver::new(&env);
        assert_eq!(
            r.resolve("success-${connector}").unwrap(),
            "success-${connector}"
        );
        assert_eq!(r.resolve("${unterminated").unwrap(), "${unterminated");
        assert_eq!(r.resolve("${a b:c}").unwrap(), "${a b:c}");
    }

    #[test]
    fn missing_env_is_named() {
        let mut r = Resolver::new(&env);
        assert_eq!(
            r.resolve("${env:NOPE}").unwrap_err().reason(),
            "${env:NOPE} refers to environment variable NOPE, which is not set"
        );
    }

    #[test]
    fn file_references() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.properties");
        std::fs::write(&path, "api.secret=from-file\nother = x\n").unwrap();
        let p = path.display();
        let mut r = Resolver::new(&env);
        assert_eq!(
            r.resolve(&format!("${{file:{p}:api.secret}}")).unwrap(),
            "from-file"
        );
        assert_eq!(
            r.resolve(&format!("${{file:{p}:missing}}"))
                .unwrap_err()
                .reason(),
            format!("${{file:{p}:missing}}: {p} has no key \"missing\"")
        );
        let err = r
            .resolve("${file:/nonexistent/s.properties:k}")
            .unwrap_err();
        assert!(
            err.reason().starts_with(
                "${file:/nonexistent/s.properties:k}: cannot read /nonexistent/s.properties: "
            ),
            "{err}"
        );
        assert!(
            r.resolve("${file:nokey}")
                .unwrap_err()
                .reason()
                .contains("must name a file and a key")
        );
    }

    #[test]
    fn unknown_provider() {
        let mut r = Resolver::new(&env);
        assert!(
            r.resolve("${vault:x}")
                .unwrap_err()
                .reason()
                .contains("unknown config provider \"vault\"")
        );
    }
}
