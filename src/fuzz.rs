//! Property-based fuzzing of everything that reads hostile input: the
//! Dockerfile parser, the `.dockerignore` matcher, the config loaders, the
//! event payload reader and `WWW-Authenticate` parsing (`Link` parsing is
//! fuzzed beside `next_link`). No input may panic, and an error quotes no
//! more than a short, printable excerpt. Each target runs 256 cases in
//! `cargo test`; `scripts/fuzz` runs them for long. proptest rather than
//! cargo-fuzz: libFuzzer needs a nightly toolchain, which CI does not have.

use proptest::prelude::*;

use crate::ci::{self, GitFacts};
use crate::config::Project;
use crate::env::Env;
use crate::image::dockerfile;
use crate::image::dockerignore::DockerIgnore;
use crate::registry::challenge;

/// Lines that look like a Dockerfile's, with hostile arguments.
fn dockerfile_text() -> impl Strategy<Value = String> {
    let keyword = prop_oneof![
        Just("FROM"),
        Just("COPY"),
        Just("ADD"),
        Just("ENV"),
        Just("ARG"),
        Just("LABEL"),
        Just("WORKDIR"),
        Just("RUN"),
        Just("CMD"),
        Just("ENTRYPOINT"),
        Just("HEALTHCHECK"),
        Just("SHELL"),
        Just("USER"),
        Just("EXPOSE"),
        Just("VOLUME"),
        Just("# escape="),
        Just(""),
    ];
    let args = "[ -~\\t\"'\\\\$\\{\\}\\[\\]=:,\u{0}\u{1b}é]{0,40}";
    prop::collection::vec((keyword, args), 0..12)
        .prop_map(|lines| lines.into_iter().map(|(k, a)| format!("{k} {a}\n")).collect())
}

/// An error as a person sees it must be short and printable.
fn assert_quotes_little(error: &anyhow::Error) {
    let shown = format!("{error:#}");
    assert!(shown.len() < 400, "a long error: {shown}");
    assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "control characters in: {shown:?}");
}

proptest! {
    #[test]
    fn fuzz_dockerfile(text in prop_oneof![dockerfile_text(), any::<String>()]) {
        match dockerfile::parse(&text) {
            Ok(instructions) => {
                if let Err(e) = dockerfile::classify(&instructions) {
                    assert_quotes_little(&e);
                }
            }
            Err(e) => assert_quotes_little(&e),
        }
    }

    #[test]
    fn fuzz_dockerignore(text in "[ -~\n!*?/\\[\\]\\\\]{0,200}", path in "[a-z./*]{0,30}") {
        if let Ok(ignore) = DockerIgnore::parse(&text, ".dockerignore") {
            let _ = ignore.is_excluded(&path);
            let _ = ignore.has_exceptions();
        }
    }

    #[test]
    fn fuzz_www_authenticate(header in "(Bearer|Basic|bearer)? ?[ -~]{0,80}") {
        let _ = challenge::parse(&header);
    }

    #[test]
    fn fuzz_event_payload(
        payload in prop_oneof![
            any::<String>(),
            "\\{\"action\":\"[a-z_]{0,10}\",\"pull_request\":\\{\"number\":[0-9-]{0,25},\"head\":\\{\"sha\":\"[ -~é]{0,70}\",\"ref\":\"[ -~\n]{0,20}\",\"repo\":null\\}\\}\\}",
            "\\{\"workflow_run\":\\{\"event\":\"(push|pull_request)\",\"head_sha\":\"[0-9a-f]{0,40}\",\"pull_requests\":\\[[ -~]{0,20}\\]\\}\\}",
        ],
        event in prop_oneof![Just("pull_request"), Just("pull_request_target"), Just("push"), Just("workflow_run")],
    ) {
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_EVENT_PATH", "/event.json"),
            ("GITHUB_REPOSITORY", "acme/repo"),
        ]);
        if let Ok(context) = ci::detect(&env, &|_| Ok(payload.clone()), &GitFacts::default())
            && let Some(sha) = &context.commit
        {
            prop_assert!(ci::is_commit_sha(sha));
        }
    }

    #[test]
    fn fuzz_config_loaders(
        yaml in prop_oneof![
            any::<String>(),
            "locations:\n(  - \\{location_name: [ -~]{0,12}, code_source: \\{package_name: [a-z]{0,5}\\}, build: \\{directory: [./a-z]{0,6}\\}\\}\n){0,4}",
            "[\\[\\{ a:,'\"\n]{0,300}",
        ],
        file in prop_oneof![Just("dagster_cloud.yaml"), Just("build.yaml")],
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), &yaml).unwrap();
        if let Err(e) = Project::load(dir.path(), None) {
            let shown = format!("{e:#}");
            prop_assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "control characters in: {shown:?}");
        }
    }
}

