//! The Kafka side of a task's transactions: librdkafka's transactional
//! producer, the task's consumer (group metadata, committed offsets), the
//! start-up check that turns a cluster or ACLs refusing transactions into
//! what to fix, and how each librdkafka error is handled ([`classify`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::Map;
use lambda_sink_core::config::{ClientProperties, ClientValue, Transactions as Bounds};
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::transaction::Committed;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use tracing::info;

use super::port::{Class, Txn, TxnError};
use super::transactor::{Fail, Transactions};
use crate::error::{Error, Fault, OrFault};
use crate::events::Events;
use crate::kafka::consumer::GroupMetadata;
use crate::kafka::polled::{Delivery, PolledProducer};
use crate::kafka::producer::{OutcomeRecord, permanent_delivery_error};
use crate::metrics::Metrics;

/// How long one blocking transaction call may take before it is resumed
/// later (each is resumable after a timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `init_transactions` may take at start before the cluster is
/// declared unable to run transactions.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A task's transactional producer with its transactions initialised, not
/// yet running: initialised before the task's consumer joins the group, so
/// a cluster that refuses transactions never takes partitions from the
/// group's healthy members.
pub struct Initialised {
    producer: PolledProducer,
    props: Arc<ClientProperties>,
    id: Arc<str>,
}

impl Initialised {
    /// Creates task `task`'s transactional producer and initialises its
    /// transactions: the start-up check, where a cluster or ACLs that do not
    /// allow transactions fail, with what to fix.
    ///
    /// # Errors
    /// When the producer cannot be created or its transactions initialised.
    pub async fn init(props: &ClientProperties, prefix: &str, task: usize) -> Result<Self, Error> {
        let id = format!("{prefix}-{task}-{:08x}", rand::random::<u32>());
        let mut props = props.clone();
        props.insert("transactional.id".into(), ClientValue::new(&id, false));
        props
            .entry("transaction.timeout.ms".into())
            .or_insert_with(|| ClientValue::new("10000", false));
        let producer = PolledProducer::create(&props)
            .or_fault(Fault::Setup, "creating the transactional producer")?;
        let p = producer.clone();
        tokio::task::spawn_blocking(move || p.producer().init_transactions(INIT_TIMEOUT))
            .await
            .or_fault(Fault::Internal, "initialising transactions")?
            .map_err(|e| init_advice(&e, &id, INIT_TIMEOUT))?;
        info!(task, transactional_id = %id, "exactly-once: transactions initialised");
        Ok(Self {
            producer,
            props: Arc::new(props),
            id: Arc::from(id),
        })
    }

    /// Starts the transactor, committing offsets with `group`'s metadata
    /// (the task's consumer); `fail` stops the connector on a failure no
    /// retry heals.
    pub fn start(
        self,
        group: GroupMetadata,
        bounds: Bounds,
        telemetry: (Arc<Metrics>, Arc<Events>),
        fail: Fail,
    ) -> Transactions {
        let id = self.id.to_string();
        let txn = KafkaTxn {
            producer: self.producer,
            props: self.props,
            id: self.id,
            group,
        };
        Transactions::start(txn, id, bounds, telemetry, fail)
    }
}

/// librdkafka's transactional producer and the task's consumer group.
#[derive(Clone)]
pub(crate) struct KafkaTxn {
    producer: PolledProducer,
    props: Arc<ClientProperties>,
    id: Arc<str>,
    group: GroupMetadata,
}

type Delivered = <Delivery as std::future::Future>::Output;

impl Txn for KafkaTxn {
    type Delivery = Map<Delivery, fn(Delivered) -> Result<(), TxnError>>;

    fn begin(&self) -> Result<(), TxnError> {
        self.producer
            .producer()
            .begin_transaction()
            .map_err(classify)
    }

