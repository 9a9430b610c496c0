//! Reading the files a pull request controls (config files, Dockerfiles,
//! `.dockerignore`) and the runner's event payload, safely: a regular file
//! (never a FIFO or a device, which would hang or never end), inside the
//! repository once symbolic links are resolved (a link to
//! `/proc/self/environ` or `~/.aws/credentials` is refused, so no secret can
//! be read and quoted back), of bounded size, and UTF-8 text. Errors name
//! the file and never quote its content.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The size cap for configuration files, Dockerfiles and `.dockerignore`.
pub(crate) const PROJECT_FILE_CAP: u64 = 1 << 20;
/// The most a lock file (`uv.lock`) may hold: real projects' locks pass
/// 1 MiB (one that depends on dagster is 0.9 MiB).
pub(crate) const LOCK_FILE_CAP: u64 = 32 << 20;
/// The size cap for a webhook event payload (GitHub caps them at 25 MB).
pub(crate) const EVENT_PAYLOAD_CAP: u64 = 25 << 20;

/// The repository that holds `dir`: the nearest ancestor with a `.git`
/// entry (a directory, or a file in a worktree), else `dir` itself.
pub(crate) fn repository_root(dir: &Path) -> PathBuf {
    dir.ancestors().find(|d| d.join(".git").symlink_metadata().is_ok()).unwrap_or(dir).to_path_buf()
}

/// Reads a text file that must lie inside `boundary`; `Ok(None)` when it
/// does not exist.
pub(crate) fn read_inside(boundary: &Path, path: &Path, cap: u64) -> Result<Option<String>> {
    let Some(resolved) = resolve_inside(boundary, path)? else { return Ok(None) };
    read_regular(&resolved, path, cap).map(Some)
}

/// Reads a text file from anywhere (the runner's own files, such as the
/// event payload): still a regular file, of bounded size.
pub(crate) fn read_outside(path: &Path, cap: u64) -> Result<String> {
    read_regular(path, path, cap)
}

/// `path` with its symbolic links resolved, checked to be inside
/// `boundary`; `None` when nothing is there.
fn resolve_inside(boundary: &Path, path: &Path) -> Result<Option<PathBuf>> {
    let link = match path.symlink_metadata() {
        Ok(m) => m.file_type().is_symlink(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let resolved = match resolve_links(boundary, path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && link => {
            bail!("{} is a symbolic link to a file that does not exist", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let boundary = crate::config::resolve_path(boundary).unwrap_or_else(|_| boundary.to_path_buf());
    if !resolved.starts_with(&boundary) {
        let what = if link || resolved != path { "is a symbolic link that leads" } else { "is" };
        bail!("{} {what} outside the repository ({}); refusing to read it", path.display(), boundary.display());
    }
    Ok(Some(resolved))
}

#[cfg(not(target_os = "wasi"))]
fn resolve_links(_boundary: &Path, path: &Path) -> std::io::Result<PathBuf> {
    path.canonicalize()
}

/// WebAssembly has no `realpath`: a symbolic link anywhere below the
/// boundary is refused outright.
#[cfg(target_os = "wasi")]
fn resolve_links(boundary: &Path, path: &Path) -> std::io::Result<PathBuf> {
    for ancestor in path.ancestors().take_while(|a| a.starts_with(boundary) && *a != boundary) {
        if ancestor.symlink_metadata()?.file_type().is_symlink() {
            return Err(std::io::Error::other(format!(
                "{} is a symbolic link, which the WebAssembly build does not follow",
                ancestor.display()
            )));
        }
    }
    crate::config::resolve_path(path)
}

fn read_regular(resolved: &Path, shown: &Path, cap: u64) -> Result<String> {
    let meta = fs::metadata(resolved).with_context(|| format!("reading {}", shown.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file (it is {}); refusing to read it", shown.display(), kind(&meta));
    }
    let file = fs::File::open(resolved).with_context(|| format!("opening {}", shown.display()))?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).with_context(|| format!("reading {}", shown.display()))?;
    if bytes.len() as u64 > cap {
        bail!("{} is larger than {} KiB; refusing to read it", shown.display(), cap / 1024);
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            shown.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn kind(meta: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() { "a directory" } else { "not a file" }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn links_out_of_the_repository_fifos_devices_and_large_files_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "TOKEN=hunter2").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path().canonicalize().unwrap();
        std::fs::write(root.join("ok.yaml"), "a: 1").unwrap();
        std::os::unix::fs::symlink("ok.yaml", root.join("inside")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("Dockerfile")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        std::os::unix::fs::symlink("missing", root.join("dangling")).unwrap();
        std::fs::write(root.join("big"), vec![b'a'; 2048]).unwrap();
        std::fs::write(root.join("binary"), [0xff, 0xfe]).unwrap();

        assert_eq!(read_inside(&root, &root.join("ok.yaml"), 100).unwrap().as_deref(), Some("a: 1"));
        assert_eq!(read_inside(&root, &root.join("inside"), 100).unwrap().as_deref(), Some("a: 1"));
        assert!(read_inside(&root, &root.join("absent"), 100).unwrap().is_none());
        let err = |name: &str| format!("{:#}", read_inside(&root, &root.join(name), 1024).unwrap_err());
        assert!(err("Dockerfile").contains("leads outside the repository"), "{}", err("Dockerfile"));
        assert!(!err("Dockerfile").contains("hunter2"));
        assert!(err("zero").contains("outside the repository"), "{}", err("zero"));
        assert!(err("dangling").contains("does not exist"), "{}", err("dangling"));
        assert!(err("big").contains("larger than 1 KiB"), "{}", err("big"));
        assert!(err("binary").contains("not UTF-8"), "{}", err("binary"));
        assert!(read_outside(Path::new("/dev/zero"), 1024).unwrap_err().to_string().contains("a device"));

        let fifo = root.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(err("fifo").contains("a FIFO"), "{}", err("fifo"));
    }

    #[test]
    fn a_file_outside_the_repository_is_refused_as_such() {
        let outside = tempfile::tempdir().unwrap();
        let file = outside.path().canonicalize().unwrap().join("cloud.yaml");
        std::fs::write(&file, "locations: []").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let err = read_inside(&repo.path().canonicalize().unwrap(), &file, 100).unwrap_err().to_string();
        assert!(err.contains("cloud.yaml is outside the repository"), "{err}");
    }

    #[test]
    fn the_repository_is_the_nearest_folder_with_git() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join(".git")).unwrap();
        std::fs::create_dir_all(repo.path().join("a/b")).unwrap();
        assert_eq!(repository_root(&repo.path().join("a/b")), repo.path());
        let bare = tempfile::tempdir().unwrap();
        assert_eq!(repository_root(bare.path()), bare.path());
    }
}
