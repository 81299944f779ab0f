//! Apache Kafka's transforms (`org.apache.kafka.connect.transforms.*`),
//! with their schemaless semantics as Apache Kafka 3.9's sources have them
//! (`connect/transforms/src/main/java/org/apache/kafka/connect/transforms/`),
//! surprises included: MaskField and Cast add a missing field as null,
//! HoistField turns a tombstone into an object, ValueToKey and HeaderFrom
//! refuse a tombstone, Cast narrows numbers like Java does.
//!
//! Where Java builds a `HashMap` (whose order is arbitrary), fields keep
//! their order and new ones are appended.

//! * `fields`: InsertField, ReplaceField, MaskField, ValueToKey,
//!   ExtractField, HoistField, Flatten;
//! * `cast`: Cast; `time`: TimestampConverter;
//! * `headers`: InsertHeader, DropHeaders, HeaderFrom;
//! * `routing`: Filter, RegexRouter, TimestampRouter.

mod cast;
mod fields;
mod headers;
mod routing;
mod time;

pub(crate) use cast::cast;
pub(crate) use fields::{
    FieldSelection, extract_field, flatten, hoist_field, insert_field, mask_field, replace_field,
    value_to_key,
};
pub(crate) use headers::{drop_headers, header_from, insert_header};
pub(crate) use routing::{filter, regex_router, timestamp_router};
pub(crate) use time::timestamp_converter;
