//! Hostile servers and hostile files: no credential reaches another origin,
//! no file outside the repository is read, no input panics or hangs the
//! binary, and no planted secret appears in anything a run writes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::util::dagster::TOKEN;
use crate::util::review::{self, GITHUB_TOKEN, GITLAB_TOKEN};
use crate::util::scenario::{MARKER, Scenario};
use crate::util::server::{Received, Reply, Server};
use crate::util::*;

/// A secret unique to this test and run, to plant and then look for.
fn planted(label: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{label}-{:x}", nanos ^ (u128::from(std::process::id()) << 64))
}

/// The binary under `timeout`: a hang becomes a kill and a failed test.
fn bounded(project: &Project) -> Command {
    let mut c = project.cmd_with(Path::new("timeout"));
    c.args(["-s", "KILL", "60", env!("CARGO_BIN_EXE_dagster-branch-deploy")]);
    c
}

/// Exit code 1 and no panic, within the time limit.
fn fails_cleanly(cmd: &mut Command) -> Run {
    let run = Run { output: cmd.output().expect("running the binary") };
    let code = run.output.status.code();
    assert_ne!(code, Some(137), "killed after 60 s: the run hung\n{}", run.stderr());
    assert_eq!(code, Some(1), "expected exit 1\nstdout:\n{}\nstderr:\n{}", run.stdout(), run.stderr());
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    run
}

/// Everything a run wrote where a person or another job can read it.
fn written(run: &Run, s: &Scenario, extra: &[&Path]) -> String {
    let mut all = String::new();
    for line in run.stdout().lines().chain(run.stderr().lines()) {
        if !line.starts_with("::add-mask::") {
            all.push_str(line);
            all.push('\n');
        }
    }
    for name in ["output", "summary"] {
        all.push_str(&std::fs::read_to_string(s.runner.path().join(name)).unwrap_or_default());
    }
    for c in s.review.comments() {
        all.push_str(&c.body);
    }
    for dir in extra {
        for file in walk(dir) {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()));
        }
    }
    all
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "the secret {secret} was written:\n{text}");
    }
}

fn has_credential(r: &Received) -> bool {
    ["authorization", "dagster-cloud-api-token", "private-token", "job-token"].iter().any(|h| r.header(h).is_some())
}

/// A front that redirects every request to `target` with `status`.
fn redirecting_to(target: String, status: u16) -> Server {
    Server::start(move |req| Reply::new(status).header("location", &format!("{target}{}", req.target)))
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn no_credential_follows_a_redirect_to_another_origin() {
    let sink = Server::start(|_| Reply::json(200, json!([])));
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});

    let dagster_front = redirecting_to(sink.url(), 302);
    let run = fails_cleanly(s.github("pull_request", &event).env("DAGSTER_CLOUD_URL", dagster_front.url()));
    assert!(run.stderr().contains("a redirect to") && run.stderr().contains("DAGSTER_CLOUD_URL"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "failed");

    let github_front = redirecting_to(sink.url(), 307);
    let run = ok(s.github("pull_request", &event).env("GITHUB_API_URL", github_front.url()));
    assert!(run.stderr().contains("could not update the comment"), "{}", run.stderr());

    let gitlab_front = redirecting_to(sink.url(), 301);
    let mut close = s.project.cmd();
    s.gitlab_env(&mut close);
    ok(close.env("CI_API_V4_URL", format!("{}/api/v4", gitlab_front.url())).arg("close"));

    let arrived = sink.received();
    assert!(arrived.iter().any(|r| r.method == "GET"), "the redirected GETs were followed: {arrived:?}");
    assert!(!arrived.iter().any(|r| r.method != "GET"), "a POST or PATCH is never followed: {arrived:?}");
    assert!(!arrived.iter().any(has_credential), "a credential reached the other origin: {arrived:?}");
}

