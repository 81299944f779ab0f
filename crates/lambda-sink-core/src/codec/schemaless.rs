//! JSON, STRING and BYTES keys and values (no Schema Registry), rendered as
//! SPEC §3 says.
//!
//! * `BYTES` → a base64 string; `STRING` → a JSON string (invalid UTF-8 is
//!   replaced by U+FFFD, as Java's `new String(bytes, UTF_8)` in Confluent's
//!   `StringConverter` does).
//! * `JSON` → by `record.converter.class`: `JsonKeyValueConverter` writes the
//!   text Java's `Map.toString()` gives (`{name=Kimberley Human}`),
//!   `EscapedJsonKeyValueConverter` the compact JSON text as a string,
//!   `NativeJsonKeyValueConverter` the JSON itself (validated, embedded as is).
//!   Bytes that are not JSON are a [`DecodeError`].

use std::borrow::Cow;

use base64::Engine;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::DecodeError;
use crate::codec::{DataFormat, RecordConverter};

/// Renders `bytes` of a schemaless `format` as JSON text: native JSON is
/// the input itself (validated and trimmed, not copied), the others are new.
///
/// # Errors
/// When a `JSON` key or value is not valid JSON.
///
/// # Panics
/// Never; schema formats are rejected with a `DecodeError` (they are not
/// schemaless), which callers route elsewhere before calling this.
pub fn render(
    format: DataFormat,
    converter: RecordConverter,
    bytes: &[u8],
) -> Result<Cow<'_, [u8]>, DecodeError> {
    match format {
        DataFormat::Bytes => Ok(Cow::Owned(json_string(
            &base64::engine::general_purpose::STANDARD.encode(bytes),
        ))),
        DataFormat::String => Ok(Cow::Owned(json_string(&String::from_utf8_lossy(bytes)))),
        DataFormat::Json => render_json(converter, bytes),
        DataFormat::Avro | DataFormat::JsonSr | DataFormat::Protobuf => Err(DecodeError::new(
            format!("{format} needs a Schema Registry decoder"),
        )),
    }
}

fn render_json(converter: RecordConverter, bytes: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    let invalid = |e: serde_json::Error| DecodeError::new(format!("not valid JSON: {e}"));
    match converter {
        RecordConverter::NativeJson => {
            serde_json::from_slice::<IgnoredAny>(bytes).map_err(invalid)?;
            Ok(Cow::Borrowed(bytes.trim_ascii()))
        }
        RecordConverter::EscapedJson | RecordConverter::Json => {
            let value: Value = serde_json::from_slice(bytes).map_err(invalid)?;
            Ok(Cow::Owned(convert(converter, &value)))
        }
    }
}

/// A parsed JSON key or value rendered as `record.converter.class` says
/// (what [`render`] does to `JSON` input after parsing it). Transforms use
/// it to render the record they changed exactly as an unchanged one.
pub fn convert(converter: RecordConverter, value: &Value) -> Vec<u8> {
    match converter {
        RecordConverter::NativeJson => value.to_string().into_bytes(),
        RecordConverter::EscapedJson => json_string(&value.to_string()),
        RecordConverter::Json => {
            let mut text = String::new();
            java_text(value, &mut text);
            json_string(&text)
        }
    }
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    write_json_string(&mut out, text);
    out
}

/// Appends `text` as a JSON string literal to `out`.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(out, text);
}

/// Java's `toString()` of what Kafka Connect's schemaless JsonConverter
/// produces: maps `{k=v, k2=v2}`, lists `[a, b]`, strings unquoted, numbers,
/// booleans and null as their text. Map entries keep the JSON's order.
pub fn java_text(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_text(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                java_text(v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(format: DataFormat, converter: RecordConverter, bytes: &[u8]) -> String {
        String::from_utf8(render(format, converter, bytes).unwrap().into_owned()).unwrap()
    }

    #[test]
    fn confluent_documented_renderings() {
        let v = br#"{"name": "Kimberley Human"}"#;
        assert_eq!(
            rendered(DataFormat::Json, RecordConverter::Json, v),
            r#""{name=Kimberley Human}""#
        );
        assert_eq!(
            rendered(DataFormat::Json, RecordConverter::EscapedJson, v),
            r#""{\"name\":\"Kimberley Human\"}""#
        );
        assert_eq!(
            rendered(DataFormat::Json, RecordConverter::NativeJson, v),
            r#"{"name": "Kimberley Human"}"#
        );
    }

    #[test]
    fn java_text_of_nested_values() {
        let cases: [(&str, &str); 8] = [
            (r#"{"a": {"b": 1}}"#, "{a={b=1}}"),
            ("[1, 2]", "[1, 2]"),
            (
                r#"{"s": "x y", "n": null, "t": true, "l": [1.5, "q"]}"#,
                "{s=x y, n=null, t=true, l=[1.5, q]}",
            ),
            (r#""plain""#, "plain"),
            ("42", "42"),
            ("12345678901234567890123", "12345678901234567890123"),
            (r#"{"z": 1, "a": 2}"#, "{z=1, a=2}"),
            ("{}", "{}"),
        ];
        for (json, java) in cases {
            let value: Value = serde_json::from_str(json).unwrap();
            let mut text = String::new();
            java_text(&value, &mut text);
            assert_eq!(text, java, "{json}");
        }
    }

    #[test]
    fn numbers_and_order_survive_escaping() {
        assert_eq!(
            rendered(
                DataFormat::Json,
                RecordConverter::EscapedJson,
                br#"{"z": 1.10, "a": 12345678901234567890123}"#
            ),
            r#""{\"z\":1.10,\"a\":12345678901234567890123}""#
        );
    }

    #[test]
    fn bytes_and_strings() {
        assert_eq!(
            rendered(DataFormat::Bytes, RecordConverter::Json, b"mykey"),
            r#""bXlrZXk=""#
        );
        assert_eq!(
            rendered(
                DataFormat::String,
                RecordConverter::Json,
                "héllo \"q\"".as_bytes()
            ),
            r#""héllo \"q\"""#
        );
        assert_eq!(
            rendered(DataFormat::String, RecordConverter::Json, &[0x66, 0xff]),
            "\"f\u{fffd}\""
        );
    }

    #[test]
    fn invalid_json_is_a_decode_error() {
        for converter in [
            RecordConverter::Json,
            RecordConverter::EscapedJson,
            RecordConverter::NativeJson,
        ] {
            let err = render(DataFormat::Json, converter, b"{\"a\": ").unwrap_err();
            assert!(
                err.message.starts_with("not valid JSON: EOF while parsing"),
                "{err}"
            );
            assert!(render(DataFormat::Json, converter, b"").is_err());
            assert!(
                render(DataFormat::Json, converter, b"{} {}").is_err(),
                "trailing data"
            );
        }
    }
}
