//! A Schema Registry schema compiled for decoding, whatever its type.

use crate::{Invalid, invalid};
use serde::de::IgnoredAny;

use super::DecodeError;
use super::avro::AvroSchema;
use super::protobuf::ProtoSchema;
use crate::codec::{DataFormat, DecimalFormat};

/// The `schemaType` of a registry schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaType {
    /// `AVRO` (also when the registry omits the type).
    Avro,
    /// `PROTOBUF`.
    Protobuf,
    /// `JSON` (JSON Schema).
    Json,
}

impl SchemaType {
    /// The type named by the registry's `schemaType` (absent means Avro).
    ///
    /// # Errors
    /// An unknown type name.
    pub fn from_registry(name: Option<&str>) -> Result<Self, Invalid> {
        match name.unwrap_or("AVRO") {
            "AVRO" => Ok(Self::Avro),
            "PROTOBUF" => Ok(Self::Protobuf),
            "JSON" => Ok(Self::Json),
            other => Err(invalid!("unknown schemaType \"{other}\"")),
        }
    }

    /// The input format that uses this schema type.
    pub fn format(self) -> DataFormat {
        match self {
            Self::Avro => DataFormat::Avro,
            Self::Protobuf => DataFormat::Protobuf,
            Self::Json => DataFormat::JsonSr,
        }
    }
}

/// A compiled writer schema.
#[derive(Clone, Debug)]
pub enum Compiled {
    /// Avro.
    Avro(AvroSchema),
    /// Protobuf.
    Protobuf(ProtoSchema),
    /// JSON Schema: the document is passed through (no validation).
    Json,
}

impl Compiled {
    /// Compiles `schema` with its `references` as `(name, schema)`
    /// (transitively resolved; for Protobuf the names are import paths).
    ///
    /// # Errors
    /// When the schema (or a reference) is not valid for its type.
    pub fn compile(
        ty: SchemaType,
        schema: &str,
        references: &[(&str, &str)],
    ) -> Result<Self, Invalid> {
        match ty {
            SchemaType::Avro => {
                let texts: Vec<&str> = references.iter().map(|(_, s)| *s).collect();
                AvroSchema::parse(schema, &texts).map(Self::Avro)
            }
            SchemaType::Protobuf => ProtoSchema::compile(schema, references).map(Self::Protobuf),
            SchemaType::Json => Ok(Self::Json),
        }
    }

    /// The schema's type.
    pub fn schema_type(&self) -> SchemaType {
        match self {
            Self::Avro(_) => SchemaType::Avro,
            Self::Protobuf(_) => SchemaType::Protobuf,
            Self::Json => SchemaType::Json,
        }
    }

    /// Decodes `payload` (the bytes after the 5-byte header) to JSON text.
    ///
    /// # Errors
    /// When the bytes do not decode with this schema.
    pub fn decode(&self, payload: &[u8], decimal: DecimalFormat) -> Result<Vec<u8>, DecodeError> {
        let value = match self {
            Self::Avro(s) => s.decode(payload, decimal)?,
            Self::Protobuf(s) => s.decode(payload)?,
            Self::Json => {
                serde_json::from_slice::<IgnoredAny>(payload).map_err(|e| {
                    DecodeError::new(format!("not valid JSON after the JSON Schema header: {e}"))
                })?;
                return Ok(payload.trim_ascii().to_vec());
            }
        };
        serde_json::to_vec(&value)
            .map_err(|e| DecodeError::new(format!("cannot render as JSON: {e}")))
    }
}
