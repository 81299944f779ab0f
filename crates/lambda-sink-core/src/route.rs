//! Which outcome a batch gets and what is written for it (SPEC §4): the one
//! decision over invocation type × `behavior.on.error` × the configured
//! result, error and dead letter topics, as a pure function.
//!
//! The pipeline invokes, hands what came of it to [`route`] (or a record
//! that cannot be processed to [`dead_letter`]) and carries out the
//! [`Resolution`]: it writes the records [`Write`] names, then commits — or
//! stops the connector with nothing committed.

use crate::config::{BehaviorOnError, Config, InvocationType, OnFailure};
use crate::dead_letter::{DeadLetter, RECORD_AGE_EXCEEDED, RETRY_ATTEMPTS_EXHAUSTED};
use crate::failure::InvokeFailure;
use crate::outcome::{self, BatchError, ErrorClass, ResultValue};

/// A response from Lambda (200, 202 or 204).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoked {
    /// HTTP status.
    pub status: u16,
    /// `X-Amz-Function-Error` (`Unhandled`, `Handled`): the function failed.
    pub function_error: Option<String>,
    /// The function's response (sync) or empty (async).
    pub payload: Vec<u8>,
}

/// How a record was resolved: the `outcome` label of
/// `lambda_sink_records_resolved_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Sync: the function returned a result.
    Success,
    /// Async: Lambda queued the event (202).
    Accepted,
    /// The function or invocation failed and `behavior.on.error=ignore`.
    Ignored,
    /// The function failed and `behavior.on.error=log`.
    FunctionError,
    /// Invoking failed after retries (sync) and `behavior.on.error=log`.
    InvocationError,
    /// Sent to the dead letter queue.
    DeadLetter,
    /// Dropped by a transform (`transforms=`): never invoked, committed.
    Filtered,
    /// Its key is parked (`aws.lambda.on.key.failure=park`): written to
    /// the parked topic and committed; resolved again when released.
    Parked,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::FunctionError => "function_error",
            Self::InvocationError => "invocation_error",
            Self::DeadLetter => "dlq",
            Self::Filtered => "filtered",
            Self::Parked => "parked",
        }
    }
}

/// The part of the configuration that decides outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `aws.lambda.invocation.type`.
    pub invocation: InvocationType,
    /// `behavior.on.error`.
    pub behavior: BehaviorOnError,
    /// A result topic is configured (`aws.lambda.response.*`, sync only).
    pub results: bool,
    /// An error topic is configured.
    pub errors: bool,
    /// A dead letter queue is configured (`errors.tolerance=all`).
    pub dlq: bool,
    /// `aws.lambda.on.failure=dlq` (with a DLQ): failed batches go to it.
    pub failures_to_dlq: bool,
}

impl Policy {
    /// The policy of a connector.
    pub fn of(config: &Config) -> Self {
        Self {
            invocation: config.lambda.invocation_type,
            behavior: config.lambda.behavior_on_error,
            results: config.reporter.result.is_some(),
            errors: config.reporter.error.is_some(),
            dlq: config.errors.dlq.is_some(),
            failures_to_dlq: config.lambda.on_failure == OnFailure::Dlq
                && config.errors.dlq.is_some(),
        }
    }
}

/// What came of invoking a batch, retries included.
#[derive(Clone, Copy, Debug)]
pub enum Finished<'a> {
    /// Lambda answered.
    Answered(&'a Invoked),
    /// Retries ran out (`aws.lambda.retry.timeout.ms`).
    GaveUp(&'a InvokeFailure),
    /// The function answered with a partial batch response naming these
    /// records as failed (`aws.lambda.batch.item.failures`).
    ItemsFailed(&'a Invoked),
    /// The function's partial batch response is malformed, for this
    /// reason: the whole batch failed.
    BadItemFailures(&'a Invoked, &'a str),
    /// The records are older than `aws.lambda.max.record.age.ms` (this):
    /// they were not invoked.
    Expired(std::time::Duration),
}

/// What is written for every record of the batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Nothing: the records are resolved as they are.
    Nothing,
    /// One result per record to the result topic.
    Results(Vec<ResultValue>),
    /// The error, once per record, to the error topic.
    Errors(BatchError),
    /// Each record, with this error's context, to the dead letter queue.
    DeadLetters(DeadLetter),
}

/// Why the connector stops instead of resolving the batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Stop {
    /// `behavior.on.error=fail` and the batch failed.
    Failed(BatchError),
    /// A record cannot be processed and there is no DLQ
    /// (`errors.tolerance=none`).
    Intolerable(DeadLetter),
}

