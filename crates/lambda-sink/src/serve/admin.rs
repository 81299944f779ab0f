//! The connectors' administration ([`Admin`]): every rule behind Kafka
//! Connect's REST API that changes the cluster — create, replace or patch
//! a config, delete, pause, resume, stop, restart a connector or a task,
//! reset its active topics — and the validation of a submitted config as
//! this worker would run it.
//!
//! It also owns the rules of a connector's consumer-group offsets (KIP-875:
//! read any time, altered or reset only once the connector is STOPPED on
//! every worker; moved while it runs, [`Admin::request_move`]), of a DLQ
//! redrive (one at a time per worker) and of replay jobs (one running per
//! connector, [`Admin::begin_replay`]).
//!
//! The state is the config topic's, through the [`ConfigLog`] trait (the
//! Kafka topic in production, a map in the in-process tests); the tasks'
//! states come from the status topic, through [`StatusView`]; the group's
//! offsets and the redrive itself are behind [`Groups`] and [`Redriver`].
//! Errors are typed ([`AdminError`]), with Connect's messages; the REST
//! layer only translates them to a status code and Connect's error body.

use std::sync::Arc;

use futures::future::BoxFuture;
use lambda_sink_core::Problem;
use lambda_sink_core::config::{
    Config, ConnectorId, RawConfig, RawEntry, Subscription, Validation, validate,
};
use lambda_sink_core::connect::infos::invalid_message;
use lambda_sink_core::connect::moves::{self, Found, Move, State as MoveState, Target};
use lambda_sink_core::connect::offsets::PartitionOffset;
use lambda_sink_core::connect::records::{
    ClusterState, ConfigRecord, ConnectorEntry, Props, TargetState,
};
use lambda_sink_core::connect::redrive::Request;
use lambda_sink_core::connect::replays::{self, Job, State as ReplayState};
use lambda_sink_core::connect::status::{InstanceReport, State as Run, cluster_tasks};
use lambda_sink_core::connect::submit;
use serde_json::Value;

use crate::http::OrderError;
use crate::lambda::{self, RegionSources};
use lambda_sink_core::park_orders::{KeyOrder, KeyRequest};

/// Why an administrative request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No such connector or task (Connect's 404).
    #[error("{0}")]
    NotFound(String),
    /// The connector exists already (Connect's 409).
    #[error("{0}")]
    Conflict(String),
    /// The request or the config is invalid (Connect's 400).
    #[error("{0}")]
    Invalid(String),
    /// Kafka, or this worker, could not do it now (Connect's 500): the
    /// cause, never a secret.
    #[error("{0}")]
    Unavailable(String),
}

impl From<lambda_sink_core::Invalid> for AdminError {
    fn from(e: lambda_sink_core::Invalid) -> Self {
        Self::Invalid(e.into())
    }
}

/// The config topic as the administration sees it: the cluster state this
/// worker has read, and writes that return once this worker applied them.
pub(crate) trait ConfigLog: Send + Sync + 'static {
    /// The cluster state now.
    fn state(&self) -> ClusterState;
    /// Writes `record`; returns once this worker has applied it.
    fn write(&self, record: ConfigRecord) -> BoxFuture<'_, Result<(), AdminError>>;
}

/// The status topic as the administration sees it: the reports of the
/// workers heard from lately.
pub(crate) trait StatusView: Send + Sync + 'static {
    /// Every live worker's latest report.
    fn live_reports(&self) -> Vec<InstanceReport>;
}

/// A connector's consumer group (`connect-<id>`), as the administration
/// sees it.
pub(crate) trait Groups: Send + Sync + 'static {
    /// The group's committed offsets on the connector's topics.
    fn committed<'a>(
        &'a self,
        config: &'a Config,
    ) -> BoxFuture<'a, Result<Vec<PartitionOffset>, AdminError>>;
    /// Commits `offsets` for the group, which must be empty (`Conflict`
    /// while a member remains).
    fn alter<'a>(
        &'a self,
        config: &'a Config,
        offsets: Vec<PartitionOffset>,
    ) -> BoxFuture<'a, Result<(), AdminError>>;
    /// Each partition of the connector's topics (only `topics`, when
    /// given): its first offset at or after `timestamp`, and its end.
    fn at_time<'a>(
        &'a self,
        config: &'a Config,
        timestamp: i64,
        topics: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<Vec<Found>, AdminError>>;
    /// Deletes the group (its offsets; `Conflict` while a member remains).
    fn reset<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<(), AdminError>>;
}

