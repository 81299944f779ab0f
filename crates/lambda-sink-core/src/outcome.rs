//! What happens to records after an invocation (SPEC §4): mapping a
//! response to per-record results, the outcome records written to Kafka, and
//! the one classification of invocation failures.
//!
//! Every failure answers one question — what happens to the record? — through
//! [`classify`]: retry with backoff, split the batch, or stop the connector.

use std::time::Duration;

use serde_json::Value;

use crate::codec::schemaless::json_string;
use crate::config::ReporterValueFormat;
use crate::record::SourceRecord;

/// The result (or error) value written for a record.
#[derive(Clone, Debug, PartialEq)]
pub enum ResultValue {
    /// JSON.
    Json(Value),
    /// A body that is not JSON.
    Text(String),
}

impl ResultValue {
    /// Parses a body: JSON when it is JSON, text otherwise.
    pub fn from_body(body: &[u8]) -> Self {
        match serde_json::from_slice(body) {
            Ok(v) => Self::Json(v),
            Err(_) => Self::Text(String::from_utf8_lossy(body).into_owned()),
        }
    }

    /// The bytes written to an outcome topic. `string` (Confluent's bytes):
    /// the JSON text as a JSON string literal. `json`: the JSON itself (a
    /// non-JSON body becomes a JSON string, so the value is always JSON).
    pub fn encode(&self, format: ReporterValueFormat) -> Vec<u8> {
        match (self, format) {
            (Self::Json(v), ReporterValueFormat::String) => json_string(&v.to_string()),
            (Self::Json(v), ReporterValueFormat::Json) => v.to_string().into_bytes(),
            (Self::Text(t), _) => json_string(t),
        }
    }
}

/// Maps a successful response body to one result per record: an array with
/// one element per record gives element *i* to record *i* (its `payload`
/// member when it is an object that has one); any other body (object,
/// scalar, wrong length, not JSON) is the result of every record.
pub fn map_response(body: &[u8], records: usize) -> Vec<ResultValue> {
    match ResultValue::from_body(body) {
        ResultValue::Json(Value::Array(items)) if items.len() == records => items
            .into_iter()
            .map(|item| match item {
                Value::Object(mut map) if map.contains_key("payload") => {
                    ResultValue::Json(map.shift_remove("payload").unwrap_or(Value::Null))
                }
                other => ResultValue::Json(other),
            })
            .collect(),
        other => vec![other; records],
    }
}

/// Whether an error came from the function or from invoking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The function ran and failed (`X-Amz-Function-Error`).
    Function,
    /// Lambda could not run it (retries exhausted).
    Invocation,
}

impl ErrorClass {
    /// Header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Invocation => "invocation",
        }
    }
}

/// An error that applies to every record of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchError {
    /// Function or invocation.
    pub class: ErrorClass,
    /// `X-Amz-Function-Error` (e.g. `Unhandled`) or the AWS error code.
    pub error_type: String,
    /// HTTP status; 0 when no response arrived (timeout, connection).
    pub status_code: u16,
    /// The error body written as the error record's value.
    pub body: ResultValue,
}

impl BatchError {
    /// An invocation error after retries: the body is a JSON object with the
    /// AWS error code and message.
    pub fn invocation(failure: &InvokeFailure) -> Self {
        let error_type = failure.error_type();
        Self {
            class: ErrorClass::Invocation,
            body: ResultValue::Json(serde_json::json!({
                "errorType": error_type,
                "errorMessage": failure.message,
            })),
            error_type,
            status_code: failure.status.unwrap_or(0),
        }
    }
}

/// Headers of a result record: where the input record came from.
pub fn input_record_headers(record: &SourceRecord) -> Vec<(&'static str, String)> {
    vec![
        ("input_record_topic", record.topic.to_string()),
        ("input_record_partition", record.partition.to_string()),
        ("input_record_offset", record.offset.to_string()),
        (
            "input_record_timestamp",
            record.timestamp.map_or_else(String::new, |t| t.to_string()),
        ),
    ]
}

/// Headers of an error record: the input record's, plus the error's.
pub fn error_headers(record: &SourceRecord, error: &BatchError) -> Vec<(&'static str, String)> {
    let mut h = input_record_headers(record);
    h.push(("error_type", error.error_type.clone()));
    h.push(("error_class", error.class.as_str().to_string()));
    h.push(("status_code", error.status_code.to_string()));
    h
}