/// The decision for a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolution {
    /// Write what [`Write`] says, then commit the records as `Outcome`.
    Resolved(Outcome, Write),
    /// Stop the connector; commit nothing of the batch.
    Stop(Stop),
}

/// The resolution of a batch of `records` records after `finished`.
pub fn route(records: usize, finished: Finished<'_>, policy: &Policy) -> Resolution {
    match (policy.invocation, finished) {
        // 202: Lambda has queued the batch; there is no result to write.
        (InvocationType::Async, Finished::Answered(_)) => {
            Resolution::Resolved(Outcome::Accepted, Write::Nothing)
        }
        // Lambda never took the event: the records go to the DLQ.
        (InvocationType::Async, Finished::GaveUp(failure)) => dead_letter(
            DeadLetter::task_put(format!(
                "Lambda did not accept the event within aws.lambda.retry.timeout.ms: {}: {}",
                failure.error_type(),
                failure.message
            )),
            policy,
        ),
        (InvocationType::Sync, Finished::GaveUp(failure)) => {
            failed(BatchError::invocation(failure), policy)
        }
        (_, Finished::ItemsFailed(invoked)) => failed(
            BatchError {
                class: ErrorClass::Function,
                error_type: "BatchItemFailure".into(),
                status_code: invoked.status,
                body: ResultValue::from_body(&invoked.payload),
            },
            policy,
        ),
        (invocation, Finished::Expired(max_age)) => {
            let message = format!(
                "the record is older than aws.lambda.max.record.age.ms ({} ms) and was not invoked",
                max_age.as_millis()
            );
            if invocation == InvocationType::Async {
                // As a batch Lambda never accepted: to the DLQ.
                return dead_letter(DeadLetter::task_put(message), policy);
            }
            failed_as(
                BatchError {
                    class: ErrorClass::Invocation,
                    error_type: RECORD_AGE_EXCEEDED.into(),
                    status_code: 0,
                    body: ResultValue::Json(serde_json::json!({
                        "errorType": RECORD_AGE_EXCEEDED,
                        "errorMessage": message,
                    })),
                },
                RECORD_AGE_EXCEEDED,
                policy,
            )
        }
        (_, Finished::BadItemFailures(invoked, reason)) => failed(
            BatchError {
                class: ErrorClass::Function,
                error_type: "InvalidBatchItemFailures".into(),
                status_code: invoked.status,
                body: ResultValue::Json(serde_json::json!({
                    "errorMessage": format!("the function's partial batch response is invalid: {reason}"),
                    "response": String::from_utf8_lossy(&invoked.payload),
                })),
            },
            policy,
        ),
        (InvocationType::Sync, Finished::Answered(invoked)) => match &invoked.function_error {
            Some(function_error) => failed(
                BatchError {
                    class: ErrorClass::Function,
                    error_type: function_error.clone(),
                    status_code: invoked.status,
                    body: ResultValue::from_body(&invoked.payload),
                },
                policy,
            ),
            None if policy.results => Resolution::Resolved(
                Outcome::Success,
                Write::Results(outcome::map_response(&invoked.payload, records)),
            ),
            None => Resolution::Resolved(Outcome::Success, Write::Nothing),
        },
    }
}

/// A record that cannot be processed: to the DLQ, or stop without one.
pub fn dead_letter(dead: DeadLetter, policy: &Policy) -> Resolution {
    if policy.dlq {
        Resolution::Resolved(Outcome::DeadLetter, Write::DeadLetters(dead))
    } else {
        Resolution::Stop(Stop::Intolerable(dead))
    }
}

/// A batch whose invocations failed (sync): see [`failed_as`].
fn failed(error: BatchError, policy: &Policy) -> Resolution {
    failed_as(error, RETRY_ATTEMPTS_EXHAUSTED, policy)
}

