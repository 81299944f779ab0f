//! What a decoded record becomes before it is batched ([`element`]): its
//! payload element, *filtered* (resolved without an invocation), or a
//! dead letter, with the reason.
//!
//! The decisions, in order: ESM's event filtering
//! (`aws.lambda.filter.criteria`) on the record's value (or, for a Schema
//! Registry format, the decoded record); then the element in the
//! connector's shape — the event source mapping's record, Confluent's
//! element, or Confluent's element of what the transforms made of the
//! record (a transform may drop it or fail on it); then the size: an
//! element that cannot fit in a request even alone is a dead letter.
//!
//! Decoding the key and value comes before (schemaless formats by
//! [`schemaless::render`](crate::codec::schemaless::render) with
//! [`Settings::converter`], Schema Registry formats with the writer schema);
//! a part that does not decode is [`undecodable`].

use std::borrow::Cow;

use crate::batch::BatchLimits;
use crate::codec::wire::{self, SchemaRef};
use crate::codec::{DataFormat, RecordConverter};
use crate::config::EsmRecordFormat;
use crate::dead_letter::{DeadLetter, Stage};
use crate::esm;
use crate::event_filter::FilterCriteria;
use crate::payload::{self, Extras};
use crate::record::SourceRecord;
use crate::trace::{self, IdempotencyKey};
use crate::transform::{self, Chain, Rendering, Transformed};

/// How a connector renders its records (from its configuration).
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    /// `input.key.format`.
    pub key_format: DataFormat,
    /// `input.data.format`.
    pub value_format: DataFormat,
    /// `record.converter.class`.
    pub converter: RecordConverter,
    /// `aws.lambda.payload.include.headers`.
    pub include_headers: bool,
    /// With `aws.lambda.payload.format=esm`: the event source mapping's
    /// record, in this `aws.lambda.esm.record.format`.
    pub esm: Option<EsmRecordFormat>,
    /// `transforms`.
    pub transforms: &'a Chain,
    /// `aws.lambda.filter.criteria`.
    pub filter: &'a FilterCriteria,
    /// `aws.lambda.idempotency.key`.
    pub idempotency_key: &'a IdempotencyKey,
    /// The partition's request limits (the ESM envelope's bytes taken off).
    pub limits: BatchLimits,
    /// `aws.lambda.max.payload.bytes`, for the message.
    pub max_payload_bytes: usize,
    /// With OpenTelemetry tracing on, the element's `traceparent` is the
    /// invocation's, not the record's: every element keeps a slot for it
    /// ([`trace::TRACEPARENT_SLOT`]), filled at invoke time.
    pub trace_slot: bool,
}

impl Settings<'_> {
    /// The converter a schemaless JSON part is decoded with: the record
    /// converter, unless the transforms still have to see the JSON or the
    /// event source mapping's record carries the record's own bytes (then
    /// JSON is only validated).
    pub fn converter(&self) -> RecordConverter {
        if self.transforms.is_empty() && self.esm.is_none() {
            self.converter
        } else {
            RecordConverter::NativeJson
        }
    }
}

/// A decoded key or value: its JSON text (`None` = null; borrowing the
/// record's bytes where they are the JSON itself) and, for a Schema Registry
/// format, the writer schema.
#[derive(Clone, Debug, Default)]
pub struct Part<'r> {
    /// The JSON text.
    pub json: Option<Cow<'r, [u8]>>,
    /// The writer schema.
    pub schema: Option<SchemaRef>,
}

/// What a record becomes.
#[derive(Debug, PartialEq)]
pub enum Element {
    /// Its payload element, ready to batch.
    Ready(Vec<u8>),
    /// Filtered out or dropped by a transform: resolved, never invoked.
    Filtered,
    /// A dead letter, with why.
    Dead(DeadLetter),
}

/// The dead letter of a record whose key (`stage` `KeyConverter`) or value
/// is not valid `format`, for `reason`.
pub fn undecodable(
    stage: Stage,
    format: DataFormat,
    record: &SourceRecord,
    reason: &str,
) -> DeadLetter {
    let what = if stage == Stage::KeyConverter {
        "key"
    } else {
        "value"
    };
    let message = format!(
        "{what} of {}[{}]@{} is not valid {format}: {reason}",
        record.topic, record.partition, record.offset
    );
    DeadLetter::converter(stage, format, message)
}

