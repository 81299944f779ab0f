//! The formats a record's key or value can have on Kafka, and how
//! schemaless JSON and decimals are rendered into the payload: property
//! values (`input.data.format`, `record.converter.class`,
//! `value.converter.decimal.format`) that the decoders act on.

use crate::spelled::spelled_enum;

spelled_enum! {
    /// How a record's key or value is encoded on Kafka (`input.data.format`, `input.key.format`).
    DataFormat {
        /// Avro through a Confluent Schema Registry.
        Avro = "AVRO",
        /// JSON Schema through a Confluent Schema Registry.
        JsonSr = "JSON_SR",
        /// Protobuf through a Confluent Schema Registry.
        Protobuf = "PROTOBUF",
        /// Schemaless JSON.
        Json = "JSON",
        /// Opaque bytes, rendered as base64.
        Bytes = "BYTES",
        /// UTF-8 text.
        String = "STRING",
    }
}

impl DataFormat {
    /// Whether decoding needs a Schema Registry.
    pub fn needs_registry(self) -> bool {
        matches!(self, Self::Avro | Self::JsonSr | Self::Protobuf)
    }
}

spelled_enum! {
    /// `value.converter.decimal.format`.
    DecimalFormat {
        /// Base64 of the unscaled value's two's-complement bytes (Kafka Connect's default).
        Base64 = "BASE64",
        /// A JSON number with the exact decimal value.
        Numeric = "NUMERIC",
    }
}

spelled_enum! {
    /// `record.converter.class`: how schemaless JSON is rendered into the payload.
    RecordConverter {
        /// Confluent's default: Java `Map.toString()`-style text, `{name=Kimberley Human}`.
        Json = "JsonKeyValueConverter",
        /// The JSON as an escaped string, `"{\"name\":\"Kimberley Human\"}"`.
        EscapedJson = "EscapedJsonKeyValueConverter",
        /// (ext) The JSON itself, `{"name":"Kimberley Human"}`.
        NativeJson = "NativeJsonKeyValueConverter",
    }
}