/// Where a record that cannot be processed failed (`__connect.errors.stage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The key could not be decoded.
    KeyConverter,
    /// The value could not be decoded.
    ValueConverter,
    /// The record could not be delivered to Lambda (too large, or an async
    /// enqueue that kept failing).
    TaskPut,
    /// A transform (`transforms=`) failed on the record.
    Transformation,
}

impl Stage {
    /// Header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyConverter => "KEY_CONVERTER",
            Self::ValueConverter => "VALUE_CONVERTER",
            Self::TaskPut => "TASK_PUT",
            Self::Transformation => "TRANSFORMATION",
        }
    }
}

/// Why a record goes to the dead letter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where it failed.
    pub stage: Stage,
    /// The class that failed (`__connect.errors.class.name`): the converter
    /// for converter stages, the sink task for `TASK_PUT`.
    pub class_name: String,
    /// The exception class (`__connect.errors.exception.class.name`).
    pub exception_class: String,
    /// What went wrong.
    pub message: String,
    /// For a batch failure sent here by `aws.lambda.on.failure=dlq`: ESM's
    /// on-failure context.
    pub failure: Option<FailureContext>,
}

/// ESM's on-failure `condition` of a batch whose invocations failed.
pub const RETRY_ATTEMPTS_EXHAUSTED: &str = "RetryAttemptsExhausted";
/// ESM's on-failure `condition` of a record too old to invoke (and the
/// `error_type` of its error record).
pub const RECORD_AGE_EXCEEDED: &str = "RecordAgeExceeded";

/// What ESM's on-failure destination record says of a failed batch, as
/// `lambda.*` headers of each dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureContext {
    /// [`RETRY_ATTEMPTS_EXHAUSTED`], or [`RECORD_AGE_EXCEEDED`] for a
    /// record never invoked.
    pub condition: &'static str,
    /// Invocations of the record (0 when too old to invoke).
    pub approximate_invoke_count: u32,
    /// The function (`name[:qualifier]`).
    pub function: String,
    /// The HTTP status of the last answer, 0 without one.
    pub status_code: u16,
    /// `X-Amz-Function-Error` or the error type.
    pub function_error: String,
}

impl DeadLetter {
    /// A batch that failed for good, sent to the DLQ as ESM sends it to its
    /// on-failure destination; the pipeline fills in the invoke count and
    /// the function.
    pub fn on_failure(error: &BatchError, condition: &'static str) -> Self {
        let message = match &error.body {
            ResultValue::Json(v) => v.to_string(),
            ResultValue::Text(t) => t.clone(),
        };
        Self {
            stage: Stage::TaskPut,
            class_name: SINK_TASK_CLASS.to_string(),
            exception_class: CONNECT_EXCEPTION.to_string(),
            message: format!(
                "{} error ({}): {message}",
                error.class.as_str(),
                error.error_type
            ),
            failure: Some(FailureContext {
                condition,
                approximate_invoke_count: 0,
                function: String::new(),
                status_code: error.status_code,
                function_error: error.error_type.clone(),
            }),
        }
    }

    /// A key or value that `format`'s converter cannot decode.
    pub fn converter(stage: Stage, format: crate::codec::DataFormat, message: String) -> Self {
        Self {
            stage,
            class_name: converter_class(format).to_string(),
            exception_class: DATA_EXCEPTION.to_string(),
            message,
            failure: None,
        }
    }

    /// A record a transform failed on (`TRANSFORMATION`), naming the
    /// transform's class.
    pub fn transformation(error: &crate::transform::TransformError) -> Self {
        Self {
            stage: Stage::Transformation,
            class_name: error.class.to_string(),
            exception_class: DATA_EXCEPTION.to_string(),
            message: error.to_string(),
            failure: None,
        }
    }

    /// A record that cannot be delivered to Lambda (`TASK_PUT`).
    pub fn task_put(message: String) -> Self {
        Self {
            stage: Stage::TaskPut,
            class_name: SINK_TASK_CLASS.to_string(),
            exception_class: CONNECT_EXCEPTION.to_string(),
            message,
            failure: None,
        }
    }
}

