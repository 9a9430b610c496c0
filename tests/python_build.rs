//! The native Python build against real parts: a Python base image made
//! from Debian's packages (mmdebstrap, umoci), real wheels from the public
//! package index, a real registry; the image unpacked with umoci and run in
//! a chroot; uv itself as the reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::python::{demo_index, demo_wheel, push_fake_python_base, write_app};
use crate::util::registry::require_tool;
use crate::util::scenario::test_tools;
use crate::util::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python/jaffle-platform")
}

/// The base image scripts/test builds, pushed to `reg`; returns its name.
fn push_python_base(reg: &TestRegistry) -> String {
    let layout = test_tools().join("python-base");
    assert!(layout.join("index.json").is_file(), "{} is missing; run scripts/test", layout.display());
    let name = format!("{}/base/python:3.11-bookworm", reg.host);
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:bookworm", layout.display()))
        .arg(format!("docker://{name}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    name
}

/// The fixture in a git repository (in `jaffle-platform/`, which names
/// the location), pushing to `reg`.
fn jaffle_project(reg: &TestRegistry) -> Project {
    let p = Project::new();
    std::fs::create_dir(p.path().join("jaffle-platform")).unwrap();
    copy_dir(&fixture(), &p.path().join("jaffle-platform"));
    p.file("jaffle-platform/build.yaml", &format!("registry: {}/acme/jaffle\n", reg.host));
    p.commit();
    p
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The binary building the project, with a wheel cache kept between runs.
fn build_run(p: &Project, base: &str, tag: &str, json: bool) -> Run {
    let cache = test_tools().join("cache");
    let args = ["build", "--project-dir", "jaffle-platform", "--base-image", base, "--tag", tag];
    ok(p.cmd().env("XDG_CACHE_HOME", &cache).args(args).args(json.then_some("--json")))
}

fn build(p: &Project, base: &str, tag: &str) -> serde_json::Value {
    build_run(p, base, tag, true).json()
}

/// Runs a shell command in the unpacked image as its config says: its
/// `PATH`, its working directory.
fn in_image(bundle: &Path, script: &str) -> String {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let env: Vec<&str> = config["process"]["env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let cwd = config["process"]["cwd"].as_str().unwrap();
    let out = Command::new("chroot")
        .arg(bundle.join("rootfs"))
        .args(["/bin/sh", "-c", &format!("cd {cwd} && {script}")])
        .env_clear()
        .envs(env.iter().filter_map(|kv| kv.split_once('=')))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script}: {text}");
    text
}

const LIST_DISTRIBUTIONS: &str = "python -c 'import importlib.metadata as m; \
    print(\"\\n\".join(sorted(d.metadata[\"Name\"] + \" \" + d.version for d in m.distributions())))'";

fn distributions(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, v)| (n.to_lowercase().replace(['_', '.'], "-"), v.to_string()))
        .collect()
}

#[test]
#[ignore = "needs root, mmdebstrap's Python base image, umoci, skopeo, docker-registry, uv and the package index; scripts/test provides them"]
fn a_dg_project_without_a_dockerfile_runs_dagster_from_its_lock() {
    require_tool("umoci");
    let reg = TestRegistry::start(Auth::None);
    let base = push_python_base(&reg);
    let p = jaffle_project(&reg);
    let built = build(&p, &base, "t1");
    let location = &built["locations"][0];
    assert_eq!(location["build"], "native", "{built}");
    let packages = location["python"]["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 73);
    assert!(packages.contains(&serde_json::json!("dagster==1.11.13")));
    assert!(location["python"]["dependency_layer_key"].as_str().unwrap().starts_with("deps-"));
    let reference = location["reference"].as_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack(reference, None, work.path());

    assert_eq!(in_image(&bundle, "dagster --version").trim(), "dagster, version 1.11.13");
    in_image(&bundle, "python -c 'import jaffle_platform.definitions'");
    let installed = distributions(&in_image(&bundle, LIST_DISTRIBUTIONS));
    assert_eq!(installed.get("jaffle-platform").map(String::as_str), Some("0.1.0"), "the project, editable");

    // The reference: uv sync of the same lock, in the same base, beside it.
    let reference_env = uv_sync_in(&bundle);
    let mut ours = installed.clone();
    ours.remove("jaffle-platform");
    assert_eq!(ours, reference_env, "the same distributions and versions as uv sync --frozen --no-dev");
    assert_eq!(ours.len(), 73);
}

/// `uv sync --frozen --no-dev --no-install-project` of the fixture's lock
/// inside the image (its base Python, its glibc), into `/tmp/reference`;
/// its distributions.
fn uv_sync_in(bundle: &Path) -> BTreeMap<String, String> {
    let rootfs = bundle.join("rootfs");
    let dir = rootfs.join("tmp/reference");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["pyproject.toml", "uv.lock"] {
        std::fs::copy(fixture().join(f), dir.join(f)).unwrap();
    }
    std::fs::copy(test_tools().join("venv/bin/uv"), rootfs.join("tmp/uv")).unwrap();
    // The machine's network and TLS setup (its CA store), as the binary had.
    std::fs::copy("/etc/resolv.conf", rootfs.join("etc/resolv.conf")).unwrap();
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", rootfs.join("tmp/ca.crt")).unwrap();
    in_image(
        bundle,
        "cd /tmp/reference && SSL_CERT_FILE=/tmp/ca.crt UV_NATIVE_TLS=1 UV_PYTHON_DOWNLOADS=never \
         UV_CACHE_DIR=/tmp/uv-cache /tmp/uv sync --quiet --frozen --no-dev --no-install-project \
         --python /usr/bin/python3.11",
    );
    distributions(&in_image(bundle, &format!("/tmp/reference/.venv/bin/{LIST_DISTRIBUTIONS}")))
}

#[test]
#[ignore = "needs root, mmdebstrap's Python base image, umoci, skopeo, docker-registry and the package index; scripts/test provides them"]
fn a_code_only_change_uploads_only_small_layers_and_keeps_the_dependency_layer() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_python_base(&reg);
    let p = jaffle_project(&reg);
    let first = build(&p, &base, "t1");
    p.commit_change("jaffle-platform/src/jaffle_platform/defs/assets.py", "import dagster as dg\n");
    let log = build_run(&p, &base, "t2", false).stderr();
    let deps = first["locations"][0]["new_layers"][0]["digest"].as_str().unwrap();
    let short = &deps["sha256:".len()..][..12];
    assert!(log.contains(&format!("dependency layer {short} found as acme/jaffle:deps-")), "{log}");
    assert!(!log.contains("of layers") && !log.contains("wheels:"), "no base layer or wheel is read: {log}");
    let pushed = log.lines().find(|l| l.contains("pushed ")).unwrap();
    // The editable install's layer is the same at every commit (fixed mtimes):
    // only the code layer and the config are new.
    assert!(pushed.contains("2 uploaded") && pushed.contains(" KB)"), "only the code layer and config: {pushed}");
}

/// dg's scaffolded Dockerfile (dagster-dg-cli's `deploy_uv_Dockerfile.jinja`,
/// rendered), its final base pointed at the test registry.
fn dg_dockerfile(base: &str) -> String {
    format!(
        "# Based on: https://github.com/astral-sh/uv-docker-example/blob/main/multistage.Dockerfile\n\
         FROM ghcr.io/astral-sh/uv:python3.11-bookworm-slim AS builder\n\
         ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy\nENV UV_PYTHON_DOWNLOADS=0\nWORKDIR /app\n\
         RUN --mount=type=cache,target=/root/.cache/uv \\\n    --mount=type=bind,source=uv.lock,target=uv.lock \\\n    \
         --mount=type=bind,source=pyproject.toml,target=pyproject.toml \\\n    \
         uv sync --frozen --no-install-project --no-dev\nADD . /app\n\
         RUN --mount=type=cache,target=/root/.cache/uv \\\n    uv sync --frozen --no-dev --package jaffle-platform\n\n\
         FROM {base}\nCOPY --from=builder /app /app\nENV PATH=\"/app/.venv/bin:$PATH\"\nWORKDIR /app\n\
         RUN if ! dagster-cloud --version; then \\\n        echo \"Could not find the dagster-cloud package.\"; \\\n        \
         exit 1; \\\n    fi\n"
    )
}

#[test]
#[ignore = "needs root, mmdebstrap's Python base image, umoci, skopeo, docker-registry and the package index; scripts/test provides them"]
fn dgs_scaffolded_dockerfile_is_built_natively_unless_external_is_asked() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_python_base(&reg);
    let p = jaffle_project(&reg);
    p.commit_change("jaffle-platform/Dockerfile", &dg_dockerfile(&base));
    let built = build(&p, &base, "dg");
    let location = &built["locations"][0];
    assert_eq!(location["build"], "native", "{built}");
    assert!(location["reason"].as_str().unwrap().starts_with("uv sync recognised at line 11 of "), "{location}");
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack(location["reference"].as_str().unwrap(), None, work.path());
    let version = in_image(&bundle, "dagster-cloud --version");
    assert_eq!(version.trim(), "Dagster Cloud version: 1.11.13", "the Dockerfile's own check");
    in_image(&bundle, "python -c 'import jaffle_platform.definitions'");

    let plan = ok(p
        .cmd()
        .args(["deploy", "--dry-run", "--offline", "--json", "--external", "--deployment", "prod"])
        .args(["--project-dir", "jaffle-platform"]))
    .json();
    assert_eq!(plan["locations"][0]["build"], "external", "--external hands it to a container builder");
}

