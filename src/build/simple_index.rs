//! A package index's JSON simple API (PEP 691), for the wheels a hashed
//! requirements file pins and for uv's own release: `GET {index}/{name}/`
//! with `Accept: application/vnd.pypi.simple.v1+json`, with the index's
//! credential when one is set for its host.

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::env::Env;
use crate::io::http::{Http, Request, redact_url};
use crate::python::index_auth::{IndexCredential, for_url};
use crate::python::requirements::IndexFiles;

const ACCEPT: &str = "application/vnd.pypi.simple.v1+json";

/// The index to use when none is named: `UV_DEFAULT_INDEX`, `UV_INDEX_URL`,
/// `PIP_INDEX_URL`, else PyPI.
pub(super) fn default_index(env: &Env) -> String {
    ["UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"]
        .iter()
        .find_map(|v| env.get(v))
        .unwrap_or("https://pypi.org/simple")
        .trim_end_matches('/')
        .to_string()
}

/// An index reached over HTTP.
pub(super) struct SimpleIndex<'a> {
    pub(super) http: &'a dyn Http,
    pub(super) credentials: &'a [IndexCredential],
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    files: Vec<File>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    yanked: serde_json::Value,
}

impl IndexFiles for SimpleIndex<'_> {
    fn files(&self, index: &str, name: &str) -> Result<Vec<(String, String, Option<String>)>> {
        let page_url = format!("{}/{name}/", index.trim_end_matches('/'));
        let mut request = Request::new("GET", &page_url).header("accept", ACCEPT);
        if let Some(c) = for_url(self.credentials, &page_url) {
            request = request.header("authorization", c.basic());
        }
        let response = self
            .http
            .send(&request)
            .with_context(|| format!("listing {} on {}", crate::text::shorten(name, 80), redact_url(index)))?;
        match response.status {
            200 => {}
            404 => bail!("{} is not on the index {}", crate::text::shorten(name, 80), redact_url(index)),
            status => bail!("GET {} answered {status}", redact_url(&page_url)),
        }
        let page: Page = serde_json::from_slice(&response.read_limited(64 << 20)?)
            .with_context(|| format!("{} is not a JSON simple API page (PEP 691)", redact_url(&page_url)))?;
        Ok(page
            .files
            .into_iter()
            .filter(|f| f.yanked.is_null() || f.yanked == false)
            .map(|f| (f.filename, crate::urls::resolve(&page_url, &f.url), f.hashes.get("sha256").cloned()))
            .collect())
    }
}
