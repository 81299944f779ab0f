//! Records that cannot be processed ([`DeadLetter`]): where they failed,
//! why, and the `__connect.errors.*` headers (with ESM's on-failure context)
//! they carry to the dead letter queue.

use crate::outcome::{BatchError, ResultValue};
use crate::record::SourceRecord;

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

/// The headers of ESM's on-failure context that [`dlq_headers`] writes, for
/// the readers of dead letters (the console) to name the same ones.
pub mod context {
    /// `RetryAttemptsExhausted` or `RecordAgeExceeded`.
    pub const CONDITION: &str = "lambda.requestContext.condition";
    /// Invocations of the record.
    pub const INVOKE_COUNT: &str = "lambda.requestContext.approximateInvokeCount";
    /// The function as configured.
    pub const FUNCTION: &str = "lambda.requestContext.functionArn";
    /// The HTTP status of the last answer.
    pub const STATUS_CODE: &str = "lambda.responseContext.statusCode";
    /// `X-Amz-Function-Error` or the error type.
    pub const FUNCTION_ERROR: &str = "lambda.responseContext.functionError";
    /// Records that failed together.
    pub const BATCH_SIZE: &str = "lambda.kafkaBatchInfo.batchSize";
    /// Their first offset.
    pub const FIRST_OFFSET: &str = "lambda.kafkaBatchInfo.firstRecordOffset";
    /// Their last offset.
    pub const LAST_OFFSET: &str = "lambda.kafkaBatchInfo.lastRecordOffset";
    /// The record the function named, when it did (lambda-sink's own).
    pub const FAILED_OFFSET: &str = "lambda-sink.failedRecordOffset";
    /// Every one of them.
    pub const ALL: [&str; 9] = [
        CONDITION,
        INVOKE_COUNT,
        FUNCTION,
        STATUS_CODE,
        FUNCTION_ERROR,
        BATCH_SIZE,
        FIRST_OFFSET,
        LAST_OFFSET,
        FAILED_OFFSET,
    ];
}

/// Whether `key` is a header [`dlq_headers`] adds to a dead letter (Kafka
/// Connect's `__connect.errors.*` or ESM's context), not one of the
/// record's own.
pub fn is_added_header(key: &str) -> bool {
    key.starts_with("__connect.errors.") || context::ALL.contains(&key)
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
    /// The failed records of the batch, as ESM's `KafkaBatchInfo` counts
    /// them; the pipeline fills it in.
    pub batch: Option<FailedBatch>,
}

/// Which records of a batch failed together, and which one the function
/// named, when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedBatch {
    /// Records that failed together (ESM's `batchSize`).
    pub size: usize,
    /// Their first offset (`firstRecordOffset`).
    pub first_offset: i64,
    /// Their last offset (`lastRecordOffset`).
    pub last_offset: i64,
    /// The record the function reported failed (the first of a partial
    /// batch response, or the only record of a batch of one); `None` when
    /// the function failed the batch as a whole.
    pub failed_offset: Option<i64>,
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
                batch: None,
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
            (context::CONDITION, f.condition.to_string()),
            (
                context::INVOKE_COUNT,
                f.approximate_invoke_count.to_string(),
            ),
            (context::FUNCTION, f.function.clone()),
            (context::STATUS_CODE, f.status_code.to_string()),
            (context::FUNCTION_ERROR, f.function_error.clone()),
        ]);
        if let Some(b) = &f.batch {
            headers.extend([
                (context::BATCH_SIZE, b.size.to_string()),
                (context::FIRST_OFFSET, b.first_offset.to_string()),
                (context::LAST_OFFSET, b.last_offset.to_string()),
            ]);
            if let Some(offset) = b.failed_offset {
                headers.push((context::FAILED_OFFSET, offset.to_string()));
            }
        }
    }
    headers
}
