use std::process::Command;

use serde_json::{Value, json};

use crate::util::*;

fn app_project(registry: &str, base: &str) -> Project {
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", "etl", &format!("{registry}/acme/etl"))]));
    p.file(
        "etl/Dockerfile",
        &format!(
            "FROM {base}\nENV DAGSTER_HOME=/opt/dagster PATH=/bin:/usr/local/bin\nWORKDIR /opt/dagster/app\nCOPY . .\n\
             LABEL team=data\nUSER 1000\nENTRYPOINT [\"dagster\"]\n"
        ),
    );
    p.file("etl/etl/definitions.py", "defs = 1\n");
    p.executable("etl/run.sh", "#!/bin/sh\necho run\n");
    p.file("etl/.dockerignore", "**/__pycache__\nsecrets.env\n");
    p.file("etl/etl/__pycache__/definitions.cpython-312.pyc", "compiled");
    p.file("etl/secrets.env", "TOKEN=do-not-ship");
    p
}

#[test]
#[ignore = "needs docker-registry, skopeo, umoci and busybox-static; scripts/test installs them"]
fn a_native_build_sets_the_config_files_modes_and_labels() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_busybox_base(&reg.host, "base/busybox", None);
    let p = app_project(&reg.host, &base);
    let sha = p.commit();
    let out = ok(p.cmd().args(["build", "--json"])).json();
    let loc = &out["locations"][0];
    assert_eq!(loc["build"], "native");
    assert_eq!(loc["tag"], format!("etl-{}", &sha[..12]));
    let reference = loc["reference"].as_str().unwrap();
    assert!(reference.starts_with(&format!("{}/acme/etl@sha256:", reg.host)), "{reference}");

    let config = skopeo_inspect(reference, None, &["--config"]);
    let c = &config["config"];
    assert_eq!(c["Env"], json!(["PATH=/bin:/usr/local/bin", "DAGSTER_HOME=/opt/dagster"]), "Env merged by key");
    assert_eq!(c["WorkingDir"], "/opt/dagster/app");
    assert_eq!(c["User"], "1000");
    assert_eq!(c["Entrypoint"], json!(["dagster"]));
    assert_eq!(c["Cmd"], Value::Null, "ENTRYPOINT resets the base's CMD");
    assert_eq!(
        c["Labels"],
        json!({
            "org.opencontainers.image.source": "https://github.com/acme/dagster-project",
            "org.opencontainers.image.revision": sha,
            "team": "data",
        })
    );
    assert_eq!(config["created"], "2026-01-02T03:04:05Z", "the commit time");
    assert_eq!(config["history"].as_array().unwrap().len(), 3, "two base layers and one new");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);

    let work = tempfile::tempdir().unwrap();
    let rootfs = unpack(reference, None, work.path()).join("rootfs");
    let app = rootfs.join("opt/dagster/app");
    assert_eq!(std::fs::read_to_string(app.join("etl/definitions.py")).unwrap(), "defs = 1\n");
    assert_eq!(mode_of(&app.join("etl/definitions.py")), 0o644);
    assert_eq!(mode_of(&app.join("run.sh")), 0o755);
    assert_eq!(mode_of(&app), 0o755);
    assert!(!app.join("secrets.env").exists(), ".dockerignore'd files stay out");
    assert!(!app.join("etl/__pycache__").exists());
    assert!(rootfs.join("bin/sh").is_file(), "the base's files are there");
}

#[test]
#[ignore = "needs docker-registry, skopeo, umoci and busybox-static; scripts/test installs them"]
fn a_first_push_mounts_base_layers_and_an_unchanged_rebuild_uploads_only_the_manifest() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_busybox_base(&reg.host, "base/busybox", None);
    let p = app_project(&reg.host, &base);
    p.commit();
    let first = ok(p.cmd().args(["build", "--json"])).json();
    let pushed = &first["locations"][0]["pushed"];
    assert_eq!(pushed["mounted"], 2, "both base layers mounted from base/busybox: {pushed}");
    assert_eq!(pushed["uploaded"], 2, "the new layer and the config: {pushed}");
    assert!(reg.requests().iter().any(|r| r.contains("mount=") && r.contains("from=base%2Fbusybox")));

    let before = reg.requests().len();
    let second = ok(p.cmd().args(["build", "--json"])).json();
    assert_eq!(second["locations"][0]["digest"], first["locations"][0]["digest"], "same input, same digest");
    assert_eq!(
        second["locations"][0]["pushed"],
        json!({ "uploaded": 0, "uploaded_bytes": 0, "mounted": 0, "present": 4 })
    );
    let writes: Vec<String> =
        reg.requests()[before..].iter().filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD")).cloned().collect();
    assert_eq!(writes.len(), 1, "only the manifest PUT: {writes:?}");
    assert!(writes[0].starts_with("PUT /v2/acme/etl/manifests/etl-"), "{writes:?}");
}

#[test]
#[ignore = "needs docker-registry, skopeo, umoci and busybox-static; scripts/test installs them"]
fn layers_are_reproducible_across_checkouts() {
    let digest_of = |mode: u32, mtime: &str| {
        let p = Project::new();
        p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("app", ".", "127.0.0.1:9/unused")]));
        p.file("Dockerfile", "FROM scratch\nCOPY . /app\n");
        p.file("pkg/defs.py", "x = 1\n");
        set_mode(&p.path().join("pkg/defs.py"), mode);
        for f in ["pkg/defs.py", "pkg", "Dockerfile"] {
            Command::new("touch").args(["-h", "-d", mtime]).arg(p.path().join(f)).status().unwrap();
        }
        let out_dir = p.path().join("out");
        let run = ok(p
            .cmd()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["build", "--no-push", "--json", "--tag", "t", "--output-dir"])
            .arg(&out_dir));
        run.json()["locations"][0]["digest"].as_str().unwrap().to_string()
    };
    let a = digest_of(0o644, "2020-01-01");
    let b = digest_of(0o664, "2024-06-30 12:00");
    assert_eq!(a, b, "file times and group-write bits must not change the image");
}

