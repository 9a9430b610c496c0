//! Docker's `config.json` (and the same `auths` format in podman's
//! `auth.json`): per-registry credential helpers, the default credential
//! store, then inline `auths` entries, in the Docker CLI's order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::{Credential, Secret};
use crate::env::Env;
use crate::image::reference::DOCKER_HUB;

/// The key Docker uses for Docker Hub.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// One parsed config file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Runs credential helpers (`docker-credential-<name> get`).
pub(crate) trait CredentialHelpers {
    /// Asks helper `name` for `server_url`; `None` when it has nothing.
    fn get(&self, name: &str, server_url: &str) -> Result<Option<(String, String)>>;
}

/// The config files to read, in order: Docker's, then podman's.
pub(crate) fn config_paths(env: &Env) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    match (env.get("DOCKER_CONFIG"), env.get("HOME")) {
        (Some(dir), _) => paths.push(Path::new(dir).join("config.json")),
        (None, Some(home)) => paths.push(Path::new(home).join(".docker").join("config.json")),
        (None, None) => {}
    }
    if let Some(file) = env.get("REGISTRY_AUTH_FILE") {
        paths.push(PathBuf::from(file));
    }
    if let Some(dir) = env.get("XDG_RUNTIME_DIR") {
        paths.push(Path::new(dir).join("containers").join("auth.json"));
    }
    paths
}

/// Reads a config file; a missing file is an empty config.
pub(crate) fn read(path: &Path) -> Result<ConfigFile> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Strips scheme and path from a config key (`https://ghcr.io/v1/` → `ghcr.io`).
fn normalise_key(key: &str) -> &str {
    let key = key.split_once("://").map_or(key, |(_, rest)| rest);
    key.split('/').next().unwrap_or(key)
}

fn is_docker_hub_alias(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

fn key_matches(key: &str, registry: &str) -> bool {
    let key = normalise_key(key);
    key == registry || (registry == DOCKER_HUB && is_docker_hub_alias(key))
}

impl ConfigFile {
    /// The credential this file gives `registry` (a reference's registry
    /// name: `docker.io`, `ghcr.io`, `host:port`).
    pub(crate) fn lookup(
        &self,
        registry: &str,
        path: &Path,
        helpers: &dyn CredentialHelpers,
    ) -> Result<Option<Credential>> {
        let server_url = if registry == DOCKER_HUB { DOCKER_HUB_KEY } else { registry };
        let helper = self.cred_helpers.iter().find(|(k, _)| key_matches(k, registry)).map(|(_, v)| v);
        let (helper, kind) = match (helper, &self.creds_store) {
            (Some(h), _) => (Some(h), "credHelpers"),
            (None, Some(store)) => (Some(store), "credsStore"),
            (None, None) => (None, ""),
        };
        if let Some(name) = helper
            && let Some((user, secret)) = helpers.get(name, server_url).with_context(|| {
                format!("asking docker-credential-{name} ({kind} in {}) for {registry}", path.display())
            })?
        {
            return Ok(Some(Credential {
                username: user,
                secret: Secret::new(secret),
                source: format!("docker-credential-{name} ({kind} in {})", path.display()),
            }));
        }
        let Some((key, entry)) = self.auths.iter().find(|(k, _)| key_matches(k, registry)) else {
            return Ok(None);
        };
        let source = format!("auths[{key:?}] in {}", path.display());
        if let Some(token) = &entry.identitytoken {
            return Ok(Some(Credential { username: "<token>".into(), secret: Secret::new(token.clone()), source }));
        }
        let (user, pass) = match (&entry.auth, &entry.username, &entry.password) {
            (Some(auth), _, _) => {
                let decoded = STANDARD.decode(auth.trim()).with_context(|| format!("{source}: auth is not base64"))?;
                let decoded = String::from_utf8(decoded).with_context(|| format!("{source}: auth is not text"))?;
                let (u, p) = decoded.split_once(':').with_context(|| format!("{source}: auth is not user:password"))?;
                (u.to_string(), p.to_string())
            }
            (None, Some(u), Some(p)) => (u.clone(), p.clone()),
            _ => return Ok(None),
        };
        Ok(Some(Credential { username: user, secret: Secret::new(pass), source }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoHelpers;
    impl CredentialHelpers for NoHelpers {
        fn get(&self, name: &str, server_url: &str) -> Result<Option<(String, String)>> {
            Ok((name == "fake").then(|| ("helper-user".to_string(), format!("secret-for-{server_url}"))))
        }
    }

    fn config(json: &str) -> ConfigFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn auths_entries_match_by_host_and_hub_aliases() {
        let c = config(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"},"127.0.0.1:5001":{"auth":"Y2k6c2VjcmV0MTIz"}}}"#,
        );
        let p = Path::new("config.json");
        let hub = c.lookup("docker.io", p, &NoHelpers).unwrap().unwrap();
        assert_eq!((hub.username.as_str(), hub.secret.expose()), ("u", "p"));
        let local = c.lookup("127.0.0.1:5001", p, &NoHelpers).unwrap().unwrap();
        assert_eq!((local.username.as_str(), local.secret.expose()), ("ci", "secret123"));
        assert!(c.lookup("ghcr.io", p, &NoHelpers).unwrap().is_none());
    }

    #[test]
    fn helpers_come_before_auths() {
        let c = config(r#"{"credHelpers":{"ghcr.io":"fake"},"auths":{"ghcr.io":{"auth":"dTpw"}}}"#);
        let cred = c.lookup("ghcr.io", Path::new("c.json"), &NoHelpers).unwrap().unwrap();
        assert_eq!(cred.secret.expose(), "secret-for-ghcr.io");
        assert!(cred.source.contains("docker-credential-fake"));
        let store = config(r#"{"credsStore":"fake"}"#);
        let hub = store.lookup("docker.io", Path::new("c.json"), &NoHelpers).unwrap().unwrap();
        assert_eq!(hub.secret.expose(), "secret-for-https://index.docker.io/v1/");
    }

    #[test]
    fn bad_auth_names_the_entry_without_the_value() {
        let c = config(r#"{"auths":{"r.example":{"auth":"not base64!"}}}"#);
        let err = format!("{:#}", c.lookup("r.example", Path::new("/h/config.json"), &NoHelpers).unwrap_err());
        assert!(err.contains("auths[\"r.example\"] in /h/config.json"), "{err}");
        assert!(!err.contains("not base64!"), "{err}");
    }
}
