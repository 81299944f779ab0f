//! Decoding a record into its payload element (SPEC §3): the key and value
//! by their formats — schemaless, or through the Schema Registry — then
//! the connector's transforms, if any, then Confluent's JSON element. A
//! record that cannot be decoded or transformed becomes a dead letter; one
//! a transform drops is resolved without an invocation; a registry that
//! cannot be reached delays the record instead.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::schemaless;
use lambda_sink_core::codec::wire::{self, SchemaRef};
use lambda_sink_core::codec::{DataFormat, RecordConverter};
use lambda_sink_core::config::EsmRecordFormat;
use lambda_sink_core::esm;
use lambda_sink_core::outcome::{DeadLetter, Disposed, Disposition, Stage};
use lambda_sink_core::payload;
use lambda_sink_core::record::SourceRecord;
use lambda_sink_core::retry::Backoff;
use lambda_sink_core::trace;
use lambda_sink_core::transform::{self, Rendering, Transformed};
use tracing::warn;

use super::Halt;
use super::partition::{Item, Worker};
use crate::metrics::ReasonLabel;

/// A decoded key or value (borrowing the record's bytes where they are the
/// JSON itself), or why the record goes to the DLQ.
enum Decoded<'r> {
    /// The JSON text (`None` = null) and, for a Schema Registry format, the
    /// writer schema.
    Json(Option<Cow<'r, [u8]>>, Option<SchemaRef>),
    Dead(DeadLetter),
}

impl Worker {
    /// Decodes a record into its payload element, or its dead letter.
    /// `Err(Halt::Stopped)` when asked to stop while waiting for the registry.
    pub(super) async fn prepare(&self, record: SourceRecord) -> Result<Item, Halt> {
        let config = &self.shared.config;
        let (key, key_schema) = match self
            .decode(
                config.key_format,
                record.key.as_deref(),
                Stage::KeyConverter,
                &record,
            )
            .await?
        {
            Decoded::Json(json, schema) => (json, schema),
            Decoded::Dead(dead) => return Ok(Item::Dead { record, dead }),
        };
        let (value, value_schema) = match self
            .decode(
                config.value_format,
                record.value.as_deref(),
                Stage::ValueConverter,
                &record,
            )
            .await?
        {
            Decoded::Json(json, schema) => (json, schema),
            Decoded::Dead(dead) => return Ok(Item::Dead { record, dead }),
        };
        // ESM's event filtering (and a `field:` idempotency key): on the
        // record's own value, or for a Schema Registry format the decoded
        // record.
        let filter_on = if config.value_format.needs_registry() {
            value.as_deref()
        } else {
            record.value.as_deref()
        };
        if !config.lambda.filter.passes(&record, filter_on) {
            return Ok(Item::Filtered { record });
        }
        let idempotency_key = config.lambda.idempotency_key.of(&record, filter_on);
        let extras = payload::Extras {
            idempotency_key: idempotency_key.as_deref(),
            // An ESM record carries its headers, traceparent included.
            traceparent: if self.envelope.is_some() {
                None
            } else {
                trace::traceparent(&record)
            },
        };
        let element = if self.envelope.is_some() {
            // The event source mapping's record: the record's own bytes
            // (base64), or for a Schema Registry format the decoded JSON
            // with its schema metadata, as ESM's EventRecordFormat=JSON
            // delivers it.
            let source = config.lambda.esm_record_format == EsmRecordFormat::Source;
            let key = esm_part(
                config.key_format,
                record.key.as_deref(),
                key.as_deref(),
                key_schema,
                source,
            );
            let value = esm_part(
                config.value_format,
                record.value.as_deref(),
                value.as_deref(),
                value_schema,
                source,
            );
            esm::render_record(&record, key, value, &extras)
        } else if config.transforms.is_empty() {
            payload::render_element_with(
                &record,
                key.as_deref(),
                value.as_deref(),
                config.lambda.include_headers,
                &extras,
            )
        } else {
            // Transforms see a JSON part as its JSON; the record converter
            // renders what they made of it.
            let converter = |format: DataFormat| {
                (format == DataFormat::Json).then_some(config.lambda.converter)
            };
            let rendering = Rendering {
                key: converter(config.key_format),
                value: converter(config.value_format),
                include_headers: config.lambda.include_headers,
                extras,
            };
            match transform::render(
                &config.transforms,
                &record,
                key.as_deref(),
                value.as_deref(),
                rendering,
            ) {
                Transformed::Element(element) => element,
                Transformed::Dropped => return Ok(Item::Filtered { record }),
                Transformed::Failed(error) => {
                    let dead = DeadLetter::transformation(&error);
                    return Ok(Item::Dead { record, dead });
                }
            }
        };
        if !self.limits.fits_alone(element.len()) {
            let dead = DeadLetter::task_put(format!(
                "record {}@{} renders to a {}-byte payload element, larger than aws.lambda.max.payload.bytes ({}) allows for one request",
                self.tp,
                record.offset,
                element.len(),
                config.lambda.max_payload_bytes
            ));
            return Ok(Item::Dead { record, dead });
        }
        Ok(Item::Ready { record, element })
    }