/// Kafka Connect's exception class for data that cannot be converted.
pub const DATA_EXCEPTION: &str = "org.apache.kafka.connect.errors.DataException";
/// Kafka Connect's exception class for a failure to deliver.
pub const CONNECT_EXCEPTION: &str = "org.apache.kafka.connect.errors.ConnectException";
/// The class named for `TASK_PUT` failures (Confluent's sink task).
pub const SINK_TASK_CLASS: &str = "io.confluent.connect.aws.lambda.AwsLambdaSinkTask";

/// The converter class Kafka Connect would have used for `format`
/// (`__connect.errors.class.name` of converter failures).
pub fn converter_class(format: crate::codec::DataFormat) -> &'static str {
    use crate::codec::DataFormat;
    match format {
        DataFormat::Avro => "io.confluent.connect.avro.AvroConverter",
        DataFormat::JsonSr => "io.confluent.connect.json.JsonSchemaConverter",
        DataFormat::Protobuf => "io.confluent.connect.protobuf.ProtobufConverter",
        DataFormat::Json => "org.apache.kafka.connect.json.JsonConverter",
        DataFormat::String => "org.apache.kafka.connect.storage.StringConverter",
        DataFormat::Bytes => "org.apache.kafka.connect.converters.ByteArrayConverter",
    }
}

/// The `__connect.errors.*` headers of a DLQ record (appended to the
/// record's own headers when context headers are enabled).
pub fn dlq_headers(
    record: &SourceRecord,
    connector: &str,
    task: usize,
    dead: &DeadLetter,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("__connect.errors.topic", record.topic.to_string()),
        ("__connect.errors.partition", record.partition.to_string()),
        ("__connect.errors.offset", record.offset.to_string()),
        ("__connect.errors.connector.name", connector.to_string()),
        ("__connect.errors.task.id", task.to_string()),
        ("__connect.errors.stage", dead.stage.as_str().to_string()),
        ("__connect.errors.class.name", dead.class_name.clone()),
        (
            "__connect.errors.exception.class.name",
            dead.exception_class.clone(),
        ),
        ("__connect.errors.exception.message", dead.message.clone()),
    ];
    if let Some(f) = &dead.failure {
        headers.extend([
            ("lambda.requestContext.condition", f.condition.to_string()),
            (
                "lambda.requestContext.approximateInvokeCount",
                f.approximate_invoke_count.to_string(),
            ),
            ("lambda.requestContext.functionArn", f.function.clone()),
            (
                "lambda.responseContext.statusCode",
                f.status_code.to_string(),
            ),
            (
                "lambda.responseContext.functionError",
                f.function_error.clone(),
            ),
        ]);
    }
    headers
}

/// How an invocation failed, as the Lambda adapter saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeFailure {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// AWS error code (`TooManyRequestsException`, ...), when the response had one.
    pub code: Option<String>,
    /// Message for people.
    pub message: String,
    /// `Retry-After`, when the response had one.
    pub retry_after: Option<Duration>,
    /// Failures without a response.
    pub transport: Option<Transport>,
}

impl InvokeFailure {
    /// The AWS error code, else a name for the transport failure.
    pub fn error_type(&self) -> String {
        match (&self.code, self.transport) {
            (Some(code), _) => code.clone(),
            (None, Some(t)) => t.as_str().to_string(),
            (None, None) => format!("HTTP{}", self.status.unwrap_or(0)),
        }
    }
}

/// A failure with no HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `aws.lambda.socket.timeout` expired.
    Timeout,
    /// Could not connect.
    Connect,
    /// The connection broke.
    Io,
    /// Credentials could not be loaded.
    Credentials,
    /// The request could not be built: a bug or a bad configuration.
    Construction,
}

impl Transport {
    /// Name used as the error type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "Timeout",
            Self::Connect => "ConnectionError",
            Self::Io => "IoError",
            Self::Credentials => "CredentialsError",
            Self::Construction => "RequestError",
        }
    }
}

/// Why a retry happens (a metric label: low cardinality).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryReason {
    /// 429: concurrency or rate limits.
    Throttled,
    /// 5xx from Lambda.
    ServerError,
    /// The function is being updated or is not ready (409, 502 not-ready).
    NotReady,
    /// No response within the socket timeout (or 408).
    Timeout,
    /// Connection refused, reset or broken.
    Connection,
    /// Credentials expired or could not be loaded.
    Credentials,
    /// The Schema Registry cannot be reached.
    Registry,
    /// Kafka cannot be reached (or did not acknowledge a record yet).
    Kafka,
}