    fn send(&self, record: &OutcomeRecord) -> Result<Self::Delivery, TxnError> {
        match self.producer.send(record) {
            Ok(delivery) => Ok(delivery.map(delivered as fn(Delivered) -> _)),
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                Err(TxnError::new(Class::Full, "the producer's queue is full"))
            }
            Err(e) => Err(classify(e)),
        }
    }

    fn send_offsets(
        &self,
        offsets: &HashMap<TopicPartition, i64>,
        tag: &str,
    ) -> Result<(), TxnError> {
        let group = self
            .group
            .for_offsets(offsets.keys())
            .map_err(|reason| TxnError::new(Class::Abortable, reason.to_string()))?;
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in offsets {
            let mut p = tpl.add_partition(&tp.topic, tp.partition);
            p.set_offset(Offset::Offset(*next)).map_err(classify)?;
            p.set_metadata(tag);
        }
        self.producer
            .producer()
            .send_offsets_to_transaction(&tpl, &group, CALL_TIMEOUT)
            .map_err(classify)
    }

    fn commit(&self) -> Result<(), TxnError> {
        self.producer
            .producer()
            .commit_transaction(CALL_TIMEOUT)
            .map_err(classify)
    }

    fn abort(&self) -> Result<(), TxnError> {
        self.producer
            .producer()
            .abort_transaction(CALL_TIMEOUT)
            .map_err(classify)
    }

    fn renew(&self) -> Result<Self, TxnError> {
        let producer = PolledProducer::create(&self.props).map_err(|e| {
            TxnError::new(
                Class::Permanent,
                format!("creating the transactional producer: {e}"),
            )
        })?;
        match producer.producer().init_transactions(CALL_TIMEOUT) {
            Ok(()) => Ok(Self {
                producer,
                ..self.clone()
            }),
            // Refusals that retrying does not heal; the rest (the cluster
            // away) is retried.
            Err(e) if permanent_init_error(&e) => Err(TxnError::new(
                Class::Permanent,
                init_advice(&e, &self.id, CALL_TIMEOUT).to_string(),
            )),
            Err(e) => Err(TxnError::new(
                Class::Retriable,
                format!("initialising the new producer's transactions: {e}"),
            )),
        }
    }

    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Committed>, TxnError> {
        self.group.committed(partitions, CALL_TIMEOUT).map_err(|e| {
            TxnError::new(
                Class::Retriable,
                format!("reading the group's committed offsets: {e}"),
            )
        })
    }
}

/// A delivery's result; only a failure no retry heals is permanent (the
/// others fail the transaction's commit, which handles them).
fn delivered(result: Delivered) -> Result<(), TxnError> {
    match result {
        Ok(_) => Ok(()),
        Err(KafkaError::Canceled) => Err(TxnError::new(Class::Abortable, "delivery cancelled")),
        Err(e) => Err(match permanent_delivery_error(&e) {
            Some(reason) => TxnError::new(Class::Permanent, reason),
            None => TxnError::new(Class::Abortable, e.to_string()),
        }),
    }
}

/// Whether a failed `init_transactions` is a refusal (not the cluster away).
fn permanent_init_error(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::UnsupportedVersion
                | RDKafkaErrorCode::UnsupportedForMessageFormat
                | RDKafkaErrorCode::InvalidTransactionTimeout
        )
    )
}