/// A project whose lock takes `demo` from a private index at `index`.
fn private_index_project(reg: &TestRegistry, index: &str, wheel: &[u8], hash: &str) -> Project {
    let p = Project::new();
    write_app(&p, "app", index, wheel, hash, &reg.host);
    p.commit();
    p
}

#[test]
#[ignore = "needs docker-registry and umoci; scripts/test installs them"]
fn wheels_from_a_private_index_are_checked_against_the_lock_and_installed_by_the_spec() {
    use sha2::Digest as _;
    let reg = TestRegistry::start(Auth::None);
    let base = push_fake_python_base(&reg.host);
    let wheel = demo_wheel();
    let served = wheel.clone();
    let index = crate::util::server::Server::start(move |req| {
        let wanted = format!("Basic {}", base64_encode("alice:s3cret-index"));
        match (req.target.as_str(), req.header("authorization")) {
            ("/files/demo-1.0-py3-none-any.whl", Some(auth)) if auth == wanted => {
                crate::util::server::Reply::new(200).body(served.clone())
            }
            _ => crate::util::server::Reply::new(401).header("www-authenticate", "Basic realm=\"index\""),
        }
    });
    let hash = hex::encode(sha2::Sha256::digest(&wheel));
    let p = private_index_project(&reg, &index.url(), &wheel, &hash);
    let build = |env: &[(&str, &str)]| {
        let mut c = p.cmd();
        c.env("XDG_CACHE_HOME", p.home.path().join("cache")).envs(env.iter().copied());
        c.args(["build", "--project-dir", "app", "--base-image", &base, "--tag", "t"]);
        c
    };
    let err = fails(&mut build(&[])).stderr();
    assert!(err.contains("answered 401") && err.contains("UV_INDEX_<NAME>_USERNAME"), "{err}");

    let creds = [("UV_INDEX_INTERNAL_USERNAME", "alice"), ("UV_INDEX_INTERNAL_PASSWORD", "s3cret-index")];
    let run = ok(&mut build(&creds));
    assert!(!leaks(&run, "s3cret-index"), "the index password is never printed");
    let work = tempfile::tempdir().unwrap();
    let bundle = unpack(&format!("{}/acme/app:t", reg.host), None, work.path());
    let venv = bundle.join("rootfs/app/.venv");
    let site = venv.join("lib/python3.11/site-packages");
    assert!(site.join("demo/__init__.py").is_file());
    let launcher = std::fs::read_to_string(venv.join("bin/demo")).unwrap();
    assert!(
        launcher.starts_with("#!/app/.venv/bin/python\n") && launcher.contains("from demo import main"),
        "{launcher}"
    );
    let script = std::fs::read_to_string(venv.join("bin/demo-tool")).unwrap();
    assert_eq!(script, "#!/app/.venv/bin/python\nimport demo\n", "#!python is the environment's interpreter");
    let record = std::fs::read_to_string(site.join("demo-1.0.dist-info/RECORD")).unwrap();
    for line in [
        "demo/__init__.py,sha256=",
        "../../../bin/demo,sha256=",
        "../../../bin/demo-tool,sha256=",
        "demo-1.0.dist-info/RECORD,,",
    ] {
        assert!(record.contains(line), "{line:?} missing from RECORD:\n{record}");
    }
    assert_eq!(std::fs::read_to_string(site.join("demo-1.0.dist-info/INSTALLER")).unwrap(), "dagster-branch-deploy\n");
    assert_eq!(std::fs::read_link(venv.join("bin/python")).unwrap(), Path::new("/usr/bin/python3.11"));
    assert_eq!(
        std::fs::read_to_string(site.join("_app.pth")).unwrap(),
        "/app\n",
        "the project, editable (flat layout)"
    );

    // A wheel whose bytes are not the lock's is refused, and not cached.
    p.commit_change(
        "app/uv.lock",
        &std::fs::read_to_string(p.path().join("app/uv.lock")).unwrap().replace(&hash, &"0".repeat(64)),
    );
    let err = fails(&mut build(&creds)).stderr();
    assert!(err.contains("does not match the lock") && err.contains(&hash), "{err}");
}

