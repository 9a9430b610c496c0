//! Projects with a `pyproject.toml` and no lock: `uv lock` is run on a copy
//! of the project (the checkout is never written), and the build goes on
//! from that lock. The `uv` on `PATH` is used, else a pinned release from
//! the package index (the `uv` wheel carries its static binary), its
//! sha256 checked, kept in the cache. uv needs a Python to lock for: the
//! runner's, or one it downloads.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest as _, Sha256};

use super::python_project::{LockedProject, Unpinned};
use super::simple_index::{SimpleIndex, default_index};
use crate::env::Env;
use crate::io::http::{Http, Request, redact_url};
use crate::io::process;
use crate::progress::Progress;
use crate::python::requirements::IndexFiles;
use crate::registry::pool::Services;

/// The uv release fetched when none is on `PATH`.
const UV_VERSION: &str = "0.13.9";
/// Its wheels for the runner's machine, as PyPI lists them.
const UV_WHEELS: [(&str, &str, &str); 2] = [
    (
        "x86_64",
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
    ),
    (
        "aarch64",
        "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
        "5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe",
    ),
];
/// What is left out of the copy uv locks.
const SKIPPED: [&str; 4] = [".git", ".venv", "node_modules", "__pycache__"];

/// The command that makes the lock, for messages.
pub(super) fn command(dir: &Path, kind: Unpinned) -> String {
    match kind {
        Unpinned::Pyproject => format!("uv lock --directory {}", dir.display()),
        Unpinned::Requirements | Unpinned::SetupPy => format!(
            "uv pip compile --universal --generate-hashes {} -o {}",
            dir.join(input(kind)).display(),
            dir.join("requirements.txt").display()
        ),
    }
}

/// What `uv pip compile` reads.
fn input(kind: Unpinned) -> &'static str {
    if kind == Unpinned::SetupPy { "setup.py" } else { "requirements.txt" }
}

/// Locks the project in `dir` with uv: `uv lock` for a `[project]`, else a
/// hashed requirements file from `uv pip compile`.
pub(super) fn lock(services: &Services, dir: &Path, kind: Unpinned) -> Result<LockedProject> {
    if cfg!(target_os = "wasi") {
        bail!(
            "{} has no lock, and the WebAssembly build cannot run uv; run `{}` and commit what it writes",
            dir.display(),
            command(dir, kind)
        );
    }
    let progress = &services.progress;
    let uv = uv_program(services)?;
    let scratch = crate::io::scratch_dir().context("creating a directory to lock in")?;
    let copy = scratch.path().join("project");
    copy_project(dir, &copy).with_context(|| format!("copying {} to lock it", dir.display()))?;
    progress.info(format!("  no uv.lock in {}: locking with {} ({})", dir.display(), uv.display(), command(dir, kind)));
    let uv_text = uv.to_str().context("uv's path is not UTF-8")?;
    let args: Vec<&str> = match kind {
        Unpinned::Pyproject => vec!["lock", "--quiet"],
        Unpinned::Requirements | Unpinned::SetupPy => {
            vec![
                "pip",
                "compile",
                "--quiet",
                "--universal",
                "--generate-hashes",
                input(kind),
                "-o",
                "requirements.lock",
            ]
        }
    };
    let out = process::run(uv_text, &args, Some(&copy), None, &[])?;
    if !out.success {
        bail!("{} failed:\n{}", command(dir, kind), crate::text::shorten(&out.stderr, 2000));
    }
    let (made, lock_kind) = match kind {
        Unpinned::Pyproject => ("uv.lock", "uv.lock"),
        Unpinned::Requirements | Unpinned::SetupPy => ("requirements.lock", "requirements.txt"),
    };
    let mut text = std::fs::read_to_string(copy.join(made)).context("reading the lock uv made")?;
    if kind == Unpinned::SetupPy {
        // The project itself, as `pip install -e .` would have it.
        text.insert_str(0, "-e .\n");
    }
    let path = dir.join(format!("{made} (made by uv)"));
    LockedProject::read(dir, lock_kind, path, &text)?.context("uv's output pins nothing with hashes")
}

/// `uv` on `PATH`, else the pinned release from the index.
fn uv_program(services: &Services) -> Result<PathBuf> {
    let env = &services.env;
    let on_path = env.get("PATH").unwrap_or("").split(':').map(|d| Path::new(d).join("uv")).find(|p| p.is_file());
    if let Some(uv) = on_path {
        return Ok(uv);
    }
    let cache = super::wheels::cache_dir(env)
        .map(|d| d.with_file_name("uv").join(UV_VERSION))
        .context("no uv on PATH, and no HOME for a cache to fetch it into")?;
    let uv = cache.join("uv");
    if uv.is_file() {
        return Ok(uv);
    }
    fetch_uv(services.http.as_ref(), env, &uv, &services.progress)?;
    Ok(uv)
}

/// Downloads the pinned uv wheel (its URL from the index's JSON simple
/// API, PEP 691), checks it against the pinned sha256, and unpacks the
/// binary to `target`.
fn fetch_uv(http: &dyn Http, env: &Env, target: &Path, progress: &Progress) -> Result<()> {
    let arch = std::env::consts::ARCH;
    let Some((_, file, sha256)) = UV_WHEELS.iter().find(|(a, _, _)| *a == arch) else {
        bail!("no uv on PATH, and no pinned uv release for {arch}; install uv");
    };
    let index = default_index(env);
    let listed = SimpleIndex { http, credentials: &[] }.files(&index, "uv")?;
    let (_, url, _) = listed
        .into_iter()
        .find(|(name, _, _)| name == file)
        .with_context(|| format!("the index {} does not list {file}", redact_url(&index)))?;
    progress.info(format!("  fetching uv {UV_VERSION} ({file})"));
    let response = http.send(&Request::new("GET", &url))?;
    if response.status != 200 {
        bail!("GET {} answered {}", redact_url(&url), response.status);
    }
    let wheel = response.read_limited(256 << 20)?;
    let actual = hex::encode(Sha256::digest(&wheel));
    if actual != *sha256 {
        bail!("{file} from {} has sha256 {actual}, not the pinned {sha256}; refusing to run it", redact_url(&url));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(&wheel[..])).context("the uv wheel is not a zip archive")?;
    let mut binary = Vec::new();
    zip.by_name(&format!("uv-{UV_VERSION}.data/scripts/uv"))
        .context("the uv wheel has no uv binary")?
        .read_to_end(&mut binary)?;
    let dir = target.parent().context("uv's cache directory")?;
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut temp, &binary)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o755))?;
    }
    temp.persist(target).with_context(|| format!("keeping uv at {}", target.display()))?;
    Ok(())
}

/// Copies the project for uv to lock, without its environments, git data
/// or links.
fn copy_project(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if SKIPPED.iter().any(|s| name == *s) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_project(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}
