//! Protobuf payloads (message indexes + message) of the fixture schema with
//! nested messages, maps, oneofs and well-known types: no input panics.
#![no_main]

use std::sync::LazyLock;

use lambda_sink_core::codec::schema::{Compiled, SchemaType};
use lambda_sink_core::config::DecimalFormat;
use libfuzzer_sys::fuzz_target;

static SCHEMA: LazyLock<Compiled> = LazyLock::new(|| {
    let common = include_str!("../../crates/lambda-sink-core/tests/fixtures/proto/acme/common.proto");
    let order = include_str!("../../crates/lambda-sink-core/tests/fixtures/proto/order.proto");
    Compiled::compile(SchemaType::Protobuf, order, &[("acme/common.proto", common)]).expect("valid schema")
});

fuzz_target!(|data: &[u8]| {
    let _ = SCHEMA.decode(data, DecimalFormat::Base64);
});
