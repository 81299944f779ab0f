//! The machine's ceilings, measured with lambda-sink's own client settings:
//! how fast a plain librdkafka consumer reads a topic, and how many
//! invocations per second the fake endpoint answers through lambda-sink's
//! own invoker at lambda-sink's concurrency — and what each costs in CPU per
//! record, split by process (or, for the in-process fake endpoint, by
//! thread): the plain consumer and the invoker are the work lambda-sink
//! cannot avoid, and its own CPU per record is judged against their sum. The
//! SDK's own `Invoke` is measured the same way beside it ([`Client::Sdk`]),
//! the figure the invoker replaced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lambda_sink::lambda::invoke::Invoker;
use lambda_sink_core::codec::{DataFormat, RecordConverter};
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::record::SourceRecord;
use lambda_sink_core::trace::Carrier;
use lambda_sink_core::{batch, codec, payload};
use lambda_sink_testkit::{fake_lambda, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::env::{Env, cpu_seconds, own_cpu};
use crate::load::Dataset;
use crate::stats::Sample;

/// A plain consumer with lambda-sink's librdkafka settings reads the whole
/// topic and does nothing else: records/s from the first record to the last,
/// its own and the broker's CPU per record, and the time from its creation
/// to the first record (what the broker alone adds to lambda-sink's first
/// invocation).
pub async fn consume(env: &Env, d: &Dataset) -> anyhow::Result<Sample> {
    let config = env.config(
        &unique("bench-ceiling"),
        &d.topic,
        "fixed",
        "http://127.0.0.1:9",
        20,
        &[],
    );
    let mut client = env.consumer_config(&config)?;
    client.set("group.id", unique("bench-ceiling"));
    // lambda-sink bounds each partition's own queue; this consumer has one
    // queue for all, so it keeps librdkafka's default bounds (64 MiB, 100,000
    // records) rather than be held back by per-partition figures.
    client.remove("queued.max.messages.kbytes");
    client.remove("queued.min.messages");
    let (topic, partitions, expected) = (d.topic.clone(), env.partitions, d.records);
    let timeout = env.patience(expected);
    let broker = env.broker.pid();
    tokio::task::spawn_blocking(move || {
        let created = Instant::now();
        let consumer: BaseConsumer = client.create().context("creating the consumer")?;
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment.add_partition_offset(&topic, p, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + timeout;
        let (mut first, mut n, mut bytes) = (None, 0usize, 0usize);
        let (mut broker_at_first, mut own_at_first) = (f64::NAN, f64::NAN);
        while n < expected {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the plain consumer read {n} of {expected} records of {topic} in {timeout:?}"
            );
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.context("consuming")?;
                if first.is_none() {
                    first = Some(Instant::now());
                    broker_at_first = cpu_seconds(broker);
                    own_at_first = own_cpu();
                }
                n += 1;
                bytes += message.payload_len();
            }
        }
        let seconds = first.map_or(f64::NAN, |f: Instant| f.elapsed().as_secs_f64());
        let broker_cpu = cpu_seconds(broker) - broker_at_first;
        // This process does nothing else meanwhile: its CPU is the consumer's.
        let consumer_cpu = own_cpu() - own_at_first;
        let per_record = |cpu: f64| cpu / n as f64 * 1e6;
        Ok(Sample::from([
            ("records_per_s", n as f64 / seconds),
            ("mb_per_s", bytes as f64 / seconds / 1e6),
            ("broker_cpu_seconds", broker_cpu),
            ("consumer_cpu_us_per_record", per_record(consumer_cpu)),
            ("broker_cpu_us_per_record", per_record(broker_cpu)),
            // Broker and consumer together.
            ("cpu_us_per_record", per_record(broker_cpu + consumer_cpu)),
            (
                "first_record_ms",
                first.map_or(f64::NAN, |f| (f - created).as_secs_f64() * 1000.0),
            ),
        ]))
    })
    .await?
}

