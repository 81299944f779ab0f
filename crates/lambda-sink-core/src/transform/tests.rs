//! Table-driven tests of every transform and predicate. Each expected
//! output is what the class's source (Apache Kafka 3.9,
//! `connect/transforms/src/main/java/org/apache/kafka/connect/transforms/`)
//! or, for Confluent's closed-source ones, its documentation says; the
//! method read is named next to the cases.

#![allow(
    clippy::too_many_lines,
    reason = "table tests: a table reads best whole"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::codec::RecordConverter;
use crate::codec::schemaless;
use crate::record::SourceRecord;

fn keys(props: &[(&str, &str)]) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

fn chain(props: &[(&str, &str)]) -> Chain {
    match Chain::configure(&keys(props)) {
        Ok(c) => c,
        Err(p) => panic!("{props:?}: {p:?}"),
    }
}

fn problems(props: &[(&str, &str)]) -> Vec<String> {
    match Chain::configure(&keys(props)) {
        Ok(_) => Vec::new(),
        Err(p) => p.iter().map(ToString::to_string).collect(),
    }
}

fn record(key: Value, value: Value) -> Record {
    Record {
        topic: Arc::from("orders"),
        partition: 3,
        offset: 42,
        timestamp: Some(1_700_000_000_123),
        key,
        value,
        headers: vec![("h".into(), Some(b"1".to_vec()))],
    }
}

/// One transform of `class` with `props` applied to `value` (key "k").
fn on_value(class: &str, props: &[(&str, &str)], value: Value) -> Result<Option<Value>, String> {
    let mut all = vec![("transforms", "t"), ("transforms.t.type", class)];
    let prefixed: Vec<(String, &str)> = props
        .iter()
        .map(|(k, v)| (format!("transforms.t.{k}"), *v))
        .collect();
    all.extend(prefixed.iter().map(|(k, v)| (k.as_str(), *v)));
    chain(&all)
        .apply(record(json!("k"), value))
        .map(|r| r.map(|r| r.value))
        .map_err(|e| e.message)
}

/// Runs a table: (case, props, input, expected).
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    Value,
    Result<Option<Value>, &'a str>,
);