/// A failed batch: to the DLQ with `aws.lambda.on.failure=dlq` (saying
/// ESM's `condition`), else `behavior.on.error` decides.
fn failed_as(error: BatchError, condition: &'static str, policy: &Policy) -> Resolution {
    if policy.failures_to_dlq {
        return Resolution::Resolved(
            Outcome::DeadLetter,
            Write::DeadLetters(DeadLetter::on_failure(&error, condition)),
        );
    }
    match policy.behavior {
        BehaviorOnError::Fail => Resolution::Stop(Stop::Failed(error)),
        BehaviorOnError::Ignore => Resolution::Resolved(Outcome::Ignored, Write::Nothing),
        BehaviorOnError::Log => {
            let outcome = match error.class {
                ErrorClass::Function => Outcome::FunctionError,
                ErrorClass::Invocation => Outcome::InvocationError,
            };
            if policy.errors {
                Resolution::Resolved(outcome, Write::Errors(error))
            } else {
                Resolution::Resolved(outcome, Write::Nothing)
            }
        }
    }
}

/// How the function failed the records of an answered batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionFailure {
    /// `X-Amz-Function-Error`: the whole batch.
    Error,
    /// A partial batch response named the first failed record.
    Items,
    /// A partial batch response that cannot be read: the whole batch.
    Malformed,
}

/// What follows a function failure of some records, as the event source
/// mapping does it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Invoke each half on its own (`aws.lambda.bisect.on.function.error`;
    /// it uses up no retry).
    Bisect,
    /// Invoke them again after a backoff
    /// (`aws.lambda.function.error.max.retries`).
    Retry,
    /// Resolve them as failed ([`route`]).
    Resolve,
}

/// What follows when the function failed `failed` records (`how`) that
/// have been retried `retries` times: with `bisect`, a batch of more than
/// one record the function failed as a whole is split; otherwise it is
/// retried while `max_retries` allows (`None`: forever), then resolved.
pub fn after_function_failure(
    how: FunctionFailure,
    failed: usize,
    retries: u32,
    bisect: bool,
    max_retries: Option<u32>,
) -> AfterFailure {
    if bisect && failed > 1 && how == FunctionFailure::Error {
        AfterFailure::Bisect
    } else if max_retries.is_none_or(|max| retries < max) {
        AfterFailure::Retry
    } else {
        AfterFailure::Resolve
    }
}

#[cfg(test)]
#[allow(
    clippy::too_many_lines,
    reason = "table tests: a table reads best whole"
)]
mod tests {
    use super::*;
    use crate::dead_letter::Stage;

    /// What a row expects, in few letters: the outcome label (or `stop:` and
    /// why) and what is written (`-` for nothing).
    fn summary(r: &Resolution) -> (String, &'static str) {
        match r {
            Resolution::Resolved(o, w) => (
                o.as_str().to_string(),
                match w {
                    Write::Nothing => "-",
                    Write::Results(_) => "results",
                    Write::Errors(_) => "errors",
                    Write::DeadLetters(_) => "dlq",
                },
            ),
            Resolution::Stop(Stop::Failed(_)) => ("stop:failed".into(), "-"),
            Resolution::Stop(Stop::Intolerable(_)) => ("stop:intolerable".into(), "-"),
        }
    }

