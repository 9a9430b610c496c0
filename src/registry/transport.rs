//! The registry transport: everything between "send this request" and the
//! wire. The handshake, in order:
//!
//! 1. ping `GET /v2/` once, to learn the scheme from the 401 challenge;
//! 2. Basic: send the credential on every request to the registry's host;
//! 3. Bearer: exchange the credential at the challenge's realm for a token
//!    holding the request's scopes (push scope first), cached per scope set;
//! 4. on a later 401 (`insufficient_scope`, expiry), union the challenge's
//!    scopes into the request's and exchange once more;
//! 5. retry temporary statuses and dropped connections by the one policy in
//!    [`crate::io::retry`]; never send credentials to another host
//!    (redirects to blob storage, `Location`s elsewhere).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::challenge::{self, Challenge};
use super::error::RegistryError;
use crate::auth::{Credential, Keychain, Secret};
use crate::io::http::{Body, Http, Request, Response, redact_url};
use crate::io::retry::{Policy, RETRIES};
use crate::progress::Progress;
use crate::urls::{encode_component, origin, with_query};

/// Which registry statuses are worth another try.
const RETRY: Policy = Policy::REGISTRY;

/// A registry host, with its credential and auth state.
pub(crate) struct Registry {
    http: Arc<dyn Http>,
    /// The registry's name as references spell it (`docker.io`).
    name: String,
    /// `scheme://api-host`.
    base: String,
    credential: Option<Credential>,
    progress: Progress,
    state: Mutex<State>,
    /// Held while pinging, so parallel requests wait for one ping.
    ping: Mutex<()>,
}

#[derive(Default)]
struct State {
    scheme: Option<Scheme>,
    tokens: HashMap<String, Secret>,
}

#[derive(Clone)]
enum Scheme {
    Anonymous,
    Basic,
    Bearer { realm: String, service: Option<String> },
}

impl Registry {
    /// A registry client. `insecure` selects plain HTTP.
    pub(crate) fn new(
        http: Arc<dyn Http>,
        name: &str,
        api_host: &str,
        insecure: bool,
        credential: Option<Credential>,
        progress: Progress,
    ) -> Registry {
        let scheme = if insecure { "http" } else { "https" };
        Registry {
            http,
            name: name.to_string(),
            base: format!("{scheme}://{api_host}"),
            credential,
            progress,
            state: Mutex::new(State::default()),
            ping: Mutex::new(()),
        }
    }

    /// The registry's name (`docker.io`, `127.0.0.1:5000`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// An absolute URL for a path under the registry (`/v2/…`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The credential in use, if any.
    pub(crate) fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    /// Says which credential is in use, for error messages.
    pub(crate) fn credential_description(&self) -> String {
        match &self.credential {
            Some(c) => format!("the credential from {}", c.source),
            None => "no credential (anonymous)".to_string(),
        }
    }

    /// Checks that the registry answers and accepts the credential for
    /// `scopes` (the token exchange for Bearer registries, `/v2/` for
    /// Basic ones), without writing anything.
    pub(crate) fn verify_access(&self, repo: &str, scopes: &[String]) -> Result<()> {
        let url = self.url("/v2/");
        let response = self.send(&Request::new("GET", &url), scopes)?;
        if response.status != 200 {
            return Err(self.error("GET", &url, response)).with_context(|| format!("checking access to {repo}"));
        }
        Ok(())
    }

    /// Sends a request to the registry with auth for `scopes`, retrying
    /// temporary failures.
    pub(crate) fn send(&self, request: &Request, scopes: &[String]) -> Result<Response> {
        self.send_with(request, scopes, RETRIES)
    }

    /// Sends a request once (after a 401 it is sent again with the
    /// credential the challenge asks for). For the requests of an upload
    /// session: a session that failed is never resumed; the caller starts a
    /// new one (`push`).
    pub(crate) fn send_once(&self, request: &Request, scopes: &[String]) -> Result<Response> {
        self.send_with(request, scopes, 0)
    }

