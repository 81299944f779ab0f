//! Protobuf keys and values: the registry's schema compiled at run time
//! (protox), the message chosen by the wire format's message indexes, decoded
//! (prost-reflect) and rendered as SPEC §3 says:
//!
//! field names as written in the `.proto`; every field present (scalars at
//! their default included); an unset message field → `null`; a field with
//! explicit presence (`optional`) that is unset → `null`; 64-bit integers →
//! numbers; enums → value names (an unknown number → the number); `bytes` →
//! base64; a `oneof` → only its set member; `map<K,V>` → an object with
//! string keys; `Timestamp` → epoch milliseconds (sub-millisecond part
//! truncated); wrappers → the wrapped value or `null`; `Struct`/`Value`/
//! `ListValue` → the JSON they denote; `Duration`, `FieldMask`, `Any`,
//! `Empty` → their proto3 JSON mapping.
//!
//! Schemas arrive as `.proto` text (Confluent's registry, with references for
//! imports) or as base64 of a serialized `FileDescriptorProto` (what
//! Confluent's clients register and `?format=serialized` returns); both work.

use crate::{Invalid, invalid};
use std::collections::HashMap;

use base64::Engine;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage, Value as Proto,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::{Map, Number, Value};

use super::DecodeError;
use super::wire;

/// File name given to the main schema when it arrives as `.proto` text,
/// which carries no name of its own.
const MAIN: &str = "lambda-sink-main.proto";

/// A compiled Protobuf schema (a file and its imports).
#[derive(Clone, Debug)]
pub struct ProtoSchema {
    pool: DescriptorPool,
    file: String,
}

/// Schema sources by file name, served to protox.
struct Sources(HashMap<String, File>);

impl FileResolver for Sources {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| protox::Error::file_not_found(name))
    }
}

/// A schema string as a protox file: base64 `FileDescriptorProto` when it
/// decodes as one, `.proto` text otherwise.
fn source(name: &str, schema: &str) -> Result<File, Invalid> {
    let trimmed = schema.trim();
    let looks_base64 = !trimmed.is_empty()
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if looks_base64
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(trimmed)
        && let Ok(fdp) = prost_types::FileDescriptorProto::decode(bytes.as_slice())
        && fdp.name.as_deref().is_some_and(|n| !n.is_empty())
    {
        return Ok(File::from_file_descriptor_proto(fdp));
    }
    File::from_source(name, schema).map_err(|e| invalid!("not a valid .proto schema: {e}"))
}

impl ProtoSchema {
    /// Compiles `schema`; `references` are its imports as `(import name,
    /// schema)`, transitively. Well-known `google/protobuf/*` imports need no
    /// reference.
    ///
    /// # Errors
    /// When a schema does not parse or an import is missing.
    pub fn compile(schema: &str, references: &[(&str, &str)]) -> Result<Self, Invalid> {
        let main = source(MAIN, schema)?;
        let main_name = main.name().to_string();
        let mut files = HashMap::new();
        for (name, text) in references {
            files.insert((*name).to_string(), source(name, text)?);
        }
        files.insert(main_name.clone(), main);
        let mut resolver = ChainFileResolver::new();
        resolver.add(Sources(files));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler
            .open_file(&main_name)
            .map_err(|e| invalid!("cannot compile the Protobuf schema: {e}"))?;
        Ok(Self {
            pool: compiler.descriptor_pool(),
            file: main_name,
        })
    }

    /// The message at `indexes` (top-level index, then nested indexes).
    fn message(&self, indexes: &[i32]) -> Result<MessageDescriptor, DecodeError> {
        let file = self
            .pool
            .get_file_by_name(&self.file)
            .ok_or_else(|| DecodeError::new("the compiled schema lost its main file"))?;
        let not_found = || {
            DecodeError::new(format!(
                "message indexes {indexes:?} name no message in the writer schema"
            ))
        };
        let mut iter = indexes
            .iter()
            .map(|i| usize::try_from(*i).unwrap_or(usize::MAX));
        let first = iter.next().ok_or_else(not_found)?;
        let mut message = file.messages().nth(first).ok_or_else(not_found)?;
        for index in iter {
            let child = message.child_messages().nth(index);
            message = child.ok_or_else(not_found)?;
        }
        Ok(message)
    }

    /// Decodes the bytes after the Confluent header (message indexes, then
    /// the message) and renders them as JSON.
    ///
    /// # Errors
    /// When the indexes or the message bytes do not fit the schema.
    pub fn decode(&self, payload: &[u8]) -> Result<Value, DecodeError> {
        let (indexes, bytes) = wire::message_indexes(payload)?;
        let descriptor = self.message(&indexes)?;
        let message = DynamicMessage::decode(descriptor, bytes).map_err(|e| {
            DecodeError::new(format!(
                "not a valid Protobuf message for the writer schema: {e}"
            ))
        })?;
        Ok(self.message_json(&message))
    }