/// A fake GitHub whose comment listing answers with `link` (given the
/// request target) on every page.
fn github_with_links(link: impl Fn(&str) -> String + Send + Sync + 'static) -> Server {
    Server::start(move |req| match req.method.as_str() {
        "GET" => Reply::json(200, json!([])).header("link", &link(&req.target)),
        "POST" => Reply::json(201, json!({ "id": 1, "body": "" })),
        _ => Reply::json(404, json!({})),
    })
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn comment_paging_stays_on_the_api_ends_and_survives_malformed_links() {
    let sink = Server::start(|_| Reply::json(200, json!([])));
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});

    let sink_url = sink.url();
    let foreign = github_with_links(move |_| format!("<{sink_url}/steal?page=2>; rel=\"next\""));
    let run = ok(s.github("pull_request", &event).env("GITHUB_API_URL", foreign.url()));
    assert!(run.stderr().contains("refusing to follow it"), "{}", run.stderr());
    assert!(sink.received().is_empty(), "the token was sent to the foreign next page");

    let itself = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let me = itself.clone();
    let looping = github_with_links(move |target| format!("<{}{target}>; rel=\"next\"", me.get().unwrap()));
    itself.set(looping.url()).unwrap();
    let run = ok(s.github("pull_request", &event).env("GITHUB_API_URL", looping.url()));
    assert!(run.stderr().contains("as the next page again"), "{}", run.stderr());
    let pages = looping.received().into_iter().filter(|r| r.target.contains("/comments")).count();
    assert!(pages <= 3, "{pages} requests for comments");

    let counting = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = counting.clone();
    let endless = github_with_links(move |_| {
        let page = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 2;
        format!("</repos/x/issues/1/comments?page={page}>; rel=\"next\"")
    });
    let run = ok(s.github("pull_request", &event).env("GITHUB_API_URL", endless.url()));
    assert!(run.stderr().contains("could not update the comment"), "{}", run.stderr());

    for malformed in [">x<; rel=\"next\"", "<; rel=\"next\"", "<http://[::1/>; rel=next", "\u{7f}<>"] {
        let text = malformed.to_string();
        let server = github_with_links(move |_| text.clone());
        let run = ok(s.github("pull_request", &event).env("GITHUB_API_URL", server.url()));
        assert!(!run.stderr().contains("panicked"), "{malformed}: {}", run.stderr());
        // Deployed by the first run; nothing changed since.
        assert_eq!(s.outputs()["status"], "unchanged", "{malformed}: a failure to report never fails the deploy");
    }
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn gitlab_next_pages_that_repeat_or_never_end_stop() {
    let s = Scenario::new(review::gitlab());
    for next in [|_: u64| 1, |page: u64| page + 1] {
        let server = Server::start(move |req| match req.method.as_str() {
            "GET" if req.target.contains("/notes") => {
                let page: u64 = req.query_all("page").first().and_then(|p| p.parse().ok()).unwrap_or(1);
                Reply::json(200, json!([])).header("x-next-page", &next(page).to_string())
            }
            "POST" => Reply::json(201, json!({ "id": 7, "body": "" })),
            _ => Reply::json(404, json!({})),
        });
        let mut cmd = s.project.cmd();
        s.gitlab_env(&mut cmd);
        let api = format!("{}/api/v4", server.url());
        ok(cmd.env("CI_API_V4_URL", api).args(["deploy", "--poll-interval", "0.05"]));
        let pages: Vec<u64> = server
            .received()
            .iter()
            .filter(|r| r.method == "GET")
            .filter_map(|r| r.query_all("page").first().and_then(|p| p.parse().ok()))
            .collect();
        assert!(pages.iter().all(|&p| p <= 51), "a listing went past 50 pages: {:?}", pages.iter().max());
        assert!(pages.len() < 400, "{} page requests", pages.len());
    }
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_dockerfile_linked_to_a_secret_is_refused_and_nothing_is_quoted() {
    let s = Scenario::new(review::github());
    let secret = planted("aws-secret");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("credentials"), format!("[default]\naws_secret_access_key = {secret}\n"))
        .unwrap();
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let dockerfile = s.project.path().join("orders/Dockerfile");
    let env_secret = planted("env-secret");
    for target in [outside.path().join("credentials"), PathBuf::from("/proc/self/environ")] {
        std::fs::remove_file(&dockerfile).unwrap();
        std::os::unix::fs::symlink(&target, &dockerfile).unwrap();
        let run = fails_cleanly(s.github("pull_request", &event).env("PLANTED", &env_secret));
        assert!(run.stderr().contains("leads outside the repository"), "{}", run.stderr());
        assert_eq!(s.outputs()["status"], "failed");
        assert_no_secret(&written(&run, &s, &[]), &[&secret, &env_secret, TOKEN, GITHUB_TOKEN]);
    }
}