/// Replays a connector's dead letters through its pipeline.
pub(crate) trait Redriver: Send + Sync + 'static {
    /// Redrives `request` of connector `name` (`entry`, validated as
    /// `config`) and records it through `admin`; the report.
    fn redrive<'a>(
        &'a self,
        admin: &'a Admin,
        name: &'a str,
        entry: &'a ConnectorEntry,
        config: Config,
        request: Request,
    ) -> BoxFuture<'a, Result<Value, AdminError>>;
}

/// What [`Admin::complete_move`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveProgress {
    /// No move is pending.
    Nothing,
    /// A move is pending that another worker completes.
    Waiting,
    /// This worker completes the pending move, but the connector's group
    /// still has members (tasks still draining, or a consumer that was
    /// joining when its task stopped, until Kafka drops it).
    Busy(Move),
    /// This worker ended it, as shown.
    Ended(Move),
}

/// The administration of the cluster's connectors.
pub struct Admin {
    log: Arc<dyn ConfigLog>,
    status: Arc<dyn StatusView>,
    groups: Arc<dyn Groups>,
    redriver: Arc<dyn Redriver>,
    /// Held while a DLQ redrive runs on this worker: two would replay the
    /// same records.
    redriving: tokio::sync::Mutex<()>,
    /// The worker's connector defaults (`serve`'s properties file), under
    /// every submitted config.
    defaults: Vec<(String, String)>,
}

/// The services the administration works through.
pub(crate) struct Ports {
    pub(crate) log: Arc<dyn ConfigLog>,
    pub(crate) status: Arc<dyn StatusView>,
    pub(crate) groups: Arc<dyn Groups>,
    pub(crate) redriver: Arc<dyn Redriver>,
}

/// `Invalid` naming the first of `topics` that `config` does not consume.
fn consumed<'a>(
    config: &Config,
    mut topics: impl Iterator<Item = &'a str>,
) -> Result<(), AdminError> {
    match topics.find(|t| !config.subscription.includes(t)) {
        Some(t) => Err(AdminError::Invalid(format!(
            "topic {t} is not one the connector consumes"
        ))),
        None => Ok(()),
    }
}

/// Connect's 404 message for a connector.
fn not_found(name: &str) -> String {
    format!("Connector {name} not found")
}

impl Admin {
    pub(crate) fn new(ports: Ports, defaults: Vec<(String, String)>) -> Self {
        let Ports {
            log,
            status,
            groups,
            redriver,
        } = ports;
        Self {
            log,
            status,
            groups,
            redriver,
            redriving: tokio::sync::Mutex::new(()),
            defaults,
        }
    }

    /// The cluster state now.
    pub fn state(&self) -> ClusterState {
        self.log.state()
    }

    /// Every live worker's latest report.
    pub fn live_reports(&self) -> Vec<InstanceReport> {
        self.status.live_reports()
    }

    /// Connector `name`, or `NotFound` with `missing`'s message.
    ///
    /// # Errors
    /// `NotFound` when there is no such connector.
    pub fn entry(
        &self,
        name: &str,
        missing: impl FnOnce() -> String,
    ) -> Result<ConnectorEntry, AdminError> {
        self.state()
            .get(name)
            .cloned()
            .ok_or_else(|| AdminError::NotFound(missing()))
    }

    /// Connector `name`, or Connect's "not found".
    ///
    /// # Errors
    /// `NotFound` when there is no such connector.
    pub fn connector(&self, name: &str) -> Result<ConnectorEntry, AdminError> {
        self.entry(name, || not_found(name))
    }

