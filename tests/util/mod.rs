//! Test harness: project directories, the binary with a scrubbed
//! environment (only what a test sets is seen), and checks from outside with
//! skopeo and umoci.

pub mod dagster;
pub mod faults;
pub mod proxy;
pub mod python;
pub mod registry;
pub mod review;
pub mod scenario;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use registry::{Auth, PASSWORD, TestRegistry, USER};

/// A project directory with a git repository.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        Project { dir: tempfile::tempdir().unwrap(), home: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, path: &str, contents: &str) -> &Project {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
        self
    }

    pub fn executable(&self, path: &str, contents: &str) -> &Project {
        self.file(path, contents);
        set_mode(&self.dir.path().join(path), 0o755);
        self
    }

    /// `git init`, one commit at a fixed time, and an origin remote.
    pub fn commit(&self) -> String {
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(args)
                .current_dir(self.path())
                .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
                .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
                .env("HOME", self.home.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        git(&["init", "-q", "-b", "main"]);
        git(&["-c", "user.name=Test", "-c", "user.email=t@example.com", "add", "-A"]);
        git(&["-c", "user.name=Test", "-c", "user.email=t@example.com", "commit", "-qm", "initial"]);
        git(&["remote", "add", "origin", "git@github.com:acme/dagster-project.git"]);
        git(&["rev-parse", "HEAD"])
    }

    /// Changes a file and commits it; returns the new commit's sha.
    pub fn commit_change(&self, path: &str, contents: &str) -> String {
        self.file(path, contents);
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(["-c", "user.name=Test", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(self.path())
                .env("HOME", self.home.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        git(&["add", "-A"]);
        git(&["commit", "-qm", &format!("change {path}")]);
        git(&["rev-parse", "HEAD"])
    }

    /// The binary, run in this project, with only PATH and HOME set.
    pub fn cmd(&self) -> Command {
        self.cmd_with(Path::new(env!("CARGO_BIN_EXE_dagster-branch-deploy")))
    }

    /// Another program, run the same way.
    pub fn cmd_with(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear().env("PATH", std::env::var("PATH").unwrap()).env("HOME", self.home.path());
        c.current_dir(self.path());
        c
    }

    /// Writes a docker config.json with credentials for `host`; returns
    /// the directory for DOCKER_CONFIG.
    pub fn docker_config(&self, host: &str, user: &str, password: &str) -> PathBuf {
        use base64::Engine;
        let dir = self.home.path().join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = serde_json::json!({ "auths": { host: { "auth": auth } } });
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        dir
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A finished run.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout()))
    }
}

/// Whether a run printed `secret` anywhere but in the `::add-mask::`
/// command that hides it.
pub fn leaks(run: &Run, secret: &str) -> bool {
    let out = format!("{}\n{}", run.stdout(), run.stderr());
    out.lines().filter(|l| !l.starts_with("::add-mask::")).any(|l| l.contains(secret))
}

/// Runs and asserts success.
pub fn ok(cmd: &mut Command) -> Run {
    let run = Run { output: cmd.output().expect("running the binary") };
    assert!(
        run.output.status.success(),
        "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
        run.output.status,
        run.stdout(),
        run.stderr()
    );
    run
}

/// Runs and asserts failure with status 1 and no panic.
pub fn fails(cmd: &mut Command) -> Run {
    let run = Run { output: cmd.output().expect("running the binary") };
    assert_eq!(
        run.output.status.code(),
        Some(1),
        "expected exit 1\nstdout:\n{}\nstderr:\n{}",
        run.stdout(),
        run.stderr()
    );
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    run
}

/// A `dagster_cloud.yaml` with one location per (name, directory, registry).
pub fn dagster_cloud_yaml(locations: &[(&str, &str, &str)]) -> String {
    let mut out = String::from("locations:\n");
    for (name, dir, registry) in locations {
        out.push_str(&format!(
            "  - location_name: {name}\n    code_source:\n      package_name: {name}\n    build:\n      directory: {dir}\n      registry: {registry}\n"
        ));
    }
    out
}

/// One location, `etl`, whose Dockerfile copies `defs.py` onto `base`.
pub fn code_only_project(registry: &str, base: &str) -> Project {
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", ".", &format!("{registry}/acme/etl"))]));
    p.file("Dockerfile", &format!("FROM {base}\nCOPY defs.py /app/\n"));
    p.file("defs.py", "defs = 1\n");
    p
}

/// `skopeo inspect` (with `--config` or `--raw` in `extra`), as JSON.
pub fn skopeo_inspect(reference: &str, creds: Option<&str>, extra: &[&str]) -> serde_json::Value {
    registry::require_tool("skopeo");
    let mut c = Command::new("skopeo");
    c.args(["inspect", "--tls-verify=false"]).args(extra);
    if let Some(creds) = creds {
        c.args(["--creds", creds]);
    }
    let out = c.arg(format!("docker://{reference}")).output().unwrap();
    assert!(out.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Copies an image out of the registry and unpacks it with umoci; returns
/// the bundle directory (with `rootfs/`).
pub fn unpack(reference: &str, creds: Option<&str>, work: &Path) -> PathBuf {
    registry::require_tool("umoci");
    let layout = work.join("layout");
    let mut c = Command::new("skopeo");
    c.args(["copy", "--quiet", "--src-tls-verify=false"]);
    if let Some(creds) = creds {
        c.args(["--src-creds", creds]);
    }
    let out = c.arg(format!("docker://{reference}")).arg(format!("oci:{}:t", layout.display())).output().unwrap();
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    let bundle = work.join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:t", layout.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&out.stderr));
    bundle
}

pub fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).mode() & 0o7777
}

/// Pushes a tiny base image (busybox as /bin/sh) built by the tool itself
/// from scratch; returns its reference.
pub fn push_busybox_base(registry: &str, repo: &str, docker_config: Option<&Path>) -> String {
    let base = Project::new();
    std::fs::copy(busybox(), base.path().join("busybox")).unwrap();
    base.file(
        "Dockerfile",
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nENV PATH=/bin\nCMD [\"/bin/sh\"]\n",
    );
    base.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("base", ".", &format!("{registry}/{repo}"))]));
    let mut cmd = base.cmd();
    if let Some(dir) = docker_config {
        cmd.env("DOCKER_CONFIG", dir);
    }
    ok(cmd.args(["build", "--tag", "1"]));
    format!("{registry}/{repo}:1")
}

/// The same, on a registry that wants `user` and `password` (given
/// through a docker config).
pub fn push_busybox_base_as(registry: &str, user: &str, password: &str) -> String {
    let p = Project::new();
    let config = p.docker_config(registry, user, password);
    push_busybox_base(registry, "base/busybox", Some(&config))
}

pub fn busybox() -> &'static str {
    let path = "/bin/busybox";
    assert!(Path::new(path).is_file(), "/bin/busybox is missing; run scripts/test (it installs busybox-static)");
    path
}
