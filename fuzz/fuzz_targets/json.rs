//! Schemaless JSON, STRING and BYTES under every converter, and JSON Schema
//! documents: no input panics, and whatever renders is valid JSON.
#![no_main]

use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::schemaless;
use lambda_sink_core::config::{DataFormat, DecimalFormat, RecordConverter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in [DataFormat::Json, DataFormat::String, DataFormat::Bytes] {
        for converter in [RecordConverter::Json, RecordConverter::EscapedJson, RecordConverter::NativeJson] {
            if let Ok(json) = schemaless::render(format, converter, data) {
                assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&json).is_ok(), "rendered invalid JSON");
            }
        }
    }
    let _ = Compiled::Json.decode(data, DecimalFormat::Base64);
});