impl RetryReason {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::ServerError => "server_error",
            Self::NotReady => "not_ready",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Credentials => "credentials",
            Self::Registry => "registry",
            Self::Kafka => "kafka",
        }
    }
}

/// What happens to the record after a failure: the one answer every
/// adapter's error gives ([`Disposed`]) — Lambda's invocations, the Schema
/// Registry, the outcome producer, the consumer and the start-up probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: retry after a backoff (the core's [`Backoff`](crate::retry::Backoff);
    /// at least `Retry-After` when given).
    Retry(RetryReason),
    /// The request is too large: split the batch in halves.
    Split,
    /// The record itself cannot be processed (e.g. its schema does not
    /// exist): it goes to the DLQ, or stops the connector under
    /// `errors.tolerance=none`.
    DeadLetter(String),
    /// A configuration or permission problem: stop the connector, commit
    /// nothing for the work concerned, and tell the operator what to fix.
    Stop(String),
}

/// An error that knows what happens to the record it concerns.
pub trait Disposed {
    /// The disposition of this error.
    fn disposition(&self) -> Disposition;
}

impl Disposed for InvokeFailure {
    fn disposition(&self) -> Disposition {
        classify(self)
    }
}

/// The one classification of invocation failures (SPEC §4.1).
pub fn classify(f: &InvokeFailure) -> Disposition {
    use Disposition::{Retry, Split, Stop};
    use RetryReason as R;
    if let Some(t) = f.transport {
        return match t {
            Transport::Timeout => Retry(R::Timeout),
            Transport::Connect | Transport::Io => Retry(R::Connection),
            Transport::Credentials => Retry(R::Credentials),
            Transport::Construction => Stop(format!(
                "the invoke request could not be built: {}; check aws.lambda.endpoint and the function name",
                f.message
            )),
        };
    }
    let code = f.code.as_deref().unwrap_or("");
    match (f.status.unwrap_or(0), code) {
        (_, "TooManyRequestsException") | (429, _) => Retry(R::Throttled),
        (_, "RequestTooLargeException" | "SerializedRequestEntityTooLargeException") | (413, _) => {
            Split
        }
        (_, "ResourceNotFoundException") | (404, _) => Stop(format!(
            "the function was not found ({code}: {}): check aws.lambda.function.name (or aws.lambda.topic2function.map), its version or alias, and aws.lambda.region",
            f.message
        )),
        (_, "ExpiredTokenException" | "ExpiredToken" | "RequestExpired") => Retry(R::Credentials),
        (
            _,
            "ResourceConflictException"
            | "ResourceNotReadyException"
            | "SnapStartNotReadyException",
        ) => Retry(R::NotReady),
        (
            _,
            "EC2ThrottledException"
            | "EC2UnexpectedException"
            | "ENILimitReachedException"
            | "SubnetIPAddressLimitReachedException"
            | "EFSIOException"
            | "EFSMountTimeoutException"
            | "SnapStartTimeoutException"
            | "ServiceException",
        ) => Retry(R::ServerError),
        (_, c) if is_function_configuration_error(c) => Stop(format!(
            "the function's own configuration prevents it from running ({code}: {}): fix the function (its KMS key, VPC, file system, runtime or code) in AWS",
            f.message
        )),
        (
            _,
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException"
            | "IncompleteSignature"
            | "SignatureDoesNotMatch",
        )
        | (401 | 403, _) => Stop(format!(
            "Lambda refused the credentials or permissions ({code}: {}): check aws.access.key.id / aws.secret.access.key (or the default credential chain), aws.iam.role.arn, and that the identity may call lambda:InvokeFunction on the function",
            f.message
        )),
        (408, _) => Retry(R::Timeout),
        (409, _) => Retry(R::NotReady),
        (s, _) if s >= 500 => Retry(R::ServerError),
        _ => Stop(format!(
            "Lambda rejected the request ({}: {}): check the function configuration and aws.lambda.* properties",
            f.error_type(),
            f.message
        )),
    }
}