fn base64_encode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
#[ignore = "needs docker-registry and skopeo; scripts/test installs them"]
fn several_platforms_give_one_image_each_under_an_index() {
    let w = DemoWorld::new();
    let (reg, base) = (&w.reg, &w.base);
    let p = private_index_project(reg, &w.index.url(), &w.wheel, &w.hash);
    let mut c = p.cmd();
    c.env("XDG_CACHE_HOME", p.home.path().join("cache"));
    c.args(["build", "--json", "--project-dir", "app", "--base-image", base, "--tag", "multi"]);
    let built = ok(c.args(["--platform", "linux/amd64,linux/arm64"])).json();
    let platforms = &built["locations"][0]["platforms"];
    assert_eq!(platforms.as_array().unwrap().len(), 2, "{built}");
    let raw = skopeo_inspect(&format!("{}/acme/app:multi", reg.host), None, &["--raw"]);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let archs: Vec<&str> =
        raw["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let arm = skopeo_inspect(&format!("{}/acme/app:multi", reg.host), None, &["--override-arch", "arm64"]);
    assert_eq!(arm["Architecture"], "arm64");
    let digest = built["locations"][0]["digest"].as_str().unwrap();
    assert!(built["locations"][0]["reference"].as_str().unwrap().ends_with(digest), "deployed by the index's digest");
}

/// A project with a `pyproject.toml` and no lock, depending on `demo`
/// from the local index (its only index).
fn unlocked_project(reg: &TestRegistry, index: &str) -> Project {
    let p = Project::new();
    p.file(
        "app/pyproject.toml",
        &format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"demo\"]\n\n\
             [[tool.uv.index]]\nname = \"internal\"\nurl = \"{index}/simple\"\ndefault = true\n\n\
             [tool.dg]\ndirectory_type = \"project\"\n\n[tool.dg.project]\nroot_module = \"app\"\n"
        ),
    );
    p.file("app/app/__init__.py", "");
    p.file("app/build.yaml", &format!("registry: {}/acme/app\n", reg.host));
    p.commit();
    p
}

