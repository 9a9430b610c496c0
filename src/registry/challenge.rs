//! `WWW-Authenticate` challenges (RFC 7235 auth-params): `Basic realm=…` or
//! `Bearer realm=…,service=…,scope=…`, where quoted values may hold commas
//! and spaces.

use std::collections::HashMap;

/// The scheme a registry asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Basic auth on every request.
    Basic,
    /// A token from `realm`, for `service`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// Scopes the registry asked for (space-separated in the header).
        scopes: Vec<String>,
        /// `error=` (e.g. `insufficient_scope`).
        error: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` value; `None` for unknown schemes.
pub(crate) fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scopes: params.get("scope").map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
            error: params.get("error").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_ascii_lowercase();
        if key.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_string();
        }
        params.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_commas_and_spaces() {
        let c = parse(
            r#"Bearer realm="http://127.0.0.1:5002/token",service="test-registry",scope="repository:app/two:pull,push repository:demo/hello:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:5002/token".into(),
                service: Some("test-registry".into()),
                scopes: vec!["repository:app/two:pull,push".into(), "repository:demo/hello:pull".into()],
                error: None,
            })
        );
    }

    #[test]
    fn basic_and_case_insensitive_schemes() {
        assert_eq!(parse(r#"Basic realm="test-realm""#), Some(Challenge::Basic));
        assert!(matches!(
            parse(r#"bearer realm="https://auth.docker.io/token",service="registry.docker.io",error="insufficient_scope""#),
            Some(Challenge::Bearer { error: Some(e), .. }) if e == "insufficient_scope"
        ));
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(parse("Bearer service=x"), None, "a bearer challenge needs a realm");
    }
}
