//! Python projects for the native Python build's tests that need no
//! package index and no real Python: a wheel made here, a base image with
//! only what the build reads, and a project whose lock takes the wheel
//! from a local index.

use std::io::Write;

use super::*;

/// A wheel made here: a module, a `.data` script with `#!python`, and a
/// console entry point.
pub fn demo_wheel() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let files = [
        ("demo/__init__.py", "def main():\n    print('demo')\n"),
        ("demo-1.0.data/scripts/demo-tool", "#!python\nimport demo\n"),
        ("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"),
        ("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        ("demo-1.0.dist-info/entry_points.txt", "[console_scripts]\ndemo = demo:main\n"),
        ("demo-1.0.dist-info/RECORD", "demo/__init__.py,,\n"),
    ];
    for (name, text) in files {
        zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A base with only what the build reads: a `python3.11` in `PATH` and a
/// glibc that says its version (built natively from scratch, for amd64 and
/// arm64).
pub fn push_fake_python_base(registry: &str) -> String {
    let base = Project::new();
    base.file("python3.11", "not really python\n");
    base.file("libc.so.6", "GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36.\n");
    base.file(
        "Dockerfile",
        "FROM scratch\nCOPY python3.11 /usr/bin/python3.11\nCOPY libc.so.6 /lib/x86_64-linux-gnu/libc.so.6\nENV PATH=/usr/bin\n",
    );
    base.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("base", ".", &format!("{registry}/base/fake-python"))]));
    ok(base.cmd().args(["build", "--tag", "3.11", "--platform", "linux/amd64,linux/arm64"]));
    format!("{registry}/base/fake-python:3.11")
}

/// Writes a dg project in `dir` whose lock takes `demo` from the index at
/// `index` (named `internal`), pushing to `registry`.
pub fn write_app(p: &Project, dir: &str, index: &str, wheel: &[u8], hash: &str, registry: &str) {
    p.file(
        &format!("{dir}/pyproject.toml"),
        &format!(
            "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"demo\"]\n\n\
             [[tool.uv.index]]\nname = \"internal\"\nurl = \"{index}/simple\"\n\n\
             [tool.dg]\ndirectory_type = \"project\"\n\n[tool.dg.project]\nroot_module = \"app\"\n"
        ),
    );
    p.file(
        &format!("{dir}/uv.lock"),
        &format!(
            "version = 1\nrevision = 3\nrequires-python = \">=3.11\"\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\
             source = {{ editable = \".\" }}\ndependencies = [\n    {{ name = \"demo\" }},\n]\n\n[[package]]\nname = \"demo\"\n\
             version = \"1.0\"\nsource = {{ registry = \"{index}/simple\" }}\nwheels = [\n    {{ url = \
             \"{index}/files/demo-1.0-py3-none-any.whl\", hash = \"sha256:{hash}\", size = {} }},\n]\n",
            wheel.len()
        ),
    );
    p.file(&format!("{dir}/app/__init__.py"), "");
    p.file(&format!("{dir}/build.yaml"), &format!("registry: {registry}/acme/app\n"));
}

/// A local index with `demo`: the JSON simple API (PEP 691) and the wheel.
pub fn demo_index(wheel: Vec<u8>) -> crate::util::server::Server {
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(&wheel));
    crate::util::server::Server::start(move |req| {
        use crate::util::server::Reply;
        match req.target.as_str() {
            "/simple/demo/" => Reply::new(200).header("content-type", "application/vnd.pypi.simple.v1+json").body(
                serde_json::json!({
                    "meta": { "api-version": "1.1" },
                    "name": "demo",
                    "files": [{ "filename": "demo-1.0-py3-none-any.whl", "url": "../../files/demo-1.0-py3-none-any.whl",
                                "hashes": { "sha256": hash } }],
                })
                .to_string()
                .into_bytes(),
            ),
            "/files/demo-1.0-py3-none-any.whl" => Reply::new(200).body(wheel.clone()),
            _ => Reply::new(404),
        }
    })
}
