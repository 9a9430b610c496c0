use crate::util::*;

#[test]
#[ignore = "needs buildah and docker-registry; scripts/test installs them"]
fn a_dockerfile_with_run_is_built_and_pushed_by_buildah() {
    registry::require_tool("buildah");
    let reg = TestRegistry::start(Auth::None);
    let base = push_busybox_base(&reg.host, "base/busybox", None);
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", ".", &format!("{}/acme/etl", reg.host))]));
    p.file(
        "Dockerfile",
        &format!("FROM {base}\nRUN /bin/busybox mkdir -p /app && echo built > /app/marker\nCOPY defs.py /app/\n"),
    );
    p.file("defs.py", "defs = 1\n");
    let storage = p.home.path().join("storage");
    let conf = p.home.path().join("storage.conf");
    std::fs::write(
        &conf,
        format!("[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/run\"\ngraphroot = \"{0}/graph\"\n", storage.display()),
    )
    .unwrap();
    let run = ok(p.cmd().env("CONTAINERS_STORAGE_CONF", &conf).args(["build", "--json", "--tag", "x1"]));
    let out = run.json();
    let loc = &out["locations"][0];
    assert_eq!(loc["build"], "external");
    assert_eq!(loc["builder"], "buildah");
    assert!(loc["reason"].as_str().unwrap().contains("line 2: RUN"), "{loc}");
    let reference = loc["reference"].as_str().unwrap();
    let work = tempfile::tempdir().unwrap();
    let rootfs = unpack(reference, None, work.path()).join("rootfs");
    assert_eq!(std::fs::read_to_string(rootfs.join("app/marker")).unwrap(), "built\n");
    assert_eq!(std::fs::read_to_string(rootfs.join("app/defs.py")).unwrap(), "defs = 1\n");
}

#[test]
#[ignore = "needs buildah and docker-registry; scripts/test installs them"]
fn without_a_builder_the_error_says_what_to_install_and_why() {
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", ".", "127.0.0.1:9/acme/etl")]));
    p.file("Dockerfile", "FROM scratch\nRUN true\n");
    let err = fails(p.cmd().env("PATH", "/nonexistent").args(["build", "--tag", "x"])).stderr();
    assert!(err.contains("needs a container builder (line 2: RUN"), "{err}");
    assert!(err.contains("docker buildx, podman or buildah"), "{err}");
}
