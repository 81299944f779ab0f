//! One Lambda `Invoke` call, with the SDK's result translated to our types:
//! a response ([`Invoked`]) or an [`InvokeFailure`] for the core's
//! classification. No retries here: the pipeline owns the only retry layer.

use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_lambda::config::http::HttpResponse;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType as SdkInvocationType;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::failure::{InvokeFailure, Transport};
pub use lambda_sink_core::route::Invoked;

/// Invokes functions through the AWS SDK.
#[derive(Clone, Debug)]
pub struct Invoker {
    client: aws_sdk_lambda::Client,
}

impl Invoker {
    /// An invoker using `client` (built with SDK retries off).
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }

    /// Sends one request, with `trace` as its `X-Amzn-Trace-Id` header.
    ///
    /// # Errors
    /// Every failure without a Lambda response, and every error response.
    pub async fn invoke(
        &self,
        function: &FunctionRef,
        kind: InvocationType,
        body: Vec<u8>,
        trace: Option<&str>,
    ) -> Result<Invoked, InvokeFailure> {
        let trace = trace.map(str::to_string);
        let invocation_type = match kind {
            InvocationType::Sync => SdkInvocationType::RequestResponse,
            InvocationType::Async => SdkInvocationType::Event,
        };
        let result = self
            .client
            .invoke()
            .function_name(function.function())
            .set_qualifier(function.qualifier().map(str::to_string))
            .invocation_type(invocation_type)
            .payload(Blob::new(body))
            .customize()
            .mutate_request(move |request| {
                if let Some(trace) = &trace {
                    request
                        .headers_mut()
                        .insert("X-Amzn-Trace-Id", trace.clone());
                }
            })
            .send()
            .await;
        match result {
            Ok(out) => Ok(Invoked {
                status: u16::try_from(out.status_code()).unwrap_or(0),
                function_error: out.function_error().map(str::to_string),
                payload: out.payload.map(Blob::into_inner).unwrap_or_default(),
            }),
            Err(e) => Err(failure(&e)),
        }
    }
}

fn failure<E>(e: &SdkError<E, HttpResponse>) -> InvokeFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = e.message().map(str::to_string).unwrap_or_else(|| {
        format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        )
    });
    let mut f = InvokeFailure {
        status: None,
        code: e.code().map(str::to_string),
        message,
        retry_after: None,
        transport: None,
    };
    match e {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            if let Some(raw) = e.raw_response() {
                f.status = Some(raw.status().as_u16());
                f.retry_after = raw
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64);
            }
        }
        SdkError::TimeoutError(_) => f.transport = Some(Transport::Timeout),
        SdkError::DispatchFailure(d) => {
            f.transport = Some(if caused_by_credentials(e) {
                Transport::Credentials
            } else if d.is_timeout() {
                Transport::Timeout
            } else if d.is_user() {
                Transport::Construction
            } else if d.is_io() {
                Transport::Connect
            } else {
                Transport::Io
            });
        }
        SdkError::ConstructionFailure(_) => {
            f.transport = Some(if caused_by_credentials(e) {
                Transport::Credentials
            } else {
                Transport::Construction
            });
        }
        _ => f.transport = Some(Transport::Io),
    }
    f
}

fn caused_by_credentials(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        source = s.source();
    }
    false
}
