//! Every supported transform and predicate class with its properties:
//! what validation, `plugin describe` and the Connect API's
//! `GET /connector-plugins?connectorsOnly=false` list, and how each is
//! built. A class may be given by its full name or, when unambiguous, by
//! its simple name (`InsertField$Value`).

use crate::{Invalid, invalid};
use std::sync::Arc;

use super::predicates::{self, Built as BuiltPredicate};
use super::props::{PropertyDoc, Props};
use super::record::{Built, Part, Predicate, Transform};
use super::{apache, confluent};

/// A transform or a predicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `transforms.<alias>.type`.
    Transform,
    /// `predicates.<alias>.type`.
    Predicate,
}

impl Kind {
    /// Connect's plugin type name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transform => "transformation",
            Self::Predicate => "predicate",
        }
    }
}

type BuildTransform = fn(&mut Props, Part) -> Built;
type BuildPredicate = fn(&mut Props) -> BuiltPredicate;

#[derive(Debug)]
enum Build {
    Transform(BuildTransform, Part),
    Predicate(BuildPredicate),
}

/// One supported class.
#[derive(Debug)]
pub struct Plugin {
    /// Full class name.
    pub class: &'static str,
    /// What it does, in a line.
    pub doc: &'static str,
    /// Its own properties (transforms also take `predicate` and `negate`).
    pub properties: &'static [PropertyDoc],
    build: Build,
}

impl Plugin {
    /// Transform or predicate.
    pub fn kind(&self) -> Kind {
        match self.build {
            Build::Transform(..) => Kind::Transform,
            Build::Predicate(_) => Kind::Predicate,
        }
    }

    /// The class name without its package.
    pub fn simple_name(&self) -> &'static str {
        self.class.rsplit('.').next().unwrap_or(self.class)
    }
}

const fn prop(
    name: &'static str,
    kind: &'static str,
    required: bool,
    default: Option<&'static str>,
    doc: &'static str,
) -> PropertyDoc {
    PropertyDoc {
        name,
        kind,
        required,
        default,
        doc,
    }
}

const fn transform(
    class: &'static str,
    doc: &'static str,
    properties: &'static [PropertyDoc],
    build: BuildTransform,
    part: Part,
) -> Plugin {
    Plugin {
        class,
        doc,
        properties,
        build: Build::Transform(build, part),
    }
}

const fn predicate(
    class: &'static str,
    doc: &'static str,
    properties: &'static [PropertyDoc],
    build: BuildPredicate,
) -> Plugin {
    Plugin {
        class,
        doc,
        properties,
        build: Build::Predicate(build),
    }
}

const NULL_DEFAULT: PropertyDoc = prop(
    "replace.null.with.default",
    "BOOLEAN",
    false,
    Some("true"),
    "Schema'd records only: replace null fields by their schema default. Accepted; lambda-sink's records are schemaless here.",
);

