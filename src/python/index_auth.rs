//! Credentials for package indexes, found as uv finds them: a
//! `[[tool.uv.index]]` named `<name>` takes `UV_INDEX_<NAME>_USERNAME` and
//! `_PASSWORD`; `UV_INDEX_URL`, `UV_EXTRA_INDEX_URL`, `PIP_INDEX_URL` and
//! `PIP_EXTRA_INDEX_URL` may carry `user:password@`; and `~/.netrc` (its
//! text given). A wheel's URL gets the credential of its host (uv's
//! realm). Pure: the caller reads the files and the environment.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::auth::Secret;

/// A host's credential and where it came from (for messages, never the
/// secret itself).
#[derive(Clone, Debug)]
pub(crate) struct IndexCredential {
    pub(crate) host: String,
    pub(crate) username: String,
    pub(crate) password: Secret,
    pub(crate) source: String,
}

impl IndexCredential {
    /// The `Authorization` header value.
    pub(crate) fn basic(&self) -> String {
        format!("Basic {}", STANDARD.encode(format!("{}:{}", self.username, self.password.expose())))
    }
}

/// Every credential the settings give, first match first.
pub(crate) fn credentials(
    indexes: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    netrc: Option<&str>,
) -> Vec<IndexCredential> {
    let mut out = Vec::new();
    for (name, url) in indexes {
        let var = format!("UV_INDEX_{}", name.to_ascii_uppercase().replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        let (user, password) = (env(&format!("{var}_USERNAME")), env(&format!("{var}_PASSWORD")));
        if let (Some(host), Some(username)) = (host_of(url), user.or_else(|| password.as_ref().map(|_| String::new())))
        {
            let source = format!("{var}_USERNAME/_PASSWORD (index {name})");
            out.push(IndexCredential { host, username, password: Secret::new(password.unwrap_or_default()), source });
        }
    }
    for var in ["UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"] {
        for url in env(var).unwrap_or_default().split_whitespace() {
            if let Some((host, username, password)) = userinfo(url) {
                out.push(IndexCredential { host, username, password: Secret::new(password), source: var.to_string() });
            }
        }
    }
    out.extend(netrc.map(parse_netrc).unwrap_or_default());
    out
}

/// The credential for a URL: the first whose host is the URL's.
pub(crate) fn for_url<'a>(credentials: &'a [IndexCredential], url: &str) -> Option<&'a IndexCredential> {
    let host = host_of(url)?;
    credentials.iter().find(|c| c.host == host)
}

/// `host[:port]`, lower-cased, without userinfo.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `https://user:password@host/…` → (host, user, password), decoded.
fn userinfo(url: &str) -> Option<(String, String, String)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (info, host) = authority.rsplit_once('@')?;
    let (user, password) = info.split_once(':').unwrap_or((info, ""));
    Some((host.to_ascii_lowercase(), percent_decode(user), percent_decode(password)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `machine HOST login USER password PASS` entries (`default` is not used:
/// a credential is never sent to a host that was not named).
fn parse_netrc(text: &str) -> Vec<IndexCredential> {
    let mut out = Vec::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        if words[i] == "machine" && i + 1 < words.len() {
            let host = words[i + 1].to_ascii_lowercase();
            let (mut login, mut password) = (String::new(), String::new());
            i += 2;
            while i + 1 < words.len() && !matches!(words[i], "machine" | "default") {
                match words[i] {
                    "login" => login = words[i + 1].to_string(),
                    "password" => password = words[i + 1].to_string(),
                    _ => {}
                }
                i += 2;
            }
            out.push(IndexCredential {
                host,
                username: login,
                password: Secret::new(password),
                source: "~/.netrc".into(),
            });
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_named_indexes_index_urls_and_netrc_by_host() {
        let env = |name: &str| match name {
            "UV_INDEX_INTERNAL_PYPI_USERNAME" => Some("alice".to_string()),
            "UV_INDEX_INTERNAL_PYPI_PASSWORD" => Some("s3cret".to_string()),
            "PIP_INDEX_URL" => Some("https://bob:p%40ss@pypi.corp.example/simple".to_string()),
            _ => None,
        };
        let indexes = [("internal-pypi".to_string(), "https://pkgs.example.com:8443/simple".to_string())];
        let netrc = "machine files.example.org\n  login carol\n  password hunter2\ndefault login x password y\n";
        let all = credentials(&indexes, &env, Some(netrc));
        let named = for_url(&all, "https://pkgs.example.com:8443/files/a-1-py3-none-any.whl").unwrap();
        assert_eq!((named.username.as_str(), named.password.expose()), ("alice", "s3cret"));
        assert!(named.source.contains("UV_INDEX_INTERNAL_PYPI_USERNAME"));
        let pip = for_url(&all, "https://pypi.corp.example/packages/b.whl").unwrap();
        assert_eq!((pip.username.as_str(), pip.password.expose()), ("bob", "p@ss"));
        assert_eq!(for_url(&all, "https://files.example.org/c.whl").unwrap().username, "carol");
        assert!(for_url(&all, "https://files.pythonhosted.org/d.whl").is_none(), "netrc's default is not used");
        assert_eq!(named.basic(), format!("Basic {}", STANDARD.encode("alice:s3cret")));
    }
}
