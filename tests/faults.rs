use std::sync::Arc;

use serde_json::json;

use crate::util::faults::{Counter, faulty_world};
use crate::util::server::Reply;
use crate::util::*;

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn temporary_registry_failures_are_retried_honouring_retry_after() {
    let counter = Arc::new(Counter::new());
    let c = counter.clone();
    let world = faulty_world(move |req, _| {
        let kind = if req.target.contains("/blobs/uploads/") && req.method == "PUT" {
            "upload"
        } else if req.target.contains("/manifests/") && req.method == "PUT" {
            "manifest"
        } else if req.method == "HEAD" {
            "head"
        } else {
            return None;
        };
        match (kind, c.bump(kind)) {
            ("head", 0) => Some(Reply::new(429).header("retry-after", "0")),
            ("upload", 0) | ("manifest", 0) => Some(Reply::new(503).header("retry-after", "0")),
            _ => None,
        }
    });
    let run = ok(world.project.cmd().args(["build", "--tag", "r1"]));
    // The manifest PUT is retried as is; a failed upload session is never
    // resumed: the blob starts again from its HEAD with a new session.
    let retried =
        ["failed (status 429); retry 1/3 in 0.0s", "PUT", "failed (status 503); retry 1/3", "starting it again (1/3)"];
    for wanted in retried {
        assert!(run.stderr().contains(wanted), "{wanted:?} missing from: {}", run.stderr());
    }
    assert_eq!(counter.count("upload"), 3, "two new blobs (layer and config), one of them sent twice");
    skopeo_inspect(&format!("{}/acme/etl:r1", world.reg.host), None, &[]);
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_registry_that_keeps_failing_is_reported_with_the_step_and_status() {
    let world = faulty_world(|req, _| {
        (req.method == "PUT" && req.target.contains("/manifests/"))
            .then(|| Reply::new(500).header("retry-after", "0").body(b"<html>internal error</html>".to_vec()))
    });
    let p = &world.project;
    let err = fails(p.cmd().args(["build", "--tag", "r2"])).stderr();
    assert!(err.contains("putting the manifest acme/etl:r2"), "{err}");
    assert!(err.contains("answered 500: <html>internal error</html>"), "{err}");
    assert!(err.contains("retry 3/3"), "{err}");
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_missing_repository_gets_a_hint_to_create_it() {
    let world = faulty_world(|req, _| {
        (req.method == "POST" && req.target.contains("/acme/etl/blobs/uploads/")).then(|| {
            Reply::json(
                404,
                json!({ "errors": [{ "code": "NAME_UNKNOWN", "message": "repository name not known to registry" }] }),
            )
        })
    });
    let p = &world.project;
    let err = fails(p.cmd().args(["build", "--tag", "r3"])).stderr();
    assert!(
        err.contains("the repository acme/etl does not exist") && err.contains("create the repository first"),
        "{err}"
    );
    assert!(err.contains("NAME_UNKNOWN"), "{err}");
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_blob_whose_content_does_not_match_its_digest_is_refused() {
    let world = faulty_world(|req, _| {
        (req.method == "GET" && req.target.contains("/blobs/sha256:"))
            .then(|| Reply::new(200).body(b"tampered".to_vec()))
    });
    let p = &world.project;
    let out = p.path().join("out");
    let err = fails(p.cmd().args(["build", "--no-push", "--tag", "r4", "--output-dir"]).arg(&out)).stderr();
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_missing_base_image_is_named() {
    let reg = TestRegistry::start(Auth::None);
    let p = code_only_project(&reg.host, &format!("{}/base/nope:3", reg.host));
    let err = fails(p.cmd().args(["build", "--tag", "x"])).stderr();
    assert!(err.contains(&format!("resolving the base image {}/base/nope:3", reg.host)), "{err}");
    assert!(err.contains("was not found") && err.contains("MANIFEST_UNKNOWN"), "{err}");
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn bad_input_gets_an_error_naming_the_file_key_or_path() {
    let check = |p: &Project, args: &[&str], wanted: &[&str]| {
        let err = fails(p.cmd().args(args)).stderr();
        for w in wanted {
            assert!(err.contains(w), "{w:?} missing from: {err}");
        }
    };
    let p = Project::new();
    check(&p, &["build"], &["no dagster_cloud.yaml, build.yaml or dg project", "location_name: my_location"]);

    p.file("dagster_cloud.yaml", "locations:\n  - location_name: a\n    code_source: {package_name: a\n");
    check(&p, &["build"], &["dagster_cloud.yaml", "line"]);

    p.file("dagster_cloud.yaml", "locations:\n  - location_name: a\n    code_source: {package_name: a}\n");
    check(&p, &["build"], &["location \"a\" has no Dockerfile at", "FROM ghcr.io/acme/dagster-base:1"]);

    p.file("Dockerfile", "FROM scratch\nCOPY . /app\n");
    check(&p, &["build"], &["location \"a\" has no build.registry", "registry: ghcr.io/acme/a"]);
    check(&p, &["build", "--location", "b"], &["unknown location \"b\"", "defines: a"]);
    check(&p, &["build", "--platform", "amd64", "--no-push", "--output-dir", "o"], &["--platform", "linux/amd64"]);

    std::os::unix::fs::symlink("/etc/passwd", p.path().join("passwd")).unwrap();
    check(&p, &["build", "--no-push", "--output-dir", "o"], &["passwd is a symbolic link", ".dockerignore"]);
    std::fs::remove_file(p.path().join("passwd")).unwrap();

    p.file(
        "dagster_cloud.yaml",
        "locations:\n  - location_name: a\n    code_source: {package_name: a}\n    build: {directory: ..}\n",
    );
    check(&p, &["build"], &["build.directory", "leads outside the project"]);

    p.file(
        "dagster_cloud.yaml",
        "locations:\n  - location_name: a\n    code_source: {package_name: a}\n    build: {registry: 127.0.0.1:9/a}\n",
    );
    p.file("Dockerfile", "FROM scratch\nCOPY missing.txt /app/\n");
    check(
        &p,
        &["build", "--no-push", "--output-dir", "o"],
        &["Dockerfile line 2: COPY missing.txt /app/", "not in the build context"],
    );

    let usage = p.cmd().args(["build", "--no-push"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2), "a usage error exits 2");
}

/// The WebAssembly build makes its requests through the launcher (Node, in
/// a worker): statuses with Retry-After, error bodies, a blob that is not
/// what it claims and a refused connection reach the same policy and give
/// the same messages as natively.
#[test]
#[ignore = "needs Node 24, the WebAssembly bundle and docker-registry; scripts/test installs and runs them"]
fn the_webassembly_build_meets_registry_faults_as_the_native_one_does() {
    use crate::util::scenario::{ActionDir, Build, node24};
    let wasm = ActionDir::with(Build::Wasm);
    let program = |p: &Project| {
        let mut c = p.cmd_with(&node24());
        c.arg(wasm.dir.path().join("dist/index.mjs")).env("RUNNER_OS", "macOS");
        c
    };
    let counter = Arc::new(Counter::new());
    let c = counter.clone();
    let world = faulty_world(move |req, _| {
        let kind = match req.method.as_str() {
            "HEAD" => "head",
            "PUT" if req.target.contains("/manifests/") => "manifest",
            _ => return None,
        };
        (c.bump(kind) == 0).then(|| Reply::new(503).header("retry-after", "0").body(b"busy".to_vec()))
    });
    let run = ok(program(&world.project).args(["build", "--tag", "w1"]));
    assert_eq!(run.stderr().matches("failed (status 503); retry 1/3 in 0.0s").count(), 2, "{}", run.stderr());
    skopeo_inspect(&format!("{}/acme/etl:w1", world.reg.host), None, &[]);
    // A layout on disk downloads the base's layer (busybox, about 1 MB
    // gzipped): read through the worker in several steps, its digest checked.
    let layout = world.project.path().join("layout");
    ok(program(&world.project).args(["build", "--no-push", "--tag", "w1", "--output-dir"]).arg(&layout));
    let blobs = std::fs::read_dir(layout.join("etl/blobs/sha256")).unwrap();
    let largest = blobs.map(|b| b.unwrap().metadata().unwrap().len()).max().unwrap();
    assert!(largest > 512 * 1024, "the base layer came whole: {largest} bytes");

    let world = faulty_world(|req, _| {
        (req.method == "GET" && req.target.contains("/blobs/sha256:"))
            .then(|| Reply::new(200).body(vec![b'x'; 200_000]))
    });
    let out = world.project.path().join("out");
    let err = fails(program(&world.project).args(["build", "--no-push", "--tag", "w2", "--output-dir"]).arg(&out));
    assert!(err.stderr().contains("digest mismatch"), "{}", err.stderr());

    let p = code_only_project("127.0.0.1:9", "127.0.0.1:9/base/python:3");
    let err = fails(program(&p).args(["build", "--tag", "w3"])).stderr();
    assert!(err.contains("resolving the base image 127.0.0.1:9/base/python:3"), "{err}");
    assert!(err.contains("ECONNREFUSED 127.0.0.1:9"), "{err}");
    assert!(!err.contains("retry 1/3"), "an unreachable registry is not retried: {err}");
}