const INSERT_FIELD: &[PropertyDoc] = &[
    prop(
        "topic.field",
        "STRING",
        false,
        None,
        "Field for the record's topic (a trailing ! or ? only affects schemas).",
    ),
    prop(
        "partition.field",
        "STRING",
        false,
        None,
        "Field for the record's partition.",
    ),
    prop(
        "offset.field",
        "STRING",
        false,
        None,
        "Field for the record's offset.",
    ),
    prop(
        "timestamp.field",
        "STRING",
        false,
        None,
        "Field for the record's timestamp (epoch milliseconds).",
    ),
    prop(
        "static.field",
        "STRING",
        false,
        None,
        "Field for a fixed value.",
    ),
    prop(
        "static.value",
        "STRING",
        false,
        None,
        "The fixed value of static.field.",
    ),
    NULL_DEFAULT,
];
const REPLACE_FIELD: &[PropertyDoc] = &[
    prop("exclude", "LIST", false, Some(""), "Fields to drop."),
    prop(
        "include",
        "LIST",
        false,
        Some(""),
        "Fields to keep (all when empty).",
    ),
    prop("renames", "LIST", false, Some(""), "old:new renames."),
    prop(
        "blacklist",
        "LIST",
        false,
        None,
        "Deprecated name of exclude.",
    ),
    prop(
        "whitelist",
        "LIST",
        false,
        None,
        "Deprecated name of include.",
    ),
    NULL_DEFAULT,
];
const MASK_FIELD: &[PropertyDoc] = &[
    prop(
        "fields",
        "LIST",
        true,
        None,
        "Fields to mask (a missing one is added as null).",
    ),
    prop(
        "replacement",
        "STRING",
        false,
        None,
        "Replacement text, converted to the field's type; without it, the type's empty value.",
    ),
    NULL_DEFAULT,
];
const VALUE_TO_KEY: &[PropertyDoc] = &[
    prop(
        "fields",
        "LIST",
        true,
        None,
        "Value fields that form the new key.",
    ),
    NULL_DEFAULT,
];
const EXTRACT_FIELD: &[PropertyDoc] = &[
    prop("field", "STRING", true, None, "The field to extract."),
    prop(
        "field.syntax.version",
        "STRING",
        false,
        Some("V1"),
        "V1: a field name; V2: a dotted path, backticks quoting a step with dots.",
    ),
    NULL_DEFAULT,
];
const HOIST_FIELD: &[PropertyDoc] = &[prop(
    "field",
    "STRING",
    true,
    None,
    "The field that wraps the whole key or value.",
)];
const CAST: &[PropertyDoc] = &[
    prop(
        "spec",
        "LIST",
        true,
        None,
        "field:type entries, or one type for the whole value (int8, int16, int32, int64, float32, float64, boolean, string).",
    ),
    NULL_DEFAULT,
];
const TIMESTAMP_CONVERTER: &[PropertyDoc] = &[
    prop(
        "field",
        "STRING",
        false,
        Some(""),
        "The field holding the timestamp; empty: the whole value.",
    ),
    prop(
        "target.type",
        "STRING",
        true,
        None,
        "string, unix, Date, Time or Timestamp.",
    ),
    prop(
        "format",
        "STRING",
        false,
        None,
        "SimpleDateFormat pattern (UTC) to parse and write text timestamps.",
    ),
    prop(
        "unix.precision",
        "STRING",
        false,
        Some("milliseconds"),
        "Unit of unix timestamps: seconds, milliseconds, microseconds, nanoseconds.",
    ),
    NULL_DEFAULT,
];
const FLATTEN: &[PropertyDoc] = &[prop(
    "delimiter",
    "STRING",
    false,
    Some("."),
    "Joins nested field names.",
)];
const INSERT_HEADER: &[PropertyDoc] = &[
    prop("header", "STRING", true, None, "The header's name."),
    prop(
        "value.literal",
        "STRING",
        true,
        None,
        "The header's value (null: a null header).",
    ),
];
const DROP_HEADERS: &[PropertyDoc] = &[prop(
    "headers",
    "LIST",
    true,
    None,
    "Names of the headers to remove.",
)];
const HEADER_FROM: &[PropertyDoc] = &[
    prop("fields", "LIST", true, None, "Fields to read."),
    prop(
        "headers",
        "LIST",
        true,
        None,
        "Header names, one per field.",
    ),
    prop("operation", "STRING", true, None, "move or copy."),
    NULL_DEFAULT,
];
const REGEX_ROUTER: &[PropertyDoc] = &[
    prop(
        "regex",
        "STRING",
        true,
        None,
        "Regular expression the whole topic must match.",
    ),
    prop(
        "replacement",
        "STRING",
        true,
        None,
        "The new topic; $1 refers to a group.",
    ),
];
const TIMESTAMP_ROUTER: &[PropertyDoc] = &[
    prop(
        "topic.format",
        "STRING",
        false,
        Some("${topic}-${timestamp}"),
        "The new topic, with ${topic} and ${timestamp}.",
    ),
    prop(
        "timestamp.format",
        "STRING",
        false,
        Some("yyyyMMdd"),
        "SimpleDateFormat pattern (UTC) of ${timestamp}.",
    ),
];
const TOPIC_NAME_MATCHES: &[PropertyDoc] = &[prop(
    "pattern",
    "STRING",
    true,
    None,
    "Regular expression the whole topic must match.",
)];
const HAS_HEADER_KEY: &[PropertyDoc] = &[prop("name", "STRING", true, None, "The header name.")];
const CONFLUENT_FILTER: &[PropertyDoc] = &[
    prop(
        "filter.condition",
        "STRING",
        true,
        None,
        "JSON Path predicate (Jayway syntax), e.g. $[?(@.status == \"test\")].",
    ),
    prop(
        "filter.type",
        "STRING",
        true,
        None,
        "include or exclude the records the condition matches.",
    ),
    prop(
        "missing.or.null.behavior",
        "STRING",
        false,
        Some("fail"),
        "When a field the condition uses is missing or null: fail, include or exclude.",
    ),
];
const CONFLUENT_DROP: &[PropertyDoc] = &[prop(
    "schema.behavior",
    "STRING",
    false,
    Some("nullify"),
    "nullify, retain, validate or force_optional (schemas only).",
)];
const TOMBSTONE_HANDLER: &[PropertyDoc] = &[prop(
    "behavior",
    "STRING",
    false,
    Some("warn"),
    "ignore or warn: drop tombstones; fail: fail on one.",
)];
const EXTRACT_TOPIC: &[PropertyDoc] = &[
    prop(
        "field",
        "STRING",
        false,
        Some(""),
        "The field (or, for $Header, the header) holding the topic; empty: the whole key or value.",
    ),
    prop(
        "field.format",
        "STRING",
        false,
        Some("plain"),
        "plain: a field name; JSON_PATH: a JSON Path.",
    ),
    prop(
        "skip.missing.or.null",
        "BOOLEAN",
        false,
        Some("false"),
        "Keep the topic when the field is missing or null, instead of failing.",
    ),
];
const NONE: &[PropertyDoc] = &[];

