//! Decoding a record ([`Decoder`], SPEC §3): the key and value by their
//! formats — schemaless, or through the Schema Registry — then what the
//! core's [`element`] makes of them: the payload element, filtered, or a
//! dead letter. A registry that cannot be reached delays the record
//! instead of dead-lettering it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::batch::{BatchLimits, Element as BatchElement};
use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::wire::{self, SchemaRef};
use lambda_sink_core::codec::{DataFormat, schemaless};
use lambda_sink_core::config::PayloadFormat;
use lambda_sink_core::dead_letter::{DeadLetter, Stage};
use lambda_sink_core::disposition::{Disposed, Disposition};
use lambda_sink_core::element::{self, Element, Part, Settings};
use lambda_sink_core::record::SourceRecord;
use lambda_sink_core::retry::Backoff;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::context::{Context, Halt};
use lambda_sink_core::Invalid;

/// A record ready to be batched, or one that goes to the DLQ instead.
pub(super) enum Item {
    Ready {
        record: SourceRecord,
        element: Vec<u8>,
    },
    /// Boxed: dead letters are rare, and every item of the partition's
    /// queue is as large as the largest variant (312 bytes unboxed, 152
    /// boxed), moved several times on the way to a batch.
    Dead {
        record: SourceRecord,
        dead: Box<DeadLetter>,
    },
    /// Filtered out or dropped by a transform: resolved without an
    /// invocation.
    Filtered { record: SourceRecord },
}

impl Item {
    /// Whether it goes to the function (not a dead letter or filtered).
    pub(super) fn invokes(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }

    /// The input record it was made from.
    pub(super) fn into_record(self) -> SourceRecord {
        match self {
            Self::Ready { record, .. } | Self::Dead { record, .. } | Self::Filtered { record } => {
                record
            }
        }
    }
}

impl BatchElement for Item {
    fn element_len(&self) -> Option<usize> {
        match self {
            Self::Ready { element, .. } => Some(element.len()),
            Self::Dead { .. } | Self::Filtered { .. } => None,
        }
    }
}

/// A decoded key or value, or why the record goes to the DLQ.
enum Decoded<'r> {
    Part(Part<'r>),
    Dead(DeadLetter),
}

/// A partition's decoder.
pub(super) struct Decoder {
    ctx: Arc<Context>,
    /// The partition's stop: a wait for the registry ends on it.
    stop: CancellationToken,
    /// The partition's request limits.
    limits: BatchLimits,
}

impl Decoder {
    pub(super) fn new(ctx: Arc<Context>, stop: CancellationToken, limits: BatchLimits) -> Self {
        Self { ctx, stop, limits }
    }

    /// How the connector renders its records.
    fn settings(&self) -> Settings<'_> {
        let config = &self.ctx.config;
        Settings {
            key_format: config.key_format,
            value_format: config.value_format,
            converter: config.lambda.converter,
            include_headers: config.lambda.include_headers,
            esm: (config.lambda.payload_format == PayloadFormat::Esm)
                .then_some(config.lambda.esm_record_format),
            transforms: &config.transforms,
            filter: &config.lambda.filter,
            idempotency_key: &config.lambda.idempotency_key,
            limits: self.limits,
            max_payload_bytes: config.lambda.max_payload_bytes,
            trace_slot: self.ctx.tracer.is_some(),
        }
    }

    /// Decodes a record into its payload element, or its dead letter.
    /// `Err(Halt::Stopped)` when asked to stop while waiting for the registry.
    pub(super) async fn prepare(&self, record: SourceRecord) -> Result<Item, Halt> {
        let settings = self.settings();
        let (key_format, value_format) = (settings.key_format, settings.value_format);
        let decided = {
            let key = self
                .decode(
                    &settings,
                    key_format,
                    record.key.as_deref(),
                    Stage::KeyConverter,
                    &record,
                )
                .await?;
            let value = self
                .decode(
                    &settings,
                    value_format,
                    record.value.as_deref(),
                    Stage::ValueConverter,
                    &record,
                )
                .await?;
            match (key, value) {
                (Decoded::Dead(dead), _) | (_, Decoded::Dead(dead)) => Element::Dead(dead),
                (Decoded::Part(key), Decoded::Part(value)) => {
                    element::element(&settings, &record, &key, &value)
                }
            }
        };
        Ok(match decided {
            Element::Ready(element) => Item::Ready { record, element },
            Element::Filtered => Item::Filtered { record },
            Element::Dead(dead) => Item::Dead {
                record,
                dead: Box::new(dead),
            },
        })
    }

    /// Decodes a key or value (`None` = null) by its input format.
    async fn decode<'r>(
        &self,
        settings: &Settings<'_>,
        format: DataFormat,
        bytes: Option<&'r [u8]>,
        stage: Stage,
        record: &SourceRecord,
    ) -> Result<Decoded<'r>, Halt> {
        let Some(bytes) = bytes else {
            return Ok(Decoded::Part(Part::default()));
        };
        let dead =
            |reason: &str| Decoded::Dead(element::undecodable(stage, format, record, reason));
        if !format.needs_registry() {
            return Ok(
                match schemaless::render(format, settings.converter(), bytes) {
                    Ok(json) => Decoded::Part(Part {
                        json: Some(json),
                        schema: None,
                    }),
                    Err(e) => dead(&e.message),
                },
            );
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
            Err(reason) => return Ok(dead(reason.reason())),
        };
        let actual = compiled.schema_type().format();
        if actual != format {
            return Ok(dead(&format!(
                "schema {} is a {actual} schema",
                framed.schema
            )));
        }
        Ok(
            match compiled.decode(framed.payload, self.ctx.config.decimal_format) {
                Ok(json) => Decoded::Part(Part {
                    json: Some(Cow::Owned(json)),
                    schema: Some(framed.schema),
                }),
                Err(e) => dead(&e.message),
            },
        )
    }

    /// The writer schema, waiting (with backoff) while the registry cannot
    /// be reached: a registry outage delays records, it never dead-letters
    /// them. `Ok(Err(reason))`: the schema does not exist or cannot be used.
    async fn schema(&self, schema: SchemaRef) -> Result<Result<Arc<Compiled>, Invalid>, Halt> {
        let Some(registry) = &self.ctx.schemas else {
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
                Disposition::DeadLetter(m) => return Ok(Err(Invalid::new(m))),
                Disposition::Stop(m) => return Err(Halt::Failed(m)),
                // No registry answer means "split"; treated as the stop it
                // would be if it ever did.
                Disposition::Split => return Err(Halt::Failed(error.to_string())),
                Disposition::Retry(reason) => reason,
            };
            let delay = backoff.delay_forever(attempt, rand::random::<f64>());
            self.ctx.metrics.retried(reason.as_str());
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
