//! The Confluent Schema Registry client: writer schemas by id (or GUID),
//! references resolved, compiled once and cached.
//!
//! * Several URLs are tried in turn; each request has a timeout.
//! * `schema.context.name` other than `default` qualifies lookups
//!   (`?subject=:.ctx:` for ids, `:.ctx:subject` for references).
//! * Caching is single-flight: concurrent lookups of one schema share one
//!   fetch, and no lock is held across the HTTP call. Schemas the registry
//!   does not know are remembered for a minute, so a burst of bad records
//!   costs one lookup.
//! * Errors say what happens to the record: a schema that does not exist or
//!   does not compile is permanent (the record goes to the DLQ); a registry
//!   that cannot be reached is transient (the caller retries, never DLQs);
//!   refused credentials stop the connector.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Fault, OrFault};
use lambda_sink_core::codec::schema::{Compiled, SchemaType};
use lambda_sink_core::codec::wire::SchemaRef;
use lambda_sink_core::config::{SchemaRegistryConfig, Secret};
use lambda_sink_core::disposition::{Disposed, Disposition, RetryReason};
use serde::Deserialize;
use tokio::sync::OnceCell;

/// Most references followed from one schema (guards against cycles).
const MAX_REFERENCES: usize = 256;

/// How long a schema the registry does not know is remembered as missing,
/// so a burst of records with a bad id costs one lookup, not one each.
const MISSING_TTL: Duration = Duration::from_secs(60);

/// Why a schema could not be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry does not know the schema (or a reference): permanent.
    #[error("{0}")]
    NotFound(String),
    /// The schema exists but cannot be used: permanent.
    #[error("{0}")]
    Invalid(String),
    /// No registry answered: transient, retry.
    #[error("{0}")]
    Unavailable(String),
    /// The registry refused the credentials: the operator must fix them.
    #[error("{0}")]
    Unauthorized(String),
}

impl Disposed for RegistryError {
    fn disposition(&self) -> Disposition {
        match self {
            Self::NotFound(m) | Self::Invalid(m) => Disposition::DeadLetter(m.clone()),
            Self::Unavailable(_) => Disposition::Retry(RetryReason::Registry),
            Self::Unauthorized(m) => Disposition::Stop(m.clone()),
        }
    }
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<ReferenceResponse>,
}

#[derive(Deserialize)]
struct ReferenceResponse {
    name: String,
    subject: String,
    version: i64,
}

/// The outcome of one fetch, shared by every concurrent lookup of a schema.
struct Fetched {
    at: Instant,
    result: Result<Arc<Compiled>, RegistryError>,
}

type Cell = Arc<OnceCell<Fetched>>;

/// A Schema Registry client with a cache of compiled schemas.
pub struct Registry {
    http: reqwest::Client,
    urls: Vec<String>,
    auth: Option<Secret<String>>,
    /// `.ctx` for a named context, `None` for the default one.
    context: Option<String>,
    /// Compiled schemas, and permanent failures for [`MISSING_TTL`].
    cache: Mutex<HashMap<SchemaRef, Cell>>,
}