const AK: &str = "org.apache.kafka.connect.transforms.";

/// Every supported class, Apache Kafka's first.
pub static PLUGINS: &[Plugin] = &[
    transform(
        "org.apache.kafka.connect.transforms.InsertField$Key",
        "Insert the topic, partition, offset, timestamp or a fixed value into the key.",
        INSERT_FIELD,
        apache::insert_field,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.InsertField$Value",
        "Insert the topic, partition, offset, timestamp or a fixed value into the value.",
        INSERT_FIELD,
        apache::insert_field,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.ReplaceField$Key",
        "Keep, drop or rename key fields.",
        REPLACE_FIELD,
        apache::replace_field,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.ReplaceField$Value",
        "Keep, drop or rename value fields.",
        REPLACE_FIELD,
        apache::replace_field,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.MaskField$Key",
        "Replace key fields by an empty value or a replacement.",
        MASK_FIELD,
        apache::mask_field,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.MaskField$Value",
        "Replace value fields by an empty value or a replacement.",
        MASK_FIELD,
        apache::mask_field,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.ValueToKey",
        "Replace the key by fields of the value.",
        VALUE_TO_KEY,
        apache::value_to_key,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.ExtractField$Key",
        "Replace the key by one of its fields.",
        EXTRACT_FIELD,
        apache::extract_field,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.ExtractField$Value",
        "Replace the value by one of its fields.",
        EXTRACT_FIELD,
        apache::extract_field,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.HoistField$Key",
        "Wrap the key in an object with one field.",
        HOIST_FIELD,
        apache::hoist_field,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.HoistField$Value",
        "Wrap the value in an object with one field.",
        HOIST_FIELD,
        apache::hoist_field,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.Cast$Key",
        "Cast key fields (or the whole key) to another primitive type.",
        CAST,
        apache::cast,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.Cast$Value",
        "Cast value fields (or the whole value) to another primitive type.",
        CAST,
        apache::cast,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.TimestampConverter$Key",
        "Convert a timestamp in the key between text, unix and Connect's types.",
        TIMESTAMP_CONVERTER,
        apache::timestamp_converter,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.TimestampConverter$Value",
        "Convert a timestamp in the value between text, unix and Connect's types.",
        TIMESTAMP_CONVERTER,
        apache::timestamp_converter,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.Flatten$Key",
        "Flatten nested key objects into dotted names.",
        FLATTEN,
        apache::flatten,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.Flatten$Value",
        "Flatten nested value objects into dotted names.",
        FLATTEN,
        apache::flatten,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.InsertHeader",
        "Add a header with a literal value.",
        INSERT_HEADER,
        apache::insert_header,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.DropHeaders",
        "Remove headers by name.",
        DROP_HEADERS,
        apache::drop_headers,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.HeaderFrom$Key",
        "Copy or move key fields into headers.",
        HEADER_FROM,
        apache::header_from,
        Part::Key,
    ),
    transform(
        "org.apache.kafka.connect.transforms.HeaderFrom$Value",
        "Copy or move value fields into headers.",
        HEADER_FROM,
        apache::header_from,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.Filter",
        "Drop the record (use with a predicate).",
        NONE,
        apache::filter,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.RegexRouter",
        "Rename the topic the function is told, by regular expression.",
        REGEX_ROUTER,
        apache::regex_router,
        Part::Value,
    ),
    transform(
        "org.apache.kafka.connect.transforms.TimestampRouter",
        "Rename the topic the function is told, by the record's timestamp.",
        TIMESTAMP_ROUTER,
        apache::timestamp_router,
        Part::Value,
    ),
    predicate(
        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
        "The topic matches a regular expression.",
        TOPIC_NAME_MATCHES,
        predicates::topic_name_matches,
    ),
    predicate(
        "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        "The record has a header with this name.",
        HAS_HEADER_KEY,
        predicates::has_header_key,
    ),
    predicate(
        "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        "The value is null.",
        NONE,
        predicates::record_is_tombstone,
    ),
    transform(
        "io.confluent.connect.transforms.Filter$Key",
        "Keep or drop records whose key matches a JSON Path condition.",
        CONFLUENT_FILTER,
        confluent::filter,
        Part::Key,
    ),
    transform(
        "io.confluent.connect.transforms.Filter$Value",
        "Keep or drop records whose value matches a JSON Path condition.",
        CONFLUENT_FILTER,
        confluent::filter,
        Part::Value,
    ),
    transform(
        "io.confluent.connect.transforms.Drop$Key",
        "Set the key to null.",
        CONFLUENT_DROP,
        confluent::drop_part,
        Part::Key,
    ),
    transform(
        "io.confluent.connect.transforms.Drop$Value",
        "Set the value to null (a tombstone).",
        CONFLUENT_DROP,
        confluent::drop_part,
        Part::Value,
    ),
    transform(
        "io.confluent.connect.transforms.TombstoneHandler",
        "Drop tombstones, or fail on them.",
        TOMBSTONE_HANDLER,
        confluent::tombstone_handler,
        Part::Value,
    ),
    transform(
        "io.confluent.connect.transforms.ReplaceField$Key",
        "Keep, drop or rename key fields, nested paths included.",
        REPLACE_FIELD,
        confluent::replace_field,
        Part::Key,
    ),
    transform(
        "io.confluent.connect.transforms.ReplaceField$Value",
        "Keep, drop or rename value fields, nested paths included.",
        REPLACE_FIELD,
        confluent::replace_field,
        Part::Value,
    ),
    transform(
        "io.confluent.connect.transforms.ExtractTopic$Key",
        "Tell the function a topic taken from the key.",
        EXTRACT_TOPIC,
        confluent::extract_topic,
        Part::Key,
    ),
    transform(
        "io.confluent.connect.transforms.ExtractTopic$Value",
        "Tell the function a topic taken from the value.",
        EXTRACT_TOPIC,
        confluent::extract_topic,
        Part::Value,
    ),
    transform(
        "io.confluent.connect.transforms.ExtractTopic$Header",
        "Tell the function a topic taken from a header.",
        EXTRACT_TOPIC,
        confluent::extract_topic_header,
        Part::Value,
    ),
];