#[test]
#[ignore = "needs docker-registry, skopeo, umoci and busybox-static; scripts/test installs them"]
fn no_push_writes_a_complete_layout_that_skopeo_can_push_and_only_reads_the_registry() {
    let reg = TestRegistry::start(Auth::None);
    let base = push_busybox_base(&reg.host, "base/busybox", None);
    let p = app_project(&reg.host, &base);
    p.commit();
    let before = reg.requests().len();
    let out_dir = p.path().join("out");
    let out =
        ok(p.cmd().args(["build", "--no-push", "--json", "--tag", "preview", "--output-dir"]).arg(&out_dir)).json();
    let writes: Vec<String> =
        reg.requests()[before..].iter().filter(|r| !r.starts_with("GET") && !r.starts_with("HEAD")).cloned().collect();
    assert!(writes.is_empty(), "--no-push wrote to the registry: {writes:?}");
    assert_eq!(out["locations"][0]["pushed"], Value::Null);
    let layout = out_dir.join("etl");
    let copied = format!("{}/copied/etl:1", reg.host);
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:preview", layout.display()))
        .arg(format!("docker://{copied}"))
        .status()
        .unwrap();
    assert!(status.success());
    let inspected = skopeo_inspect(&copied, None, &[]);
    assert_eq!(inspected["Digest"], out["locations"][0]["digest"]);
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 3);
}

#[test]
#[ignore = "needs docker-registry, skopeo, umoci and busybox-static; scripts/test installs them"]
fn a_docker_format_base_keeps_docker_media_types() {
    let reg = TestRegistry::start(Auth::None);
    let oci_base = push_busybox_base(&reg.host, "base/busybox", None);
    let docker_base = format!("{}/base/docker:1", reg.host);
    let status = Command::new("skopeo")
        .args(["copy", "--quiet", "--format", "v2s2", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg(format!("docker://{oci_base}"))
        .arg(format!("docker://{docker_base}"))
        .status()
        .unwrap();
    assert!(status.success());
    let p = app_project(&reg.host, &docker_base);
    let out = ok(p.cmd().args(["build", "--json", "--tag", "d1"])).json();
    let manifest = skopeo_inspect(out["locations"][0]["reference"].as_str().unwrap(), None, &["--raw"]);
    assert_eq!(manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.docker.container.image.v1+json");
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip");
    }
    assert!(manifest.get("annotations").is_none(), "Docker manifests carry no annotations");
}

#[test]
#[ignore = "needs docker-registry, skopeo, umoci and busybox-static; scripts/test installs them"]
fn the_platform_is_chosen_from_an_index_and_attestations_are_skipped() {
    let reg = TestRegistry::start(Auth::None);
    let base_project = Project::new();
    base_project.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("base", ".", &format!("{}/base/multi", reg.host))]));
    base_project.file("Dockerfile", "FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\nCOPY Dockerfile /\n");
    let mut entries = Vec::new();
    for (platform, tag) in [("linux/amd64", "amd"), ("linux/arm64", "arm")] {
        let out = ok(base_project.cmd().args(["build", "--json", "--platform", platform, "--tag", tag])).json();
        let digest = out["locations"][0]["digest"].as_str().unwrap().to_string();
        let size = skopeo_inspect(&format!("{}/base/multi:{tag}", reg.host), None, &["--raw"]).to_string().len();
        let (os, arch) = platform.split_once('/').unwrap();
        entries.push((digest, size, os.to_string(), arch.to_string()));
    }
    let raw_size = |tag: &str| -> usize {
        let out = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{}/base/multi:{tag}", reg.host))
            .output()
            .unwrap();
        out.stdout.len()
    };
    let manifests: Vec<Value> = [
        json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": entries[0].0, "size": raw_size("amd"),
                "platform": { "os": "unknown", "architecture": "unknown" },
                "annotations": { "vnd.docker.reference.type": "attestation-manifest" } }),
        json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": entries[0].0, "size": raw_size("amd"),
                "platform": { "os": "linux", "architecture": "amd64" } }),
        json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": entries[1].0, "size": raw_size("arm"),
                "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" } }),
    ]
    .into();
    let index =
        json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
    let status = Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H", "Content-Type: application/vnd.oci.image.index.v1+json", "--data-binary"])
        .arg(index.to_string())
        .arg(format!("http://{}/v2/base/multi/manifests/1", reg.host))
        .status()
        .unwrap();
    assert!(status.success(), "putting the index");

    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("app", ".", &format!("{}/acme/app", reg.host))]));
    p.file("Dockerfile", &format!("FROM {}/base/multi:1\nCOPY Dockerfile /app/\n", reg.host));
    let out = ok(p.cmd().args(["build", "--json", "--platform", "linux/aarch64", "--tag", "a1"])).json();
    let loc = &out["locations"][0];
    assert!(loc["base"].as_str().unwrap().ends_with(entries[1].0.as_str()), "arm64 picked: {}", loc["base"]);
    let config = skopeo_inspect(loc["reference"].as_str().unwrap(), None, &["--config"]);
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(config["config"]["Labels"]["arch"], "arm64");

    let err = fails(p.cmd().args(["build", "--platform", "linux/s390x", "--tag", "s"])).stderr();
    assert!(err.contains("no linux/s390x variant") && err.contains("linux/arm64/v8"), "{err}");
}