    /// `submitted` over the worker's connector defaults, as the validator
    /// reads them; a value that is not text is reported.
    fn effective(&self, submitted: &Props) -> (RawConfig, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut entries: Vec<RawEntry> = self
            .defaults
            .iter()
            .filter(|(k, _)| !submitted.contains_key(k))
            .map(|(k, v)| RawEntry {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        for (key, value) in submitted {
            let value = match value {
                Value::String(s) => Some(s.clone()),
                Value::Null => {
                    problems.push(Problem::new(
                        key,
                        "Null value can not be supplied as the configuration value.",
                    ));
                    continue;
                }
                other => {
                    problems.push(Problem::new(
                        key,
                        format!("must be a JSON string, not {other}"),
                    ));
                    continue;
                }
            };
            if key == "http.listener" {
                problems.push(Problem::new(
                    key,
                    "is a `lambda-sink run` setting; under serve the worker's listener serves every connector (remove it)",
                ));
                continue;
            }
            entries.push(RawEntry {
                key: key.clone(),
                value,
            });
        }
        (RawConfig { entries }, problems)
    }

    /// Validates a submitted connector configuration as this worker would
    /// run it: the validator, librdkafka's judgement of pass-through
    /// properties, and the AWS region (without network lookups).
    pub async fn validate(&self, submitted: &Props) -> Validation {
        let (raw, extra) = self.effective(submitted);
        let mut v = validate(&raw, &|name| std::env::var(name).ok());
        v.errors.extend(extra);
        if let Some(config) = &v.config {
            v.errors
                .extend(crate::kafka::check_pass_through(&config.kafka));
            if lambda::resolve_region(&config.aws, RegionSources::Local)
                .await
                .is_none()
            {
                v.errors
                    .push(Problem::new("aws.lambda.region", lambda::NO_REGION));
            }
        }
        if !v.errors.is_empty() {
            v.config = None;
        }
        v
    }

    /// Validates `config`; Connect's 400 when it is invalid.
    async fn check(&self, config: &Props) -> Result<(), AdminError> {
        let v = self.validate(config).await;
        if v.errors.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Invalid(invalid_message(&v.errors)))
        }
    }

    /// Writes the connector's config; its entry as written.
    async fn write_config(&self, name: &str, config: Props) -> Result<ConnectorEntry, AdminError> {
        self.log
            .write(ConfigRecord::Connector {
                name: name.to_string(),
                config: Some(config),
            })
            .await?;
        self.connector(name)
    }

    /// Creates connector `name` with `config` (a submitted JSON object),
    /// in `initial` state (`RUNNING` unless given); its entry.
    ///
    /// # Errors
    /// `Invalid` (no name, values that are not strings, a name that does
    /// not match, an invalid config), `Conflict` (it exists).
    pub async fn create(
        &self,
        name: &str,
        config: Value,
        initial: Option<TargetState>,
    ) -> Result<ConnectorEntry, AdminError> {
        let name = name.trim();
        let config = submit::submitted(config, name)?;
        if name.is_empty() {
            return Err(AdminError::Invalid(invalid_message(&[Problem::new(
                "name",
                "is required: the connector's name",
            )])));
        }
        if self.state().get(name).is_some() {
            return Err(AdminError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        self.refuse_a_taken_id(name)?;
        self.check(&config).await?;
        if let Some(state) = initial {
            self.log
                .write(ConfigRecord::TargetState {
                    name: name.to_string(),
                    state: Some(state),
                })
                .await?;
        }
        self.write_config(name, config).await
    }

    /// Replaces (or creates) connector `name`'s config; its entry, and
    /// whether it was created. A masked secret sent back keeps its stored
    /// value; an identical config writes nothing and restarts nothing.
    ///
    /// # Errors
    /// `Invalid`, as for [`Self::create`].
    pub async fn put_config(
        &self,
        name: &str,
        config: Value,
    ) -> Result<(ConnectorEntry, bool), AdminError> {
        let mut config = submit::submitted(config, name)?;
        let existing = self.state().get(name).cloned();
        submit::keep_hidden(&mut config, existing.as_ref().map(|e| &e.config));
        if let Some(e) = existing.as_ref()
            && submit::same(&e.config, &config)
        {
            return Ok((e.clone(), false));
        }
        if existing.is_none() {
            self.refuse_a_taken_id(name)?;
        }
        self.check(&config).await?;
        let written = self.write_config(name, config).await?;
        Ok((written, existing.is_none()))
    }

    /// A new connector's name must not make the id of another one: the id
    /// names its consumer group, its outcome topics and its task slot
    /// topic, which two connectors would then share.
    fn refuse_a_taken_id(&self, name: &str) -> Result<(), AdminError> {
        let Some(id) = ConnectorId::sanitize(name) else {
            return Ok(());
        };
        let state = self.state();
        let taken = state
            .connectors()
            .keys()
            .find(|other| ConnectorId::sanitize(other).is_some_and(|o| o.as_str() == id.as_str()));
        match taken {
            Some(other) => Err(AdminError::Conflict(format!(
                "Connector {name} would have the id {id} of connector {other} (characters other than letters, digits, '.', '_' and '-' become '_'), and share its consumer group and topics: choose another name",
                id = id.as_str()
            ))),
            None => Ok(()),
        }
    }

    /// Merges `patch` into connector `name`'s config (a key set to null is
    /// removed); its entry. An unchanged config writes nothing.
    ///
    /// # Errors
    /// `NotFound`, `Invalid`.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: Props,
    ) -> Result<ConnectorEntry, AdminError> {
        let existing = self.connector(name)?;
        let merged = submit::merge_patch(&existing.config, patch);
        let mut config = submit::submitted(merged, name)?;
        submit::keep_hidden(&mut config, Some(&existing.config));
        if submit::same(&existing.config, &config) {
            return Ok(existing);
        }
        self.check(&config).await?;
        self.write_config(name, config).await
    }

    /// Deletes connector `name` (and its pending DLQ redrives).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn delete(&self, name: &str) -> Result<(), AdminError> {
        let e = self.connector(name)?;
        // Its own records go first (tombstones, for compaction).
        let name_ = || name.to_string();
        let own = [
            e.redrives.is_some().then(|| ConfigRecord::Redrives {
                name: name_(),
                value: None,
            }),
            e.moved.is_some().then(|| ConfigRecord::Move {
                name: name_(),
                value: None,
            }),
            (!e.replays.is_empty()).then(|| ConfigRecord::Replays {
                name: name_(),
                jobs: None,
            }),
            e.cancel_replay
                .is_some()
                .then(|| ConfigRecord::ReplayCancel {
                    name: name_(),
                    id: None,
                }),
            e.park_order.is_some().then(|| ConfigRecord::ParkOrder {
                name: name_(),
                order: None,
            }),
        ];
        for record in own.into_iter().flatten() {
            self.log.write(record).await?;
        }
        self.log
            .write(ConfigRecord::Connector {
                name: name.to_string(),
                config: None,
            })
            .await?;
        self.log
            .write(ConfigRecord::TargetState {
                name: name.to_string(),
                state: None,
            })
            .await
    }

