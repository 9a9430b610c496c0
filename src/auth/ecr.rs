//! Amazon ECR: recognising ECR hosts and exchanging AWS credentials for a
//! registry password through `GetAuthorizationToken`, signed with SigV4.
//! The endpoint honours `AWS_ENDPOINT_URL_ECR` and `AWS_ENDPOINT_URL`.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::sigv4::{SigningInput, authorization};
use super::{Credential, Secret};
use crate::env::Env;
use crate::io::http::{Body, Http, Request};
use crate::text::shorten;

const TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// An ECR registry host, `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EcrHost {
    /// AWS region in the host name.
    pub(crate) region: String,
    /// Whether it is in the China partition.
    pub(crate) china: bool,
}

/// Recognises an ECR host.
pub(crate) fn parse_host(host: &str) -> Option<EcrHost> {
    let (rest, china) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(r) => (r, true),
        None => (host.strip_suffix(".amazonaws.com")?, false),
    };
    let mut parts = rest.split('.');
    let account = parts.next()?;
    let dkr = parts.next()?;
    let ecr = parts.next()?;
    let region = parts.next()?;
    let ok = account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && dkr == "dkr"
        && (ecr == "ecr" || ecr == "ecr-fips")
        && parts.next().is_none();
    ok.then(|| EcrHost { region: region.to_string(), china })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    authorization_data: Vec<AuthorizationData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: String,
}

#[derive(Deserialize)]
struct AwsError {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(alias = "Message", default)]
    message: String,
}

/// Exchanges the AWS credentials in `env` for ECR registry credentials.
/// Returns `None` when no AWS credentials are set.
pub(crate) fn credential(
    http: &dyn Http,
    env: &Env,
    host: &EcrHost,
    now: OffsetDateTime,
) -> Result<Option<Credential>> {
    let Some((key_var, access_key)) = env.first_of(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]) else {
        return Ok(None);
    };
    let secret_key = env
        .get("AWS_SECRET_ACCESS_KEY")
        .with_context(|| format!("{key_var} is set but AWS_SECRET_ACCESS_KEY is not; set both to push to ECR"))?;
    let region = env.first_of(&["AWS_REGION", "AWS_DEFAULT_REGION"]).map_or(host.region.as_str(), |(_, r)| r);
    let endpoint = match env.first_of(&["AWS_ENDPOINT_URL_ECR", "AWS_ENDPOINT_URL"]) {
        Some((_, url)) => url.trim_end_matches('/').to_string(),
        None if host.china => format!("https://api.ecr.{region}.amazonaws.com.cn"),
        None => format!("https://api.ecr.{region}.amazonaws.com"),
    };
    let keys = AccessKeys { access_key, secret_key, session_token: env.get("AWS_SESSION_TOKEN") };
    let request = signed_request(&endpoint, region, &keys, now)?;
    let step = format!("getting an ECR password from {endpoint} (GetAuthorizationToken with {key_var})");
    let response = http.send(&request).with_context(|| step.clone())?;
    let status = response.status;
    let body = response.read_limited(1 << 20).with_context(|| step.clone())?;
    if status != 200 {
        let detail = serde_json::from_slice::<AwsError>(&body)
            .map(|e| format!("{}: {}", e.kind.rsplit('#').next().unwrap_or(&e.kind), e.message))
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
        bail!("{step}: AWS answered {status}: {}", shorten(&detail, 300));
    }
    let (username, password) = user_and_password(&body).with_context(|| step.clone())?;
    Ok(Some(Credential {
        username,
        secret: Secret::new(&password),
        source: format!("ECR GetAuthorizationToken with {key_var}/AWS_SECRET_ACCESS_KEY"),
    }))
}

/// The AWS keys a request is signed with.
struct AccessKeys<'a> {
    access_key: &'a str,
    secret_key: &'a str,
    session_token: Option<&'a str>,
}

/// The `GetAuthorizationToken` request, signed with SigV4 at `now`.
fn signed_request(endpoint: &str, region: &str, keys: &AccessKeys, now: OffsetDateTime) -> Result<Request> {
    let authority = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    let amz_date = now
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year][month][day]T[hour][minute][second]Z"))
        .context("formatting the signing date")?;
    let mut headers = vec![
        ("content-type", "application/x-amz-json-1.1"),
        ("host", authority),
        ("x-amz-date", amz_date.as_str()),
        ("x-amz-target", TARGET),
    ];
    if let Some(token) = keys.session_token {
        headers.push(("x-amz-security-token", token));
    }
    let signed = authorization(&SigningInput {
        method: "POST",
        path: "/",
        headers: &headers,
        payload: b"{}",
        region,
        service: "ecr",
        amz_date: &amz_date,
        access_key: keys.access_key,
        secret_key: keys.secret_key,
    });
    let mut request = Request::new("POST", format!("{endpoint}/")).body(Body::Bytes(b"{}".to_vec()));
    for (k, v) in headers.iter().filter(|(k, _)| *k != "host") {
        request = request.header(k, *v);
    }
    Ok(request.header("authorization", signed))
}

/// The user and password in a `GetAuthorizationToken` reply.
fn user_and_password(body: &[u8]) -> Result<(String, String)> {
    let parsed: TokenResponse = serde_json::from_slice(body).context("unexpected reply")?;
    let token = parsed.authorization_data.first().context("the reply has no authorizationData")?;
    let decoded = STANDARD.decode(&token.authorization_token).context("the token is not base64")?;
    let decoded = String::from_utf8(decoded).context("the token is not text")?;
    let (user, password) = decoded.split_once(':').context("the token is not user:password")?;
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_are_recognised() {
        assert_eq!(
            parse_host("123456789012.dkr.ecr.us-west-2.amazonaws.com"),
            Some(EcrHost { region: "us-west-2".into(), china: false })
        );
        assert_eq!(
            parse_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
            Some(EcrHost { region: "cn-north-1".into(), china: true })
        );
        assert!(parse_host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com").is_some());
        assert_eq!(parse_host("ghcr.io"), None);
        assert_eq!(parse_host("12345.dkr.ecr.us-west-2.amazonaws.com"), None);
        assert_eq!(parse_host("public.ecr.aws"), None);
    }
}