/// Text that looks like a lock file's, with hostile values.
fn lock_text() -> impl Strategy<Value = String> {
    let value = "[ -~é\u{0}\u{1b}]{0,30}";
    let line = prop_oneof![
        Just("version = 1".to_string()),
        Just("lock-version = \"1.0\"".to_string()),
        Just("[[package]]".to_string()),
        Just("[[packages]]".to_string()),
        value.prop_map(|v| format!("name = {v:?}")),
        value.prop_map(|v| format!("version = {v:?}")),
        value.prop_map(|v| format!("marker = {v:?}")),
        value.prop_map(|v| format!("source = {{ registry = {v:?} }}")),
        value.prop_map(|v| format!("source = {{ editable = {v:?} }}")),
        value.prop_map(|v| format!("dependencies = [{{ name = {v:?}, marker = {v:?} }}]")),
        value.prop_map(|v| format!("wheels = [{{ url = {v:?}, hash = {v:?} }}]")),
        value.prop_map(|v| format!(
            "wheels = [{{ url = \"https://h/{v}-1-py3-none-any.whl\", hashes = {{ sha256 = {v:?} }} }}]"
        )),
        value,
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn fuzz_python_locks(text in prop_oneof![lock_text(), any::<String>()]) {
        use crate::python::lock::{Lock, SyncRequest};
        use crate::python::pylock::Pylock;
        use crate::python::target::{Libc, Target};
        use crate::python::version::Version;
        let target = Target { python: Version::parse("3.12.1").unwrap(), machine: "x86_64".into(), libc: Libc::Glibc(36) };
        match Lock::parse(&text).and_then(|l| l.install_set(&target, &SyncRequest::default())) {
            Ok(_) => {}
            Err(e) => assert_quotes_little(&e),
        }
        match Pylock::parse(&text).and_then(|l| l.install_set(&target)) {
            Ok(_) => {}
            Err(e) => assert_quotes_little(&e),
        }
    }

    #[test]
    fn fuzz_python_texts(text in "[ -~\n\t\\'\"()=<>!~;#é\u{0}\u{1b}]{0,120}") {
        use crate::python::marker::{MarkerEnv, evaluate};
        struct Empty;
        impl MarkerEnv for Empty {
            fn value(&self, _: &str) -> Option<String> { Some("3.12".into()) }
            fn has_extra(&self, _: &str) -> bool { false }
        }
        for result in [
            evaluate(&text, &Empty).map(|_| ()),
            crate::python::requirements::Requirements::parse(&text).map(|_| ()),
            crate::python::wheel_name::WheelName::parse(&text).map(|_| ()),
            crate::python::version::satisfies(&crate::python::version::Version::parse("3.12").unwrap(), &text).map(|_| ()),
        ] {
            if let Err(e) = result {
                assert_quotes_little(&e);
            }
        }
        if let Ok(instructions) = dockerfile::parse(&text) {
            let _ = crate::python::dockerfile::recognize(&instructions);
        }
    }
}
