//! The edges: the only places that open network connections or start
//! processes, and the safe reader for files the pull request controls. Everything else takes these as arguments, which keeps the core
//! portable (WebAssembly) and lets tests run the real code against real
//! servers.

pub(crate) mod clock;
pub(crate) mod files;
pub(crate) mod git;
#[cfg(target_os = "wasi")]
pub(crate) mod host_http;
pub(crate) mod http;
#[cfg(not(target_os = "wasi"))]
pub(crate) mod native_http;
pub(crate) mod process;
pub(crate) mod retry;

use std::sync::Arc;

/// The HTTP client for this target: ureq natively, the launcher's host
/// functions in WebAssembly.
pub(crate) fn http_client() -> anyhow::Result<Arc<dyn http::Http>> {
    let user_agent = concat!("dagster-branch-deploy/", env!("CARGO_PKG_VERSION"));
    #[cfg(not(target_os = "wasi"))]
    let client = native_http::UreqHttp::new(user_agent)?;
    #[cfg(target_os = "wasi")]
    let client = host_http::HostHttp::new(user_agent);
    Ok(Arc::new(client))
}

/// A temporary directory, removed when dropped. WebAssembly has no
/// system temporary directory: there it is made under `TMPDIR`, which the
/// launcher sets to a directory it shares with the program.
pub(crate) fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    use anyhow::Context;
    #[cfg(not(target_os = "wasi"))]
    let base = std::env::temp_dir();
    #[cfg(target_os = "wasi")]
    let base = std::path::PathBuf::from(std::env::var_os("TMPDIR").context("TMPDIR is not set; the launcher sets it")?);
    tempfile::Builder::new()
        .prefix("dagster-branch-deploy-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a temporary directory in {}", base.display()))
}
