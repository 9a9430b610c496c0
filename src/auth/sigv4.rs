//! AWS Signature Version 4 for the one AWS call this tool makes (ECR
//! GetAuthorizationToken): canonical request, string to sign, derived key.
//! Hand-written because the `aws-sigv4` crate pulls in an async runtime;
//! checked against the AWS test suite's `get-vanilla` vector and an ECR
//! request vector cross-checked with botocore.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What gets signed.
pub struct SigningInput<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Canonical URI path (`/`).
    pub path: &'a str,
    /// Headers to sign (names any case; `host` included).
    pub headers: &'a [(&'a str, &'a str)],
    /// Request body.
    pub payload: &'a [u8],
    /// AWS region.
    pub region: &'a str,
    /// Signing name (`ecr`).
    pub service: &'a str,
    /// `YYYYMMDD'T'HHMMSS'Z'`.
    pub amz_date: &'a str,
    /// Access key id.
    pub access_key: &'a str,
    /// Secret access key.
    pub secret_key: &'a str,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Canonical headers block and the signed-headers list.
fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    h.sort();
    let block = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let names = h.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    (block, names)
}

/// The canonical request (step 4 of the signing process).
pub fn canonical_request(input: &SigningInput) -> String {
    let (block, names) = canonical_headers(input.headers);
    format!("{}\n{}\n\n{block}\n{names}\n{}", input.method, input.path, sha256_hex(input.payload))
}

/// The `Authorization` header value.
pub fn authorization(input: &SigningInput) -> String {
    let date = &input.amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", input.region, input.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{}\n{scope}\n{}", input.amz_date, sha256_hex(canonical_request(input).as_bytes()));
    let mut key = hmac(format!("AWS4{}", input.secret_key).as_bytes(), date);
    for part in [input.region, input.service, "aws4_request"] {
        key = hmac(&key, part);
    }
    let signature = hex::encode(hmac(&key, &string_to_sign));
    let (_, names) = canonical_headers(input.headers);
    format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={names}, Signature={signature}", input.access_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";

    #[test]
    fn aws_suite_get_vanilla() {
        let headers = [("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)];
        let input = SigningInput {
            method: "GET",
            path: "/",
            headers: &headers,
            payload: b"",
            region: "us-east-1",
            service: "service",
            amz_date: DATE,
            access_key: AKID,
            secret_key: SECRET,
        };
        assert_eq!(
            authorization(&input),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn ecr_get_authorization_token_vector() {
        let headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Host", "api.ecr.us-east-1.amazonaws.com"),
            ("X-Amz-Date", DATE),
            ("X-Amz-Target", "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"),
        ];
        let input = SigningInput {
            method: "POST",
            path: "/",
            headers: &headers,
            payload: b"{}",
            region: "us-east-1",
            service: "ecr",
            amz_date: DATE,
            access_key: AKID,
            secret_key: SECRET,
        };
        assert_eq!(
            sha256_hex(canonical_request(&input).as_bytes()),
            "696f9d23764d52f5c339be08179976e1c31aee8c781de678b4b36b35ccedda1f"
        );
        assert!(
            authorization(&input)
                .ends_with("Signature=527a2155e9afc2426cb4c659023df9c031e8103458f349819615ff25111f5de0")
        );
    }
}