    #[test]
    fn every_invocation_type_behaviour_topic_and_result() {
        use BehaviorOnError::{Fail, Ignore, Log};
        use InvocationType::{Async, Sync};
        let ok = Invoked {
            status: 200,
            function_error: None,
            payload: br#"[{"payload":1},{"payload":2}]"#.to_vec(),
        };
        let function_error = Invoked {
            status: 200,
            function_error: Some("Unhandled".into()),
            payload: br#"{"errorMessage":"boom"}"#.to_vec(),
        };
        let gave_up = InvokeFailure {
            status: Some(429),
            code: Some("TooManyRequestsException".into()),
            message: "Rate exceeded".into(),
            retry_after: None,
            transport: None,
        };
        // (type, behavior.on.error, topics configured, result) → (outcome, written)
        #[rustfmt::skip]
        let table = [
            (Sync, Fail, true, "ok", "success", "results"),
            (Sync, Fail, false, "ok", "success", "-"),
            (Sync, Fail, true, "function_error", "stop:failed", "-"),
            (Sync, Fail, false, "function_error", "stop:failed", "-"),
            (Sync, Fail, true, "gave_up", "stop:failed", "-"),
            (Sync, Fail, false, "gave_up", "stop:failed", "-"),
            (Sync, Ignore, true, "ok", "success", "results"),
            (Sync, Ignore, false, "ok", "success", "-"),
            (Sync, Ignore, true, "function_error", "ignored", "-"),
            (Sync, Ignore, false, "function_error", "ignored", "-"),
            (Sync, Ignore, true, "gave_up", "ignored", "-"),
            (Sync, Ignore, false, "gave_up", "ignored", "-"),
            (Sync, Log, true, "ok", "success", "results"),
            (Sync, Log, false, "ok", "success", "-"),
            (Sync, Log, true, "function_error", "function_error", "errors"),
            (Sync, Log, false, "function_error", "function_error", "-"),
            (Sync, Log, true, "gave_up", "invocation_error", "errors"),
            (Sync, Log, false, "gave_up", "invocation_error", "-"),
            // Partial batch responses: the failed part is a function error.
            (Sync, Fail, true, "items_failed", "stop:failed", "-"),
            (Sync, Ignore, true, "items_failed", "ignored", "-"),
            (Sync, Log, true, "items_failed", "function_error", "errors"),
            (Sync, Log, false, "items_failed", "function_error", "-"),
            (Sync, Fail, true, "bad_items", "stop:failed", "-"),
            (Sync, Log, true, "bad_items", "function_error", "errors"),
            (Sync, Log, true, "expired", "invocation_error", "errors"),
            (Sync, Fail, true, "expired", "stop:failed", "-"),
            (Async, Log, true, "expired", "dlq", "dlq"),
            // Async: 202 carries no result and no function error; a batch
            // Lambda never accepted is dead-lettered (or stops without a DLQ).
            (Async, Fail, true, "ok", "accepted", "-"),
            (Async, Fail, false, "ok", "accepted", "-"),
            (Async, Fail, true, "gave_up", "dlq", "dlq"),
            (Async, Fail, false, "gave_up", "stop:intolerable", "-"),
            (Async, Ignore, true, "ok", "accepted", "-"),
            (Async, Ignore, false, "ok", "accepted", "-"),
            (Async, Ignore, true, "gave_up", "dlq", "dlq"),
            (Async, Ignore, false, "gave_up", "stop:intolerable", "-"),
            (Async, Log, true, "ok", "accepted", "-"),
            (Async, Log, false, "ok", "accepted", "-"),
            (Async, Log, true, "gave_up", "dlq", "dlq"),
            (Async, Log, false, "gave_up", "stop:intolerable", "-"),
        ];
        for (invocation, behavior, topics, result, outcome, written) in table {
            let policy = Policy {
                invocation,
                behavior,
                results: topics,
                errors: topics,
                dlq: topics,
                failures_to_dlq: false,
            };
            let finished = match result {
                "ok" => Finished::Answered(&ok),
                "function_error" => Finished::Answered(&function_error),
                "items_failed" => Finished::ItemsFailed(&ok),
                "bad_items" => Finished::BadItemFailures(&ok, "not a list"),
                "expired" => Finished::Expired(std::time::Duration::from_secs(60)),
                _ => Finished::GaveUp(&gave_up),
            };
            let got = route(2, finished, &policy);
            assert_eq!(
                summary(&got),
                (outcome.to_string(), written),
                "{invocation:?} {behavior:?} topics={topics} {result}"
            );
        }
    }

    #[test]
    fn what_is_written_carries_the_response_and_the_error() {
        let policy = Policy {
            invocation: InvocationType::Sync,
            behavior: BehaviorOnError::Log,
            results: true,
            errors: true,
            dlq: true,
            failures_to_dlq: false,
        };
        let ok = Invoked {
            status: 200,
            function_error: None,
            payload: br#"[{"payload":"a"},{"payload":"b"}]"#.to_vec(),
        };
        assert_eq!(
            route(2, Finished::Answered(&ok), &policy),
            Resolution::Resolved(
                Outcome::Success,
                Write::Results(vec![
                    ResultValue::Json(serde_json::json!("a")),
                    ResultValue::Json(serde_json::json!("b")),
                ])
            )
        );
        let failed = Invoked {
            status: 200,
            function_error: Some("Handled".into()),
            payload: b"not json".to_vec(),
        };
        let Resolution::Resolved(_, Write::Errors(e)) =
            route(2, Finished::Answered(&failed), &policy)
        else {
            panic!("a function error with an error topic writes errors");
        };
        assert_eq!(e.class, ErrorClass::Function);
        assert_eq!(e.error_type, "Handled");
        assert_eq!(e.body, ResultValue::Text("not json".into()));
    }

