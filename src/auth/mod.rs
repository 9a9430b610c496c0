//! Registry credentials: where they come from and in which order. First the
//! CI secrets Dagster+'s documentation tells users to create, matched to the
//! registry's kind (Docker Hub, ECR, GCR/Artifact Registry, GitLab, GHCR);
//! then Docker's `config.json` (helpers, store, auths) and podman's
//! `auth.json`; then anonymous. Every credential says where it came from,
//! so errors can name the source without showing the secret.

pub(crate) mod docker_config;
pub(crate) mod ecr;
pub(crate) mod secret;
pub mod sigv4;

use anyhow::{Context, Result, bail};
use time::OffsetDateTime;

pub(crate) use secret::Secret;

use crate::env::Env;
use crate::image::reference::DOCKER_HUB;
use crate::io::http::Http;
use crate::progress::Progress;
use docker_config::CredentialHelpers;

/// A registry credential.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    /// User name (`<token>` for an identity token).
    pub(crate) username: String,
    /// Password or token.
    pub(crate) secret: Secret,
    /// Where it came from (`DOCKERHUB_USERNAME/DOCKERHUB_TOKEN`, a file…).
    pub(crate) source: String,
}

impl Credential {
    /// Whether the secret is an OAuth2 refresh ("identity") token.
    pub(crate) fn is_identity_token(&self) -> bool {
        self.username == "<token>"
    }
}

/// Finds credentials for registries.
pub(crate) struct Keychain<'a> {
    /// The environment (CI secrets, config locations).
    pub(crate) env: &'a Env,
    /// HTTP, for ECR's token exchange.
    pub(crate) http: &'a dyn Http,
    pub(crate) helpers: &'a dyn CredentialHelpers,
    /// For masking derived secrets.
    pub(crate) progress: &'a Progress,
}

impl Keychain<'_> {
    /// The credential for `registry` (a reference's registry name), or
    /// `None` for anonymous access.
    pub(crate) fn find(&self, registry: &str) -> Result<Option<Credential>> {
        if let Some(cred) = self.ci_secret_for(registry)? {
            self.progress.mask(cred.secret.expose());
            return Ok(Some(cred));
        }
        for path in docker_config::config_paths(self.env) {
            let file = docker_config::read(&path)?;
            if let Some(cred) = file.lookup(registry, &path, self.helpers)? {
                self.progress.mask(cred.secret.expose());
                return Ok(Some(cred));
            }
        }
        Ok(None)
    }

    /// A description of where credentials for `registry` would come from,
    /// for error messages when none were found.
    pub(crate) fn hint(registry: &str) -> String {
        let ci = match registry_kind(registry, None) {
            Kind::DockerHub => "DOCKERHUB_USERNAME and DOCKERHUB_TOKEN",
            Kind::Ecr(_) => "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_REGION)",
            Kind::Google => "GCR_JSON_KEY",
            Kind::Ghcr => "GITHUB_TOKEN (with packages: write)",
            Kind::GitLab | Kind::Other => "",
        };
        let config = "a docker login (config.json)";
        if ci.is_empty() { format!("run {config} for {registry}") } else { format!("set {ci}, or {config}") }
    }

    fn ci_secret_for(&self, registry: &str) -> Result<Option<Credential>> {
        let env = self.env;
        Ok(match registry_kind(registry, env.get("CI_REGISTRY")) {
            Kind::DockerHub => pair(env, "DOCKERHUB_USERNAME", "DOCKERHUB_TOKEN")?,
            Kind::Ecr(host) => ecr::credential(self.http, env, &host, OffsetDateTime::now_utc())?,
            Kind::Google => env.get("GCR_JSON_KEY").map(|key| Credential {
                username: "_json_key".into(),
                secret: Secret::new(key),
                source: "GCR_JSON_KEY".into(),
            }),
            Kind::GitLab => pair(env, "CI_REGISTRY_USER", "CI_REGISTRY_PASSWORD")?,
            Kind::Ghcr => env.first_of(&["GITHUB_TOKEN", "INPUT_GITHUB-TOKEN"]).map(|(name, token)| Credential {
                username: env.get("GITHUB_ACTOR").unwrap_or("dagster-branch-deploy").to_string(),
                secret: Secret::new(token),
                source: name.to_string(),
            }),
            Kind::Other => None,
        })
    }
}

