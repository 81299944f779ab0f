//! Pass 3, AWS: credentials, role assumption, region, endpoint, proxy.

use super::super::enums::AuthenticationMethod;
use super::super::model::{AssumeRole, AwsConfig, AwsCredentials, Proxy};
use super::super::names::ConnectorId;
use super::super::secret::shown;
use super::values::{Report, Values, check_url};

/// AWS: credentials, role assumption, region, endpoint, proxy.
pub(super) fn aws(v: &Values, id: Option<&ConnectorId>, report: &mut Report) -> Option<AwsConfig> {
    let method = v.choice(
        "authentication.method",
        AuthenticationMethod::from_canonical,
    );
    let credentials = credentials(v, report);
    let assume_role = assume_role(v, id, method?, report);
    let region = v
        .text("aws.lambda.region")
        .or_else(|| v.text("kafka.region"));
    let endpoint = v.text("aws.lambda.endpoint");
    let endpoint_ok = endpoint
        .as_deref()
        .is_none_or(|e| check_url("aws.lambda.endpoint", e, report));
    let proxy = proxy(v, report);
    endpoint_ok.then_some(())?;
    Some(AwsConfig {
        credentials: credentials?,
        assume_role,
        region,
        endpoint,
        proxy,
    })
}

/// `aws.access.key.id` / `aws.secret.access.key` (with
/// `aws.session.token`), or the AWS default credential chain.
fn credentials(v: &Values, report: &mut Report) -> Option<AwsCredentials> {
    let key_id = v.secret("aws.access.key.id");
    let secret_key = v.secret("aws.secret.access.key");
    let token = v.secret("aws.session.token");
    match (key_id, secret_key) {
        (Some(access_key_id), Some(secret_access_key)) => Some(AwsCredentials::Static {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        (None, None) => {
            if token.is_some() {
                report.error(
                    "aws.session.token",
                    "is set without aws.access.key.id and aws.secret.access.key; set all three or none",
                );
            }
            Some(AwsCredentials::DefaultChain)
        }
        (Some(_), None) => {
            report.error(
                "aws.secret.access.key",
                "is required when aws.access.key.id is set (or remove both to use the AWS default credential chain)",
            );
            None
        }
        (None, Some(_)) => {
            report.error(
                "aws.access.key.id",
                "is required when aws.secret.access.key is set (or remove both to use the AWS default credential chain)",
            );
            None
        }
    }
}

/// The role to assume with `authentication.method=IAM Roles`.
fn assume_role(
    v: &Values,
    id: Option<&ConnectorId>,
    method: AuthenticationMethod,
    report: &mut Report,
) -> Option<AssumeRole> {
    let role_arn = v.text("aws.iam.role.arn");
    let external_id = v.text("aws.iam.external.id");
    let session_name = v.text("aws.iam.role.session.name").unwrap_or_else(|| {
        format!(
            "lambda-sink-{}",
            id.map(ConnectorId::as_str).unwrap_or("connector")
        )
    });
    match (method, role_arn) {
        (AuthenticationMethod::IamRoles, Some(role_arn)) => {
            if !role_arn.starts_with("arn:") || !role_arn.contains(":role/") {
                report.error(
                    "aws.iam.role.arn",
                    format!(
                        "{} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
                        shown(&role_arn, false)
                    ),
                );
            }
            Some(AssumeRole {
                role_arn,
                external_id,
                session_name,
            })
        }
        (AuthenticationMethod::IamRoles, None) => {
            report.error(
                "aws.iam.role.arn",
                "is required when authentication.method is IAM Roles",
            );
            None
        }
        (AuthenticationMethod::AccessKeys, role) => {
            if role.is_some() || external_id.is_some() {
                report.error(
                    "authentication.method",
                    "is Access Keys but aws.iam.role.arn/aws.iam.external.id are set; \
                     set authentication.method=IAM Roles to assume the role",
                );
            }
            None
        }
    }
}

/// `aws.lambda.proxy.*`.
fn proxy(v: &Values, report: &mut Report) -> Option<Proxy> {
    let proxy_url = v.text("aws.lambda.proxy.url");
    let proxy_user = v.text("aws.lambda.proxy.user");
    let proxy_password = v.secret("aws.lambda.proxy.password");
    match proxy_url {
        Some(url) => check_url("aws.lambda.proxy.url", &url, report).then_some(Proxy {
            url,
            user: proxy_user,
            password: proxy_password,
        }),
        None => {
            if proxy_user.is_some() || proxy_password.is_some() {
                report.error(
                    "aws.lambda.proxy.url",
                    "is required when aws.lambda.proxy.user or aws.lambda.proxy.password is set",
                );
            }
            None
        }
    }
}