    #[test]
    fn async_dead_letters_say_why_lambda_did_not_take_the_event() {
        let policy = Policy {
            invocation: InvocationType::Async,
            behavior: BehaviorOnError::Fail,
            results: false,
            errors: false,
            dlq: true,
            failures_to_dlq: false,
        };
        let failure = InvokeFailure {
            status: Some(503),
            code: Some("ServiceException".into()),
            message: "try later".into(),
            retry_after: None,
            transport: None,
        };
        let Resolution::Resolved(Outcome::DeadLetter, Write::DeadLetters(d)) =
            route(3, Finished::GaveUp(&failure), &policy)
        else {
            panic!("dead letters expected");
        };
        assert_eq!(d.stage, Stage::TaskPut);
        assert!(
            d.message.contains("ServiceException: try later"),
            "{}",
            d.message
        );
    }

    #[test]
    fn on_failure_dlq_sends_failed_batches_to_the_dlq_with_esms_context() {
        let policy = Policy {
            invocation: InvocationType::Sync,
            behavior: BehaviorOnError::Fail,
            results: true,
            errors: true,
            dlq: true,
            failures_to_dlq: true,
        };
        let failed = Invoked {
            status: 200,
            function_error: Some("Unhandled".into()),
            payload: br#"{"errorMessage":"boom"}"#.to_vec(),
        };
        let Resolution::Resolved(Outcome::DeadLetter, Write::DeadLetters(dead)) =
            route(1, Finished::Answered(&failed), &policy)
        else {
            panic!("not dead-lettered");
        };
        let context = dead.failure.expect("ESM's context");
        assert_eq!(
            (
                context.condition,
                context.status_code,
                context.function_error.as_str()
            ),
            ("RetryAttemptsExhausted", 200, "Unhandled")
        );
        assert!(dead.message.contains("boom"), "{}", dead.message);
        let Resolution::Resolved(_, Write::DeadLetters(old)) = route(
            1,
            Finished::Expired(std::time::Duration::from_secs(60)),
            &policy,
        ) else {
            panic!("not dead-lettered");
        };
        assert_eq!(old.failure.map(|f| f.condition), Some("RecordAgeExceeded"));
        // Successes are untouched.
        let ok = Invoked {
            status: 200,
            function_error: None,
            payload: b"{}".to_vec(),
        };
        assert!(matches!(
            route(1, Finished::Answered(&ok), &policy),
            Resolution::Resolved(Outcome::Success, _)
        ));
    }

    #[test]
    fn after_a_function_failure() {
        use AfterFailure::{Bisect, Resolve, Retry};
        use FunctionFailure::{Error, Items, Malformed};
        // (how, failed records, retries so far, bisect, max retries, next)
        let cases = [
            (Error, 4, 0, true, Some(0), Bisect),
            (Error, 4, 3, true, Some(1), Bisect),
            (Error, 1, 0, true, Some(0), Resolve),
            (Error, 1, 0, true, Some(2), Retry),
            (Items, 4, 0, true, Some(2), Retry),
            (Malformed, 4, 0, true, Some(0), Resolve),
            (Error, 4, 0, false, Some(2), Retry),
            (Error, 4, 1, false, Some(2), Retry),
            (Error, 4, 2, false, Some(2), Resolve),
            (Error, 4, 1_000, false, None, Retry),
            (Error, 4, 0, false, Some(0), Resolve),
        ];
        for (how, failed, retries, bisect, max, next) in cases {
            assert_eq!(
                after_function_failure(how, failed, retries, bisect, max),
                next,
                "{how:?} {failed} records, {retries} retries, bisect {bisect}, max {max:?}"
            );
        }
    }
}