#[test]
#[ignore = "needs docker-registry, uv, a python3 and the package index (for the pinned uv); scripts/test provides them"]
fn a_project_without_a_lock_is_locked_with_uv_without_touching_the_checkout() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_fake_python_base(&reg.host);
    let index = demo_index(demo_wheel());
    let p = unlocked_project(&reg, &index.url());
    let run = |path: &str, extra: &[&str]| {
        let mut c = p.cmd();
        c.env("PATH", path).env("XDG_CACHE_HOME", p.home.path().join("cache")).env("UV_PYTHON_DOWNLOADS", "never");
        c.args(["build", "--project-dir", "app", "--base-image", &base, "--tag", "t"]).args(extra);
        c
    };
    let dry = ["deploy", "--dry-run", "--offline", "--deployment", "prod", "--project-dir", "app"];
    let plan = ok(p.cmd().args(dry)).stdout();
    assert!(plan.contains("`uv lock --directory") && plan.contains("would lock it first"), "{plan}");

    // uv from PATH (scripts/test installs it), the system's python3.
    let with_uv = format!("{}:/usr/bin:/bin", test_tools().join("venv/bin").display());
    let log = ok(&mut run(&with_uv, &[])).stderr();
    assert!(log.contains("no uv.lock in") && log.contains("locking with"), "{log}");
    assert!(log.contains("1 packages for cp311"), "{log}");
    assert!(!p.path().join("app/uv.lock").exists(), "the checkout is not written");

    // No uv on PATH: the pinned release is fetched from the package index,
    // checked, and kept.
    let log = ok(&mut run("/usr/bin:/bin", &[])).stderr();
    assert!(log.contains("fetching uv 0.13.9"), "{log}");
    assert!(p.home.path().join("cache/dagster-branch-deploy/uv/0.13.9/uv").is_file());
}

