//! One Lambda `Invoke` call, built from AWS's own parts without the SDK's
//! orchestrator: the SDK's endpoint resolver (once, at start), its
//! credentials provider chain (cached, [`super::credentials`]), `aws-sigv4`
//! for the signature and the SDK's own hyper connector (same TLS, same proxy
//! support) for the wire. The response becomes an [`Invoked`] or an
//! [`InvokeFailure`] for the core's classification. No retries here: the
//! pipeline owns the only retry layer. Why not the SDK's `Invoke`:
//! docs/decisions.md, "An invoke path of AWS's own parts".

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_lambda::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SigningInstructions, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::failure::{InvokeFailure, Transport};
pub use lambda_sink_core::route::Invoked;
use lambda_sink_core::trace::Carrier;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::credentials::CachedCredentials;
use crate::error::Error;

/// The signing name of the Lambda service.
const SERVICE: &str = "lambda";

/// What a path segment or query value keeps unencoded: RFC 3986's unreserved
/// characters, as the SDK's label and query encoders do for function names
/// (an ARN's `:` becomes `%3A`).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Invokes functions: cheap to clone, one connection pool for all clones.
#[derive(Clone, Debug)]
pub struct Invoker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connector: Connector,
    credentials: CachedCredentials,
    /// The resolved endpoint, without a trailing `/`.
    endpoint: String,
    region: String,
    /// The whole request, from signing to the last byte of the response.
    timeout: Duration,
    user_agent: String,
}

impl Invoker {
    /// An invoker for `sdk`'s region, endpoint (resolved here, once, by the
    /// SDK's own rules: partitions, FIPS, dual-stack, an explicit URL) and
    /// credentials, sending through `connector` with `timeout` per request.
    ///
    /// # Errors
    /// When the endpoint cannot be resolved.
    pub async fn new(
        sdk: &SdkConfig,
        connector: Connector,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let region = sdk
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| Error::setup(super::NO_REGION))?;
        let params = Params::builder()
            .region(region.clone())
            .use_fips(sdk.use_fips().unwrap_or(false))
            .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
            .set_endpoint(sdk.endpoint_url().map(str::to_string))
            .build()
            .map_err(|e| Error::setup(format!("the Lambda endpoint parameters: {e}")))?;
        let endpoint = DefaultResolver::new()
            .resolve_endpoint(&params)
            .await
            .map_err(|e| {
                Error::setup(format!(
                    "no Lambda endpoint for region {region}: {e}; set aws.lambda.endpoint"
                ))
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                connector,
                credentials: CachedCredentials::new(sdk.credentials_provider()),
                endpoint: endpoint.url().trim_end_matches('/').to_string(),
                region,
                timeout,
                user_agent: format!("lambda-sink/{}", env!("CARGO_PKG_VERSION")),
            }),
        })
    }

    /// Loads (and caches) the credentials requests are signed with: the
    /// start-up check, so the first invocation does not wait for them.
    ///
    /// # Errors
    /// The provider's failure, for people.
    pub async fn credentials(&self) -> Result<(), String> {
        self.inner.credentials.identity().await.map(drop)
    }

    /// Sends one request carrying `trace` (`X-Amzn-Trace-Id`,
    /// `X-Amz-Client-Context`).
    ///
    /// # Errors
    /// Every failure without a Lambda response, and every error response.
    pub async fn invoke(
        &self,
        function: &FunctionRef,
        kind: InvocationType,
        body: Vec<u8>,
        trace: &Carrier,
    ) -> Result<Invoked, InvokeFailure> {
        let inner = &self.inner;
        match tokio::time::timeout(inner.timeout, inner.send(function, kind, body, trace)).await {
            Ok(result) => result,
            Err(_) => Err(transport(
                Transport::Timeout,
                format!(
                    "no response within aws.lambda.socket.timeout ({} ms)",
                    inner.timeout.as_millis()
                ),
            )),
        }
    }
}

