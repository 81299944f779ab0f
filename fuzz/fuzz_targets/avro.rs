//! Avro datums of a schema using every type, references included: any bytes
//! decode or fail cleanly, under both decimal renderings.
#![no_main]

use std::sync::LazyLock;

use lambda_sink_core::codec::schema::{Compiled, SchemaType};
use lambda_sink_core::config::DecimalFormat;
use libfuzzer_sys::fuzz_target;

static SCHEMA: LazyLock<Compiled> = LazyLock::new(|| {
    let address = r#"{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}"#;
    let schema = r#"{"type":"record","name":"Everything","namespace":"acme","fields":[
        {"name":"flag","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},
        {"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"raw","type":"bytes"},
        {"name":"s","type":"string"},{"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
        {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},
        {"name":"arr","type":{"type":"array","items":"int"}},{"name":"m","type":{"type":"map","values":"long"}},
        {"name":"nested","type":{"type":"record","name":"Nested","fields":[{"name":"x","type":"string"},{"name":"kids","type":{"type":"array","items":"Nested"}}]}},
        {"name":"u","type":["null","string","Color"]},
        {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
        {"name":"decf","type":{"type":"fixed","name":"DecFixed","size":8,"logicalType":"decimal","precision":18,"scale":3}},
        {"name":"day","type":{"type":"int","logicalType":"date"}},{"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"id","type":{"type":"string","logicalType":"uuid"}},{"name":"home","type":"acme.Address"}]}"#;
    Compiled::compile(SchemaType::Avro, schema, &[("acme.Address", address)]).expect("valid schema")
});

fuzz_target!(|data: &[u8]| {
    let _ = SCHEMA.decode(data, DecimalFormat::Base64);
    let _ = SCHEMA.decode(data, DecimalFormat::Numeric);
});
