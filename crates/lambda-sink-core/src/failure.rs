//! How an invocation failed ([`InvokeFailure`], as the Lambda adapter saw
//! it) and what that means for the records ([`classify`]): retry with
//! backoff, split the batch, or stop the connector.

use std::time::Duration;

use crate::disposition::{Disposed, Disposition, RetryReason};

/// How an invocation failed, as the Lambda adapter saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeFailure {
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// AWS error code (`TooManyRequestsException`, ...), when the response had one.
    pub code: Option<String>,
    /// Message for people.
    pub message: String,
    /// `Retry-After`, when the response had one.
    pub retry_after: Option<Duration>,
    /// Failures without a response.
    pub transport: Option<Transport>,
}

impl InvokeFailure {
    /// The AWS error code, else a name for the transport failure.
    pub fn error_type(&self) -> String {
        match (&self.code, self.transport) {
            (Some(code), _) => code.clone(),
            (None, Some(t)) => t.as_str().to_string(),
            (None, None) => format!("HTTP{}", self.status.unwrap_or(0)),
        }
    }
}

/// A failure with no HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `aws.lambda.socket.timeout` expired.
    Timeout,
    /// Could not connect.
    Connect,
    /// The connection broke.
    Io,
    /// Credentials could not be loaded.
    Credentials,
    /// The request could not be built: a bug or a bad configuration.
    Construction,
}

impl Transport {
    /// Name used as the error type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "Timeout",
            Self::Connect => "ConnectionError",
            Self::Io => "IoError",
            Self::Credentials => "CredentialsError",
            Self::Construction => "RequestError",
        }
    }
}

impl Disposed for InvokeFailure {
    fn disposition(&self) -> Disposition {
        classify(self)
    }
}

/// The one classification of invocation failures (SPEC §4.1).
pub fn classify(f: &InvokeFailure) -> Disposition {
    use Disposition::{Retry, Split, Stop};
    use RetryReason as R;
    if let Some(t) = f.transport {
        return match t {
            Transport::Timeout => Retry(R::Timeout),
            Transport::Connect | Transport::Io => Retry(R::Connection),
            Transport::Credentials => Retry(R::Credentials),
            Transport::Construction => Stop(format!(
                "the invoke request could not be built: {}; check aws.lambda.endpoint and the function name",
                f.message
            )),
        };
    }
    let code = f.code.as_deref().unwrap_or("");
    match (f.status.unwrap_or(0), code) {
        (_, "TooManyRequestsException") | (429, _) => Retry(R::Throttled),
        (_, "RequestTooLargeException" | "SerializedRequestEntityTooLargeException") | (413, _) => {
            Split
        }
        (_, "ResourceNotFoundException") | (404, _) => Stop(format!(
            "the function was not found ({code}: {}): check aws.lambda.function.name (or aws.lambda.topic2function.map), its version or alias, and aws.lambda.region",
            f.message
        )),
        (_, "ExpiredTokenException" | "ExpiredToken" | "RequestExpired") => Retry(R::Credentials),
        (
            _,
            "ResourceConflictException"
            | "ResourceNotReadyException"
            | "SnapStartNotReadyException",
        ) => Retry(R::NotReady),
        (
            _,
            "EC2ThrottledException"
            | "EC2UnexpectedException"
            | "ENILimitReachedException"
            | "SubnetIPAddressLimitReachedException"
            | "EFSIOException"
            | "EFSMountTimeoutException"
            | "SnapStartTimeoutException"
            | "ServiceException",
        ) => Retry(R::ServerError),
        (_, c) if is_function_configuration_error(c) => Stop(format!(
            "the function's own configuration prevents it from running ({code}: {}): fix the function (its KMS key, VPC, file system, runtime or code) in AWS",
            f.message
        )),
        (
            _,
            "AccessDeniedException"
            | "AccessDenied"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "MissingAuthenticationTokenException"
            | "IncompleteSignature"
            | "SignatureDoesNotMatch",
        )
        | (401 | 403, _) => Stop(format!(
            "Lambda refused the credentials or permissions ({code}: {}): check aws.access.key.id / aws.secret.access.key (or the default credential chain), aws.iam.role.arn, and that the identity may call lambda:InvokeFunction on the function",
            f.message
        )),
        (408, _) => Retry(R::Timeout),
        (409, _) => Retry(R::NotReady),
        (s, _) if s >= 500 => Retry(R::ServerError),
        _ => Stop(format!(
            "Lambda rejected the request ({}: {}): check the function configuration and aws.lambda.* properties",
            f.error_type(),
            f.message
        )),
    }
}