/// The request lambda-sink would send for `batch` records of `d`.
fn request(d: &Dataset, batch: usize) -> anyhow::Result<Vec<u8>> {
    let topic: Arc<str> = d.topic.as_str().into();
    let elements = (0..batch)
        .map(|i| {
            let record = SourceRecord {
                topic: topic.clone(),
                partition: 0,
                offset: i64::try_from(i)?,
                timestamp: Some(1_764_115_200_000),
                timestamp_type: lambda_sink_core::record::TimestampType::CreateTime,
                key: Some(d.key(i).into_bytes()),
                value: Some(d.value(i).into_bytes()),
                headers: Vec::new(),
            };
            let key = codec::schemaless::render(
                DataFormat::String,
                RecordConverter::NativeJson,
                record.key.as_deref().unwrap_or_default(),
            )?;
            let value = codec::schemaless::render(
                DataFormat::Json,
                RecordConverter::NativeJson,
                record.value.as_deref().unwrap_or_default(),
            )?;
            Ok(payload::render_element(
                &record,
                Some(&key[..]),
                Some(&value[..]),
                false,
            ))
        })
        .collect::<anyhow::Result<Vec<Vec<u8>>>>()?;
    Ok(batch::request_body(elements.iter().map(Vec::as_slice)))
}

/// Which client sends the invocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// lambda-sink's invoker.
    Invoker,
    /// The SDK's `Invoke` operation, with lambda-sink's SDK configuration.
    Sdk,
}

/// One of the two clients, built.
#[derive(Clone)]
enum Built {
    Invoker(Invoker),
    Sdk(aws_sdk_lambda::Client),
}

impl Built {
    async fn invoke(&self, function: &FunctionRef, body: Vec<u8>) -> anyhow::Result<()> {
        match self {
            Self::Invoker(invoker) => invoker
                .invoke(function, InvocationType::Sync, body, &Carrier::default())
                .await
                .map(drop)
                .map_err(|e| anyhow::anyhow!("invoking the fake endpoint: {e:?}")),
            Self::Sdk(client) => client
                .invoke()
                .function_name(function.function())
                .payload(aws_sdk_lambda::primitives::Blob::new(body))
                .send()
                .await
                .map(drop)
                .map_err(|e| anyhow::anyhow!("invoking the fake endpoint through the SDK: {e:?}")),
        }
    }
}

/// Invocations/s the fake endpoint, answering after `latency_ms`, answers
/// for requests of `batch` records of `d`, through `client`, one request in flight per
/// partition (lambda-sink's concurrency in sync mode), for `duration`; the
/// client's and the endpoint's CPU per record (the endpoint runs on threads
/// of its own, told apart by name).
pub async fn invoke(
    env: &Env,
    d: &Dataset,
    batch: usize,
    duration: Duration,
    client: Client,
    latency_ms: u64,
) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let function = format!("slow{latency_ms}-fixed-ceiling");
    let config = env.validated(&env.config(
        &unique("bench-ceiling"),
        &d.topic,
        &function,
        &fake.url(),
        batch,
        &[],
    ))?;
    let sdk = lambda_sink::lambda::sdk_config(&config.aws, config.lambda.socket_timeout).await?;
    let client = match client {
        Client::Invoker => Built::Invoker(
            lambda_sink::lambda::invoker(&sdk, &config.aws, config.lambda.socket_timeout).await?,
        ),
        Client::Sdk => Built::Sdk(lambda_sink::lambda::client(&sdk)),
    };
    let function = config
        .lambda
        .routing
        .function_for(&d.topic)
        .context("no function for the topic")?
        .clone();
    let body = request(d, batch)?;
    let started = Instant::now();
    let (cpu_at_start, fake_at_start) = (own_cpu(), fake.cpu_seconds());
    let workers: Vec<_> = (0..env.partitions)
        .map(|_| {
            let (client, function, body) = (client.clone(), function.clone(), body.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while started.elapsed() < duration {
                    client.invoke(&function, body.clone()).await?;
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut invocations = 0u64;
    for w in workers {
        invocations += w.await??;
    }
    let per_s = invocations as f64 / started.elapsed().as_secs_f64();
    let endpoint_cpu = fake.cpu_seconds() - fake_at_start;
    let client_cpu = own_cpu() - cpu_at_start - endpoint_cpu;
    let per_record = |cpu: f64| cpu / (invocations as f64 * batch as f64) * 1e6;
    Ok(Sample::from([
        ("invocations_per_s", per_s),
        ("records_per_s", per_s * batch as f64),
        ("client_cpu_us_per_record", per_record(client_cpu)),
        (
            "client_cpu_us_per_invocation",
            client_cpu / invocations as f64 * 1e6,
        ),
        ("endpoint_cpu_us_per_record", per_record(endpoint_cpu)),
        // Client and endpoint together.
        ("cpu_us_per_record", per_record(client_cpu + endpoint_cpu)),
    ]))
}
