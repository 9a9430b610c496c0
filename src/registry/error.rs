//! Registry errors built from the response: the distribution spec's
//! `errors[{code, message, detail}]`, the status, method and URL (without its
//! query), and whether trying again may help.

use std::fmt;

use serde::Deserialize;

use crate::io::http::{Response, redact_url};
use crate::text::shorten;

/// An unexpected registry response.
#[derive(Debug)]
pub(crate) struct RegistryError {
    pub(crate) method: &'static str,
    pub(crate) url: String,
    pub(crate) status: u16,
    /// Spec error codes and messages, when the body had them.
    pub(crate) errors: Vec<SpecError>,
    /// The start of a body that was not spec JSON.
    pub(crate) excerpt: String,
}

/// One entry of the spec's error list.
#[derive(Debug, Deserialize)]
pub(crate) struct SpecError {
    /// `BLOB_UNKNOWN`, `DENIED`, `NAME_UNKNOWN`…
    #[serde(default)]
    pub(crate) code: String,
    /// Human text.
    #[serde(default)]
    pub(crate) message: String,
    /// Extra detail.
    #[serde(default)]
    pub(crate) detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<SpecError>,
}

impl RegistryError {
    /// Reads the error out of a response (at most 64 KiB of it).
    pub(crate) fn from_response(method: &'static str, url: &str, response: Response) -> RegistryError {
        let status = response.status;
        let text = response.excerpt(64 * 1024);
        let errors = serde_json::from_str::<ErrorBody>(&text).map(|b| b.errors).unwrap_or_default();
        let excerpt = if errors.is_empty() { text.chars().take(300).collect() } else { String::new() };
        RegistryError { method, url: redact_url(url), status, errors, excerpt }
    }

    /// Whether trying again may succeed (408, 429, 5xx gateway errors).
    pub(crate) fn is_temporary(&self) -> bool {
        crate::io::retry::Policy::REGISTRY.is_temporary(self.status)
    }

    /// Whether any entry has this code.
    pub(crate) fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} answered {}", self.method, self.url, self.status)?;
        // A registry's reply is outside text: a few entries, each cut short.
        for e in self.errors.iter().take(5) {
            write!(f, "; {}: {}", shorten(&e.code, 60), shorten(&e.message, 300))?;
            if let Some(detail) = &e.detail
                && !detail.is_null()
            {
                write!(f, " ({})", shorten(&detail.to_string(), 300))?;
            }
        }
        if self.errors.len() > 5 {
            write!(f, "; and {} more", self.errors.len() - 5)?;
        }
        if !self.excerpt.is_empty() {
            write!(f, ": {}", self.excerpt)?;
        }
        Ok(())
    }
}

impl std::error::Error for RegistryError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response { status, headers: vec![], body: Box::new(std::io::Cursor::new(body.as_bytes().to_vec())) }
    }

    #[test]
    fn spec_errors_are_shown_with_code_and_detail() {
        let body = r#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:abc"}]}"#;
        let e = RegistryError::from_response("PUT", "http://r/v2/a/manifests/t?x=secret", response(400, body));
        assert_eq!(
            e.to_string(),
            "PUT http://r/v2/a/manifests/t answered 400; MANIFEST_BLOB_UNKNOWN: blob unknown to registry (\"sha256:abc\")"
        );
        assert!(e.has_code("MANIFEST_BLOB_UNKNOWN"));
        assert!(!e.is_temporary());
    }

    #[test]
    fn non_json_bodies_are_excerpted() {
        let e = RegistryError::from_response("GET", "http://r/v2/", response(502, "<html>bad gateway</html>"));
        assert!(e.to_string().ends_with("answered 502: <html>bad gateway</html>"));
        assert!(e.is_temporary());
    }
}