impl Inner {
    async fn send(
        &self,
        function: &FunctionRef,
        kind: InvocationType,
        body: Vec<u8>,
        trace: &Carrier,
    ) -> Result<Invoked, InvokeFailure> {
        let identity = self
            .credentials
            .identity()
            .await
            .map_err(|m| transport(Transport::Credentials, m))?;
        let uri = invoke_uri(&self.endpoint, function);
        let mut request = http::Request::builder()
            .method("POST")
            .uri(&uri)
            .header("content-type", "application/octet-stream")
            .header("x-amz-invocation-type", invocation_type(kind))
            .header("user-agent", &self.user_agent);
        if let Some(xray) = &trace.xray {
            request = request.header("x-amzn-trace-id", xray);
        }
        if let Some(context) = &trace.client_context {
            request = request.header("x-amz-client-context", context);
        }
        let mut request = request
            .body(())
            .map_err(|e| construction(format!("the invoke request: {e}")))?;
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let (instructions, _) = signed(
            &identity,
            &self.region,
            SystemTime::now(),
            &uri,
            headers,
            &body,
        )
        .map_err(|e| construction(format!("signing the request: {e}")))?;
        instructions.apply_to_request_http1x(&mut request);
        let request = HttpRequest::try_from(request.map(|()| SdkBody::from(body)))
            .map_err(|e| construction(format!("the invoke request: {e}")))?;
        let response = self.connector.call(request).await.map_err(dispatch)?;
        let status = response.status().as_u16();
        let headers = response.headers();
        let head = Head {
            status,
            function_error: headers.get("x-amz-function-error").map(str::to_string),
            error_type: headers.get("x-amzn-errortype").map(str::to_string),
            retry_after: headers.get("retry-after").map(str::to_string),
        };
        let body = ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| {
                transport(
                    Transport::Io,
                    format!(
                        "reading the response: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    ),
                )
            })?
            .into_bytes();
        head.into_result(Vec::from(body))
    }
}

/// SigV4 of a `POST` to Lambda as the SDK signs it (its default settings:
/// the trace id and user agent left unsigned): the headers to add, and the
/// signature.
fn signed<'a>(
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    region: &str,
    time: SystemTime,
    uri: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    body: &'a [u8],
) -> Result<(SigningInstructions, String), String> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new("POST", uri, headers, SignableBody::Bytes(body))
        .map_err(|e| e.to_string())?;
    Ok(sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts())
}

/// `POST /2015-03-31/functions/{name}/invocations[?Qualifier=q]`.
fn invoke_uri(endpoint: &str, function: &FunctionRef) -> String {
    let mut uri = format!(
        "{endpoint}/2015-03-31/functions/{}/invocations",
        utf8_percent_encode(function.function(), ENCODE)
    );
    if let Some(q) = function.qualifier() {
        uri.push_str("?Qualifier=");
        uri.extend(utf8_percent_encode(q, ENCODE));
    }
    uri
}

fn invocation_type(kind: InvocationType) -> &'static str {
    match kind {
        InvocationType::Sync => "RequestResponse",
        InvocationType::Async => "Event",
    }
}

/// The parts of a response the translation reads.
#[derive(Debug, Default)]
struct Head {
    status: u16,
    function_error: Option<String>,
    error_type: Option<String>,
    retry_after: Option<String>,
}

impl Head {
    /// A 2xx is the function's answer (`X-Amz-Function-Error` says whether
    /// the function failed); anything else is Lambda's error, its code from
    /// `X-Amzn-ErrorType` or the JSON body's `__type`/`code`, as restJson1
    /// defines them.
    fn into_result(self, body: Vec<u8>) -> Result<Invoked, InvokeFailure> {
        if (200..300).contains(&self.status) {
            return Ok(Invoked {
                status: self.status,
                function_error: self.function_error,
                payload: body,
            });
        }
        let json: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_slice(&body).ok();
        let field = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| json.as_ref()?.get(*n)?.as_str().map(str::to_string))
        };
        let code = self
            .error_type
            .or_else(|| field(&["code", "__type"]))
            .map(|c| error_code(&c).to_string())
            .filter(|c| !c.is_empty());
        let message = field(&["message", "Message", "errorMessage"]).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(200).collect();
            format!("HTTP {} from Lambda: {}", self.status, text.trim())
        });
        Err(InvokeFailure {
            status: Some(self.status),
            code,
            message,
            retry_after: self
                .retry_after
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            transport: None,
        })
    }
}

/// restJson1's error code: the part before any `:` (a URL may follow), after
/// any `#` (a namespace may precede).
fn error_code(raw: &str) -> &str {
    let code = raw.split(':').next().unwrap_or(raw);
    code.rsplit('#').next().unwrap_or(code).trim()
}

fn transport(kind: Transport, message: String) -> InvokeFailure {
    InvokeFailure {
        status: None,
        code: None,
        message,
        retry_after: None,
        transport: Some(kind),
    }
}