    fn send_with(&self, request: &Request, scopes: &[String], retries: u32) -> Result<Response> {
        self.ensure_pinged()?;
        let mut scopes = scopes.to_vec();
        let mut reauthenticated = false;
        let mut attempt = 0;
        loop {
            let mut req = request.clone();
            if self.is_own_host(&req.url)
                && let Some(value) = self.authorization(&scopes)?
            {
                req.push_header("authorization", value);
            }
            let response = match self.http.send(&req) {
                Ok(r) => r,
                Err(e) => match RETRY.after_error(attempt, &e).filter(|_| attempt < retries) {
                    Some(wait) => {
                        attempt += 1;
                        self.wait(attempt, wait, &req, &format!("{e:#}"));
                        continue;
                    }
                    None => return Err(e),
                },
            };
            if response.status == 401 && !reauthenticated && self.learn(&response, &mut scopes) {
                reauthenticated = true;
                continue;
            }
            if let Some(wait) = RETRY.after_response(attempt, &response).filter(|_| attempt < retries) {
                attempt += 1;
                self.wait(attempt, wait, &req, &format!("status {}", response.status));
                continue;
            }
            return Ok(response);
        }
    }

    /// Waits before pushing a blob again from its HEAD, saying why.
    pub(crate) fn wait_for_fresh_start(&self, attempt: u32, what: &str, why: &anyhow::Error) {
        let wait = crate::io::retry::backoff(attempt - 1);
        self.progress.info(format!(
            "  {what} failed ({why:#}); starting it again ({attempt}/{RETRIES}) in {:.1}s",
            wait.as_secs_f64()
        ));
        std::thread::sleep(wait);
    }

    /// Turns an unexpected response into an error that names the request,
    /// and for 401/403 the credential that was refused.
    pub(crate) fn error(&self, method: &'static str, url: &str, response: Response) -> anyhow::Error {
        let status = response.status;
        let err = RegistryError::from_response(method, url, response);
        match status {
            401 => {
                let what = match &self.credential {
                    Some(_) => format!("did not accept {}", self.credential_description()),
                    None => "asks for credentials, and the request had no credential (anonymous)".to_string(),
                };
                anyhow::Error::new(err).context(format!("{} {what}; {}", self.name, Keychain::hint(&self.name)))
            }
            403 => anyhow::Error::new(err).context(format!(
                "{} refused access with {} (the credential lacks permission for this repository)",
                self.name,
                self.credential_description()
            )),
            _ => anyhow::Error::new(err),
        }
    }

    fn is_own_host(&self, url: &str) -> bool {
        origin(url) == self.base
    }

    fn wait(&self, attempt: u32, wait: Duration, req: &Request, why: &str) {
        self.progress.info(format!(
            "  {} {} failed ({why}); retry {attempt}/{RETRIES} in {:.1}s",
            req.method,
            redact_url(&req.url),
            wait.as_secs_f64()
        ));
        std::thread::sleep(wait);
    }

    /// Pings `/v2/` once to learn how the registry authenticates.
    fn ensure_pinged(&self) -> Result<()> {
        let _one_at_a_time = self.ping.lock().expect("ping lock");
        if self.state.lock().expect("auth state lock").scheme.is_some() {
            return Ok(());
        }
        let url = self.url("/v2/");
        let mut attempt = 0;
        let response = loop {
            let req = Request::new("GET", &url);
            match self.http.send(&req) {
                Ok(r) => match RETRY.after_response(attempt, &r) {
                    Some(wait) => {
                        attempt += 1;
                        self.wait(attempt, wait, &req, &format!("status {}", r.status));
                    }
                    None => break r,
                },
                Err(e) => match RETRY.after_error(attempt, &e) {
                    Some(wait) => {
                        attempt += 1;
                        self.wait(attempt, wait, &req, &format!("{e:#}"));
                    }
                    None => return Err(e).with_context(|| format!("connecting to the registry {}", self.name)),
                },
            }
        };
        let scheme = match response.status {
            200 => Scheme::Anonymous,
            401 => match self.challenge(&response) {
                Some(Challenge::Basic) => Scheme::Basic,
                Some(Challenge::Bearer { realm, service, .. }) => Scheme::Bearer { realm, service },
                None => bail!("{} answered 401 on /v2/ without a challenge this tool understands", self.name),
            },
            _ => {
                return Err(RegistryError::from_response("GET", &url, response))
                    .with_context(|| format!("{} does not look like a container registry", self.name));
            }
        };
        self.state.lock().expect("auth state lock").scheme = Some(scheme);
        Ok(())
    }

    fn challenge(&self, response: &Response) -> Option<Challenge> {
        response.headers_named("www-authenticate").find_map(challenge::parse)
    }