/// What a failed `init_transactions` means, and what to do.
fn init_advice(e: &KafkaError, id: &str, timeout: Duration) -> Error {
    let prefix = id.rsplitn(3, '-').nth(2).unwrap_or(id);
    let advice = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed) => format!(
            "not authorized to use transactional id {id}: grant the connector's principal WRITE \
             and DESCRIBE on the transactional ids with the prefix {prefix}- (kafka-acls --add \
             --allow-principal User:<principal> --operation Write --operation Describe \
             --transactional-id {prefix}- --resource-pattern-type prefixed), or set reporter.exactly.once=false"
        ),
        Some(RDKafkaErrorCode::ClusterAuthorizationFailed) => {
            "not authorized for idempotent writes: grant IDEMPOTENT_WRITE on the cluster, or set reporter.exactly.once=false".into()
        }
        Some(
            RDKafkaErrorCode::UnsupportedVersion | RDKafkaErrorCode::UnsupportedForMessageFormat,
        ) => "the cluster does not support transactions (Kafka 2.5 or later is needed); set reporter.exactly.once=false".into(),
        Some(RDKafkaErrorCode::InvalidTransactionTimeout) => {
            "producer.override.transaction.timeout.ms exceeds the broker's transaction.max.timeout.ms; lower it".into()
        }
        Some(RDKafkaErrorCode::RequestTimedOut | RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::OperationTimedOut) => format!(
            "the cluster's transaction coordinator did not answer within {} s: the cluster may not \
             support transactions (Kafka 2.5 or later, with transaction.state.log.replication.factor \
             no larger than its number of brokers), or the coordinator is unavailable; fix it or set reporter.exactly.once=false",
            timeout.as_secs()
        ),
        _ => "set reporter.exactly.once=false if the cluster does not allow transactions".into(),
    };
    let fault = match e.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::OperationTimedOut,
        ) => Fault::Unavailable,
        _ => Fault::Setup,
    };
    Error::new(
        fault,
        format!("exactly-once: cannot initialise transactions ({e}): {advice}"),
    )
}

/// How a failed librdkafka transaction call is handled: librdkafka's own
/// verdict (retriable, requires abort, fatal), except that failures no
/// retry heals (authorization, unknown topic, record too large) stop the
/// connector, and what librdkafka marks none of the three (a call in the
/// wrong state) is treated as fatal, as its documentation advises.
///
/// A call that timed out must be resumed before any other transaction call
/// can be made: until then librdkafka answers the others with a retriable
/// "conflicting call in progress". The transactor only resumes a timed-out
/// call when it still wants it (it aborts instead when partitions are let
/// go), so a conflict is fatal here: the producer is replaced, and its
/// initialisation aborts the transaction left open.
fn classify(e: KafkaError) -> TxnError {
    if e.rdkafka_error_code() != Some(RDKafkaErrorCode::Fatal)
        && let Some(reason) = permanent_delivery_error(&e)
    {
        return TxnError::new(Class::Permanent, reason);
    }
    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::Conflict) {
        return TxnError::new(Class::Fatal, e.to_string());
    }
    let class = match &e {
        KafkaError::Transaction(t) if t.is_retriable() => Class::Retriable,
        KafkaError::Transaction(t) if t.txn_requires_abort() => Class::Abortable,
        _ => Class::Fatal,
    };
    TxnError::new(class, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_failures_say_what_to_fix() {
        let denied = KafkaError::Global(RDKafkaErrorCode::TransactionalIdAuthorizationFailed);
        let e = init_advice(&denied, "lambda-sink-orders-0-1a2b3c4d", INIT_TIMEOUT);
        let text = e.to_string();
        assert!(
            text.contains("--transactional-id lambda-sink-orders-")
                && text.contains("reporter.exactly.once=false"),
            "{text}"
        );
        assert_eq!(e.fault(), Fault::Setup, "an ACL to add, not a retry");
        let away = KafkaError::Global(RDKafkaErrorCode::RequestTimedOut);
        let e = init_advice(&away, "lambda-sink-orders-0-1a2b3c4d", INIT_TIMEOUT);
        assert_eq!(e.fault(), Fault::Unavailable, "{e}");
    }

    #[test]
    fn errors_keep_librdkafka_s_words_and_say_how_they_are_handled() {
        // (error, class)
        let cases = [
            (
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
                Class::Permanent,
            ),
            (
                KafkaError::MessageProduction(RDKafkaErrorCode::State),
                Class::Fatal,
            ),
            (
                KafkaError::Global(RDKafkaErrorCode::TopicAuthorizationFailed),
                Class::Permanent,
            ),
            (KafkaError::Global(RDKafkaErrorCode::Conflict), Class::Fatal),
        ];
        for (e, class) in cases {
            let words = e.to_string();
            let got = classify(e);
            assert_eq!(got.class, class, "{words}");
            assert!(got.to_string().contains(&words), "{got}");
        }
    }
}
