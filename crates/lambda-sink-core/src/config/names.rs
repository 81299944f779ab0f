//! Validated names: Kafka topics, the connector id, Lambda function references.
//!
//! Each newtype can only be built through its parser, so a value of the type is
//! proof that the name is legal where it will be used.

use crate::{Invalid, invalid};
use std::fmt;

/// A legal Kafka topic name: 1–249 characters of `[A-Za-z0-9._-]`, not `.` or `..`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(String);

impl TopicName {
    /// Longest topic name Kafka accepts.
    pub const MAX_LEN: usize = 249;

    /// Parses a topic name, explaining what is wrong when it is not legal.
    ///
    /// # Errors
    /// A message naming the rule the name breaks.
    pub fn parse(name: &str) -> Result<Self, Invalid> {
        if name.is_empty() {
            return Err(Invalid::new("a topic name cannot be empty"));
        }
        if name == "." || name == ".." {
            return Err(invalid!("\"{name}\" is not a legal topic name"));
        }
        if name.len() > Self::MAX_LEN {
            return Err(invalid!(
                "a topic name has at most {} characters, this one has {}",
                Self::MAX_LEN,
                name.len()
            ));
        }
        if let Some(bad) = name.chars().find(|c| !is_topic_char(*c)) {
            return Err(invalid!(
                "topic name \"{name}\" contains {bad:?}; only letters, digits, '.', '_' and '-' are allowed"
            ));
        }
        Ok(Self(name.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_topic_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The connector id: names the outcome topics (`success-<id>`, …) and the
/// consumer group (`connect-<id>`). Always made of topic-legal characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectorId(String);

impl ConnectorId {
    /// Derives an id from any string: characters outside `[A-Za-z0-9._-]`
    /// become `_`. Returns `None` for an empty input.
    pub fn sanitize(raw: &str) -> Option<Self> {
        if raw.is_empty() {
            return None;
        }
        Some(Self(
            raw.chars()
                .map(|c| if is_topic_char(c) { c } else { '_' })
                .collect(),
        ))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The consumer group every copy of this connector joins.
    pub fn group_id(&self) -> String {
        format!("connect-{}", self.0)
    }
}

impl fmt::Display for ConnectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Lambda function to invoke: a name, partial ARN or full ARN, with an
/// optional qualifier (version number, alias or `$LATEST`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionRef {
    function: String,
    qualifier: Option<String>,
}

impl FunctionRef {
    /// Parses `name`, `name:qualifier`, `account:function:name[:qualifier]` or
    /// `arn:partition:lambda:region:account:function:name[:qualifier]`.
    ///
    /// # Errors
    /// A message saying which part is malformed and what the accepted forms are.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        const FORMS: &str = "expected a function name (my-function), a name with a \
            version or alias (my-function:prod), or an ARN \
            (arn:aws:lambda:us-east-1:123456789012:function:my-function[:prod])";
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(invalid!("the function name is empty; {FORMS}"));
        }
        let parts: Vec<&str> = raw.split(':').collect();
        let (function, name, qualifier) = if raw.starts_with("arn:") {
            if !(7..=8).contains(&parts.len())
                || parts[2] != "lambda"
                || parts[5] != "function"
                || !parts[1].starts_with("aws")
            {
                return Err(invalid!("\"{raw}\" is not a Lambda function ARN; {FORMS}"));
            }
            if !is_account(parts[4]) {
                return Err(invalid!(
                    "\"{raw}\": the account id \"{}\" must be 12 digits",
                    parts[4]
                ));
            }
            (parts[..7].join(":"), parts[6], parts.get(7).copied())
        } else if parts.len() >= 3 && parts[1] == "function" {
            if parts.len() > 4 || !is_account(parts[0]) {
                return Err(invalid!("\"{raw}\" is not a partial function ARN; {FORMS}"));
            }
            (parts[..3].join(":"), parts[2], parts.get(3).copied())
        } else if parts.len() <= 2 {
            (parts[0].to_string(), parts[0], parts.get(1).copied())
        } else {
            return Err(invalid!("\"{raw}\" has too many ':' separators; {FORMS}"));
        };
        if name.is_empty() || name.len() > 64 || !name.chars().all(is_name_char) {
            return Err(invalid!(
                "\"{name}\" is not a valid function name: use 1 to 64 letters, digits, '-' or '_'; {FORMS}"
            ));
        }
        if let Some(q) = qualifier
            && (q.is_empty() || q.len() > 128 || !(q == "$LATEST" || q.chars().all(is_name_char)))
        {
            return Err(invalid!(
                "\"{q}\" is not a valid qualifier: use a version number, an alias (letters, digits, '-', '_') or $LATEST"
            ));
        }
        Ok(Self {
            function,
            qualifier: qualifier.map(str::to_string),
        })
    }

    /// The function name or ARN, without the qualifier.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The version or alias, if one was given.
    pub fn qualifier(&self) -> Option<&str> {
        self.qualifier.as_deref()
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.qualifier {
            Some(q) => write!(f, "{}:{q}", self.function),
            None => f.write_str(&self.function),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert!(TopicName::parse("orders.v1_eu-west").is_ok());
        assert_eq!(
            TopicName::parse("").unwrap_err().reason(),
            "a topic name cannot be empty"
        );
        assert_eq!(
            TopicName::parse("..").unwrap_err().reason(),
            "\"..\" is not a legal topic name"
        );
        assert_eq!(
            TopicName::parse("a b").unwrap_err().reason(),
            "topic name \"a b\" contains ' '; only letters, digits, '.', '_' and '-' are allowed"
        );
        assert!(
            TopicName::parse(&"x".repeat(250))
                .unwrap_err()
                .reason()
                .contains("at most 249")
        );
        assert!(TopicName::parse(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn connector_id_replaces_illegal_characters() {
        let id = ConnectorId::sanitize("My Sink/1").unwrap();
        assert_eq!(id.as_str(), "My_Sink_1");
        assert_eq!(id.group_id(), "connect-My_Sink_1");
        assert!(ConnectorId::sanitize("").is_none());
    }

    #[test]
    fn function_refs() {
        let cases = [
            ("my-fn", "my-fn", None),
            ("my-fn:prod", "my-fn", Some("prod")),
            ("my-fn:7", "my-fn", Some("7")),
            ("my-fn:$LATEST", "my-fn", Some("$LATEST")),
            (
                "123456789012:function:my-fn",
                "123456789012:function:my-fn",
                None,
            ),
            (
                "123456789012:function:my-fn:v2",
                "123456789012:function:my-fn",
                Some("v2"),
            ),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
                "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
                None,
            ),
            (
                "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn:live",
                "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn",
                Some("live"),
            ),
        ];
        for (raw, function, qualifier) in cases {
            let f = FunctionRef::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(f.function(), function, "{raw}");
            assert_eq!(f.qualifier(), qualifier, "{raw}");
            assert_eq!(f.to_string(), raw);
        }
    }

    #[test]
    fn bad_function_refs_say_what_is_wrong() {
        for (raw, needle) in [
            ("", "the function name is empty"),
            ("my fn", "\"my fn\" is not a valid function name"),
            ("my-fn:", "\"\" is not a valid qualifier"),
            ("a:b:c:d:e", "too many ':'"),
            ("arn:aws:s3:::bucket", "is not a Lambda function ARN"),
            (
                "arn:aws:lambda:us-east-1:123:function:f",
                "must be 12 digits",
            ),
            ("12:function:f", "is not a partial function ARN"),
        ] {
            let err = FunctionRef::parse(raw).unwrap_err();
            assert!(err.reason().contains(needle), "{raw}: {err}");
        }
        assert!(FunctionRef::parse(&"f".repeat(65)).is_err());
    }
}