fn table(class: &str, cases: &[Case<'_>]) {
    for (name, props, input, expected) in cases {
        let got = on_value(class, props, input.clone());
        match (expected, &got) {
            (Ok(want), Ok(have)) => assert_eq!(have, want, "{class}: {name}"),
            (Err(want), Err(have)) => assert!(have.contains(want), "{class}: {name}: {have}"),
            _ => panic!("{class}: {name}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[test]
fn insert_field() {
    // InsertField.applySchemaless: null passes; requireMap; put topic,
    // partition, offset (sink), timestamp (Long), static value; overwrite.
    let all: &[(&str, &str)] = &[
        ("topic.field", "t!"),
        ("partition.field", "p?"),
        ("offset.field", "o"),
        ("timestamp.field", "ts"),
        ("static.field", "s"),
        ("static.value", "v"),
    ];
    table(
        "org.apache.kafka.connect.transforms.InsertField$Value",
        &[
            (
                "every field, suffixes stripped",
                all,
                json!({"a": 1}),
                Ok(Some(
                    json!({"a": 1, "t": "orders", "p": 3, "o": 42, "ts": 1_700_000_000_123_i64, "s": "v"}),
                )),
            ),
            (
                "an existing key is overwritten",
                &[("offset.field", "a")],
                json!({"a": "x"}),
                Ok(Some(json!({"a": 42}))),
            ),
            (
                "a tombstone passes unchanged",
                all,
                Value::Null,
                Ok(Some(Value::Null)),
            ),
            (
                "a non-map fails",
                all,
                json!("text"),
                Err(
                    "Only Map objects supported in absence of schema for [field insertion], found: java.lang.String",
                ),
            ),
        ],
    );
    assert!(
        problems(&[
            ("transforms", "t"),
            ("transforms.t.type", "InsertField$Value")
        ])[0]
            .contains("at least one of")
    );
}

#[test]
fn replace_field() {
    // ReplaceField.applySchemaless: filter on original names, then rename.
    table(
        "org.apache.kafka.connect.transforms.ReplaceField$Value",
        &[
            (
                "exclude",
                &[("exclude", "b")],
                json!({"a": 1, "b": 2}),
                Ok(Some(json!({"a": 1}))),
            ),
            (
                "include",
                &[("include", "b,c")],
                json!({"a": 1, "b": 2}),
                Ok(Some(json!({"b": 2}))),
            ),
            (
                "renames use original names and keep order",
                &[("renames", "a:x,b:y"), ("exclude", "b")],
                json!({"a": 1, "b": 2, "c": 3}),
                Ok(Some(json!({"x": 1, "c": 3}))),
            ),
            (
                "deprecated blacklist",
                &[("blacklist", "a")],
                json!({"a": 1, "b": 2}),
                Ok(Some(json!({"b": 2}))),
            ),
            (
                "a tombstone passes",
                &[("exclude", "a")],
                Value::Null,
                Ok(Some(Value::Null)),
            ),
            (
                "a list fails",
                &[("exclude", "a")],
                json!([1]),
                Err("[field replacement], found: java.util.ArrayList"),
            ),
        ],
    );
    let p = problems(&[
        ("transforms", "t"),
        ("transforms.t.type", "ReplaceField$Value"),
    ]);
    assert!(p[0].contains("ambiguous"), "{p:?}");
    let p = problems(&[
        ("transforms", "t"),
        (
            "transforms.t.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        ),
        ("transforms.t.renames", "a:b:c"),
    ]);
    assert!(p[0].contains("Invalid rename mapping"), "{p:?}");
}

#[test]
fn mask_field() {
    // MaskField.applySchemaless: no null guard; put(field, masked(get)),
    // so a missing field is added as null; masks by Java type.
    table(
        "org.apache.kafka.connect.transforms.MaskField$Value",
        &[
            (
                "each type's empty value",
                &[("fields", "s,i,d,b,l,m,n")],
                json!({"s": "x", "i": 7, "d": 1.5, "b": true, "l": [1], "m": {"a": 1}, "n": null}),
                Ok(Some(
                    json!({"s": "", "i": 0, "d": 0.0, "b": false, "l": [], "m": {}, "n": null}),
                )),
            ),
            (
                "a missing field is added as null",
                &[("fields", "card")],
                json!({"a": 1}),
                Ok(Some(json!({"a": 1, "card": null}))),
            ),
            (
                "a replacement, converted to the field's type",
                &[("fields", "s,i,d"), ("replacement", "9")],
                json!({"s": "x", "i": 7, "d": 1.5}),
                Ok(Some(json!({"s": "9", "i": 9, "d": 9.0}))),
            ),
            (
                "a replacement that is no number",
                &[("fields", "i"), ("replacement", "****")],
                json!({"i": 7}),
                Err("Unable to convert **** (java.lang.Long) to number"),
            ),
            (
                "a boolean cannot take a replacement",
                &[("fields", "b"), ("replacement", "x")],
                json!({"b": true}),
                Err("Cannot mask value of type class java.lang.Boolean with custom replacement."),
            ),
            (
                "a tombstone fails",
                &[("fields", "a")],
                Value::Null,
                Err("[mask fields], found: null"),
            ),
        ],
    );
}

#[test]
fn value_to_key_and_extract_and_hoist() {
    // ValueToKey.applySchemaless: requireMap (a tombstone throws); key =
    // {f: value.get(f)}.
    let c = chain(&[
        ("transforms", "k"),
        (
            "transforms.k.type",
            "org.apache.kafka.connect.transforms.ValueToKey",
        ),
        ("transforms.k.fields", "id,missing"),
    ]);
    let r = c
        .apply(record(json!("old"), json!({"id": 5, "x": 1})))
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.key, r.value),
        (json!({"id": 5, "missing": null}), json!({"id": 5, "x": 1}))
    );
    let e = c.apply(record(json!("old"), Value::Null)).unwrap_err();
    assert!(
        e.message
            .contains("[copying fields from value to key], found: null"),
        "{e}"
    );

    // ExtractField: null stays null; V1 get (missing → null); V2 paths.
    table(
        "org.apache.kafka.connect.transforms.ExtractField$Value",
        &[
            (
                "V1",
                &[("field", "a")],
                json!({"a": {"b": 1}}),
                Ok(Some(json!({"b": 1}))),
            ),
            (
                "V1 takes dots literally",
                &[("field", "a.b")],
                json!({"a": {"b": 1}, "a.b": 2}),
                Ok(Some(json!(2))),
            ),
            (
                "V1 missing",
                &[("field", "z")],
                json!({"a": 1}),
                Ok(Some(Value::Null)),
            ),
            (
                "V2 path",
                &[("field", "a.b"), ("field.syntax.version", "V2")],
                json!({"a": {"b": 1}}),
                Ok(Some(json!(1))),
            ),
            (
                "V2 backticks",
                &[("field", "`a.b`.c"), ("field.syntax.version", "V2")],
                json!({"a.b": {"c": true}}),
                Ok(Some(json!(true))),
            ),
            (
                "V2 missing step",
                &[("field", "a.x.y"), ("field.syntax.version", "V2")],
                json!({"a": {}}),
                Ok(Some(Value::Null)),
            ),
            (
                "null stays null",
                &[("field", "a")],
                Value::Null,
                Ok(Some(Value::Null)),
            ),
            (
                "a scalar fails",
                &[("field", "a")],
                json!(3),
                Err("[field extraction], found: java.lang.Long"),
            ),
        ],
    );

    // HoistField: always {field: value}, a tombstone included.
    table(
        "org.apache.kafka.connect.transforms.HoistField$Value",
        &[
            (
                "a scalar",
                &[("field", "v")],
                json!(3),
                Ok(Some(json!({"v": 3}))),
            ),
            (
                "a tombstone is no longer one",
                &[("field", "v")],
                Value::Null,
                Ok(Some(json!({"v": null}))),
            ),
        ],
    );
}

#[test]
fn cast() {
    // Cast.applySchemaless / castValueToType: Java primitive conversions.
    table(
        "org.apache.kafka.connect.transforms.Cast$Value",
        &[
            (
                "fields",
                &[("spec", "a:int32,b:string,c:boolean,d:float64,e:int8")],
                json!({"a": 3.9, "b": 12, "c": "TRUE", "d": "2.5", "e": 300}),
                Ok(Some(
                    json!({"a": 3, "b": "12", "c": true, "d": 2.5, "e": 44}),
                )),
            ),
            (
                "a missing field is added as null",
                &[("spec", "z:int64")],
                json!({"a": 1}),
                Ok(Some(json!({"a": 1, "z": null}))),
            ),
            (
                "booleans to numbers",
                &[("spec", "a:int16,b:float32")],
                json!({"a": true, "b": false}),
                Ok(Some(json!({"a": 1, "b": 0.0}))),
            ),
            (
                "numbers to boolean",
                &[("spec", "a:boolean,b:boolean")],
                json!({"a": 0, "b": -0.5}),
                Ok(Some(json!({"a": false, "b": true}))),
            ),
            (
                "string to boolean is parseBoolean",
                &[("spec", "a:boolean")],
                json!({"a": "yes"}),
                Ok(Some(json!({"a": false}))),
            ),
            (
                "double to string is Double.toString",
                &[("spec", "a:string,b:string")],
                json!({"a": 1.0, "b": 1e7}),
                Ok(Some(json!({"a": "1.0", "b": "1.0E7"}))),
            ),
            (
                "float32 keeps float digits",
                &[("spec", "a:float32")],
                json!({"a": 3.9}),
                Ok(Some(json!({"a": 3.9}))),
            ),
            (
                "the whole value",
                &[("spec", "int64")],
                json!("17"),
                Ok(Some(json!(17))),
            ),
            (
                "text that is no integer",
                &[("spec", "a:int32")],
                json!({"a": "3.5"}),
                Err("For input string: \"3.5\""),
            ),
            (
                "a map cannot be cast",
                &[("spec", "a:string")],
                json!({"a": {}}),
                Err("does not support casting to/from MAP"),
            ),
            (
                "a tombstone passes",
                &[("spec", "a:string")],
                Value::Null,
                Ok(Some(Value::Null)),
            ),
        ],
    );
    let p = problems(&[
        ("transforms", "t"),
        ("transforms.t.type", "Cast$Value"),
        ("transforms.t.spec", "a:int128"),
    ]);
    assert!(p[0].contains("Invalid type found in casting spec"), "{p:?}");
    let p = problems(&[
        ("transforms", "t"),
        ("transforms.t.type", "Cast$Value"),
        ("transforms.t.spec", "a:int8,string"),
    ]);
    assert!(p[0].contains("whole value must be its only entry"), "{p:?}");
}

#[test]
fn timestamp_converter() {
    // TimestampConverter: Long → unix, String → format; Double throws;
    // Date/Time/Timestamp are java.util.Date, sent as epoch millis.
    let class = "org.apache.kafka.connect.transforms.TimestampConverter$Value";
    table(
        class,
        &[
            (
                "unix to string",
                &[
                    ("field", "t"),
                    ("target.type", "string"),
                    ("format", "yyyy-MM-dd HH:mm:ss"),
                ],
                json!({"t": 1_700_000_000_123_i64}),
                Ok(Some(json!({"t": "2023-11-14 22:13:20"}))),
            ),
            (
                "string to unix seconds",
                &[
                    ("field", "t"),
                    ("target.type", "unix"),
                    ("format", "yyyy-MM-dd"),
                    ("unix.precision", "seconds"),
                ],
                json!({"t": "2023-11-14"}),
                Ok(Some(json!({"t": 1_699_920_000}))),
            ),
            (
                "seconds in, Timestamp out",
                &[("target.type", "Timestamp"), ("unix.precision", "seconds")],
                json!(1_700_000_000),
                Ok(Some(json!(1_700_000_000_000_i64))),
            ),
            (
                "Date is midnight",
                &[("target.type", "Date")],
                json!(1_700_000_000_123_i64),
                Ok(Some(json!(1_699_920_000_000_i64))),
            ),
            (
                "Time is the time of day",
                &[("target.type", "Time")],
                json!(1_700_000_000_123_i64),
                Ok(Some(json!(80_000_123))),
            ),
            (
                "a missing field is added as null",
                &[("field", "t"), ("target.type", "unix")],
                json!({"a": 1}),
                Ok(Some(json!({"a": 1, "t": null}))),
            ),
            (
                "a double is refused",
                &[("target.type", "unix")],
                json!(1.5),
                Err("does not support class java.lang.Double objects as timestamps"),
            ),
            (
                "text not in the format",
                &[("target.type", "unix"), ("format", "yyyy-MM-dd")],
                json!("14/11/2023"),
                Err("Could not parse timestamp"),
            ),
        ],
    );
    let p = problems(&[
        ("transforms", "t"),
        ("transforms.t.type", class),
        ("transforms.t.target.type", "date"),
    ]);
    assert!(p[0].contains("\"date\" is not a valid value"), "{p:?}");
    let p = problems(&[
        ("transforms", "t"),
        ("transforms.t.type", class),
        ("transforms.t.target.type", "string"),
    ]);
    assert!(p[0].contains("requires format"), "{p:?}");
}

#[test]
fn flatten_and_headers() {
    // Flatten.applySchemaless: recursive, lists copied, nulls kept, an
    // empty nested map disappears.
    table(
        "org.apache.kafka.connect.transforms.Flatten$Value",
        &[
            (
                "nested",
                &[],
                json!({"a": {"b": {"c": 1}, "l": [{"x": 1}], "n": null, "e": {}}, "z": 2}),
                Ok(Some(
                    json!({"a.b.c": 1, "a.l": [{"x": 1}], "a.n": null, "z": 2}),
                )),
            ),
            (
                "a delimiter",
                &[("delimiter", "_")],
                json!({"a": {"b": 1}}),
                Ok(Some(json!({"a_b": 1}))),
            ),
            (
                "a tombstone passes",
                &[],
                Value::Null,
                Ok(Some(Value::Null)),
            ),
        ],
    );

    let c = chain(&[
        ("transforms", "from,ins,drop"),
        (
            "transforms.from.type",
            "org.apache.kafka.connect.transforms.HeaderFrom$Value",
        ),
        ("transforms.from.fields", "id,meta"),
        ("transforms.from.headers", "x-id,x-meta"),
        ("transforms.from.operation", "move"),
        (
            "transforms.ins.type",
            "org.apache.kafka.connect.transforms.InsertHeader",
        ),
        ("transforms.ins.header", "env"),
        ("transforms.ins.value.literal", "prod"),
        (
            "transforms.drop.type",
            "org.apache.kafka.connect.transforms.DropHeaders",
        ),
        ("transforms.drop.headers", "h"),
    ]);
    let r = c
        .apply(record(
            Value::Null,
            json!({"id": "a1", "meta": {"v": 1}, "keep": 1}),
        ))
        .unwrap()
        .unwrap();
    assert_eq!(r.value, json!({"keep": 1}), "move removes the fields");
    assert_eq!(
        r.headers,
        vec![
            ("x-id".to_string(), Some(b"a1".to_vec())),
            ("x-meta".to_string(), Some(br#"{"v":1}"#.to_vec())),
            ("env".to_string(), Some(b"prod".to_vec())),
        ]
    );
    // HeaderFrom requires a map: a tombstone throws.
    assert!(c.apply(record(Value::Null, Value::Null)).is_err());
    let p = problems(&[
        ("transforms", "t"),
        ("transforms.t.type", "HeaderFrom$Value"),
        ("transforms.t.fields", "a,b"),
        ("transforms.t.headers", "x"),
        ("transforms.t.operation", "copy"),
    ]);
    assert!(p[0].contains("same number of elements"), "{p:?}");
}

#[test]
fn routers_change_only_the_topic() {
    let c = chain(&[
        ("transforms", "re"),
        (
            "transforms.re.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.re.regex", "(ord)ers"),
        ("transforms.re.replacement", "$1-v2"),
    ]);
    let r = c
        .apply(record(json!("k"), json!({"a": 1})))
        .unwrap()
        .unwrap();
    assert_eq!((&*r.topic, r.value), ("ord-v2", json!({"a": 1})));
    // A full match is needed.
    let c = chain(&[
        ("transforms", "re"),
        ("transforms.re.type", "RegexRouter"),
        ("transforms.re.regex", "ord"),
        ("transforms.re.replacement", "x"),
    ]);
    assert_eq!(
        &*c.apply(record(json!("k"), json!(1)))
            .unwrap()
            .unwrap()
            .topic,
        "orders"
    );
    let c = chain(&[
        ("transforms", "ts"),
        ("transforms.ts.type", "TimestampRouter"),
    ]);
    assert_eq!(
        &*c.apply(record(json!("k"), json!(1)))
            .unwrap()
            .unwrap()
            .topic,
        "orders-20231114"
    );
    let mut untimed = record(json!("k"), json!(1));
    untimed.timestamp = None;
    assert!(
        c.apply(untimed)
            .unwrap_err()
            .message
            .contains("Timestamp missing")
    );
    let p = problems(&[
        ("transforms", "re"),
        ("transforms.re.type", "RegexRouter"),
        ("transforms.re.regex", "(unclosed"),
        ("transforms.re.replacement", "x"),
    ]);
    assert!(p[0].contains("not a valid regular expression"), "{p:?}");
}

#[test]
fn predicates_and_negate_follow_connects_rule() {
    // TransformationStage.apply: transform iff no predicate, or
    // negate XOR predicate.test(record).
    let drop_tombstones = chain(&[
        ("transforms", "drop"),
        (
            "transforms.drop.type",
            "org.apache.kafka.connect.transforms.Filter",
        ),
        ("transforms.drop.predicate", "tomb"),
        ("predicates", "tomb"),
        (
            "predicates.tomb.type",
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        ),
    ]);
    assert_eq!(
        drop_tombstones.apply(record(json!("k"), Value::Null)),
        Ok(None)
    );
    assert!(
        drop_tombstones
            .apply(record(json!("k"), json!(1)))
            .unwrap()
            .is_some()
    );

    let keep_only_orders = chain(&[
        ("transforms", "drop"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "isOrders"),
        ("transforms.drop.negate", "true"),
        ("predicates", "isOrders"),
        ("predicates.isOrders.type", "TopicNameMatches"),
        ("predicates.isOrders.pattern", "ord.*"),
    ]);
    assert!(
        keep_only_orders
            .apply(record(json!("k"), json!(1)))
            .unwrap()
            .is_some()
    );
    let mut other = record(json!("k"), json!(1));
    other.topic = Arc::from("payments");
    assert_eq!(keep_only_orders.apply(other), Ok(None));

    let has = chain(&[
        ("transforms", "drop"),
        ("transforms.drop.type", "Filter"),
        ("transforms.drop.predicate", "p"),
        ("predicates", "p"),
        ("predicates.p.type", "HasHeaderKey"),
        ("predicates.p.name", "h"),
    ]);
    assert_eq!(has.apply(record(json!("k"), json!(1))), Ok(None));

    let p = problems(&[
        ("transforms", "f"),
        ("transforms.f.type", "Filter"),
        ("transforms.f.negate", "true"),
    ]);
    assert_eq!(
        p,
        [
            "transforms.f.negate: Config 'transforms.f.negate' was provided but there is no config 'transforms.f.predicate' defining a predicate to be negated."
        ]
    );
}

#[test]
fn configuration_errors_name_the_key_to_fix() {
    let p = problems(&[
        ("transforms", "t"),
        (
            "transforms.t.type",
            "org.apache.kafka.connect.transforms.InsertFeild$Value",
        ),
    ]);
    assert_eq!(
        p,
        [
            "transforms.t.type: \"org.apache.kafka.connect.transforms.InsertFeild$Value\" is not a supported class; did you mean \"org.apache.kafka.connect.transforms.InsertField$Value\"?"
        ]
    );
    let p = problems(&[("transforms", "t")]);
    assert_eq!(
        p,
        [
            "transforms.t.type: Missing required configuration \"transforms.t.type\" which has no default value."
        ]
    );
    let p = problems(&[
        ("transforms", "m"),
        ("transforms.m.type", "MaskField$Value"),
        ("transforms.m.fields", "a"),
        ("transforms.m.replacment", "x"),
    ]);
    assert_eq!(
        p,
        [
            "transforms.m.replacment: unknown property of org.apache.kafka.connect.transforms.MaskField$Value; did you mean \"transforms.m.replacement\"?"
        ]
    );
    let p = problems(&[
        ("transforms", "a"),
        ("transforms.b.type", "Filter"),
        ("transforms.a.type", "Filter"),
    ]);
    assert!(
        p[0].contains("alias \"b\" is not listed in `transforms`"),
        "{p:?}"
    );
    let p = problems(&[
        ("transforms", "f"),
        ("transforms.f.type", "Filter"),
        ("transforms.f.predicate", "nope"),
    ]);
    assert!(
        p[0].contains("\"nope\" is not listed in `predicates`"),
        "{p:?}"
    );
    let p = problems(&[
        ("transforms", "f"),
        ("transforms.f.type", "RecordIsTombstone"),
    ]);
    assert!(
        p[0].contains("is a predicate, not a transformation"),
        "{p:?}"
    );
    let eleven: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let list = eleven.join(",");
    let mut props = vec![("transforms".to_string(), list)];
    props.extend(
        eleven
            .iter()
            .map(|a| (format!("transforms.{a}.type"), "Filter".to_string())),
    );
    let p = Chain::configure(&props.into_iter().collect()).unwrap_err();
    assert!(p[0].message.contains("at most 10"), "{p:?}");
}

#[test]
fn confluent_filter_with_jayway_semantics() {
    // Confluent's docs: a matching record is kept (include) or dropped
    // (exclude); a missing field follows missing.or.null.behavior; a null
    // or missing field inside [?()] is undefined and does not match.
    let class = "io.confluent.connect.transforms.Filter$Value";
    let exclude_tests: &[(&str, &str)] = &[
        ("filter.condition", "$[?(@.status == \"test\")]"),
        ("filter.type", "exclude"),
    ];
    let nested: &[(&str, &str)] = &[
        (
            "filter.condition",
            "$.key[?(@.nestedKey == \"value1\" || @.nestedKey == \"value2\")]",
        ),
        ("filter.type", "include"),
    ];
    let path_only: &[(&str, &str)] = &[
        ("filter.condition", "$.a.b"),
        ("filter.type", "include"),
        ("missing.or.null.behavior", "exclude"),
    ];
    table(
        class,
        &[
            (
                "a root filter tests the object itself",
                exclude_tests,
                json!({"status": "test"}),
                Ok(None),
            ),
            (
                "no match is kept by exclude",
                exclude_tests,
                json!({"status": "live"}),
                Ok(Some(json!({"status": "live"}))),
            ),
            (
                "a missing field in [?()] does not match",
                exclude_tests,
                json!({"other": 1}),
                Ok(Some(json!({"other": 1}))),
            ),
            (
                "nested object, matches",
                nested,
                json!({"key": {"nestedKey": "value2"}}),
                Ok(Some(json!({"key": {"nestedKey": "value2"}}))),
            ),
            (
                "nested object, no match",
                nested,
                json!({"key": {"nestedKey": "value3"}}),
                Ok(None),
            ),
            (
                "nested array, one element matches",
                nested,
                json!({"key": [{"nestedKey": "x"}, {"nestedKey": "value1"}]}),
                Ok(Some(
                    json!({"key": [{"nestedKey": "x"}, {"nestedKey": "value1"}]}),
                )),
            ),
            (
                "missing prefix fails by default",
                nested,
                json!({"other": 1}),
                Err("missing.or.null.behavior=fail"),
            ),
            (
                "a present path matches",
                path_only,
                json!({"a": {"b": 0}}),
                Ok(Some(json!({"a": {"b": 0}}))),
            ),
            (
                "a null path is missing",
                path_only,
                json!({"a": {"b": null}}),
                Ok(None),
            ),
        ],
    );
    let p = problems(&[
        ("transforms", "f"),
        ("transforms.f.type", class),
        ("transforms.f.filter.condition", "$[?(@.a == ]"),
        ("transforms.f.filter.type", "include"),
    ]);
    assert!(p[0].contains("is not a valid JSON Path"), "{p:?}");
}

#[test]
fn confluent_drop_tombstones_replace_and_extract_topic() {
    table(
        "io.confluent.connect.transforms.Drop$Value",
        &[(
            "a value becomes a tombstone",
            &[],
            json!({"a": 1}),
            Ok(Some(Value::Null)),
        )],
    );
    table(
        "io.confluent.connect.transforms.TombstoneHandler",
        &[
            ("a tombstone is dropped (warn)", &[], Value::Null, Ok(None)),
            (
                "ignore drops it too",
                &[("behavior", "ignore")],
                Value::Null,
                Ok(None),
            ),
            (
                "fail fails",
                &[("behavior", "fail")],
                Value::Null,
                Err("behavior=fail"),
            ),
            (
                "other records pass",
                &[("behavior", "fail")],
                json!(1),
                Ok(Some(json!(1))),
            ),
        ],
    );
    // Confluent's ReplaceField documentation example, nested renames.
    table(
        "io.confluent.connect.transforms.ReplaceField$Value",
        &[
            (
                "the documented example",
                &[
                    (
                        "renames",
                        "foo.a2:xyz,foo:bar,foo.a3.b1:luck,foo.a3.b2.c1:happy",
                    ),
                    ("exclude", "dont"),
                ],
                json!({"abc": 42, "etc": "etc", "foo": {"a1": "k1", "a2": {"z": 1}, "a3": {"b2": {"c1": "f4"}, "b1": {"c1": "f4"}}}, "dont": "whatever"}),
                Ok(Some(
                    json!({"abc": 42, "etc": "etc", "bar": {"a1": "k1", "xyz": {"z": 1}, "a3": {"b2": {"happy": "f4"}, "luck": {"c1": "f4"}}}}),
                )),
            ),
            (
                "include keeps the path to a nested field",
                &[("include", "foo.a1,abc")],
                json!({"abc": 1, "x": 2, "foo": {"a1": 1, "a2": 2}}),
                Ok(Some(json!({"abc": 1, "foo": {"a1": 1}}))),
            ),
        ],
    );
    let extract = |props: &[(&str, &str)], value: Value| -> Result<String, String> {
        let mut all = vec![("transforms".to_string(), "e".to_string())];
        all.extend(
            props
                .iter()
                .map(|(k, v)| (format!("transforms.e.{k}"), (*v).to_string())),
        );
        let c = Chain::configure(&all.into_iter().collect()).unwrap();
        c.apply(record(json!("k"), value))
            .map(|r| r.unwrap().topic.to_string())
            .map_err(|e| e.message)
    };
    let v = "io.confluent.connect.transforms.ExtractTopic$Value";
    assert_eq!(
        extract(&[("type", v), ("field", "t")], json!({"t": "dest"})),
        Ok("dest".into())
    );
    assert_eq!(
        extract(
            &[
                ("type", v),
                ("field", "$.a.t"),
                ("field.format", "JSON_PATH")
            ],
            json!({"a": {"t": "deep"}})
        ),
        Ok("deep".into())
    );
    assert_eq!(
        extract(
            &[
                ("type", v),
                ("field", "t"),
                ("skip.missing.or.null", "true")
            ],
            json!({})
        ),
        Ok("orders".into())
    );
    assert!(
        extract(&[("type", v), ("field", "t")], json!({}))
            .unwrap_err()
            .contains("missing or null")
    );
    assert_eq!(
        extract(
            &[
                (
                    "type",
                    "io.confluent.connect.transforms.ExtractTopic$Header"
                ),
                ("field", "h")
            ],
            json!(1)
        ),
        Ok("1".into())
    );
}

#[test]
fn a_chain_applies_in_order_and_stops_at_a_drop() {
    let c = chain(&[
        ("transforms", "hoist,insert,mask"),
        ("transforms.hoist.type", "HoistField$Value"),
        ("transforms.hoist.field", "card"),
        ("transforms.insert.type", "InsertField$Value"),
        ("transforms.insert.offset.field", "offset"),
        ("transforms.mask.type", "MaskField$Value"),
        ("transforms.mask.fields", "card"),
    ]);
    assert_eq!(c.aliases(), ["hoist", "insert", "mask"]);
    let r = c.apply(record(json!("k"), json!("4111"))).unwrap().unwrap();
    assert_eq!(r.value, json!({"card": "", "offset": 42}));
    let e = chain(&[
        ("transforms", "x"),
        ("transforms.x.type", "ExtractField$Value"),
        ("transforms.x.field", "a"),
    ])
    .apply(record(json!("k"), json!(1)))
    .unwrap_err();
    assert_eq!(
        (e.class, e.alias.as_str()),
        (
            "org.apache.kafka.connect.transforms.ExtractField$Value",
            "x"
        )
    );
}

#[test]
fn every_catalog_entry_builds_and_knows_its_properties() {
    for plugin in catalog::PLUGINS {
        assert_eq!(
            catalog::find(plugin.class).map(|p| p.class),
            Ok(plugin.class)
        );
        // Unknown keys are reported against the declared properties.
        let root = if plugin.kind() == catalog::Kind::Predicate {
            "predicates"
        } else {
            "transforms"
        };
        let keys: BTreeMap<String, String> = [
            (root.to_string(), "a".to_string()),
            (format!("{root}.a.type"), plugin.class.to_string()),
            (format!("{root}.a.surely.unknown"), "x".to_string()),
        ]
        .into_iter()
        .collect();
        let p = Chain::configure(&keys).unwrap_err();
        assert!(
            p.iter()
                .any(|p| p.property == format!("{root}.a.surely.unknown")),
            "{}: {p:?}",
            plugin.class
        );
        for prop in plugin.properties {
            assert!(
                !(prop.required && prop.default.is_some()),
                "{}: required with a default",
                prop.name
            );
        }
    }
}

/// The payload element of `value` (JSON input) through `c` under each
/// record converter, and the element the same record gets without
/// transforms.
fn rendered(c: &Chain, value: &[u8], converter: RecordConverter) -> (String, String) {
    let source = SourceRecord {
        topic: Arc::from("orders"),
        partition: 0,
        offset: 7,
        timestamp: None,
        timestamp_type: crate::record::TimestampType::CreateTime,
        key: None,
        value: Some(value.to_vec()),
        headers: vec![],
    };
    let rendering = Rendering {
        key: Some(converter),
        value: Some(converter),
        include_headers: false,
        extras: crate::payload::Extras::default(),
    };
    let transformed = match render(c, &source, None, Some(value), rendering) {
        Transformed::Element(e) => String::from_utf8(e).unwrap(),
        other => panic!("{other:?}"),
    };
    let plain = schemaless::render(crate::codec::DataFormat::Json, converter, value).unwrap();
    let untouched = crate::payload::render_element(&source, None, Some(&plain), false);
    (transformed, String::from_utf8(untouched).unwrap())
}

#[test]
fn the_record_converter_renders_what_the_transforms_made() {
    let value = br#"{"id":1,"card":"4111"}"#;
    // A chain that applies to nothing renders exactly as no chain.
    let idle = chain(&[
        ("transforms", "f"),
        ("transforms.f.type", "Filter"),
        ("transforms.f.predicate", "p"),
        ("predicates", "p"),
        ("predicates.p.type", "TopicNameMatches"),
        ("predicates.p.pattern", "never"),
    ]);
    for converter in [
        RecordConverter::Json,
        RecordConverter::EscapedJson,
        RecordConverter::NativeJson,
    ] {
        let (transformed, untouched) = rendered(&idle, value, converter);
        assert_eq!(transformed, untouched, "{converter:?}");
    }
    // Transforms see the JSON, not the converter's text: MaskField finds
    // `card` under the default converter, which then writes Java's text.
    let mask = chain(&[
        ("transforms", "m"),
        ("transforms.m.type", "MaskField$Value"),
        ("transforms.m.fields", "card"),
    ]);
    let (java, _) = rendered(&mask, value, RecordConverter::Json);
    assert!(java.contains(r#""value":"{id=1, card=}""#), "{java}");
    let (escaped, _) = rendered(&mask, value, RecordConverter::EscapedJson);
    assert!(
        escaped.contains(r#""value":"{\"id\":1,\"card\":\"\"}""#),
        "{escaped}"
    );
    let (native, _) = rendered(&mask, value, RecordConverter::NativeJson);
    assert!(native.contains(r#""value":{"id":1,"card":""}"#), "{native}");
}

/// A connector's transform properties (as a Cloud docs page writes them)
/// applied to `input`.
fn documented(props: &[(&str, &str)], input: Record) -> Record {
    chain(props).apply(input).unwrap().unwrap()
}

/// Confluent Cloud's usage pages (docs.confluent.io/cloud/current/connectors/
/// transforms/<name>.html, read 2026-12-03), each example's configuration
/// as the page writes it, and its before and after. Where the page and
/// Apache's source disagree, the source wins and the case says so.
#[test]
fn confluent_cloud_documented_examples() {
    // maskfield.html, "Mask value".
    let r = documented(
        &[
            ("transforms", "MaskField"),
            (
                "transforms.MaskField.type",
                "org.apache.kafka.connect.transforms.MaskField$Value",
            ),
            ("transforms.MaskField.fields", "string_field"),
        ],
        record(
            json!("k"),
            json!({"integer_field": 22, "string_field": "foo"}),
        ),
    );
    assert_eq!(r.value, json!({"integer_field": 22, "string_field": ""}));
    // maskfield.html, "Replace value": three transforms, the third on two fields.
    let r = documented(
        &[
            ("transforms", "SSNMask,IPMask,PhoneMask"),
            (
                "transforms.SSNMask.type",
                "org.apache.kafka.connect.transforms.MaskField$Value",
            ),
            ("transforms.SSNMask.fields", "SSN"),
            ("transforms.SSNMask.replacement", "***-***-****"),
            (
                "transforms.IPMask.type",
                "org.apache.kafka.connect.transforms.MaskField$Value",
            ),
            ("transforms.IPMask.fields", "IPAddress"),
            ("transforms.IPMask.replacement", "xxx.xxx.xxx.xxx"),
            (
                "transforms.PhoneMask.type",
                "org.apache.kafka.connect.transforms.MaskField$Value",
            ),
            ("transforms.PhoneMask.fields", "office,mobile"),
            ("transforms.PhoneMask.replacement", "+0-000-000-0000"),
        ],
        record(
            json!("k"),
            json!({"SSN": "123-45-6789", "IPAddress": "10.1.2.3", "office": "+1-555-0100", "mobile": "+1-555-0199", "name": "Ann"}),
        ),
    );
    assert_eq!(
        r.value,
        json!({"SSN": "***-***-****", "IPAddress": "xxx.xxx.xxx.xxx", "office": "+0-000-000-0000", "mobile": "+0-000-000-0000", "name": "Ann"})
    );
    // cast.html, "Cast value": the page shows "63521704.02"; Apache's
    // Cast.castToString is Double.toString, which writes 6.352170402E7
    // for a double of that size, so that is what a Connect worker sends.
    let cast = |spec: &str, value: Value| {
        documented(
            &[
                ("transforms", "Cast"),
                (
                    "transforms.Cast.type",
                    "org.apache.kafka.connect.transforms.Cast$Value",
                ),
                ("transforms.Cast.spec", spec),
            ],
            record(json!("k"), value),
        )
        .value
    };
    assert_eq!(cast("string", json!(63_521_704.02)), json!("6.352170402E7"));
    assert_eq!(cast("string", json!(4761.5)), json!("4761.5"));
    // cast.html, "Cast comma-separated values".
    let v = cast(
        "ID:string,score:float64",
        json!({"ID": 46290, "score": 4761}),
    );
    assert_eq!(v["ID"], json!("46290"));
    assert_eq!(v["score"].to_string(), "4761.0");
    // flatten.html, "JSON Example".
    let r = documented(
        &[
            ("transforms", "flatten"),
            (
                "transforms.flatten.type",
                "org.apache.kafka.connect.transforms.Flatten$Value",
            ),
            ("transforms.flatten.delimiter", "."),
        ],
        record(
            json!("k"),
            json!({"content": {"id": 42, "name": {"first": "David", "middle": null, "last": "Wong"}}}),
        ),
    );
    assert_eq!(
        r.value,
        json!({"content.id": 42, "content.name.first": "David", "content.name.middle": null, "content.name.last": "Wong"})
    );
    // insertheader.html: header app.id with the literal best-app-ever.
    let r = documented(
        &[
            ("transforms", "insertAppIdHeader"),
            (
                "transforms.insertAppIdHeader.type",
                "org.apache.kafka.connect.transforms.InsertHeader",
            ),
            ("transforms.insertAppIdHeader.header", "app.id"),
            (
                "transforms.insertAppIdHeader.value.literal",
                "best-app-ever",
            ),
        ],
        record(json!("k"), json!({"a": 1})),
    );
    assert_eq!(
        r.headers.last(),
        Some(&("app.id".to_string(), Some(b"best-app-ever".to_vec())))
    );
    // timestamprouter.html: ordersTopic → foo-ordersTopic-201804 (`YYYY`
    // is the week year, which is the calendar year in April).
    let mut april = record(json!("k"), json!({"a": 1}));
    april.topic = Arc::from("ordersTopic");
    april.timestamp = Some(1_523_836_800_000); // 2018-04-16T00:00:00Z
    let r = documented(
        &[
            ("transforms", "TimestampRouter"),
            (
                "transforms.TimestampRouter.type",
                "org.apache.kafka.connect.transforms.TimestampRouter",
            ),
            (
                "transforms.TimestampRouter.topic.format",
                "foo-${topic}-${timestamp}",
            ),
            ("transforms.TimestampRouter.timestamp.format", "YYYYMM"),
        ],
        april,
    );
    assert_eq!(&*r.topic, "foo-ordersTopic-201804");
}

/// More of Confluent's documented examples: extractfield.html ("Extract
/// Field Name" and the ValueToKey + ExtractField chain) and
/// extracttopic.html (its four examples, as the page configures them).
#[test]
fn confluent_documented_extract_examples() {
    let r = documented(
        &[
            ("transforms", "ExtractField"),
            (
                "transforms.ExtractField.type",
                "org.apache.kafka.connect.transforms.ExtractField$Key",
            ),
            ("transforms.ExtractField.field", "id"),
        ],
        record(json!({"id": 42, "cost": 4000}), json!(null)),
    );
    assert_eq!(r.key, json!(42));
    // The chain that keys JDBC rows by c1.
    let r = documented(
        &[
            ("transforms", "createKey,extractInt"),
            (
                "transforms.createKey.type",
                "org.apache.kafka.connect.transforms.ValueToKey",
            ),
            ("transforms.createKey.fields", "c1"),
            (
                "transforms.extractInt.type",
                "org.apache.kafka.connect.transforms.ExtractField$Key",
            ),
            ("transforms.extractInt.field", "c1"),
        ],
        record(json!(null), json!({"c1": 1, "c2": "foo"})),
    );
    assert_eq!((r.key, r.value), (json!(1), json!({"c1": 1, "c2": "foo"})));
    // ExtractTopic's examples, each alone.
    let topic = |props: &[(&str, &str)], key: Value, value: Value| {
        chain(props)
            .apply(record(key, value))
            .map(|r| r.map(|r| r.topic.to_string()))
            .map_err(|e| e.message)
    };
    assert_eq!(
        topic(
            &[
                ("transforms", "KeyExample"),
                (
                    "transforms.KeyExample.type",
                    "io.confluent.connect.transforms.ExtractTopic$Key"
                ),
            ],
            json!("from-key"),
            json!({})
        ),
        Ok(Some("from-key".into()))
    );
    let value_field = [
        ("transforms", "ValueFieldExample"),
        (
            "transforms.ValueFieldExample.type",
            "io.confluent.connect.transforms.ExtractTopic$Value",
        ),
        ("transforms.ValueFieldExample.field", "f2"),
    ];
    assert_eq!(
        topic(&value_field, json!("k"), json!({"f2": "t2"})),
        Ok(Some("t2".into()))
    );
    assert!(
        topic(&value_field, json!("k"), json!({})).is_err(),
        "f2 is required"
    );
    // The page's KeyFieldExample configures $Value, as written.
    let skip = [
        ("transforms", "KeyFieldExample"),
        (
            "transforms.KeyFieldExample.type",
            "io.confluent.connect.transforms.ExtractTopic$Value",
        ),
        ("transforms.KeyFieldExample.field", "f3"),
        ("transforms.KeyFieldExample.skip.missing.or.null", "true"),
    ];
    assert_eq!(
        topic(&skip, json!("k"), json!({"f3": null})),
        Ok(Some("orders".into())),
        "null or missing: the topic is left as-is"
    );
    let json_path = [
        ("transforms", "FieldJsonPathExample"),
        (
            "transforms.FieldJsonPathExample.type",
            "io.confluent.connect.transforms.ExtractTopic$Key",
        ),
        ("transforms.FieldJsonPathExample.field", "[\"f1\"][\"f3\"]"),
        ("transforms.FieldJsonPathExample.field.format", "JSON_PATH"),
        (
            "transforms.FieldJsonPathExample.skip.missing.or.null",
            "true",
        ),
    ];
    assert_eq!(
        topic(&json_path, json!({"f1": {"f3": "nested"}}), json!(1)),
        Ok(Some("nested".into()))
    );
    assert_eq!(
        topic(&json_path, json!({"f1": {}}), json!(1)),
        Ok(Some("orders".into()))
    );
}
