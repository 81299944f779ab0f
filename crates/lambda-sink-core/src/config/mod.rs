//! Configuration: from a file in one of Confluent's shapes to a validated,
//! typed [`Config`].
//!
//! The flow is `source` (file → ordered raw entries) → `reference` (`${env:}`,
//! `${file:}`) → `validate` (entries → [`Config`], collecting every problem at
//! once). [`properties::PROPERTIES`] is the single description of every
//! property; defaults and valid values are read from it and nowhere else.
//!
//! Invariant: a [`Config`] value satisfies every rule of SPEC §2 that can be
//! checked without the network. Secrets are held in [`Secret`] and never
//! printed.

mod client;
mod enums;
mod model;
mod names;
pub mod properties;
mod reference;
mod secret;
mod source;
mod validate;
pub mod worker;

pub use client::ClientRole;
pub use enums::{
    AuthenticationMethod, AutoOffsetReset, BehaviorOnError, ConfigurationMode, ConnectorClass,
    ErrorsTolerance, EsmRecordFormat, InvocationType, KafkaAuthMode, OnFailure, OnKeyFailure,
    Ordering, PayloadFormat, ReporterValueFormat,
};
pub use model::{
    AssumeRole, AwsConfig, AwsCredentials, ClientProperties, ClientValue, Config, Dlq,
    ErrorsConfig, KafkaAuth, KafkaConfig, LambdaConfig, OutputTopic, Park, Proxy, ReporterConfig,
    ReporterTopic, Routing, SchemaRegistryConfig, ServiceConfig, Subscription, Transactions,
};
pub use names::{ConnectorId, FunctionRef, TopicName};
pub use reference::Resolver;
pub use secret::{MASK, Secret};
pub use source::{RawConfig, RawEntry, SourceError, load, parse};
pub use validate::{ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT, Validation, validate, validate_kafka};