    /// Sets connector `name`'s target state (pause, resume, stop).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn set_target(&self, name: &str, state: TargetState) -> Result<(), AdminError> {
        self.entry(name, || format!("Unknown connector {name}"))?;
        self.log
            .write(ConfigRecord::TargetState {
                name: name.to_string(),
                state: Some(state),
            })
            .await
    }

    /// Restarts connector `name`, with its tasks or only what failed
    /// (KIP-745).
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<(), AdminError> {
        self.entry(name, || format!("Unknown connector: {name}"))?;
        self.log
            .write(ConfigRecord::Restart {
                name: name.to_string(),
                include_tasks,
                only_failed,
                worker: None,
            })
            .await
    }

    /// Restarts task `task` of connector `name` on the worker running it.
    ///
    /// # Errors
    /// `NotFound` for an unknown connector or task.
    pub async fn restart_task(&self, name: &str, task: &str) -> Result<(), AdminError> {
        self.entry(name, || format!("Unknown connector: {name}"))?;
        let missing = || AdminError::NotFound(format!("Unknown task: {name}-{task}"));
        let id: usize = task.parse().map_err(|_| missing())?;
        let live = self.live_reports();
        let worker = cluster_tasks(name, &live)
            .into_iter()
            .find(|t| t.id == id)
            .map(|t| t.worker_id.to_string())
            .ok_or_else(missing)?;
        self.log
            .write(ConfigRecord::Restart {
                name: name.to_string(),
                include_tasks: true,
                only_failed: false,
                worker: Some(worker),
            })
            .await
    }

    /// Connector `name`'s parked keys, as its parked topic holds them
    /// ([`crate::http::parked`]).
    ///
    /// # Errors
    /// `NotFound`; `Unavailable` when the parked topic cannot be read.
    pub async fn parked(&self, name: &str) -> Result<Value, AdminError> {
        let entry = self.connector(name)?;
        let config = self.validated(&entry).await?;
        crate::http::parked(crate::http::parked_reader(&config))
            .await
            .map_err(|e| AdminError::Unavailable(e.to_string()))
    }

    /// Orders connector `name`'s parked key `request` retried now (or,
    /// with `skip`, its parked records resolved as failed): written for
    /// every worker, the one holding each place carries it out. The
    /// answer: what was ordered of which places.
    ///
    /// # Errors
    /// `NotFound` (the connector, or the key not parked); `Invalid` when
    /// it does not park keys; `Unavailable`.
    pub async fn order_parked(
        &self,
        name: &str,
        request: &KeyRequest,
        skip: bool,
        id: String,
    ) -> Result<Value, AdminError> {
        let entry = self.connector(name)?;
        let config = self.validated(&entry).await?;
        let places = crate::http::ordered_places(crate::http::parked_reader(&config), request)
            .await
            .map_err(|e| match e {
                OrderError::NotParking => AdminError::Invalid(e.to_string()),
                OrderError::NotParked(_) => AdminError::NotFound(e.to_string()),
                OrderError::Unavailable(_) => AdminError::Unavailable(e.to_string()),
            })?;
        let order = KeyOrder {
            id,
            key: request.key.clone(),
            places: places.clone(),
            skip,
        };
        self.log
            .write(ConfigRecord::ParkOrder {
                name: name.to_string(),
                order: Some(order),
            })
            .await?;
        Ok(crate::http::order_answer(request, &places, skip))
    }

    /// Records what DLQ redrives of connector `name` did so far (its
    /// cursor and history).
    ///
    /// # Errors
    /// `Unavailable` when Kafka does not take it.
    pub async fn record_redrives(&self, name: &str, record: Value) -> Result<(), AdminError> {
        self.log
            .write(ConfigRecord::Redrives {
                name: name.to_string(),
                value: Some(record),
            })
            .await
    }

    /// Connector `name`'s validated config (its group and subscription).
    ///
    /// # Errors
    /// `Invalid` when the stored config no longer validates.
    pub async fn validated(&self, entry: &ConnectorEntry) -> Result<Config, AdminError> {
        let v = self.validate(&entry.config).await;
        v.config
            .ok_or_else(|| AdminError::Invalid(invalid_message(&v.errors)))
    }

    /// Connector `name`'s committed offsets.
    ///
    /// # Errors
    /// `NotFound`, `Invalid`, `Unavailable`.
    pub async fn offsets(&self, name: &str) -> Result<Vec<PartitionOffset>, AdminError> {
        let config = self.validated(&self.connector(name)?).await?;
        self.groups.committed(&config).await
    }

    /// Connector `name`'s config, once it is STOPPED on every worker.
    async fn stopped(&self, name: &str) -> Result<Config, AdminError> {
        let e = self.connector(name)?;
        let running = self
            .live_reports()
            .iter()
            .filter_map(|r| r.connectors.get(name))
            .any(|c| c.state != Run::Stopped);
        if e.target != TargetState::Stopped || running {
            return Err(AdminError::Invalid(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            )));
        }
        self.validated(&e).await
    }

    /// Sets connector `name`'s committed offsets (KIP-875).
    ///
    /// # Errors
    /// `Invalid` (not stopped, no offsets, a topic it does not consume),
    /// `NotFound`, `Conflict` (its group still has members), `Unavailable`.
    pub async fn alter_offsets(
        &self,
        name: &str,
        offsets: Vec<PartitionOffset>,
    ) -> Result<(), AdminError> {
        if offsets.is_empty() {
            return Err(AdminError::Invalid(
                "Partitions / offsets need to be provided for an alter offsets request".into(),
            ));
        }
        let config = self.stopped(name).await?;
        consumed(&config, offsets.iter().map(|o| o.topic.as_str()))?;
        self.groups.alter(&config, offsets).await
    }

    /// Resets connector `name`'s offsets: its group is deleted (KIP-875).
    ///
    /// # Errors
    /// As [`Self::alter_offsets`].
    pub async fn reset_offsets(&self, name: &str) -> Result<(), AdminError> {
        let config = self.stopped(name).await?;
        self.groups.reset(&config).await
    }

    /// Moves running connector `name` to `request`'s positions
    /// ([`moves`]): a timestamp is resolved to offsets now, and the move
    /// is written pending, which stops the connector's tasks on every
    /// worker until [`Self::complete_move`] commits the positions. The
    /// move as written.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` while another move is pending; `Invalid`
    /// for a topic the connector does not consume or no partition to
    /// move; `Unavailable`.
    pub async fn request_move(
        &self,
        name: &str,
        request: moves::Request,
        worker_id: &str,
        now: i64,
    ) -> Result<Move, AdminError> {
        let entry = self.connector(name)?;
        if let Some(m) = entry.moved.as_ref().filter(|m| m.pending()) {
            return Err(AdminError::Conflict(format!(
                "connector {name} is already moving (move {}); see GET /connectors/{name}/offsets/move",
                m.id
            )));
        }
        let config = self.validated(&entry).await?;
        let (timestamp, offsets) = match request.target {
            Target::Offsets(offsets) => {
                consumed(&config, offsets.iter().map(|o| o.topic.as_str()))?;
                (None, offsets)
            }
            Target::Timestamp(at) => {
                consumed(&config, request.topics.iter().flatten().map(String::as_str))?;
                let found = self.groups.at_time(&config, at, request.topics).await?;
                (Some(at), moves::positions(&found))
            }
        };
        if offsets.is_empty() {
            return Err(AdminError::Invalid(format!(
                "connector {name} has no partition to move (its topics have none yet)"
            )));
        }
        let m = Move {
            id: format!("{now}-{worker_id}"),
            worker: worker_id.to_string(),
            requested_at: now,
            timestamp,
            offsets,
            state: MoveState::Pending,
            finished_at: None,
            error: None,
        };
        self.log
            .write(ConfigRecord::Move {
                name: name.to_string(),
                value: Some(m.clone()),
            })
            .await?;
        Ok(m)
    }

    /// Completes connector `name`'s pending move when `worker_id` is the
    /// worker to ([`moves::coordinator`]): commits its positions once
    /// every task has left the connector's group, and ends it (failed,
    /// with the reason, when the positions cannot be committed).
    ///
    /// # Errors
    /// `Unavailable` when Kafka cannot be asked (tried again later).
    pub async fn complete_move(
        &self,
        name: &str,
        worker_id: &str,
        now: i64,
    ) -> Result<MoveProgress, AdminError> {
        let Some(entry) = self.state().get(name).cloned() else {
            return Ok(MoveProgress::Nothing);
        };
        let Some(m) = entry.moved.as_ref().filter(|m| m.pending()) else {
            return Ok(MoveProgress::Nothing);
        };
        let live = self.live_workers();
        let live: Vec<&str> = live.iter().map(String::as_str).collect();
        if moves::coordinator(&m.worker, &live) != Some(worker_id) {
            return Ok(MoveProgress::Waiting);
        }
        let ended = match self.validated(&entry).await {
            Err(e) => m.ended(MoveState::Failed, now, Some(e.to_string())),
            Ok(config) => match self.groups.alter(&config, m.offsets.clone()).await {
                Ok(()) => m.ended(MoveState::Done, now, None),
                // Tasks still draining, or Kafka away: later.
                Err(AdminError::Conflict(_)) => return Ok(MoveProgress::Busy(m.clone())),
                Err(e @ AdminError::Unavailable(_)) => return Err(e),
                Err(e) => m.ended(MoveState::Failed, now, Some(e.to_string())),
            },
        };
        self.log
            .write(ConfigRecord::Move {
                name: name.to_string(),
                value: Some(ended.clone()),
            })
            .await?;
        Ok(MoveProgress::Ended(ended))
    }

    /// The ids of the live workers.
    fn live_workers(&self) -> Vec<String> {
        self.live_reports()
            .into_iter()
            .map(|r| r.worker_id)
            .collect()
    }

    /// Starts a replay job of connector `name` on worker `worker_id`
    /// ([`replays`]): the topic and partitions are checked, the times
    /// resolved to offset ranges now, and the job written `running`. The
    /// job, and the connector's config to run it with.
    ///
    /// # Errors
    /// `NotFound`; `Conflict` while another job of the connector runs on
    /// a live worker; `Invalid` for a topic it does not consume (or none
    /// given when it consumes several) or a partition the topic lacks;
    /// `Unavailable`.
    pub async fn begin_replay(
        &self,
        name: &str,
        request: replays::Request,
        worker_id: &str,
        now: i64,
    ) -> Result<(Job, Config), AdminError> {
        let entry = self.connector(name)?;
        let live = self.live_workers();
        if let Some(j) = entry
            .replays
            .iter()
            .find(|j| j.state == ReplayState::Running && live.contains(&j.worker))
        {
            return Err(AdminError::Conflict(format!(
                "replay job {} of connector {name} is still running; wait for it or cancel it (DELETE /connectors/{name}/replays/{})",
                j.id, j.id
            )));
        }
        let config = self.validated(&entry).await?;
        let topic = match (request.topic, &config.subscription) {
            (Some(t), _) => {
                consumed(&config, std::iter::once(t.as_str()))?;
                t
            }
            (None, Subscription::Topics(topics)) if topics.len() == 1 => {
                topics[0].as_str().to_string()
            }
            (None, _) => {
                return Err(AdminError::Invalid(format!(
                    "connector {name} consumes more than one topic: give the topic to replay"
                )));
            }
        };
        let to = request.to.unwrap_or(now);
        if to <= request.from {
            return Err(AdminError::Invalid(format!(
                "from ({}) is not before to ({to})",
                request.from
            )));
        }
        let one = || Some(vec![topic.clone()]);
        let starts = self.groups.at_time(&config, request.from, one()).await?;
        if starts.is_empty() {
            return Err(AdminError::Invalid(format!(
                "topic {topic} has no partitions (does it exist?)"
            )));
        }
        let ends = self.groups.at_time(&config, to, one()).await?;
        let ranges = replays::ranges(&starts, &ends, request.partitions.as_deref())?;
        let job = Job {
            id: format!("{now}-{}", worker_id.replace([':', '.', '/'], "_")),
            worker: worker_id.to_string(),
            topic,
            from: request.from,
            to,
            key_pattern: request.key_pattern,
            ranges,
            state: ReplayState::Running,
            read: 0,
            skipped: 0,
            outcomes: std::collections::BTreeMap::new(),
            started_at: now,
            finished_at: None,
            error: None,
        };
        self.record_replay(name, &job).await?;
        Ok((job, config))
    }

    /// Records replay job `job` of connector `name` as it stands now.
    ///
    /// # Errors
    /// `NotFound` when the connector is gone; `Unavailable`.
    pub async fn record_replay(&self, name: &str, job: &Job) -> Result<(), AdminError> {
        let entry = self.connector(name)?;
        self.log
            .write(ConfigRecord::Replays {
                name: name.to_string(),
                jobs: Some(replays::with_job(&entry.replays, job)),
            })
            .await
    }

    /// Connector `name`'s replay jobs as the API shows them (a running one
    /// whose worker is gone is `interrupted`), oldest first.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn replays(&self, name: &str) -> Result<Vec<Value>, AdminError> {
        let entry = self.connector(name)?;
        let live = self.live_workers();
        Ok(entry
            .replays
            .iter()
            .map(|j| j.to_json(live.contains(&j.worker)))
            .collect())
    }

    /// Asks replay job `id` of connector `name` to stop; its worker stops
    /// it within a moment and records it `cancelled`.
    ///
    /// # Errors
    /// `NotFound` for an unknown job; `Conflict` when it is not running.
    pub async fn cancel_replay(&self, name: &str, id: &str) -> Result<(), AdminError> {
        let entry = self.connector(name)?;
        let job =
            entry.replays.iter().find(|j| j.id == id).ok_or_else(|| {
                AdminError::NotFound(format!("Replay job {id} of {name} not found"))
            })?;
        if job.state != ReplayState::Running || !self.live_workers().contains(&job.worker) {
            return Err(AdminError::Conflict(format!(
                "replay job {id} is not running; there is nothing to cancel"
            )));
        }
        self.log
            .write(ConfigRecord::ReplayCancel {
                name: name.to_string(),
                id: Some(id.to_string()),
            })
            .await
    }

    /// Redrives `request` of connector `name`'s dead letters; the report.
    /// One redrive runs at a time on a worker.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (no DLQ, partitions it does not have, an
    /// invalid config), `Unavailable`.
    pub async fn redrive(&self, name: &str, request: Request) -> Result<Value, AdminError> {
        let entry = self.connector(name)?;
        let config = self.validated(&entry).await?;
        let _one = self.redriving.lock().await;
        self.redriver
            .redrive(self, name, &entry, config, request)
            .await
    }

    /// Resets connector `name`'s active topics.
    ///
    /// # Errors
    /// `NotFound`.
    pub async fn reset_topics(&self, name: &str) -> Result<(), AdminError> {
        self.connector(name)?;
        self.log
            .write(ConfigRecord::TopicsReset {
                name: name.to_string(),
            })
            .await
    }
}

#[cfg(test)]
mod tests;