/// A registry with the fake Python base, and a local index serving `demo`.
struct DemoWorld {
    reg: TestRegistry,
    base: String,
    wheel: Vec<u8>,
    hash: String,
    index: crate::util::server::Server,
}

impl DemoWorld {
    fn new() -> DemoWorld {
        use sha2::Digest as _;
        let reg = TestRegistry::start(Auth::None);
        let base = push_fake_python_base(&reg.host);
        let wheel = demo_wheel();
        let hash = hex::encode(sha2::Sha256::digest(&wheel));
        let index = demo_index(wheel.clone());
        DemoWorld { reg, base, wheel, hash, index }
    }

    /// The app project with its lock file replaced by `file` holding `text`.
    fn project_locked_by(&self, file: &str, text: &str) -> Project {
        let p = private_index_project(&self.reg, &self.index.url(), &self.wheel, &self.hash);
        std::fs::remove_file(p.path().join("app/uv.lock")).unwrap();
        p.commit_change(&format!("app/{file}"), text);
        p
    }

    /// Builds `app` with `extra` flags; its log.
    fn build(&self, p: &Project, extra: &[&str]) -> String {
        let mut c = p.cmd();
        c.env("XDG_CACHE_HOME", p.home.path().join("cache"));
        ok(c.args(["build", "--project-dir", "app", "--base-image", &self.base, "--tag", "t"]).args(extra)).stderr()
    }

    /// The pushed image's site-packages, unpacked.
    fn site_packages(&self, work: &Path) -> PathBuf {
        unpack(&format!("{}/acme/app:t", self.reg.host), None, work)
            .join("rootfs/app/.venv/lib/python3.11/site-packages")
    }
}

