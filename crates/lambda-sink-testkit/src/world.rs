//! One test's own world: an input topic, a deployed test function and a
//! connector name, all unique, on the shared real services — what every
//! integration test sets up first — and the steps tests take in it
//! (produce, start lambda-sink, wait until drained, read what the function
//! and the outcome topics saw, verify).
//!
//! ```ignore
//! let w = lambda_sink_testkit::world!("orders").partitions(3).create().await;
//! let mut c = w.start(&[("aws.lambda.batch.size", "10")]);
//! w.produce_json(100, |i| json!({ "i": i })).await;
//! w.drained(MINUTE, &[&c]).await;
//! c.stop_cleanly().await;
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::connector::Connector;
use crate::kafka::{Isolation, Produce, Record};
use crate::verify::{Run, Verdict};
use crate::{Services, unique, wait_until};

/// The lambda-sink binary of the calling test crate, and a world named
/// after `prefix`: a [`Setup`] to adjust, then [`Setup::create`].
#[macro_export]
macro_rules! world {
    ($prefix:expr) => {
        $crate::world::World::setup(
            ::std::path::Path::new(env!("CARGO_BIN_EXE_lambda-sink")),
            $prefix,
        )
    };
}

/// How a [`World`] is made: 2 partitions, a function with a 30 s timeout
/// and no environment, on the services of the environment, unless told.
pub struct Setup<'a> {
    bin: &'a Path,
    prefix: &'a str,
    partitions: i32,
    function_timeout: i32,
    env: &'a [(&'a str, &'a str)],
    services: Option<Services>,
}

impl<'a> Setup<'a> {
    /// The input topic's partitions.
    #[must_use]
    pub fn partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions;
        self
    }

    /// The function's timeout, in seconds.
    #[must_use]
    pub fn function_timeout(mut self, seconds: i32) -> Self {
        self.function_timeout = seconds;
        self
    }

    /// The function's environment (the test function's knobs).
    #[must_use]
    pub fn env(mut self, env: &'a [(&'a str, &'a str)]) -> Self {
        self.env = env;
        self
    }

    /// Other services (a private broker, say).
    #[must_use]
    pub fn on(mut self, services: Services) -> Self {
        self.services = Some(services);
        self
    }

    /// Creates the topic and deploys the function.
    ///
    /// # Panics
    /// When either fails (a test failure).
    pub async fn create(self) -> World {
        let s = self.services.unwrap_or_else(Services::from_env);
        let topic = unique(self.prefix);
        let function = unique(&format!("{}-fn", self.prefix));
        s.create_topic(&topic, self.partitions)
            .await
            .expect("create the input topic");
        s.deploy_test_function(&function, self.function_timeout, self.env)
            .await
            .expect("deploy the test function");
        World {
            s,
            topic,
            function,
            name: unique(&format!("{}-sink", self.prefix)),
            partitions: self.partitions,
            bin: self.bin.to_path_buf(),
        }
    }
}

/// A test's topic, function and connector name on the real services.
pub struct World {
    /// The services.
    pub s: Services,
    /// The input topic.
    pub topic: String,
    /// The deployed test function.
    pub function: String,
    /// The connector's name (its group is `connect-<name>`).
    pub name: String,
    /// The input topic's partitions.
    pub partitions: i32,
    /// The lambda-sink binary under test.
    pub bin: PathBuf,
}

impl World {
    /// A world named after `prefix`, run by the lambda-sink at `bin` (the
    /// [`world!`](crate::world!) macro passes the calling crate's).
    pub fn setup<'a>(bin: &'a Path, prefix: &'a str) -> Setup<'a> {
        Setup {
            bin,
            prefix,
            partitions: 2,
            function_timeout: 30,
            env: &[],
            services: None,
        }
    }

    /// The connector's consumer group.
    pub fn group(&self) -> String {
        format!("connect-{}", self.name)
    }

    /// The connector's config: this world's topic, function and name on
    /// the services, with `extra` added or replacing.
    pub fn config(&self, extra: &[(&str, &str)]) -> Value {
        self.s
            .connector_config(&self.name, &self.topic, &self.function, extra)
    }

    /// Starts `lambda-sink run` with [`Self::config`].
    ///
    /// # Panics
    /// When the process cannot be started.
    pub fn start(&self, extra: &[(&str, &str)]) -> Connector {
        self.start_with(&self.config(extra))
    }

    /// Starts `lambda-sink run` with `config`.
    ///
    /// # Panics
    /// When the process cannot be started.
    pub fn start_with(&self, config: &Value) -> Connector {
        Connector::start(&self.bin, config, &[]).expect("start lambda-sink")
    }