/// 5xx codes that will not go away by retrying: the function is misconfigured.
fn is_function_configuration_error(code: &str) -> bool {
    matches!(
        code,
        "KMSAccessDeniedException"
            | "KMSDisabledException"
            | "KMSInvalidStateException"
            | "KMSNotFoundException"
            | "InvalidRuntimeException"
            | "InvalidZipFileException"
            | "InvalidSecurityGroupIDException"
            | "InvalidSubnetIDException"
            | "EC2AccessDeniedException"
            | "EFSMountFailureException"
            | "EFSMountConnectivityException"
            | "SnapStartException"
    )
}

/// A failure Lambda answered with `status` and error `code` (for tests).
#[cfg(test)]
pub(crate) fn service(status: u16, code: &str) -> InvokeFailure {
    InvokeFailure {
        status: Some(status),
        code: Some(code.to_string()),
        message: "m".into(),
        retry_after: None,
        transport: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_aws_error_code_has_a_disposition() {
        use Disposition::{Retry, Split};
        use RetryReason as R;
        let table: &[(u16, &str, Option<Disposition>)] = &[
            (429, "TooManyRequestsException", Some(Retry(R::Throttled))),
            (413, "RequestTooLargeException", Some(Split)),
            (413, "SerializedRequestEntityTooLargeException", Some(Split)),
            (500, "ServiceException", Some(Retry(R::ServerError))),
            (502, "EC2ThrottledException", Some(Retry(R::ServerError))),
            (502, "EC2UnexpectedException", Some(Retry(R::ServerError))),
            (502, "ENILimitReachedException", Some(Retry(R::ServerError))),
            (
                502,
                "SubnetIPAddressLimitReachedException",
                Some(Retry(R::ServerError)),
            ),
            (410, "EFSIOException", Some(Retry(R::ServerError))),
            (408, "EFSMountTimeoutException", Some(Retry(R::ServerError))),
            (502, "ResourceNotReadyException", Some(Retry(R::NotReady))),
            (409, "ResourceConflictException", Some(Retry(R::NotReady))),
            (409, "SnapStartNotReadyException", Some(Retry(R::NotReady))),
            (
                408,
                "SnapStartTimeoutException",
                Some(Retry(R::ServerError)),
            ),
            (403, "ExpiredTokenException", Some(Retry(R::Credentials))),
            (503, "", Some(Retry(R::ServerError))),
            (504, "", Some(Retry(R::ServerError))),
            (408, "", Some(Retry(R::Timeout))),
            (409, "", Some(Retry(R::NotReady))),
            (404, "ResourceNotFoundException", None),
            (403, "AccessDeniedException", None),
            (403, "UnrecognizedClientException", None),
            (403, "InvalidSignatureException", None),
            (401, "", None),
            (400, "InvalidParameterValueException", None),
            (400, "InvalidRequestContentException", None),
            (400, "RecursiveInvocationException", None),
            (415, "UnsupportedMediaTypeException", None),
            (502, "KMSAccessDeniedException", None),
            (502, "KMSDisabledException", None),
            (502, "KMSInvalidStateException", None),
            (502, "KMSNotFoundException", None),
            (502, "InvalidRuntimeException", None),
            (502, "InvalidZipFileException", None),
            (502, "InvalidSecurityGroupIDException", None),
            (502, "InvalidSubnetIDException", None),
            (502, "EC2AccessDeniedException", None),
            (403, "EFSMountFailureException", None),
            (408, "EFSMountConnectivityException", None),
            (500, "SnapStartException", None),
        ];
        for (status, code, expected) in table {
            let got = classify(&service(*status, code));
            match expected {
                Some(d) => assert_eq!(&got, d, "{status} {code}"),
                None => assert!(
                    matches!(got, Disposition::Stop(_)),
                    "{status} {code}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn stop_messages_say_what_to_fix() {
        let Disposition::Stop(m) = classify(&service(404, "ResourceNotFoundException")) else {
            panic!("not a stop")
        };
        assert!(m.contains("check aws.lambda.function.name"), "{m}");
        let Disposition::Stop(m) = classify(&service(403, "AccessDeniedException")) else {
            panic!("not a stop")
        };
        assert!(m.contains("lambda:InvokeFunction"), "{m}");
    }

    #[test]
    fn transport_failures() {
        let t = |transport| InvokeFailure {
            status: None,
            code: None,
            message: "m".into(),
            retry_after: None,
            transport: Some(transport),
        };
        assert_eq!(
            classify(&t(Transport::Timeout)),
            Disposition::Retry(RetryReason::Timeout)
        );
        assert_eq!(
            classify(&t(Transport::Connect)),
            Disposition::Retry(RetryReason::Connection)
        );
        assert_eq!(
            classify(&t(Transport::Io)),
            Disposition::Retry(RetryReason::Connection)
        );
        assert_eq!(
            classify(&t(Transport::Credentials)),
            Disposition::Retry(RetryReason::Credentials)
        );
        assert!(matches!(
            classify(&t(Transport::Construction)),
            Disposition::Stop(_)
        ));
        assert_eq!(t(Transport::Timeout).error_type(), "Timeout");
    }
}
