//! The shared clients of a run: HTTP, the environment for credentials, and
//! one registry client per host, created once with its credential (looked
//! up in the keychain, or handed over, as Dagster+ Serverless's is), and the
//! rule for which registries are reached over plain HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};

use super::transport::Registry;
use crate::auth::{Credential, Keychain, ProcessHelpers};
use crate::env::Env;
use crate::image::reference::ImageRef;
use crate::io::http::Http;
use crate::progress::Progress;

/// Shared clients: HTTP, credentials, one registry client per host.
pub(crate) struct Services {
    pub(crate) http: Arc<dyn Http>,
    pub(crate) env: Env,
    pub(crate) progress: Progress,
    insecure: Vec<String>,
    registries: Mutex<HashMap<String, Arc<Registry>>>,
    given: Mutex<HashMap<String, Credential>>,
}

impl Services {
    /// Services over `http`; `insecure` lists hosts reached over plain HTTP.
    pub(crate) fn new(http: Arc<dyn Http>, env: Env, progress: Progress, insecure: Vec<String>) -> Services {
        Services {
            http,
            env,
            progress,
            insecure,
            registries: Mutex::new(HashMap::new()),
            given: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `credential` for `registry` instead of looking one up (the
    /// Serverless registry's token comes from Dagster+).
    pub(crate) fn give_credential(&self, registry: &str, credential: Credential) {
        self.progress.mask(credential.secret.expose());
        self.given.lock().expect("credentials lock").insert(registry.to_string(), credential);
    }

    /// Whether a registry is reached over plain HTTP: loopback hosts and the
    /// ones listed as insecure.
    pub(crate) fn is_insecure(&self, registry: &str) -> bool {
        let host = match registry.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
        };
        let loopback =
            host == "localhost" || host == "::1" || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
        loopback || self.insecure.iter().any(|i| i == registry || i == host)
    }

    /// The client for an image's registry, created once with its credential.
    pub(crate) fn registry(&self, image: &ImageRef) -> Result<Arc<Registry>> {
        let mut registries = self.registries.lock().expect("registries lock");
        if let Some(r) = registries.get(&image.registry) {
            return Ok(r.clone());
        }
        let given = self.given.lock().expect("credentials lock").get(&image.registry).cloned();
        let credential = match given {
            Some(c) => Some(c),
            None => {
                let keychain = Keychain {
                    env: &self.env,
                    http: self.http.as_ref(),
                    helpers: &ProcessHelpers,
                    progress: &self.progress,
                };
                keychain.find(&image.registry).with_context(|| format!("finding credentials for {}", image.registry))?
            }
        };
        let registry = Arc::new(Registry::new(
            self.http.clone(),
            &image.registry,
            image.api_host(),
            self.is_insecure(&image.registry),
            credential,
            self.progress.clone(),
        ));
        registries.insert(image.registry.clone(), registry.clone());
        Ok(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        struct NoHttp;
        impl Http for NoHttp {
            fn send(&self, _: &crate::io::http::Request) -> Result<crate::io::http::Response> {
                anyhow::bail!("unused")
            }
        }
        let env = Env::default();
        let s =
            Services::new(Arc::new(NoHttp), env.clone(), Progress::new(&env, true), vec!["registry.lan:5000".into()]);
        assert!(s.is_insecure("127.0.0.1:5000"));
        assert!(s.is_insecure("localhost:5000"));
        assert!(s.is_insecure("[::1]:5000"));
        assert!(s.is_insecure("registry.lan:5000"));
        assert!(!s.is_insecure("ghcr.io"));
    }
}
