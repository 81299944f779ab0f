//! What every partition worker of a connector shares ([`Context`]): its
//! configuration and the decisions derived from it, the services it talks
//! to (the [`ports`](super::ports)), the process-wide in-flight limit, the
//! stop token, the connector's failure and metrics; and why a worker
//! stopped taking records ([`Halt`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lambda_sink_core::config::Config;
use lambda_sink_core::route::Policy;
use tokio_util::sync::CancellationToken;
use tracing::error;

use super::limit::Limiter;
use super::parking::{Orders, Parking};
use super::ports::{Lambda, Outcomes, ParkedStore, Schemas};
use crate::events::Events;
use crate::metrics::Metrics;
use crate::otel::Tracer;
use crate::status::ServiceStatus;
use crate::sync::lock;

/// What the pipeline reports to the HTTP endpoint (and the orders it
/// takes from there).
#[derive(Clone)]
pub struct Telemetry {
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Connector and task states.
    pub status: Arc<ServiceStatus>,
    /// Spans of each invocation, when OpenTelemetry traces are on.
    pub tracer: Option<Tracer>,
    /// The connector's event log.
    pub events: Arc<Events>,
    /// The operator's orders for its parked keys (retry now, skip).
    pub orders: Orders,
}

impl Telemetry {
    /// Reporting to `metrics` and `status`, with traces as the process's
    /// OpenTelemetry settings say, an event log of its own and no orders
    /// but its own.
    pub fn of(metrics: Arc<Metrics>, status: Arc<ServiceStatus>) -> Self {
        Self {
            metrics,
            status,
            tracer: crate::otel::tracer(),
            events: Arc::default(),
            orders: Orders::default(),
        }
    }
}

/// Why a worker stopped taking records.
#[derive(Debug)]
pub(crate) enum Halt {
    /// A stop was requested (shutdown, revocation) or the connector is
    /// already failing.
    Stopped,
    /// The connector must stop, for this reason.
    Failed(String),
}

/// State every partition worker of a connector shares.
pub(crate) struct Context {
    pub(crate) config: Config,
    /// The part of `config` that decides outcomes.
    pub(crate) policy: Policy,
    pub(crate) lambda: Arc<dyn Lambda>,
    pub(crate) outcomes: Arc<dyn Outcomes>,
    /// Present when a key or value format uses the Schema Registry.
    pub(crate) schemas: Option<Arc<dyn Schemas>>,
    /// `aws.lambda.max.in.flight`, adaptive on throttling.
    pub(crate) in_flight: Arc<Limiter>,
    /// Cancelled on shutdown and on failure; partitions hold child tokens.
    pub(crate) stop: CancellationToken,
    failure: Mutex<Option<String>>,
    abandoned: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) status: Arc<ServiceStatus>,
    pub(crate) tracer: Option<Tracer>,
    pub(crate) events: Arc<Events>,
    /// Present when keys are parked (`aws.lambda.on.key.failure=park`).
    pub(crate) parking: Option<Parking>,
    /// The operator's orders for parked keys.
    pub(crate) orders: Orders,
}

impl Context {
    pub(crate) fn new(
        config: Config,
        lambda: Arc<dyn Lambda>,
        outcomes: Arc<dyn Outcomes>,
        schemas: Option<Arc<dyn Schemas>>,
        parked: Option<Arc<dyn ParkedStore>>,
        stop: CancellationToken,
        telemetry: Telemetry,
    ) -> Self {
        let parking = config
            .errors
            .park
            .as_ref()
            .zip(parked)
            .map(|(park, store)| Parking::new(park, store, telemetry.metrics.clone()));
        Self {
            parking,
            policy: Policy::of(&config),
            in_flight: Arc::new(Limiter::new(
                config.lambda.max_in_flight,
                config.lambda.adaptive_concurrency,
                telemetry.metrics.in_flight.clone(),
                telemetry.metrics.in_flight_limit.clone(),
            )),
            config,
            lambda,
            outcomes,
            schemas,
            stop,
            failure: Mutex::new(None),
            abandoned: AtomicBool::new(false),
            metrics: telemetry.metrics,
            status: telemetry.status,
            tracer: telemetry.tracer,
            events: telemetry.events,
            orders: telemetry.orders,
        }
    }

    /// Stops the connector because of `reason` (the first reason wins).
    pub(crate) fn fail(&self, reason: String) {
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            error!(reason = %reason, "stopping the connector");
            self.status.failed(&reason);
            *failure = Some(reason);
        }
        drop(failure);
        self.stop.cancel();
    }

    /// Why the connector failed, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    /// Records that a requested stop left work undone.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// Whether a requested stop left work undone.
    pub(crate) fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }
}