    /// Learns from a 401 on a request: new scheme or new scopes. Returns
    /// whether trying again may help.
    fn learn(&self, response: &Response, scopes: &mut Vec<String>) -> bool {
        let Some(challenge) = self.challenge(response) else {
            return false;
        };
        let mut state = self.state.lock().expect("auth state lock");
        match challenge {
            Challenge::Basic => {
                let first_time = !matches!(state.scheme, Some(Scheme::Basic));
                state.scheme = Some(Scheme::Basic);
                first_time && self.credential.is_some()
            }
            Challenge::Bearer { realm, service, scopes: asked, .. } => {
                for scope in asked {
                    if !scopes.contains(&scope) {
                        scopes.push(scope);
                    }
                }
                state.tokens.remove(&scope_key(scopes));
                state.scheme = Some(Scheme::Bearer { realm, service });
                true
            }
        }
    }

    /// The `Authorization` value for a request needing `scopes`.
    fn authorization(&self, scopes: &[String]) -> Result<Option<String>> {
        let scheme = self.state.lock().expect("auth state lock").scheme.clone();
        match scheme {
            None | Some(Scheme::Anonymous) => Ok(None),
            Some(Scheme::Basic) => Ok(self.credential.as_ref().map(basic)),
            Some(Scheme::Bearer { realm, service }) => {
                let key = scope_key(scopes);
                if let Some(token) = self.state.lock().expect("auth state lock").tokens.get(&key) {
                    return Ok(Some(format!("Bearer {}", token.expose())));
                }
                let token = self.fetch_token(&realm, service.as_deref(), scopes)?;
                self.progress.mask(token.expose());
                let value = format!("Bearer {}", token.expose());
                self.state.lock().expect("auth state lock").tokens.insert(key, token);
                Ok(Some(value))
            }
        }
    }

    /// Exchanges the credential for a token at `realm`.
    fn fetch_token(&self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<Secret> {
        self.validate_realm(realm)?;
        let step = format!("getting a token for {} from {realm}", self.name);
        let response = match &self.credential {
            Some(c) if c.is_identity_token() => self.oauth_refresh(realm, service, scopes, c)?,
            credential => {
                let mut url = realm.to_string();
                if let Some(service) = service {
                    url = with_query(&url, "service", service);
                }
                for scope in scopes {
                    url = with_query(&url, "scope", scope);
                }
                let mut req = Request::new("GET", url);
                if let Some(c) = credential {
                    req = req.header("authorization", basic(c));
                }
                self.http.send(&req).with_context(|| step.clone())?
            }
        };
        if matches!(response.status, 401 | 403) {
            let err = RegistryError::from_response("GET", realm, response);
            return Err(anyhow::Error::new(err)).with_context(|| {
                format!("{step}: {} was refused; {}", self.credential_description(), Keychain::hint(&self.name))
            });
        }
        if response.status != 200 {
            return Err(anyhow::Error::new(RegistryError::from_response("GET", realm, response))).context(step);
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = response.read_limited(1 << 20).with_context(|| step.clone())?;
        let reply: TokenReply = serde_json::from_slice(&body).with_context(|| format!("{step}: unexpected reply"))?;
        let token = reply.token.or(reply.access_token).filter(|t| !t.is_empty());
        Ok(Secret::new(token.with_context(|| format!("{step}: the reply has no token"))?))
    }

    /// OAuth2 refresh-token flow for identity tokens from `docker login`.
    fn oauth_refresh(&self, realm: &str, service: Option<&str>, scopes: &[String], c: &Credential) -> Result<Response> {
        let form = format!(
            "grant_type=refresh_token&refresh_token={}&service={}&scope={}&client_id=dagster-branch-deploy",
            encode_component(c.secret.expose()),
            encode_component(service.unwrap_or("")),
            encode_component(&scopes.join(" "))
        );
        let req = Request::new("POST", realm)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Bytes(form.into_bytes()));
        self.http.send(&req).with_context(|| format!("exchanging an identity token at {realm}"))
    }

    /// A realm must be http(s), and https when the registry is.
    fn validate_realm(&self, realm: &str) -> Result<()> {
        let ok = realm.starts_with("https://") || (realm.starts_with("http://") && self.base.starts_with("http://"));
        if !ok {
            bail!("{} sent a token realm {realm:?}; refusing to send credentials to a non-https realm", self.name);
        }
        Ok(())
    }
}

fn basic(c: &Credential) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", c.username, c.secret.expose())))
}

fn scope_key(scopes: &[String]) -> String {
    let mut sorted = scopes.to_vec();
    sorted.sort();
    sorted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_keys_ignore_order() {
        let a = scope_key(&["b".into(), "a".into()]);
        assert_eq!(a, scope_key(&["a".into(), "b".into()]));
    }
}