fn construction(message: String) -> InvokeFailure {
    transport(Transport::Construction, message)
}

/// A failure before any response: classified as the SDK's dispatch failures.
fn dispatch(e: ConnectorError) -> InvokeFailure {
    let kind = if e.is_timeout() {
        Transport::Timeout
    } else if e.is_user() {
        Transport::Construction
    } else if e.is_io() {
        Transport::Connect
    } else {
        Transport::Io
    };
    transport(
        kind,
        format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What the endpoint received, as it came off the wire.
    #[derive(Clone, Debug, Default)]
    struct Received {
        uri: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Received {
        /// The value of header `name` (lower case, as it arrived).
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// The signature `received` carries, recomputed from the wire request
    /// by SigV4 with `secret`: what AWS does before it runs anything.
    fn verify(received: &Received, secret: &str) -> Result<(), String> {
        let header = |name: &str| received.header(name);
        let auth = header("authorization").ok_or("no authorization header")?;
        let field = |name: &str| {
            auth.split([' ', ','])
                .find_map(|p| p.strip_prefix(name))
                .ok_or(format!("{name} missing in {auth}"))
        };
        let (credential, signed_headers, signature) = (
            field("Credential=")?,
            field("SignedHeaders=")?,
            field("Signature=")?,
        );
        let scope: Vec<&str> = credential.split('/').collect();
        let (key, region) = (scope[0], scope[2]);
        assert_eq!(scope[3], SERVICE, "the credential scope names Lambda");
        let date = header("x-amz-date").ok_or("no x-amz-date")?;
        let rfc3339 = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[0..4],
            &date[4..6],
            &date[6..8],
            &date[9..11],
            &date[11..13],
            &date[13..15]
        );
        let time = aws_smithy_types::DateTime::from_str(
            &rfc3339,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .map_err(|e| e.to_string())?;
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new(key, secret, None, None, "verifier").into();
        let host = header("host").ok_or("no host")?;
        let uri = format!("http://{host}{}", received.uri);
        let signed_headers: Vec<&str> = signed_headers.split(';').collect();
        let headers = received
            .headers
            .iter()
            .filter(|(k, _)| signed_headers.contains(&k.as_str()) && k != "x-amz-date")
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let time = SystemTime::try_from(time).map_err(|e| e.to_string())?;
        let (_, expected) = signed(&identity, region, time, &uri, headers, &received.body)?;
        if expected == signature {
            Ok(())
        } else {
            Err(format!(
                "signature {signature} ≠ {expected} recomputed from the wire"
            ))
        }
    }

    /// An HTTP endpoint that answers `[]` and keeps every request it got.
    async fn capturing_endpoint() -> (std::net::SocketAddr, Arc<Mutex<Vec<Received>>>) {
        use axum::body::Bytes;
        use axum::http::{HeaderMap, Uri};
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = {
            let seen = seen.clone();
            axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    let headers = headers
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    seen.lock().unwrap().push(Received {
                        uri: uri.to_string(),
                        headers,
                        body: body.to_vec(),
                    });
                    "[]"
                }
            })
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, seen)
    }

    #[tokio::test]
    async fn the_wire_request_carries_a_signature_sigv4_recomputes() {
        let (addr, seen) = capturing_endpoint().await;
        let sdk = SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(format!("http://{addr}"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        "AKIDTEST",
                        "s3cr3t/+=",
                        Some("token".into()),
                        None,
                        "test",
                    ),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let invoker = Invoker::new(
            &sdk,
            Connector::builder().build_http(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let function =
            FunctionRef::parse("arn:aws:lambda:eu-west-1:123456789012:function:f:live").unwrap();
        let body = br#"[{"payload":{"value":"caf\u00e9 & <b>"}}]"#.to_vec();
        let answer = invoker
            .invoke(
                &function,
                InvocationType::Sync,
                body.clone(),
                &Carrier {
                    xray: Some("Root=1-5759e988-bd862e3fe1be46a994272793".into()),
                    client_context: Some("eyJjdXN0b20iOnt9fQ==".into()),
                },
            )
            .await
            .unwrap();
        assert_eq!((answer.status, answer.payload), (200, b"[]".to_vec()));
        let received = seen.lock().unwrap()[0].clone();
        assert_eq!(
            received.uri,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Af/invocations?Qualifier=live"
        );
        assert_eq!(received.body, body, "the body as handed over");
        verify(&received, "s3cr3t/+=").unwrap();
        assert!(
            verify(&received, "another secret").is_err(),
            "the check can fail"
        );
        let header = |name: &str| received.header(name);
        assert_eq!(header("x-amz-security-token"), Some("token"));
        assert_eq!(header("x-amz-invocation-type"), Some("RequestResponse"));
        assert_eq!(
            header("x-amzn-trace-id"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(header("x-amz-client-context"), Some("eyJjdXN0b20iOnt9fQ=="));
        let auth = header("authorization").unwrap();
        assert!(
            !auth.contains("x-amzn-trace-id") && !auth.contains("user-agent"),
            "hop-changed headers unsigned: {auth}"
        );
        assert!(
            auth.contains("x-amz-client-context"),
            "the client context is signed, as the SDK signs it: {auth}"
        );
    }

    #[test]
    fn uri_encodes_names_and_qualifiers_as_the_sdk_does() {
        let cases = [
            ("fn", "/2015-03-31/functions/fn/invocations"),
            (
                "fn:live",
                "/2015-03-31/functions/fn/invocations?Qualifier=live",
            ),
            (
                "arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST",
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Af/invocations?Qualifier=%24LATEST",
            ),
            ("a_b-C9", "/2015-03-31/functions/a_b-C9/invocations"),
            (
                "123456789012:function:f:7",
                "/2015-03-31/functions/123456789012%3Afunction%3Af/invocations?Qualifier=7",
            ),
        ];
        for (raw, path) in cases {
            let function = FunctionRef::parse(raw).unwrap();
            assert_eq!(
                invoke_uri("https://h", &function),
                format!("https://h{path}"),
                "{raw}"
            );
        }
    }

    #[test]
    fn error_codes_are_sanitised_as_rest_json_says() {
        let cases = [
            ("TooManyRequestsException", "TooManyRequestsException"),
            (
                "TooManyRequestsException:http://internal.amazon.com/",
                "TooManyRequestsException",
            ),
            (
                "com.amazonaws.lambda#ResourceNotFoundException",
                "ResourceNotFoundException",
            ),
            ("aws.protocoltests#FooError:http://x/", "FooError"),
            ("", ""),
        ];
        for (raw, code) in cases {
            assert_eq!(error_code(raw), code, "{raw}");
        }
    }

    fn head(status: u16) -> Head {
        Head {
            status,
            ..Head::default()
        }
    }

    #[test]
    fn responses_translate_to_answers_and_failures() {
        let ok = head(200).into_result(b"{\"ok\":1}".to_vec()).unwrap();
        assert_eq!(
            (ok.status, ok.function_error, ok.payload),
            (200, None, b"{\"ok\":1}".to_vec())
        );

        let unhandled = Head {
            function_error: Some("Unhandled".into()),
            ..head(200)
        }
        .into_result(b"{}".to_vec())
        .unwrap();
        assert_eq!(unhandled.function_error.as_deref(), Some("Unhandled"));

        let accepted = head(202).into_result(Vec::new()).unwrap();
        assert_eq!(accepted.status, 202);

        let throttled = Head {
            error_type: Some("TooManyRequestsException:http://internal".into()),
            retry_after: Some("1.5".into()),
            ..head(429)
        }
        .into_result(br#"{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}"#.to_vec())
        .unwrap_err();
        assert_eq!(
            throttled,
            InvokeFailure {
                status: Some(429),
                code: Some("TooManyRequestsException".into()),
                message: "Rate Exceeded.".into(),
                retry_after: Some(Duration::from_millis(1500)),
                transport: None,
            }
        );

        let from_body = head(413)
            .into_result(br#"{"__type":"RequestTooLargeException","Message":"too big"}"#.to_vec())
            .unwrap_err();
        assert_eq!(from_body.code.as_deref(), Some("RequestTooLargeException"));
        assert_eq!(from_body.message, "too big");

        let not_json = Head {
            retry_after: Some("soon".into()),
            ..head(502)
        }
        .into_result(b"<html>Bad Gateway</html>".to_vec())
        .unwrap_err();
        assert_eq!(not_json.code, None);
        assert_eq!(not_json.retry_after, None);
        assert_eq!(
            not_json.message,
            "HTTP 502 from Lambda: <html>Bad Gateway</html>"
        );
        assert_eq!(not_json.error_type(), "HTTP502");
    }
}