    fn message_json(&self, m: &DynamicMessage) -> Value {
        let d = m.descriptor();
        match d.full_name() {
            "google.protobuf.Timestamp" => {
                let (s, n) = (int_field(m, "seconds"), int_field(m, "nanos"));
                return Value::from(s.saturating_mul(1000).saturating_add(n / 1_000_000));
            }
            "google.protobuf.Duration" => {
                return duration(int_field(m, "seconds"), int_field(m, "nanos"));
            }
            "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue" => {
                return d
                    .get_field_by_name("value")
                    .map_or(Value::Null, |f| self.single(&f, &m.get_field(&f)));
            }
            "google.protobuf.Struct" => return self.struct_json(m),
            "google.protobuf.Value" => return self.value_json(m),
            "google.protobuf.ListValue" => return self.list_value_json(m),
            "google.protobuf.FieldMask" => {
                let paths = d
                    .get_field_by_name("paths")
                    .map(|f| m.get_field(&f).into_owned());
                let list = match paths {
                    Some(Proto::List(items)) => items
                        .iter()
                        .filter_map(|p| p.as_str().map(camel_case))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => String::new(),
                };
                return Value::String(list);
            }
            "google.protobuf.Any" => return self.any_json(m),
            _ => {}
        }
        let mut out = Map::new();
        for field in d.fields() {
            if let Some(oneof) = field.containing_oneof()
                && !oneof.is_synthetic()
            {
                // A real oneof: only its set member, under its own name.
                if m.has_field(&field) {
                    out.insert(
                        field.name().to_string(),
                        self.field(&field, &m.get_field(&field)),
                    );
                }
                continue;
            }
            let unset_with_presence = field.supports_presence() && !m.has_field(&field);
            let value = if unset_with_presence {
                Value::Null
            } else {
                self.field(&field, &m.get_field(&field))
            };
            out.insert(field.name().to_string(), value);
        }
        Value::Object(out)
    }

    fn field(&self, field: &FieldDescriptor, value: &Proto) -> Value {
        match value {
            Proto::List(items) => {
                Value::Array(items.iter().map(|v| self.single(field, v)).collect())
            }
            Proto::Map(entries) => {
                let value_field = match field.kind() {
                    Kind::Message(entry) => Some(entry.map_entry_value_field()),
                    _ => None,
                };
                let mut pairs: Vec<(String, Value)> = entries
                    .iter()
                    .map(|(k, v)| {
                        let value = value_field
                            .as_ref()
                            .map_or(Value::Null, |f| self.single(f, v));
                        (map_key(k), value)
                    })
                    .collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(pairs.into_iter().collect())
            }
            single => self.single(field, single),
        }
    }

    fn single(&self, field: &FieldDescriptor, value: &Proto) -> Value {
        match value {
            Proto::Bool(b) => Value::Bool(*b),
            Proto::I32(n) => Value::from(*n),
            Proto::I64(n) => Value::from(*n),
            Proto::U32(n) => Value::from(*n),
            Proto::U64(n) => Value::from(*n),
            Proto::F32(f) => float(f64::from(*f), &f.to_string()),
            Proto::F64(f) => float(*f, &f.to_string()),
            Proto::String(s) => Value::String(s.clone()),
            Proto::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            Proto::EnumNumber(n) => match field.kind() {
                Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => Value::Null,
                Kind::Enum(e) => e
                    .get_value(*n)
                    .map_or_else(|| Value::from(*n), |v| Value::String(v.name().to_string())),
                _ => Value::from(*n),
            },
            Proto::Message(m) => self.message_json(m),
            Proto::List(_) | Proto::Map(_) => self.field(field, value),
        }
    }

    fn struct_json(&self, m: &DynamicMessage) -> Value {
        let Some(fields) = m.descriptor().get_field_by_name("fields") else {
            return Value::Object(Map::new());
        };
        match m.get_field(&fields).as_ref() {
            Proto::Map(entries) => {
                let mut pairs: Vec<(String, Value)> = entries
                    .iter()
                    .map(|(k, v)| {
                        let value = match v {
                            Proto::Message(inner) => self.value_json(inner),
                            _ => Value::Null,
                        };
                        (map_key(k), value)
                    })
                    .collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(pairs.into_iter().collect())
            }
            _ => Value::Object(Map::new()),
        }
    }