/// What `record`, whose key and value decoded to `key` and `value`,
/// becomes under `settings`.
pub fn element(
    settings: &Settings<'_>,
    record: &SourceRecord,
    key: &Part<'_>,
    value: &Part<'_>,
) -> Element {
    // Filtering (and a `field:` idempotency key) looks at the record's own
    // value, or for a Schema Registry format the decoded record.
    let examined = if settings.value_format.needs_registry() {
        value.json.as_deref()
    } else {
        record.value.as_deref()
    };
    if !settings.filter.passes(record, examined) {
        return Element::Filtered;
    }
    let idempotency_key = settings.idempotency_key.of(record, examined);
    let extras = Extras {
        idempotency_key: idempotency_key.as_deref(),
        // An ESM record carries its headers, traceparent included.
        traceparent: if settings.esm.is_some() {
            None
        } else if settings.trace_slot {
            Some(trace::TRACEPARENT_SLOT)
        } else {
            trace::traceparent(record)
        },
    };
    let element = if let Some(format) = settings.esm {
        let source = format == EsmRecordFormat::Source;
        let key = esm_part(settings.key_format, record.key.as_deref(), key, source);
        let value = esm_part(
            settings.value_format,
            record.value.as_deref(),
            value,
            source,
        );
        esm::render_record(record, key, value, &extras)
    } else if settings.transforms.is_empty() {
        payload::render_element_with(
            record,
            key.json.as_deref(),
            value.json.as_deref(),
            settings.include_headers,
            &extras,
        )
    } else {
        // Transforms see a JSON part as its JSON; the record converter
        // renders what they made of it.
        let converter =
            |format: DataFormat| (format == DataFormat::Json).then_some(settings.converter);
        let rendering = Rendering {
            key: converter(settings.key_format),
            value: converter(settings.value_format),
            include_headers: settings.include_headers,
            extras,
        };
        match transform::render(
            settings.transforms,
            record,
            key.json.as_deref(),
            value.json.as_deref(),
            rendering,
        ) {
            Transformed::Element(element) => element,
            Transformed::Dropped => return Element::Filtered,
            Transformed::Failed(error) => return Element::Dead(DeadLetter::transformation(&error)),
        }
    };
    if !settings.limits.fits_alone(element.len()) {
        return Element::Dead(DeadLetter::task_put(format!(
            "record {}[{}]@{} renders to a {}-byte payload element, larger than aws.lambda.max.payload.bytes ({}) allows for one request",
            record.topic,
            record.partition,
            record.offset,
            element.len(),
            settings.max_payload_bytes
        )));
    }
    Element::Ready(element)
}

/// A key or value of the event source mapping's record: the record's own
/// bytes, or for a Schema Registry format its schema and the decoded JSON
/// (or, with `source`, its bytes after the wire-format header).
fn esm_part<'a>(
    format: DataFormat,
    own: Option<&'a [u8]>,
    decoded: &'a Part<'_>,
    source: bool,
) -> esm::Part<'a> {
    match esm::data_format(format) {
        Some(name) => esm::Part {
            bytes: if source {
                // Decoding succeeded, so the header parses.
                own.and_then(|b| wire::parse(b).ok()).map(|f| f.payload)
            } else {
                decoded.json.as_deref()
            },
            schema: decoded.schema.map(|s| (name, s)),
        },
        None => esm::Part::own(own),
    }
}