#[test]
fn fifos_devices_and_nested_yaml_fail_fast() {
    let p = code_only_project("127.0.0.1:9", "scratch");
    let dry_run = ["deploy", "--dry-run", "--offline", "--deployment", "prod"];
    std::fs::remove_file(p.path().join("Dockerfile")).unwrap();
    assert!(Command::new("mkfifo").arg(p.path().join("Dockerfile")).status().unwrap().success());
    let run = fails_cleanly(bounded(&p).args(dry_run));
    assert!(run.stderr().contains("is not a regular file (it is a FIFO)"), "{}", run.stderr());

    std::fs::remove_file(p.path().join("Dockerfile")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", p.path().join("Dockerfile")).unwrap();
    fails_cleanly(bounded(&p).args(dry_run));
    std::fs::remove_file(p.path().join("Dockerfile")).unwrap();
    p.file("Dockerfile", "FROM scratch\nCOPY defs.py /app/\n");

    assert!(Command::new("mkfifo").arg(p.path().join(".dockerignore")).status().unwrap().success());
    let run = fails_cleanly(bounded(&p).args(dry_run));
    assert!(run.stderr().contains(".dockerignore is not a regular file"), "{}", run.stderr());
    std::fs::remove_file(p.path().join(".dockerignore")).unwrap();
    p.file(".dockerignore", &"x\n".repeat(700_000));
    let run = fails_cleanly(bounded(&p).args(dry_run));
    assert!(run.stderr().contains("larger than 1024 KiB"), "{}", run.stderr());
    std::fs::remove_file(p.path().join(".dockerignore")).unwrap();

    let event = bounded(&p)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", "/dev/zero")
        .args(dry_run)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&event.stderr);
    assert_eq!(event.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/dev/zero is not a regular file (it is a device)"), "{stderr}");

    std::fs::rename(p.path().join("dagster_cloud.yaml"), p.path().join("kept.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", p.path().join("dagster_cloud.yaml")).unwrap();
    let run = fails_cleanly(bounded(&p).args(dry_run));
    assert!(run.stderr().contains("dagster_cloud.yaml is a symbolic link that leads outside"), "{}", run.stderr());
    std::fs::remove_file(p.path().join("dagster_cloud.yaml")).unwrap();

    let nested = format!("locations: {}{}\n", "[".repeat(200_000), "]".repeat(200_000));
    p.file("dagster_cloud.yaml", &nested);
    let started = std::time::Instant::now();
    let run = fails_cleanly(bounded(&p).args(dry_run));
    assert!(run.stderr().contains("nest deeper than 64 levels"), "{}", run.stderr());
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

#[test]
fn a_location_name_cannot_escape_the_output_directory() {
    for name in ["../../escaped", "/tmp/escaped", ".."] {
        let p = Project::new();
        p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[(name, ".", "127.0.0.1:9/acme/x")]));
        p.file("Dockerfile", "FROM scratch\nCOPY defs.py /app/\n");
        p.file("defs.py", "defs = 1\n");
        let out = p.path().join("out/layouts");
        let run = fails_cleanly(bounded(&p).args(["build", "--no-push", "--offline", "--output-dir"]).arg(&out));
        assert!(run.stderr().contains("dagster_cloud.yaml:2: locations[0]"), "{}", run.stderr());
        assert!(run.stderr().contains("is not a valid location name"), "{}", run.stderr());
        assert!(!p.path().join("escaped").exists() && !Path::new("/tmp/escaped").exists());
    }
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn bad_durations_shas_and_tokens_are_errors_not_crashes() {
    let s = Scenario::new(review::github());
    for interval in ["inf", "1e19", "NaN", "-1"] {
        let run = fails_cleanly(s.project.cmd().env("DAGSTER_POLL_INTERVAL", interval).arg("deploy"));
        assert!(run.stderr().contains("poll interval"), "{interval}: {}", run.stderr());
    }
    let bad_sha = s.event("pull_request.opened.json", "ec26c3e57ca3a959ca5aad62de7213c562f8c82é", |_| {});
    let run = fails_cleanly(&mut s.github("pull_request", &bad_sha));
    assert!(run.stderr().contains("is not a commit sha"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "failed");
    assert_eq!(run.stderr().matches("::error").count(), 1, "{}", run.stderr());

    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"tok\xffen");
    let run = fails_cleanly(s.github("pull_request", &event).env("DAGSTER_CLOUD_API_TOKEN", not_utf8));
    assert!(
        run.stderr().contains("DAGSTER_CLOUD_API_TOKEN is set, but its value is not valid UTF-8"),
        "{}",
        run.stderr()
    );

    let password = planted("url-password");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://user:{password}@{closed}");
    let run = fails_cleanly(s.github("pull_request", &event).env("DAGSTER_CLOUD_URL", url));
    assert!(run.stderr().contains("***@"), "{}", run.stderr());
    assert_no_secret(&written(&run, &s, &[]), &[&password]);
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_huge_graphql_error_is_cut_short() {
    let huge = "x".repeat(5 << 20);
    let dagster = Server::start(move |_| Reply::json(200, json!({ "errors": [{ "message": huge }], "data": null })));
    let s = Scenario::new(review::github());
    let push = s.event("push.json", &s.sha, |_| {});
    let run = fails_cleanly(s.github("push", &push).env("DAGSTER_CLOUD_URL", dagster.url()));
    assert!(run.stderr().contains("GraphQL errors: xxx"), "{}", &run.stderr()[..500.min(run.stderr().len())]);
    assert!(run.stderr().len() < 20_000, "{} bytes of stderr", run.stderr().len());
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn forks_are_never_built_with_secrets_unless_allowed() {
    let s = Scenario::new(review::github());
    let fork = |e: &mut Value| {
        e["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World".into();
        e["pull_request"]["head"]["repo"]["fork"] = true.into();
        e["pull_request"]["head"]["label"] = "mallory:main".into();
    };
    let event = s.event("pull_request.opened.json", &s.sha, fork);
    let before = s.manifests_pushed();
    let run = ok(&mut s.github("pull_request_target", &event));
    assert!(run.stderr().contains("comes from a fork") && run.stderr().contains("--allow-fork"), "{}", run.stderr());
    assert!(run.stderr().contains("::notice::nothing to deploy: pull request #2"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "skipped");
    assert_eq!(s.manifests_pushed(), before, "nothing built or pushed");
    assert!(s.dagster.calls().is_empty(), "Dagster+ was not called");

    ok(s.github("pull_request_target", &event).arg("--allow-fork"));
    let branches = s.dagster.branch_deployments();
    assert_eq!(branches[0].branch_name.as_deref(), Some("mallory:main"), "a fork never takes over a branch of ours");

    let run = ok(s.github("pull_request", &event).env("DAGSTER_CLOUD_API_TOKEN", "").arg("--allow-fork"));
    assert!(run.stderr().contains("::notice::pull requests from forks get no secrets"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "skipped");
    let strict = fails_cleanly(
        s.github("pull_request", &event)
            .env("DAGSTER_CLOUD_API_TOKEN", "")
            .args(["--allow-fork", "--fail-without-credentials"]),
    );
    assert!(strict.stderr().contains("DAGSTER_CLOUD_API_TOKEN is not set"), "{}", strict.stderr());
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn a_missing_token_fails_loudly_except_for_forks_and_dependabot() {
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let run = fails_cleanly(s.github("pull_request", &event).env("DAGSTER_CLOUD_API_TOKEN", ""));
    let err = run.stderr();
    assert!(err.contains("DAGSTER_CLOUD_API_TOKEN is not set") && err.contains("repository secret"), "{err}");
    assert_eq!(err.matches("::error").count(), 1, "{err}");
    assert_eq!(s.outputs()["status"], "failed");

    let dependabot = s.event("pull_request.opened.json", &s.sha, |e| {
        e["pull_request"]["user"]["login"] = "dependabot[bot]".into();
    });
    let run = ok(s.github("pull_request", &dependabot).env("DAGSTER_CLOUD_API_TOKEN", ""));
    assert!(
        run.stderr().contains("::notice::Dependabot's pull requests get only Dependabot secrets"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("Dependabot"), "{}", run.stderr());
    assert_eq!(s.outputs()["status"], "skipped");
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn two_runs_at_once_leave_one_branch_deployment_and_one_comment() {
    let s = Scenario::new(review::github());
    let event = s.event("pull_request.opened.json", &s.sha, |_| {});
    let mut first = s.github("pull_request", &event);
    let mut second = s.github("pull_request", &event);
    let a = first.spawn().unwrap();
    let b = second.spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert_eq!(s.dagster.branch_deployments().len(), 1);
    let ours: Vec<_> = s.review.comments().into_iter().filter(|c| c.body.starts_with(MARKER)).collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
}

#[test]
#[ignore = "needs docker-registry and busybox-static; scripts/test installs them"]
fn planted_secrets_never_reach_anything_a_deploy_writes() {
    let s = Scenario::new(review::gitlab());
    let registry_secret = planted("registry-password");
    let out = tempfile::tempdir().unwrap();
    let mut cmd = s.project.cmd();
    s.gitlab_env(&mut cmd);
    let run = ok(cmd
        .env("DAGSTER_REGISTRY_PASSWORD", &registry_secret)
        .env("AWS_SECRET_ACCESS_KEY", &registry_secret)
        .args(["deploy", "--poll-interval", "0.05", "--output-dir"])
        .arg(out.path()));
    let text = written(&run, &s, &[out.path()]);
    assert_no_secret(&text, &[&registry_secret, TOKEN, GITLAB_TOKEN]);
    assert!(text.contains("✅ loaded"), "the scan read the comment");
}