impl Registry {
    /// A client for `config`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (its TLS backend fails to load).
    pub fn new(config: &SchemaRegistryConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .or_fault(
                Fault::Internal,
                "building the Schema Registry's HTTP client",
            )?;
        let context = match config.context.trim_start_matches('.') {
            "" | "default" => None,
            name => Some(format!(".{name}")),
        };
        Ok(Self {
            http,
            urls: config
                .urls
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect(),
            auth: config.basic_auth.clone(),
            context,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Checks that a Confluent-compatible Schema Registry API answers at the
    /// configured URL and accepts the credentials.
    ///
    /// `GET /schemas/types` (Confluent 5.5 and later, Karapace, Apicurio's
    /// `/apis/ccompat/v7`), else `GET /subjects` (older, Avro-only
    /// registries). A URL where neither exists is not a Schema Registry API
    /// — typically Apicurio's address without `/apis/ccompat/v7` — and every
    /// lookup there would send records to the DLQ as unknown schemas, so it
    /// is refused at start.
    ///
    /// # Errors
    /// `Unavailable` when none can be reached; `Unauthorized` when the
    /// credentials are refused; `Invalid` when the URL serves no Schema
    /// Registry API. A registry that answers with a server error is
    /// reachable: lookups will retry.
    pub async fn check(&self) -> Result<(), RegistryError> {
        let answer = match self.get("/schemas/types").await {
            Err(RegistryError::NotFound(_)) => self.get("/subjects").await,
            other => other,
        };
        match answer {
            Ok(_) => Ok(()),
            Err(RegistryError::NotFound(_)) => Err(RegistryError::Invalid(format!(
                "no Schema Registry API at {}: GET /schemas/types and GET /subjects answered 404{}",
                self.urls.join(", "),
                self.apicurio_hint().await
            ))),
            Err(RegistryError::Unavailable(m)) if m.contains("HTTP 5") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Advice when a URL is an Apicurio Registry's address without its
    /// Confluent-compatible API path.
    async fn apicurio_hint(&self) -> String {
        for url in &self.urls {
            let candidate = format!("{url}/apis/ccompat/v7");
            if self
                .request(&format!("{candidate}/schemas/types"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return format!(
                    "; Apicurio Registry's Confluent-compatible API answers at {candidate}: use that as schema.registry.url"
                );
            }
        }
        "; check the URL (Apicurio Registry's Confluent-compatible API is at <url>/apis/ccompat/v7)"
            .into()
    }

    /// The compiled writer schema for `schema`.
    ///
    /// # Errors
    /// See [`RegistryError`]; a failed lookup is not cached, so the next call
    /// tries again.
    pub async fn schema(&self, schema: SchemaRef) -> Result<Arc<Compiled>, RegistryError> {
        let cell = {
            let mut cache = lock(&self.cache);
            let expired = cache
                .get(&schema)
                .and_then(|c| c.get())
                .is_some_and(|f| f.result.is_err() && f.at.elapsed() >= MISSING_TTL);
            if expired {
                cache.remove(&schema);
            }
            cache.entry(schema).or_default().clone()
        };
        // Concurrent lookups wait for this one fetch, whatever its outcome;
        // the map's lock is not held meanwhile.
        let fetched = cell
            .get_or_init(|| async {
                Fetched {
                    at: Instant::now(),
                    result: self.fetch(schema).await,
                }
            })
            .await;
        if matches!(
            fetched.result,
            Err(RegistryError::Unavailable(_) | RegistryError::Unauthorized(_))
        ) {
            // Not a fact about the schema: the next lookup fetches again.
            let mut cache = lock(&self.cache);
            if cache.get(&schema).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                cache.remove(&schema);
            }
        }
        fetched.result.clone()
    }

    async fn fetch(&self, schema: SchemaRef) -> Result<Arc<Compiled>, RegistryError> {
        let path = match schema {
            SchemaRef::Id(id) => match &self.context {
                Some(ctx) => format!("/schemas/ids/{id}?subject=:{ctx}:"),
                None => format!("/schemas/ids/{id}"),
            },
            SchemaRef::Guid(_) => {
                let guid = schema.to_string();
                format!("/schemas/guids/{}", guid.trim_start_matches("guid "))
            }
        };
        let main = self
            .get_schema(&path, &format!("schema {schema}"))
            .await
            .map_err(|e| match (e, schema) {
                (RegistryError::NotFound(m), SchemaRef::Guid(_)) => RegistryError::NotFound(format!(
                    "{m} (records framed with magic byte 1 name their schema by GUID, which only registries \
                     serving /schemas/guids can resolve; Apicurio Registry and Karapace do not)"
                )),
                (RegistryError::NotFound(m), SchemaRef::Id(0)) => RegistryError::NotFound(format!(
                    "{m} (no registry assigns id 0: a record framed with an 8-byte schema id, the default of \
                     Apicurio Registry 2.x serializers, reads as id 0; configure that serializer with \
                     apicurio.registry.as-confluent=true)"
                )),
                (e, _) => e,
            })?;
        let ty = SchemaType::from_registry(main.schema_type.as_deref())
            .map_err(|e| RegistryError::Invalid(format!("schema {schema}: {e}")))?;
        let mut references: Vec<(String, String)> = Vec::new();
        self.resolve(&main.references, &mut references, &mut Vec::new())
            .await?;
        let refs: Vec<(&str, &str)> = references
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_str()))
            .collect();
        Compiled::compile(ty, &main.schema, &refs)
            .map(Arc::new)
            .map_err(|e| RegistryError::Invalid(format!("schema {schema}: {e}")))
    }

    /// Appends every reference, transitively, dependencies first.
    async fn resolve(
        &self,
        refs: &[ReferenceResponse],
        out: &mut Vec<(String, String)>,
        seen: &mut Vec<(String, i64)>,
    ) -> Result<(), RegistryError> {
        for r in refs {
            if seen.iter().any(|(s, v)| *s == r.subject && *v == r.version) {
                continue;
            }
            if seen.len() >= MAX_REFERENCES {
                return Err(RegistryError::Invalid(format!(
                    "more than {MAX_REFERENCES} schema references (a cycle?)"
                )));
            }
            seen.push((r.subject.clone(), r.version));
            let subject = match &self.context {
                Some(ctx) if !r.subject.starts_with(":.") => format!(":{ctx}:{}", r.subject),
                _ => r.subject.clone(),
            };
            let path = format!(
                "/subjects/{}/versions/{}",
                encode_segment(&subject),
                r.version
            );
            let what = format!(
                "reference {} (subject {subject}, version {})",
                r.name, r.version
            );
            let referenced = self.get_schema(&path, &what).await?;
            Box::pin(self.resolve(&referenced.references, out, seen)).await?;
            out.push((r.name.clone(), referenced.schema));
        }
        Ok(())
    }

    async fn get_schema(&self, path: &str, what: &str) -> Result<SchemaResponse, RegistryError> {
        let body = self.get(path).await.map_err(|e| match e {
            RegistryError::NotFound(_) => {
                RegistryError::NotFound(format!("the Schema Registry does not know {what}"))
            }
            other => other,
        })?;
        serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Invalid(format!("{what}: unexpected registry response: {e}"))
        })
    }

    /// A GET of `url` with the registry's headers and credentials.
    fn request(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        match &self.auth {
            Some(auth) => {
                let (user, password) = auth.expose().split_once(':').unwrap_or((auth.expose(), ""));
                request.basic_auth(user, Some(password))
            }
            None => request,
        }
    }

    /// GET `path` from the first registry that answers.
    async fn get(&self, path: &str) -> Result<Vec<u8>, RegistryError> {
        let mut failures = Vec::new();
        for url in &self.urls {
            match self.request(&format!("{url}{path}")).send().await {
                Err(e) => failures.push(format!("{url}: {}", without_url(&e))),
                Ok(response) => {
                    let status = response.status();
                    let body = response
                        .bytes()
                        .await
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    match status.as_u16() {
                        200..=299 => return Ok(body),
                        404 => {
                            return Err(RegistryError::NotFound(
                                String::from_utf8_lossy(&body).into_owned(),
                            ));
                        }
                        401 | 403 => {
                            return Err(RegistryError::Unauthorized(format!(
                                "the Schema Registry at {url} refused the credentials (HTTP {status}); check schema.registry.basic.auth.user.info"
                            )));
                        }
                        s if s >= 500 || s == 408 || s == 429 => {
                            failures.push(format!("{url}: HTTP {status}"));
                        }
                        _ => {
                            return Err(RegistryError::Invalid(format!(
                                "the Schema Registry at {url} answered HTTP {status}: {}",
                                String::from_utf8_lossy(&body)
                            )));
                        }
                    }
                }
            }
        }
        Err(RegistryError::Unavailable(format!(
            "cannot reach the Schema Registry ({})",
            failures.join("; ")
        )))
    }
}

/// A reqwest error without the URL (which may hold credentials).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// Percent-encodes a path segment (subjects may contain `/` and `:`).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registry_error_says_what_happens_to_the_record() {
        let m = || "m".to_string();
        assert_eq!(
            RegistryError::NotFound(m()).disposition(),
            Disposition::DeadLetter(m())
        );
        assert_eq!(
            RegistryError::Invalid(m()).disposition(),
            Disposition::DeadLetter(m())
        );
        assert_eq!(
            RegistryError::Unavailable(m()).disposition(),
            Disposition::Retry(RetryReason::Registry)
        );
        assert_eq!(
            RegistryError::Unauthorized(m()).disposition(),
            Disposition::Stop(m())
        );
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("acme/common.proto"), "acme%2Fcommon.proto");
        assert_eq!(
            encode_segment(":.ctx:orders-value"),
            "%3A.ctx%3Aorders-value"
        );
    }
}
