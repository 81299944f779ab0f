//! Decoding record keys and values into the JSON the function receives.
//!
//! Each decoder turns the bytes of one key or value into JSON text ready to
//! embed in a payload element, or a [`DecodeError`] that sends the record to
//! the dead letter queue. Schemaless formats ([`schemaless`]) need nothing but
//! the bytes; Schema Registry formats plug in beside them.

pub mod avro;
mod format;
pub mod protobuf;
pub mod schema;
pub mod schemaless;
pub mod wire;

use std::fmt;

pub use format::{DataFormat, DecimalFormat, RecordConverter};

/// Why bytes could not be decoded: the record goes to the DLQ with this
/// message (or stops the connector with `errors.tolerance=none`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What is wrong with the bytes.
    pub message: String,
}

impl DecodeError {
    /// A decode error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}