    /// Produces JSON values `value(i)` for `i` in `0..count`, round-robin
    /// over the partitions with key `k<i>`; (partition, offset, value) per
    /// record.
    ///
    /// # Panics
    /// When Kafka does not take them.
    pub async fn produce_json(
        &self,
        count: usize,
        value: impl Fn(usize) -> Value,
    ) -> Vec<(i32, i64, Value)> {
        let values: Vec<Value> = (0..count).map(value).collect();
        let records: Vec<Produce> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let p = i32::try_from(i).expect("a test's record count") % self.partitions;
                Produce::text(p, &format!("k{i}"), &v.to_string())
            })
            .collect();
        let positions = self
            .s
            .produce(&self.topic, &records)
            .await
            .expect("produce");
        positions
            .into_iter()
            .zip(values)
            .map(|((p, o), v)| (p, o, v))
            .collect()
    }

    /// Produces records `range`, the i-th with key `k<i % keys>` and value
    /// `value(i)`, each key always in the same partition (as Kafka's
    /// partitioner places keys).
    ///
    /// # Panics
    /// When Kafka does not take them.
    pub async fn produce_keyed(
        &self,
        range: Range<usize>,
        keys: usize,
        value: impl Fn(usize) -> String,
    ) {
        let partitions = usize::try_from(self.partitions).expect("partitions");
        for chunk in range.collect::<Vec<_>>().chunks(20_000) {
            let records: Vec<Produce> = chunk
                .iter()
                .map(|i| {
                    let key = i % keys;
                    Produce::text(
                        i32::try_from(key % partitions).expect("a partition"),
                        &format!("k{key}"),
                        &value(*i),
                    )
                })
                .collect();
            self.s
                .produce(&self.topic, &records)
                .await
                .expect("produce");
        }
    }

    /// Waits until the group's committed offsets reach the topic's end;
    /// on timeout fails with the logs of the connectors `running`.
    ///
    /// # Panics
    /// After `timeout`.
    pub async fn drained(&self, timeout: Duration, running: &[&Connector]) -> Vec<i64> {
        let waited = self
            .s
            .try_wait_committed_to_end(&self.group(), &self.topic, self.partitions, timeout)
            .await;
        match waited {
            Ok(committed) => committed,
            Err(e) => {
                let logs: Vec<String> = running.iter().map(|c| c.log()).collect();
                panic!("{e}; the connectors' logs:\n{}", logs.join("\n-----\n"));
            }
        }
    }

    /// What the function logged, in order.
    ///
    /// # Panics
    /// When its log cannot be read.
    pub async fn function_records(&self) -> Vec<Value> {
        self.s
            .function_records(&self.function)
            .await
            .expect("the function's log")
    }

    /// What the function logged, as (partition, offset) per record, in order.
    pub async fn seen(&self) -> Vec<(i64, i64)> {
        self.function_records().await.iter().map(position).collect()
    }

    /// Waits until the function has logged at least `n` records.
    pub async fn wait_seen(&self, n: usize, timeout: Duration) -> Vec<(i64, i64)> {
        wait_until(
            timeout,
            &format!("{n} records logged by the function"),
            || async {
                let seen = self.seen().await;
                (seen.len() >= n).then_some(seen)
            },
        )
        .await
    }

    /// What the function received, by (partition, offset) (the last
    /// delivery of each).
    pub async fn received(&self) -> BTreeMap<(i64, i64), Value> {
        self.function_records()
            .await
            .into_iter()
            .map(|r| (position(&r), r))
            .collect()
    }

    /// The outcome topic `<kind>-<name>` (`success`, `error`, `dlq`), to
    /// its end, as `isolation` reads it.
    ///
    /// # Panics
    /// When it cannot be read within `timeout`.
    pub async fn outcomes(
        &self,
        kind: &str,
        isolation: Isolation,
        timeout: Duration,
    ) -> Vec<Record> {
        self.s
            .read_to_end(&format!("{kind}-{}", self.name), isolation, timeout)
            .await
            .expect("read the outcome topic")
    }

    /// Waits until `n` records of the outcome topic `<kind>-<name>` are
    /// read (committed ones) and returns them.
    ///
    /// # Panics
    /// When they are not there within `timeout`.
    pub async fn wait_outcomes(&self, kind: &str, n: usize, timeout: Duration) -> Vec<Record> {
        self.s
            .read_topic(&format!("{kind}-{}", self.name), n, timeout)
            .await
            .expect("read the outcome topic")
    }

    /// Keys whose records did not first succeed in offset order: each key
    /// (`key: offsets`, in the order of their first result in
    /// `success-<name>`, as committed) whose offsets of a partition go
    /// back. A record may succeed again later (at-least-once): only its
    /// first result counts.
    ///
    /// # Panics
    /// When the input or the success topic cannot be read.
    pub async fn keys_out_of_order(&self, timeout: Duration) -> Vec<String> {
        let keys: BTreeMap<(i32, i64), String> = self
            .s
            .read_to_end(&self.topic, Isolation::Committed, timeout)
            .await
            .expect("read the input topic")
            .into_iter()
            .map(|r| {
                let key = r.key.as_deref().map(String::from_utf8_lossy);
                (
                    (r.partition, r.offset),
                    key.unwrap_or_default().into_owned(),
                )
            })
            .collect();
        let results = self
            .outcomes("success", Isolation::Committed, timeout)
            .await;
        let mut order: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for r in &results {
            let (Ok(partition), Ok(offset)) = (
                r.header("input_record_partition").parse::<i32>(),
                r.header("input_record_offset").parse::<i64>(),
            ) else {
                continue;
            };
            let Some(key) = keys.get(&(partition, offset)).filter(|k| !k.is_empty()) else {
                continue;
            };
            let offsets = order.entry(key.as_str()).or_default();
            if !offsets.contains(&offset) {
                offsets.push(offset);
            }
        }
        order
            .into_iter()
            .filter(|(_, offsets)| offsets.windows(2).any(|w| w[0] > w[1]))
            .map(|(key, offsets)| format!("{key}: {offsets:?}"))
            .collect()
    }

    /// The run, for the verifier.
    pub fn run(&self) -> Run<'_> {
        Run {
            topic: &self.topic,
            partitions: self.partitions,
            connector: &self.name,
            function: Some(&self.function),
        }
    }

    /// The zero-loss verifier's verdict on this world.
    ///
    /// # Panics
    /// When the evidence cannot be read.
    pub async fn verify(&self) -> Verdict {
        self.s.verify(&self.run()).await.expect("verify")
    }
}

/// A logged record's (partition, offset).
fn position(record: &Value) -> (i64, i64) {
    (
        record["partition"].as_i64().expect("a logged partition"),
        record["offset"].as_i64().expect("a logged offset"),
    )
}
