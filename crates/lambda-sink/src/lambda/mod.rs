//! AWS Lambda adapters: the SDK configuration built from the validated
//! config (region, endpoint, credentials, proxy), the invoker over it,
//! region resolution, and function checks.
//!
//! SDK types stop here. The SDK's own retries are switched off: lambda-sink
//! has exactly one retry layer, so throttling is never hidden behind N×M calls.

pub mod credentials;
pub mod invoke;

use std::time::Duration;

use crate::error::{Error, Fault, OrFault};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_runtime_api::client::http::HttpConnectorSettings;
use lambda_sink_core::config::{AwsConfig, AwsCredentials, FunctionRef};

/// Which sources may supply a region when the config names none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionSources {
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` and the AWS profile: no network.
    Local,
    /// The full default chain, including instance metadata.
    All,
}

/// The region to use: the config's, else the AWS default chain's.
pub async fn resolve_region(aws: &AwsConfig, sources: RegionSources) -> Option<String> {
    if let Some(r) = &aws.region {
        return Some(r.clone());
    }
    let region = match sources {
        RegionSources::Local => {
            use aws_config::meta::region::ProvideRegion;
            let env = aws_config::environment::region::EnvironmentVariableRegionProvider::new();
            match env.region().await {
                Some(r) => Some(r),
                None => {
                    aws_config::profile::ProfileFileRegionProvider::new()
                        .region()
                        .await
                }
            }
        }
        RegionSources::All => {
            aws_config::default_provider::region::DefaultRegionChain::builder()
                .build()
                .region()
                .await
        }
    };
    region.map(|r| r.to_string())
}

/// The message when no region can be found.
pub const NO_REGION: &str = "no AWS region found: set aws.lambda.region (or kafka.region), \
    or AWS_REGION, or a region in the AWS profile";

/// SDK configuration: region, endpoint, credentials (static, default chain,
/// or an assumed role), per-attempt timeout = `socket_timeout`, no SDK retries.
///
/// # Errors
/// When no region can be resolved.
pub async fn sdk_config(aws: &AwsConfig, socket_timeout: Duration) -> Result<SdkConfig, Error> {
    let region = resolve_region(aws, RegionSources::All)
        .await
        .ok_or_else(|| Error::setup(NO_REGION))?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(socket_timeout)
                .build(),
        );
    if let Some(endpoint) = &aws.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(proxy) = &aws.proxy {
        loader = loader.http_client(proxied_http_client(proxy)?);
    }
    if let AwsCredentials::Static {
        access_key_id,
        secret_access_key,
        session_token,
    } = &aws.credentials
    {
        loader = loader.credentials_provider(Credentials::new(
            access_key_id.expose(),
            secret_access_key.expose(),
            session_token.as_ref().map(|t| t.expose().clone()),
            None,
            "lambda-sink-config",
        ));
    }
    let base = loader.load().await;
    let Some(role) = &aws.assume_role else {
        return Ok(base);
    };
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
        .session_name(&role.session_name)
        .configure(&base);
    if let Some(id) = &role.external_id {
        provider = provider.external_id(id);
    }
    let provider = provider.build().await;
    Ok(base
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// An HTTP client for the AWS SDK that sends every request (Lambda, STS,
/// credentials) through `aws.lambda.proxy.url`.
fn proxied_http_client(
    proxy: &lambda_sink_core::config::Proxy,
) -> Result<aws_sdk_lambda::config::SharedHttpClient, Error> {
    let config = proxy_config(proxy)?;
    Ok(
        aws_smithy_http_client::Builder::new().build_with_connector_fn(
            move |settings, components| {
                connector(
                    Some(config.clone()),
                    settings.cloned(),
                    components.and_then(|c| c.sleep_impl()),
                )
            },
        ),
    )
}

/// The proxy setting for `aws.lambda.proxy.url`, with basic authentication
/// when a user is set.
fn proxy_config(
    proxy: &lambda_sink_core::config::Proxy,
) -> Result<aws_smithy_http_client::proxy::ProxyConfig, Error> {
    let mut config = aws_smithy_http_client::proxy::ProxyConfig::all(proxy.url.as_str())
        .or_fault_with(Fault::Setup, || {
            format!("aws.lambda.proxy.url {}", proxy.url)
        })?;
    if let Some(user) = &proxy.user {
        let password = proxy.password.as_ref().map_or("", |p| p.expose().as_str());
        config = config.with_basic_auth(user.as_str(), password);
    }
    Ok(config)
}

/// The SDK's own hyper connector, TLS as the SDK's default client (rustls,
/// aws-lc), through `proxy` when set and never through the environment's.
fn connector(
    proxy: Option<aws_smithy_http_client::proxy::ProxyConfig>,
    settings: Option<HttpConnectorSettings>,
    sleep: Option<SharedAsyncSleep>,
) -> aws_smithy_http_client::Connector {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let mut builder = aws_smithy_http_client::Connector::builder();
    if let Some(proxy) = proxy {
        builder = builder.proxy_config(proxy);
    }
    builder.set_connector_settings(settings);
    builder.set_sleep_impl(sleep);
    builder
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build()
}

/// The invoker for `sdk` (from [`sdk_config`] over `aws`): its own
/// connection pool, `aws.lambda.proxy.url` when set, a 10 s connect timeout
/// and `socket_timeout` for each whole request.
///
/// # Errors
/// A bad proxy URL, or no endpoint for the region.
pub async fn invoker(
    sdk: &SdkConfig,
    aws: &AwsConfig,
    socket_timeout: Duration,
) -> Result<invoke::Invoker, Error> {
    let proxy = aws.proxy.as_ref().map(proxy_config).transpose()?;
    let connector = connector(
        proxy,
        Some(
            HttpConnectorSettings::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        ),
        Some(SharedAsyncSleep::new(TokioSleep::new())),
    );
    invoke::Invoker::new(sdk, connector, socket_timeout).await
}

/// How long a new connection to Lambda (or the proxy) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The Lambda client for `sdk`.
pub fn client(sdk: &SdkConfig) -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(sdk)
}

/// What `GetFunction` said about a configured function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FunctionCheck {
    /// Found; its configured timeout.
    Found {
        /// The function's own timeout.
        timeout: Option<Duration>,
    },
    /// The function or qualifier does not exist.
    NotFound(String),
    /// GetFunction is not allowed; invoke-only policies are legitimate.
    AccessDenied(String),
    /// Any other failure (network, credentials, throttling).
    Failed(String),
}

/// Calls `GetFunction` for `function` (with its qualifier).
pub async fn check_function(
    client: &aws_sdk_lambda::Client,
    function: &FunctionRef,
) -> FunctionCheck {
    let result = client
        .get_function()
        .function_name(function.function())
        .set_qualifier(function.qualifier().map(str::to_string))
        .send()
        .await;
    match result {
        Ok(out) => FunctionCheck::Found {
            timeout: out
                .configuration()
                .and_then(|c| c.timeout())
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
        },
        Err(e) => {
            let code = e.code().unwrap_or_default().to_string();
            let message = match (e.code(), e.message()) {
                (Some(code), Some(m)) => format!("{code}: {m}"),
                (Some(code), None) => code.to_string(),
                _ => format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                ),
            };
            match code.as_str() {
                "ResourceNotFoundException" => FunctionCheck::NotFound(message),
                "AccessDeniedException" | "AccessDenied" => FunctionCheck::AccessDenied(message),
                _ => FunctionCheck::Failed(message),
            }
        }
    }
}
