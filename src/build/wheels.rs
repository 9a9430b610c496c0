//! Getting the locked wheels: from the cache (`$XDG_CACHE_HOME`, else
//! `~/.cache`, under `dagster-branch-deploy/wheels/<sha256>.whl`, which CI
//! can keep with `actions/cache` or GitLab's `cache:`), else from the lock's
//! URL; every one checked against the lock's sha256 before it is used or
//! cached. Sixteen downloads at a time: wheel files are many and small, and
//! an index CDN serves them in parallel.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};

use crate::env::Env;
use crate::io::http::{Http, Request, redact_url};
use crate::parallel;
use crate::progress::Progress;
use crate::python::index_auth::{IndexCredential, for_url};
use crate::python::lock::LockedWheel;
use crate::text::{human_bytes, shorten};

/// Downloads at once.
const JOBS: usize = 16;
/// The largest wheel accepted (the biggest on PyPI are a few hundred MB).
const MAX_WHEEL: u64 = 2 << 30;

/// The wheel cache directory, when the environment names a home.
pub(crate) fn cache_dir(env: &Env) -> Option<PathBuf> {
    let base = match (env.get("XDG_CACHE_HOME"), env.get("HOME")) {
        (Some(xdg), _) if xdg.starts_with('/') => PathBuf::from(xdg),
        (_, Some(home)) if home.starts_with('/') => PathBuf::from(home).join(".cache"),
        _ => return None,
    };
    Some(base.join("dagster-branch-deploy").join("wheels"))
}

/// Every wheel's bytes, in the order given.
pub(crate) fn fetch_all(
    http: &dyn Http,
    wheels: &[LockedWheel],
    credentials: &[IndexCredential],
    cache: Option<&PathBuf>,
    progress: &Progress,
) -> Result<Vec<Vec<u8>>> {
    let started = Instant::now();
    let downloaded = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let all = parallel::map(wheels, JOBS, |wheel| {
        let cached = cache.map(|dir| dir.join(format!("{}.whl", wheel.sha256)));
        if let Some(data) =
            cached.as_ref().and_then(|p| std::fs::read(p).ok()).filter(|d| sha256_hex(d) == wheel.sha256)
        {
            return Ok(data);
        }
        let data = download(http, wheel, credentials)
            .with_context(|| format!("downloading {} {}", wheel.name, wheel.version))?;
        downloaded.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        if let Some(path) = &cached {
            store(path, &data);
        }
        Ok(data)
    })?;
    let (n, size) = (downloaded.into_inner(), bytes.into_inner());
    progress.info(format!(
        "  wheels: {} locked, {n} downloaded ({}) in {:.1}s, {} from the cache",
        wheels.len(),
        human_bytes(size),
        started.elapsed().as_secs_f64(),
        wheels.len() - n
    ));
    Ok(all)
}

fn download(http: &dyn Http, wheel: &LockedWheel, credentials: &[IndexCredential]) -> Result<Vec<u8>> {
    let url = &wheel.url;
    if !url.starts_with("https://") && !url.starts_with("http://") {
        bail!("the lock's URL {} is not http(s)", redact_url(url));
    }
    let mut request = Request::new("GET", url);
    let credential = for_url(credentials, url);
    if let Some(c) = credential {
        request = request.header("authorization", c.basic());
    }
    let response = http.send(&request)?;
    match (response.status, credential) {
        (200, _) => {}
        (401 | 403, Some(c)) => bail!(
            "GET {} answered {}: the index refused the credential from {} (user {:?})",
            redact_url(url),
            response.status,
            c.source,
            c.username
        ),
        (401 | 403, None) => bail!(
            "GET {} answered {}: the index wants credentials; name it in pyproject.toml's [[tool.uv.index]] and \
             set UV_INDEX_<NAME>_USERNAME and UV_INDEX_<NAME>_PASSWORD (or a ~/.netrc entry for its host)",
            redact_url(url),
            response.status
        ),
        (status, _) => bail!("GET {} answered {status}", redact_url(url)),
    }
    let limit = wheel.size.map_or(MAX_WHEEL, |s| s.min(MAX_WHEEL));
    let data = response.read_limited(limit).with_context(|| format!("reading {}", redact_url(url)))?;
    let actual = sha256_hex(&data);
    if actual != wheel.sha256 {
        bail!(
            "{} does not match the lock: its sha256 is {actual}, the lock says {}; the file changed or was tampered \
             with, so it is not installed",
            shorten(&wheel.file, 120),
            wheel.sha256
        );
    }
    Ok(data)
}

/// Caches a checked wheel; a cache that cannot be written only costs a
/// download next time.
fn store(path: &PathBuf, data: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    if let Ok(mut temp) = tempfile::NamedTempFile::new_in(dir) {
        use std::io::Write;
        if temp.write_all(data).is_ok() {
            let _ = temp.persist(path);
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
