//! Single Message Transforms and predicates, as Kafka Connect configures
//! them (`transforms=a,b`, `transforms.a.type=...`, `predicates=p`,
//! `predicates.p.type=...`, `transforms.a.predicate=p`,
//! `transforms.a.negate=true`), applied to each decoded record before its
//! payload element is rendered.
//!
//! * [`record`] — what a transform sees ([`Record`]: the record's
//!   coordinates, its key and value as decoded JSON, and its headers), the
//!   [`Transform`] and [`Predicate`] traits, and Connect's `requireMap`;
//! * `chain` — the configured stages ([`Chain`]), built (and every problem
//!   reported) by [`Chain::configure`], applied by [`Chain::apply`];
//! * `render` — a decoded record through the chain to its payload element;
//! * [`catalog`] — every supported class with its properties, for
//!   validation, `plugin describe` and the Connect API;
//! * [`apache`], [`predicates`], [`confluent`] — the transforms themselves.
//!
//! Records are schemaless here, whatever their input format: a JSON object
//! is Connect's `Map`, an integral number its `Long`, a decimal its
//! `Double`. Avro, JSON Schema and Protobuf records are transformed as the
//! JSON the function would receive, so a transform sees the same shapes
//! for every format.

pub mod apache;
pub mod catalog;
mod chain;
pub mod confluent;
pub mod predicates;
mod props;
pub mod record;
mod render;
mod timefmt;

pub use chain::{Chain, MAX_TRANSFORMS, is_transform_key};
pub use props::{PropertyDoc, Props};
pub use record::{Part, Predicate, Record, Transform, TransformError};
pub use render::{Rendering, Transformed, render};

#[cfg(test)]
mod tests;