    fn value_json(&self, m: &DynamicMessage) -> Value {
        let d = m.descriptor();
        for field in d.fields() {
            if !m.has_field(&field) {
                continue;
            }
            let v = m.get_field(&field);
            return match (field.name(), v.as_ref()) {
                ("null_value", _) => Value::Null,
                ("number_value", Proto::F64(f)) => float(*f, &f.to_string()),
                ("string_value", Proto::String(s)) => Value::String(s.clone()),
                ("bool_value", Proto::Bool(b)) => Value::Bool(*b),
                ("struct_value", Proto::Message(s)) => self.struct_json(s),
                ("list_value", Proto::Message(l)) => self.list_value_json(l),
                _ => Value::Null,
            };
        }
        Value::Null
    }

    fn list_value_json(&self, m: &DynamicMessage) -> Value {
        let Some(values) = m.descriptor().get_field_by_name("values") else {
            return Value::Array(Vec::new());
        };
        match m.get_field(&values).as_ref() {
            Proto::List(items) => Value::Array(
                items
                    .iter()
                    .map(|v| match v {
                        Proto::Message(inner) => self.value_json(inner),
                        _ => Value::Null,
                    })
                    .collect(),
            ),
            _ => Value::Array(Vec::new()),
        }
    }

    fn any_json(&self, m: &DynamicMessage) -> Value {
        let text = |name: &str| {
            m.descriptor()
                .get_field_by_name(name)
                .map(|f| m.get_field(&f).into_owned())
        };
        let type_url = match text("type_url") {
            Some(Proto::String(s)) => s,
            _ => String::new(),
        };
        let bytes = match text("value") {
            Some(Proto::Bytes(b)) => b.to_vec(),
            _ => Vec::new(),
        };
        let type_name = type_url.rsplit('/').next().unwrap_or_default();
        let decoded = self
            .pool
            .get_message_by_name(type_name)
            .and_then(|d| DynamicMessage::decode(d, bytes.as_slice()).ok());
        let mut out = Map::new();
        out.insert("@type".into(), Value::String(type_url.clone()));
        match decoded.map(|inner| self.message_json(&inner)) {
            Some(Value::Object(fields)) => out.extend(fields),
            Some(other) => {
                out.insert("value".into(), other);
            }
            None => {
                out.insert(
                    "value".into(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
                );
            }
        }
        Value::Object(out)
    }
}

fn int_field(m: &DynamicMessage, name: &str) -> i64 {
    let Some(f) = m.descriptor().get_field_by_name(name) else {
        return 0;
    };
    match m.get_field(&f).as_ref() {
        Proto::I64(n) => *n,
        Proto::I32(n) => i64::from(*n),
        _ => 0,
    }
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

fn float(f: f64, text: &str) -> Value {
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        text.parse::<Number>().map_or(Value::Null, Value::Number)
    }
}

/// proto3 JSON for a Duration: seconds with 0, 3, 6 or 9 fractional digits.
fn duration(seconds: i64, nanos: i64) -> Value {
    let negative = seconds < 0 || nanos < 0;
    let (s, n) = (seconds.unsigned_abs(), nanos.unsigned_abs());
    let sign = if negative { "-" } else { "" };
    let text = if n == 0 {
        format!("{sign}{s}s")
    } else if n % 1_000_000 == 0 {
        format!("{sign}{s}.{:03}s", n / 1_000_000)
    } else if n % 1_000 == 0 {
        format!("{sign}{s}.{:06}s", n / 1_000)
    } else {
        format!("{sign}{s}.{n:09}s")
    };
    Value::String(text)
}

/// `foo_bar` → `fooBar` (FieldMask paths in proto3 JSON).
fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_masks() {
        assert_eq!(duration(1, 500_000_000), Value::String("1.500s".into()));
        assert_eq!(duration(3, 0), Value::String("3s".into()));
        assert_eq!(duration(0, 1), Value::String("0.000000001s".into()));
        assert_eq!(duration(-2, -250_000), Value::String("-2.000250s".into()));
        assert_eq!(camel_case("user.display_name"), "user.displayName");
    }

    #[test]
    fn compile_errors_and_bad_indexes() {
        assert!(
            ProtoSchema::compile("syntax = \"proto3\"; message {", &[])
                .unwrap_err()
                .reason()
                .starts_with("not a valid .proto schema")
        );
        let missing = ProtoSchema::compile(
            "syntax = \"proto3\"; import \"other.proto\"; message A { Other o = 1; }",
            &[],
        );
        assert!(
            missing.unwrap_err().reason().contains("other.proto"),
            "names the missing import"
        );
        let s =
            ProtoSchema::compile("syntax = \"proto3\"; message A { int32 x = 1; }", &[]).unwrap();
        assert_eq!(
            s.decode(&[0, 0x08, 0x05]).unwrap(),
            serde_json::json!({"x": 5})
        );
        assert!(
            s.decode(&[2, 2, 0x08])
                .unwrap_err()
                .message
                .contains("name no message")
        );
        assert!(
            s.decode(&[0, 0x08])
                .unwrap_err()
                .message
                .contains("not a valid Protobuf message")
        );
    }
}