/// The class configured as `text`: its full name, or its simple name when
/// only one class has it.
///
/// # Errors
/// Unknown (with the closest names) or ambiguous, as a message.
pub fn find(text: &str) -> Result<&'static Plugin, Invalid> {
    let text = text.trim();
    if let Some(p) = PLUGINS.iter().find(|p| p.class == text) {
        return Ok(p);
    }
    let simple: Vec<&Plugin> = PLUGINS.iter().filter(|p| p.simple_name() == text).collect();
    match simple.as_slice() {
        [one] => return Ok(one),
        [] => {}
        many => {
            return Err(invalid!(
                "{text:?} is ambiguous; write the full class name: {}",
                many.iter()
                    .map(|p| p.class)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
    }
    let wanted = text.rsplit('.').next().unwrap_or(text);
    let mut close: Vec<(&Plugin, usize)> = PLUGINS
        .iter()
        .map(|p| (p, strsim::levenshtein(wanted, p.simple_name())))
        .filter(|(_, d)| *d <= 3)
        .collect();
    close.sort_by_key(|(_, d)| *d);
    let hint = match close.first() {
        Some((p, _)) => format!("did you mean \"{}\"?", p.class),
        None => format!(
            "`lambda-sink plugin describe` lists the supported transforms and predicates (Apache Kafka's under {AK}, Confluent's under io.confluent.connect.transforms.)"
        ),
    };
    Err(invalid!("{text:?} is not a supported class; {hint}"))
}

/// Reads `type` and the class's properties into a transform.
pub(super) fn build_transform(props: &mut Props) -> Option<(&'static str, Box<dyn Transform>)> {
    let plugin = plugin_of(props, Kind::Transform)?;
    let Build::Transform(build, part) = plugin.build else {
        return None;
    };
    build(props, part).map(|t| (plugin.class, t))
}

/// Reads `type` and the class's properties into a predicate.
pub(super) fn build_predicate(props: &mut Props) -> Option<Arc<dyn Predicate>> {
    let plugin = plugin_of(props, Kind::Predicate)?;
    let Build::Predicate(build) = plugin.build else {
        return None;
    };
    build(props)
}

fn plugin_of(props: &mut Props, kind: Kind) -> Option<&'static Plugin> {
    let class = props.required("type")?;
    let plugin = match find(&class) {
        Ok(p) => p,
        Err(e) => {
            props.problem("type", e);
            return None;
        }
    };
    if plugin.kind() != kind {
        props.problem(
            "type",
            format!(
                "{} is a {}, not a {}",
                plugin.class,
                plugin.kind().as_str(),
                kind.as_str()
            ),
        );
        return None;
    }
    props.set_class(plugin.class, plugin.properties);
    Some(plugin)
}