/// 5xx codes that will not go away by retrying: the function is misconfigured.
fn is_function_configuration_error(code: &str) -> bool {
    matches!(
        code,
        "KMSAccessDeniedException"
            | "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSNotFoundException"
            | "InvalidRuntimeException"
            | "InvalidZipFileException"
            | "InvalidSecurityGroupIDException"
            | "InvalidSubnetIDException"
            | "EC2AccessDeniedException"
            | "EFSMountFailureException"
            | "EFSMountConnectivityException"
            | "SnapStartException"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn service(status: u16, code: &str) -> InvokeFailure {
        InvokeFailure {
            status: Some(status),
            code: Some(code.to_string()),
            message: "m".into(),
            retry_after: None,
            transport: None,
        }
    }

    #[test]
    fn every_aws_error_code_has_a_disposition() {
        use Disposition::{Retry, Split};
        use RetryReason as R;
        let table: &[(u16, &str, Option<Disposition>)] = &[
            (429, "TooManyRequestsException", Some(Retry(R::Throttled))),
            (413, "RequestTooLargeException", Some(Split)),
            (413, "SerializedRequestEntityTooLargeException", Some(Split)),
            (500, "ServiceException", Some(Retry(R::ServerError))),
            (502, "EC2ThrottledException", Some(Retry(R::ServerError))),
            (502, "EC2UnexpectedException", Some(Retry(R::ServerError))),
            (502, "ENILimitReachedException", Some(Retry(R::ServerError))),
            (
                502,
                "SubnetIPAddressLimitReachedException",
                Some(Retry(R::ServerError)),
            ),
            (410, "EFSIOException", Some(Retry(R::ServerError))),
            (408, "EFSMountTimeoutException", Some(Retry(R::ServerError))),
            (502, "ResourceNotReadyException", Some(Retry(R::NotReady))),
            (409, "ResourceConflictException", Some(Retry(R::NotReady))),
            (409, "SnapStartNotReadyException", Some(Retry(R::NotReady))),
            (
                408,
                "SnapStartTimeoutException",
                Some(Retry(R::ServerError)),
            ),
            (403, "ExpiredTokenException", Some(Retry(R::Credentials))),
            (503, "", Some(Retry(R::ServerError))),
            (504, "", Some(Retry(R::ServerError))),
            (408, "", Some(Retry(R::Timeout))),
            (409, "", Some(Retry(R::NotReady))),
            (404, "ResourceNotFoundException", None),
            (403, "AccessDeniedException", None),
            (403, "UnrecognizedClientException", None),
            (403, "InvalidSignatureException", None),
            (401, "", None),
            (400, "InvalidParameterValueException", None),
            (400, "InvalidRequestContentException", None),
            (400, "RecursiveInvocationException", None),
            (415, "UnsupportedMediaTypeException", None),
            (502, "KMSAccessDeniedException", None),
            (502, "KMSDisabledException", None),
            (502, "KMSInvalidStateException", None),
            (502, "KMSNotFoundException", None),
            (502, "InvalidRuntimeException", None),
            (502, "InvalidZipFileException", None),
            (502, "InvalidSecurityGroupIDException", None),
            (502, "InvalidSubnetIDException", None),
            (502, "EC2AccessDeniedException", None),
            (403, "EFSMountFailureException", None),
            (408, "EFSMountConnectivityException", None),
            (500, "SnapStartException", None),
        ];
        for (status, code, expected) in table {
            let got = classify(&service(*status, code));
            match expected {
                Some(d) => assert_eq!(&got, d, "{status} {code}"),
                None => assert!(
                    matches!(got, Disposition::Stop(_)),
                    "{status} {code}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn stop_messages_say_what_to_fix() {
        let Disposition::Stop(m) = classify(&service(404, "ResourceNotFoundException")) else {
            panic!("not a stop")
        };
        assert!(m.contains("check aws.lambda.function.name"), "{m}");
        let Disposition::Stop(m) = classify(&service(403, "AccessDeniedException")) else {
            panic!("not a stop")
        };
        assert!(m.contains("lambda:InvokeFunction"), "{m}");
    }

    #[test]
    fn transport_failures() {
        let t = |transport| InvokeFailure {
            status: None,
            code: None,
            message: "m".into(),
            retry_after: None,
            transport: Some(transport),
        };
        assert_eq!(
            classify(&t(Transport::Timeout)),
            Disposition::Retry(RetryReason::Timeout)
        );
        assert_eq!(
            classify(&t(Transport::Connect)),
            Disposition::Retry(RetryReason::Connection)
        );
        assert_eq!(
            classify(&t(Transport::Io)),
            Disposition::Retry(RetryReason::Connection)
        );
        assert_eq!(
            classify(&t(Transport::Credentials)),
            Disposition::Retry(RetryReason::Credentials)
        );
        assert!(matches!(
            classify(&t(Transport::Construction)),
            Disposition::Stop(_)
        ));
        assert_eq!(t(Transport::Timeout).error_type(), "Timeout");
    }

    #[test]
    fn response_mapping_rules() {
        let confluent = br#"[{"payload": {"timestamp": 1, "offset": 0, "partition": 0, "topic": "add-topic", "result": {"sum": 2}}},
                              {"other": 1}]"#;
        let mapped = map_response(confluent, 2);
        assert_eq!(
            mapped[0],
            ResultValue::Json(
                json!({"timestamp": 1, "offset": 0, "partition": 0, "topic": "add-topic", "result": {"sum": 2}})
            )
        );
        assert_eq!(
            mapped[1],
            ResultValue::Json(json!({"other": 1})),
            "no payload member: the element"
        );
        // Wrong length, object, scalar, not JSON: the whole body for each record.
        assert_eq!(
            map_response(b"[1, 2, 3]", 2),
            vec![ResultValue::Json(json!([1, 2, 3])); 2]
        );
        assert_eq!(
            map_response(br#"{"ok": true}"#, 3),
            vec![ResultValue::Json(json!({"ok": true})); 3]
        );
        assert_eq!(map_response(b"7", 1), vec![ResultValue::Json(json!(7))]);
        assert_eq!(
            map_response(b"done!", 2),
            vec![ResultValue::Text("done!".into()); 2]
        );
        assert_eq!(map_response(b"[]", 0), vec![]);
    }

    #[test]
    fn result_values_in_both_formats_keep_order() {
        let v = map_response(
            br#"[{"payload": {"timestamp": 1598334450575, "offset": 0, "partition": 0, "topic": "add-topic", "result": {"sum": 2}}}]"#,
            1,
        );
        assert_eq!(
            String::from_utf8(v[0].encode(ReporterValueFormat::String)).unwrap(),
            r#""{\"timestamp\":1598334450575,\"offset\":0,\"partition\":0,\"topic\":\"add-topic\",\"result\":{\"sum\":2}}""#
        );
        assert_eq!(
            String::from_utf8(v[0].encode(ReporterValueFormat::Json)).unwrap(),
            r#"{"timestamp":1598334450575,"offset":0,"partition":0,"topic":"add-topic","result":{"sum":2}}"#
        );
        assert_eq!(
            ResultValue::Text("x".into()).encode(ReporterValueFormat::Json),
            br#""x""#
        );
    }

    #[test]
    fn outcome_headers() {
        let r = SourceRecord {
            topic: Arc::from("t"),
            partition: 2,
            offset: 9,
            timestamp: Some(5),
            timestamp_type: crate::record::TimestampType::CreateTime,
            key: None,
            value: None,
            headers: vec![],
        };
        let e = BatchError::invocation(&service(429, "TooManyRequestsException"));
        assert_eq!(
            error_headers(&r, &e),
            vec![
                ("input_record_topic", "t".to_string()),
                ("input_record_partition", "2".into()),
                ("input_record_offset", "9".into()),
                ("input_record_timestamp", "5".into()),
                ("error_type", "TooManyRequestsException".into()),
                ("error_class", "invocation".into()),
                ("status_code", "429".into()),
            ]
        );
        assert_eq!(
            e.body,
            ResultValue::Json(
                json!({"errorType": "TooManyRequestsException", "errorMessage": "m"})
            )
        );
        let dead = DeadLetter {
            stage: Stage::ValueConverter,
            class_name: "org.apache.kafka.connect.json.JsonConverter".into(),
            exception_class: DATA_EXCEPTION.into(),
            message: "not valid JSON".into(),
            failure: None,
        };
        let h = dlq_headers(&r, "my-sink", 0, &dead);
        assert_eq!(
            h[5],
            ("__connect.errors.stage", "VALUE_CONVERTER".to_string())
        );
        assert_eq!(h.len(), 9);
    }
}