/// A username/secret pair of variables; one without the other is an error.
fn pair(env: &Env, user_var: &str, secret_var: &str) -> Result<Option<Credential>> {
    match (env.get(user_var), env.get(secret_var)) {
        (Some(user), Some(secret)) => Ok(Some(Credential {
            username: user.to_string(),
            secret: Secret::new(secret),
            source: format!("{user_var}/{secret_var}"),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => {
            bail!("{user_var} is set but {secret_var} is not; set both (or neither)")
        }
        (None, Some(_)) => {
            bail!("{secret_var} is set but {user_var} is not; set both (or neither)")
        }
    }
}

enum Kind {
    DockerHub,
    Ecr(ecr::EcrHost),
    Google,
    GitLab,
    Ghcr,
    Other,
}

fn registry_kind(registry: &str, ci_registry: Option<&str>) -> Kind {
    if registry == DOCKER_HUB {
        return Kind::DockerHub;
    }
    if let Some(host) = ecr::parse_host(registry) {
        return Kind::Ecr(host);
    }
    if registry == "gcr.io" || registry.ends_with(".gcr.io") || registry.ends_with("-docker.pkg.dev") {
        return Kind::Google;
    }
    if ci_registry.is_some_and(|ci| ci.split('/').next() == Some(registry)) {
        return Kind::GitLab;
    }
    if registry == "ghcr.io" {
        return Kind::Ghcr;
    }
    Kind::Other
}

/// Runs `docker-credential-<name> get` as a process.
pub(crate) struct ProcessHelpers;

impl CredentialHelpers for ProcessHelpers {
    fn get(&self, name: &str, server_url: &str) -> Result<Option<(String, String)>> {
        let program = format!("docker-credential-{name}");
        if cfg!(target_os = "wasi") {
            bail!(
                "{program} is configured in the docker config, but the WebAssembly build cannot start it; use the native binary, or a CI secret for this registry"
            );
        }
        let out = crate::io::process::run(&program, &["get"], None, Some(server_url.as_bytes()), &[])
            .with_context(|| format!("{program} is configured in the docker config but could not be started"))?;
        if !out.success {
            if out.stdout.contains("credentials not found") || out.stderr.contains("credentials not found") {
                return Ok(None);
            }
            bail!("{program} get failed: {}", out.stderr.trim());
        }
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(rename = "Username")]
            username: String,
            #[serde(rename = "Secret")]
            secret: String,
        }
        let reply: Reply =
            serde_json::from_str(&out.stdout).with_context(|| format!("{program} get: unexpected output"))?;
        Ok(Some((reply.username, reply.secret)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoHelpers;
    impl CredentialHelpers for NoHelpers {
        fn get(&self, _: &str, _: &str) -> Result<Option<(String, String)>> {
            Ok(None)
        }
    }

    struct NoHttp;
    impl Http for NoHttp {
        fn send(&self, _: &crate::io::http::Request) -> Result<crate::io::http::Response> {
            bail!("no network in this test")
        }
    }

    fn find(env: &[(&str, &str)], registry: &str) -> Result<Option<Credential>> {
        let env = Env::from_pairs(env.iter().copied().chain([("HOME", "/nonexistent")]));
        let progress = Progress::new(&env, true);
        Keychain { env: &env, http: &NoHttp, helpers: &NoHelpers, progress: &progress }.find(registry)
    }

    #[test]
    fn ci_secrets_are_matched_to_the_registry_kind() {
        let env = [
            ("DOCKERHUB_USERNAME", "hubuser"),
            ("DOCKERHUB_TOKEN", "hubtoken"),
            ("GCR_JSON_KEY", "{\"type\":\"service_account\"}"),
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", "jobtoken"),
            ("GITHUB_TOKEN", "ghs_x"),
        ];
        let source = |r: &str| find(&env, r).unwrap().map(|c| (c.username, c.source));
        assert_eq!(source("docker.io"), Some(("hubuser".into(), "DOCKERHUB_USERNAME/DOCKERHUB_TOKEN".into())));
        assert_eq!(source("europe-west1-docker.pkg.dev"), Some(("_json_key".into(), "GCR_JSON_KEY".into())));
        assert_eq!(
            source("registry.gitlab.com"),
            Some(("gitlab-ci-token".into(), "CI_REGISTRY_USER/CI_REGISTRY_PASSWORD".into()))
        );
        assert_eq!(source("ghcr.io"), Some(("dagster-branch-deploy".into(), "GITHUB_TOKEN".into())));
        assert_eq!(source("quay.io"), None);
    }

    #[test]
    fn half_a_pair_is_an_error_that_names_the_missing_variable() {
        let err = find(&[("DOCKERHUB_USERNAME", "u")], "docker.io").unwrap_err().to_string();
        assert!(err.contains("DOCKERHUB_TOKEN is not"), "{err}");
        assert!(find(&[("DOCKERHUB_USERNAME", ""), ("DOCKERHUB_TOKEN", "")], "docker.io").unwrap().is_none());
    }

    #[test]
    fn ecr_without_a_secret_key_names_it() {
        let err = find(&[("AWS_ACCESS_KEY_ID", "AKID")], "123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap_err();
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    }
}