#[cfg(test)]
#[allow(
    clippy::too_many_lines,
    reason = "table tests: a table reads best whole"
)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::record::TimestampType;

    fn record(key: &str, value: &str) -> SourceRecord {
        SourceRecord {
            topic: Arc::from("orders"),
            partition: 2,
            offset: 7,
            timestamp: Some(1_700_000_000_000),
            timestamp_type: TimestampType::CreateTime,
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: vec![(
                "traceparent".into(),
                Some(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_vec()),
            )],
        }
    }

    fn part(json: &str) -> Part<'static> {
        Part {
            json: Some(Cow::Owned(json.as_bytes().to_vec())),
            schema: None,
        }
    }

    fn chain(pairs: &[(&str, &str)]) -> Chain {
        let keys: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        Chain::configure(&keys).unwrap()
    }

    /// JSON values, string keys, Confluent's element, 6 MB requests.
    fn settings<'a>(
        transforms: &'a Chain,
        filter: &'a FilterCriteria,
        idempotency_key: &'a IdempotencyKey,
    ) -> Settings<'a> {
        Settings {
            key_format: DataFormat::String,
            value_format: DataFormat::Json,
            converter: RecordConverter::NativeJson,
            include_headers: false,
            esm: None,
            transforms,
            filter,
            idempotency_key,
            limits: BatchLimits {
                max_records: 10,
                max_bytes: 6 * 1024 * 1024,
            },
            max_payload_bytes: 6 * 1024 * 1024,
            trace_slot: false,
        }
    }

    fn text(e: &Element) -> String {
        match e {
            Element::Ready(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            Element::Filtered => "Filtered".into(),
            Element::Dead(dead) => format!("{} {}", dead.stage.as_str(), dead.message),
        }
    }

    #[test]
    fn each_decision_in_order() {
        let none = Chain::default();
        let drop_all = chain(&[
            ("transforms", "drop"),
            (
                "transforms.drop.type",
                "org.apache.kafka.connect.transforms.Filter",
            ),
        ]);
        let fail = chain(&[
            ("transforms", "h"),
            (
                "transforms.h.type",
                "org.apache.kafka.connect.transforms.ExtractField$Value",
            ),
            ("transforms.h.field", "f"),
        ]);
        let shipped = FilterCriteria::parse(r#"{"value":{"status":["shipped"]}}"#).unwrap();
        let keyed = IdempotencyKey::Offset;
        let (all, offset) = (FilterCriteria::default(), IdempotencyKey::default());
        let base = settings(&none, &all, &offset);
        let shipped_rec = record("k1", r#"{"status":"shipped"}"#);
        let other_rec = record("k1", r#"{"status":"new"}"#);
        let key = part("\"k1\"");
        // (what, settings, record, value part, what it becomes)
        let cases: Vec<(&str, Settings<'_>, &SourceRecord, Part<'_>, &str)> = vec![
            (
                "a plain record: Confluent's element, traceparent passed",
                base,
                &shipped_rec,
                part(r#"{"status":"shipped"}"#),
                "\"value\":{\"status\":\"shipped\"}",
            ),
            (
                "filtered out by the criteria",
                Settings {
                    filter: &shipped,
                    ..base
                },
                &other_rec,
                part(r#"{"status":"new"}"#),
                "Filtered",
            ),
            (
                "passes the criteria",
                Settings {
                    filter: &shipped,
                    ..base
                },
                &shipped_rec,
                part(r#"{"status":"shipped"}"#),
                "\"topic\":\"orders\"",
            ),
            (
                "an idempotency key",
                Settings {
                    idempotency_key: &keyed,
                    ..base
                },
                &shipped_rec,
                part(r#"{"status":"shipped"}"#),
                "\"idempotencyKey\":\"orders/2/7\"",
            ),
            (
                "dropped by a transform",
                Settings {
                    transforms: &drop_all,
                    ..base
                },
                &shipped_rec,
                part(r#"{"status":"shipped"}"#),
                "Filtered",
            ),
            (
                "a transform fails: dead letter at TRANSFORMATION",
                Settings {
                    transforms: &fail,
                    ..base
                },
                &shipped_rec,
                part("[1]"),
                "TRANSFORMATION",
            ),
            (
                "too large even alone: dead letter",
                Settings {
                    limits: BatchLimits {
                        max_records: 10,
                        max_bytes: 64,
                    },
                    max_payload_bytes: 64,
                    trace_slot: false,
                    ..base
                },
                &shipped_rec,
                part(r#"{"status":"shipped"}"#),
                "larger than aws.lambda.max.payload.bytes (64)",
            ),
            (
                "the event source mapping's record: the value's own bytes, base64",
                Settings {
                    esm: Some(EsmRecordFormat::Json),
                    ..base
                },
                &shipped_rec,
                part(r#"{"status":"shipped"}"#),
                "\"value\":\"eyJzdGF0dXMiOiJzaGlwcGVkIn0=\"",
            ),
        ];
        for (what, settings, rec, value, expected) in cases {
            let got = text(&element(&settings, rec, &key, &value));
            assert!(got.contains(expected), "{what}: {got}");
        }
    }

    #[test]
    fn traceparent_only_in_confluent_s_element() {
        let none = Chain::default();
        let rec = record("k", "{}");
        let (all, offset) = (FilterCriteria::default(), IdempotencyKey::default());
        let settings = settings(&none, &all, &offset);
        let confluent = text(&element(&settings, &rec, &part("\"k\""), &part("{}")));
        assert!(confluent.contains("\"traceparent\""), "{confluent}");
        let esm = Settings {
            esm: Some(EsmRecordFormat::Json),
            ..settings
        };
        let event = text(&element(&esm, &rec, &part("\"k\""), &part("{}")));
        assert!(!event.contains("\"traceparent\":\"00-"), "{event}");
        // Tracing on: every element ends with the slot the invocation's
        // context is written into, the record's own context or not.
        let slotted = Settings {
            trace_slot: true,
            ..settings
        };
        let untraced = SourceRecord {
            headers: Vec::new(),
            ..rec.clone()
        };
        for r in [&rec, &untraced] {
            let got = text(&element(&slotted, r, &part("\"k\""), &part("{}")));
            let end = format!("\"traceparent\":\"{}\"}}}}", trace::TRACEPARENT_SLOT);
            assert!(got.ends_with(&end), "{got}");
        }
        let event = text(&element(
            &Settings {
                trace_slot: true,
                ..esm
            },
            &rec,
            &part("\"k\""),
            &part("{}"),
        ));
        assert!(!event.contains(trace::TRACEPARENT_SLOT), "{event}");
        assert_eq!(settings.converter(), RecordConverter::NativeJson);
        assert_eq!(
            Settings {
                converter: RecordConverter::Json,
                ..esm
            }
            .converter(),
            RecordConverter::NativeJson,
            "the ESM record keeps JSON as JSON"
        );
    }

    #[test]
    fn undecodable_says_which_part_and_where() {
        let rec = record("k", "{");
        let dead = undecodable(Stage::ValueConverter, DataFormat::Json, &rec, "EOF");
        assert_eq!(dead.message, "value of orders[2]@7 is not valid JSON: EOF");
        let dead = undecodable(Stage::KeyConverter, DataFormat::Avro, &rec, "bad magic");
        assert!(
            dead.message.starts_with("key of orders[2]@7"),
            "{}",
            dead.message
        );
    }
}