    /// Decodes a key or value (`None` = null) by its input format.
    async fn decode<'r>(
        &self,
        format: DataFormat,
        bytes: Option<&'r [u8]>,
        stage: Stage,
        record: &SourceRecord,
    ) -> Result<Decoded<'r>, Halt> {
        let Some(bytes) = bytes else {
            return Ok(Decoded::Json(None, None));
        };
        let dead = |reason: &str| {
            let what = if stage == Stage::KeyConverter {
                "key"
            } else {
                "value"
            };
            let message = format!(
                "{what} of {}@{} is not valid {format}: {reason}",
                self.tp, record.offset
            );
            Decoded::Dead(DeadLetter::converter(stage, format, message))
        };
        let config = &self.shared.config;
        if !format.needs_registry() {
            // With transforms, a JSON part stays JSON until they have run;
            // an ESM record carries the record's own bytes, so JSON is only
            // validated (borrowed, not rendered).
            let converter = if config.transforms.is_empty() && self.envelope.is_none() {
                config.lambda.converter
            } else {
                RecordConverter::NativeJson
            };
            return Ok(match schemaless::render(format, converter, bytes) {
                Ok(json) => Decoded::Json(Some(json), None),
                Err(e) => dead(&e.message),
            });
        }
        // A record written by Apicurio's serializer in its headers mode may
        // even parse as a Confluent header; whatever fails, say so.
        let dead = |reason: &str| match wire::apicurio_headers_hint(
            &record.headers,
            stage == Stage::KeyConverter,
        ) {
            Some(hint) => dead(&format!("{reason}; {hint}")),
            None => dead(reason),
        };
        let framed = match wire::parse(bytes) {
            Ok(f) => f,
            Err(e) => return Ok(dead(&e.message)),
        };
        let compiled = match self.schema(framed.schema).await? {
            Ok(c) => c,
            Err(reason) => return Ok(dead(&reason)),
        };
        let actual = compiled.schema_type().format();
        if actual != format {
            return Ok(dead(&format!(
                "schema {} is a {actual} schema",
                framed.schema
            )));
        }
        Ok(
            match compiled.decode(framed.payload, config.decimal_format) {
                Ok(json) => Decoded::Json(Some(Cow::Owned(json)), Some(framed.schema)),
                Err(e) => dead(&e.message),
            },
        )
    }

    /// The writer schema, waiting (with backoff) while the registry cannot
    /// be reached: a registry outage delays records, it never dead-letters
    /// them. `Ok(Err(reason))`: the schema does not exist or cannot be used.
    async fn schema(&self, schema: SchemaRef) -> Result<Result<Arc<Compiled>, String>, Halt> {
        let Some(registry) = &self.shared.schemas else {
            return Err(Halt::Failed(
                "a Schema Registry format is configured without schema.registry.url".into(),
            ));
        };
        let backoff = Backoff::forever(Duration::from_millis(100), Duration::from_secs(10));
        let mut attempt = 0;
        loop {
            let error = match registry.schema(schema).await {
                Ok(compiled) => return Ok(Ok(compiled)),
                Err(e) => e,
            };
            let reason = match error.disposition() {
                Disposition::DeadLetter(m) => return Ok(Err(m)),
                Disposition::Stop(m) => return Err(Halt::Failed(m)),
                // No registry answer means "split"; treated as the stop it
                // would be if it ever did.
                Disposition::Split => return Err(Halt::Failed(error.to_string())),
                Disposition::Retry(reason) => reason,
            };
            let delay = backoff.delay_forever(attempt, rand::random::<f64>());
            self.shared
                .metrics
                .retries
                .get_or_create(&ReasonLabel {
                    reason: reason.as_str(),
                })
                .inc();
            warn!(schema = %schema, retry_in_ms = delay.as_millis(), error = %error, "Schema Registry unavailable; the record waits and is retried");
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(Halt::Stopped),
                () = tokio::time::sleep(delay) => {}
            }
            attempt = attempt.saturating_add(1);
        }
    }
}

/// A key or value of the event source mapping's record: the record's own
/// bytes, or for a Schema Registry format its schema and the decoded JSON
/// (or, with `source`, its bytes after the wire-format header).
fn esm_part<'a>(
    format: DataFormat,
    own: Option<&'a [u8]>,
    decoded: Option<&'a [u8]>,
    schema: Option<SchemaRef>,
    source: bool,
) -> esm::Part<'a> {
    match esm::data_format(format) {
        Some(name) => esm::Part {
            bytes: if source {
                // Decoding succeeded, so the header parses.
                own.and_then(|b| wire::parse(b).ok()).map(|f| f.payload)
            } else {
                decoded
            },
            schema: schema.map(|s| (name, s)),
        },
        None => esm::Part::own(own),
    }
}