#[test]
#[ignore = "needs docker-registry and umoci; scripts/test installs them"]
fn a_pylock_toml_is_installed_like_a_uv_lock() {
    let w = DemoWorld::new();
    let pylock = format!(
        "lock-version = \"1.0\"\ncreated-by = \"uv\"\nrequires-python = \">=3.11\"\n\n[[packages]]\nname = \"demo\"\n\
         version = \"1.0\"\nindex = \"{0}/simple\"\nwheels = [{{ url = \"{0}/files/demo-1.0-py3-none-any.whl\", \
         size = {1}, hashes = {{ sha256 = \"{2}\" }} }}]\n\n[[packages]]\nname = \"app\"\n\
         directory = {{ path = \".\", editable = true }}\n",
        w.index.url(),
        w.wheel.len(),
        w.hash
    );
    let p = w.project_locked_by("pylock.toml", &pylock);
    let log = w.build(&p, &[]);
    assert!(log.contains("installed from") && log.contains("pylock.toml"), "{log}");
    assert!(log.contains("1 packages for cp311"), "{log}");
    let work = tempfile::tempdir().unwrap();
    let site = w.site_packages(work.path());
    assert!(site.join("demo/__init__.py").is_file() && site.join("_app.pth").is_file());
}

#[test]
#[ignore = "needs docker-registry and umoci; scripts/test installs them"]
fn a_hashed_requirements_txt_finds_its_wheels_through_the_json_simple_api() {
    let w = DemoWorld::new();
    let requirements = format!(
        "--index-url {}/simple\n-e .\ndemo==1.0 \\\n    --hash=sha256:{}\n    # via app\n",
        w.index.url(),
        w.hash
    );
    let p = w.project_locked_by("requirements.txt", &requirements);
    let log = w.build(&p, &[]);
    assert!(log.contains("requirements.txt") && log.contains("1 packages for cp311"), "{log}");
    let json_api =
        |r: &crate::util::server::Received| r.header("accept").is_some_and(|a| a.contains("vnd.pypi.simple.v1+json"));
    assert!(w.index.received().iter().any(|r| r.target == "/simple/demo/" && json_api(r)));
    let work = tempfile::tempdir().unwrap();
    let site = w.site_packages(work.path());
    assert!(site.join("demo/__init__.py").is_file());
    assert!(site.join("_app.pth").is_file(), "-e . names the project by path; its name comes from pyproject.toml");

    // A requirements file that is not pinned with hashes is no lock.
    p.commit_change("app/requirements.txt", "demo\n");
    let mut c = p.cmd();
    c.env("PATH", "/nowhere").env("XDG_CACHE_HOME", p.home.path().join("cache"));
    let dry = ["deploy", "--dry-run", "--offline", "--deployment", "prod", "--project-dir", "app"];
    let plan = ok(c.args(dry)).stdout();
    assert!(plan.contains("would lock it first"), "with a [project], it is locked with uv: {plan}");
}

#[test]
#[ignore = "needs docker-registry, uv and a python3; scripts/test provides them"]
fn a_loose_requirements_txt_is_compiled_with_hashes_by_uv() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_fake_python_base(&reg.host);
    let index = demo_index(demo_wheel());
    let p = Project::new();
    p.file(
        "app/pyproject.toml",
        "[tool.dg]\ndirectory_type = \"project\"\n\n[tool.dg.project]\nroot_module = \"app\"\n",
    );
    p.file("app/requirements.txt", "demo\n");
    p.file("app/app/__init__.py", "");
    p.file("app/build.yaml", &format!("registry: {}/acme/app\n", reg.host));
    p.commit();
    let with_uv = format!("{}:/usr/bin:/bin", test_tools().join("venv/bin").display());
    let mut c = p.cmd();
    c.env("PATH", with_uv).env("UV_INDEX_URL", format!("{}/simple", index.url())).env("UV_PYTHON_DOWNLOADS", "never");
    c.env("XDG_CACHE_HOME", p.home.path().join("cache"));
    let log = ok(c.args(["build", "--project-dir", "app", "--base-image", &base, "--tag", "t"])).stderr();
    assert!(
        log.contains("uv pip compile --universal --generate-hashes") && log.contains("1 packages for cp311"),
        "{log}"
    );
    assert!(!p.path().join("app/requirements.lock").exists(), "the checkout is not written");
}
