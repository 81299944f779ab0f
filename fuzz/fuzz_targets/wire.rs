//! Confluent's wire-format header and Protobuf message indexes: no input panics.
#![no_main]

use lambda_sink_core::codec::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(framed) = wire::parse(data) {
        let _ = wire::message_indexes(framed.payload);
    }
    let _ = wire::message_indexes(data);
});
