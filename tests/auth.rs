use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use dagster_branch_deploy::auth::sigv4::{SigningInput, authorization};
use serde_json::json;

use crate::util::proxy::ConnectProxy;
use crate::util::server::{Reply, Server};
use crate::util::*;

const CREDS: &str = "ci:secret123";

#[test]
#[ignore = "needs docker-registry, htpasswd and openssl; scripts/test installs them"]
fn basic_auth_uses_docker_config_and_names_the_refused_credential() {
    let reg = TestRegistry::start(Auth::Htpasswd);
    let base = push_busybox_base_as(&reg.host, USER, PASSWORD);
    let p = code_only_project(&reg.host, &base);
    let good = p.docker_config(&reg.host, USER, PASSWORD);
    let out = ok(p.cmd().env("DOCKER_CONFIG", &good).args(["build", "--json", "--tag", "b1"])).json();
    skopeo_inspect(out["locations"][0]["reference"].as_str().unwrap(), Some(CREDS), &[]);

    let anonymous = fails(p.cmd().args(["build", "--tag", "b2"])).stderr();
    assert!(anonymous.contains(&reg.host) && anonymous.contains("no credential (anonymous)"), "{anonymous}");
    assert!(anonymous.contains("docker login"), "a hint says how to log in: {anonymous}");

    let bad = p.docker_config(&reg.host, USER, "wrong-password-value");
    let refused = fails(p.cmd().env("DOCKER_CONFIG", &bad).args(["build", "--tag", "b3"])).stderr();
    assert!(refused.contains("did not accept the credential from auths["), "{refused}");
    assert!(refused.contains("config.json"), "{refused}");
    assert!(!refused.contains("wrong-password-value"), "the secret must not be printed: {refused}");
}

#[test]
#[ignore = "needs docker-registry, htpasswd and openssl; scripts/test installs them"]
fn token_auth_exchanges_scopes_for_push_and_mount() {
    let reg = TestRegistry::start(Auth::Token);
    let base = push_busybox_base_as(&reg.host, USER, PASSWORD);
    let p = code_only_project(&reg.host, &base);
    let config = p.docker_config(&reg.host, USER, PASSWORD);
    let out = ok(p.cmd().env("DOCKER_CONFIG", &config).args(["build", "--json", "--tag", "t1"])).json();
    assert_eq!(out["locations"][0]["pushed"]["mounted"], 2, "{out}");
    let tokens = reg.token_server.as_ref().unwrap().received();
    let scopes: Vec<String> = tokens.iter().flat_map(|r| r.query_all("scope")).collect();
    assert!(scopes.contains(&"repository:acme/etl:pull,push".to_string()), "{scopes:?}");
    assert!(
        scopes.contains(&"repository:base/busybox:pull".to_string()),
        "mounting asks to read the source: {scopes:?}"
    );
    assert!(tokens.iter().all(|r| r.query_all("service") == ["test-registry"]));
    skopeo_inspect(out["locations"][0]["reference"].as_str().unwrap(), Some(CREDS), &[]);

    let err = fails(p.cmd().args(["build", "--tag", "t2"])).stderr();
    assert!(err.contains("no credential (anonymous)"), "anonymous pull-only tokens cannot push: {err}");
}

#[test]
#[ignore = "needs docker-registry, htpasswd and openssl; scripts/test installs them"]
fn gitlab_ci_registry_variables_are_used_for_the_ci_registry() {
    let reg = TestRegistry::start(Auth::Htpasswd);
    let base = push_busybox_base_as(&reg.host, USER, PASSWORD);
    let p = code_only_project(&reg.host, &base);
    let out = ok(p
        .cmd()
        .env("CI_REGISTRY", &reg.host)
        .env("CI_REGISTRY_USER", USER)
        .env("CI_REGISTRY_PASSWORD", PASSWORD)
        .args(["build", "--json", "--tag", "g1"]))
    .json();
    skopeo_inspect(out["locations"][0]["reference"].as_str().unwrap(), Some(CREDS), &[]);
}

const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const ECR_PASSWORD: &str = "ecr-password-from-token";

/// A fake ECR API: checks the SigV4 signature against the request as it
/// arrived, then hands out `AWS:<password>`.
fn fake_ecr() -> Server {
    Server::start(|req| {
        let auth = req.header("authorization").unwrap_or("");
        let signed: Vec<&str> =
            auth.split("SignedHeaders=").nth(1).and_then(|s| s.split(',').next()).unwrap_or("").split(';').collect();
        let headers: Vec<(&str, &str)> = signed.iter().map(|name| (*name, req.header(name).unwrap_or(""))).collect();
        let date = req.header("x-amz-date").unwrap_or("00000000T000000Z");
        let expected = authorization(&SigningInput {
            method: &req.method,
            path: "/",
            headers: &headers,
            payload: &req.body,
            region: "us-east-1",
            service: "ecr",
            amz_date: date,
            access_key: "AKIDEXAMPLE",
            secret_key: AWS_SECRET,
        });
        let well_formed =
            signed.contains(&"host") && signed.contains(&"x-amz-date") && signed.contains(&"x-amz-target");
        if !well_formed || auth != expected {
            return Reply::json(
                403,
                json!({ "__type": "InvalidSignatureException", "message": "The request signature we calculated does not match the signature you provided." }),
            );
        }
        if req.header("x-amz-target") != Some("AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken") {
            return Reply::json(400, json!({ "__type": "UnknownOperationException" }));
        }
        let token = STANDARD.encode(format!("AWS:{ECR_PASSWORD}"));
        Reply::json(200, json!({ "authorizationData": [{ "authorizationToken": token, "expiresAt": 1.7e9, "proxyEndpoint": format!("https://{ECR_HOST}") }] }))
            .header("content-type", "application/x-amz-json-1.1")
    })
}

#[test]
#[ignore = "needs docker-registry, htpasswd and openssl; scripts/test installs them"]
fn ecr_credentials_come_from_a_sigv4_signed_get_authorization_token_through_the_proxy() {
    let reg = TestRegistry::start(Auth::HtpasswdAs("AWS", ECR_PASSWORD));
    let base = push_busybox_base_as(&reg.host, "AWS", ECR_PASSWORD);
    let p = code_only_project(ECR_HOST, &base);
    let config = p.docker_config(&reg.host, "AWS", ECR_PASSWORD);
    let ecr = fake_ecr();
    let proxy = ConnectProxy::start(reg.host.clone());
    let run = |secret: &str| {
        let mut cmd = p.cmd();
        cmd.env("DOCKER_CONFIG", &config)
            .env("HTTPS_PROXY", proxy.url())
            .env("NO_PROXY", "127.0.0.1")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL_ECR", ecr.url())
            .env("GITHUB_ACTIONS", "true")
            .args(["build", "--json", "--tag", "e1", "--insecure-registry", ECR_HOST]);
        cmd
    };
    let result = ok(&mut run(AWS_SECRET));
    let out = result.json();
    assert!(
        result.stderr().contains(&format!("::add-mask::{ECR_PASSWORD}")),
        "the derived password is masked: {}",
        result.stderr()
    );
    assert_eq!(ecr.received().len(), 1);
    assert!(proxy.targets().iter().any(|t| t == &format!("{ECR_HOST}:80")), "{:?}", proxy.targets());
    let pushed = &out["locations"][0]["pushed"];
    assert_eq!(pushed["mounted"], 0, "different registry names: no mount: {pushed}");
    assert_eq!(pushed["uploaded"], 4, "base layers copied across, new layer, config: {pushed}");
    let reference = out["locations"][0]["reference"].as_str().unwrap().replace(ECR_HOST, &reg.host);
    skopeo_inspect(&reference, Some(&format!("AWS:{ECR_PASSWORD}")), &[]);

    let err = fails(&mut run("not-the-secret")).stderr();
    assert!(err.contains("GetAuthorizationToken") && err.contains("InvalidSignatureException"), "{err}");
    assert!(!err.contains("not-the-secret"), "{err}");
}

#[test]
#[ignore = "needs docker-registry, htpasswd and openssl; scripts/test installs them"]
fn tls_registries_are_trusted_through_ssl_cert_file_and_reached_through_https_proxy() {
    let reg = TestRegistry::start_tls(Auth::None, "registry.test");
    let proxy = ConnectProxy::start(reg.host.clone());
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", ".", "registry.test/acme/etl")]));
    p.file("Dockerfile", "FROM scratch\nCOPY defs.py /app/\n");
    p.file("defs.py", "defs = 1\n");
    let cert = reg.dir.path().join("ca.crt");
    let out = ok(p
        .cmd()
        .env("HTTPS_PROXY", proxy.url())
        .env("SSL_CERT_FILE", &cert)
        .args(["build", "--json", "--tag", "s1"]))
    .json();
    assert!(out["locations"][0]["reference"].as_str().unwrap().starts_with("registry.test/acme/etl@sha256:"));
    assert!(proxy.targets().iter().all(|t| t == "registry.test:443"), "{:?}", proxy.targets());
    assert!(reg.requests().iter().any(|r| r.starts_with("PUT /v2/acme/etl/manifests/s1")));

    let err = fails(p.cmd().env("HTTPS_PROXY", proxy.url()).args(["build", "--tag", "s2"])).stderr();
    assert!(
        err.contains("registry.test") && err.to_lowercase().contains("certificate"),
        "an untrusted certificate is refused: {err}"
    );
    assert!(!err.contains("retry"), "a TLS failure is not retried: {err}");
}

#[test]
#[ignore = "needs docker-registry, htpasswd and openssl; scripts/test installs them"]
fn credential_helpers_from_docker_config_are_run() {
    let reg = TestRegistry::start(Auth::Htpasswd);
    let p = Project::new();
    p.file("dagster_cloud.yaml", &dagster_cloud_yaml(&[("etl", ".", &format!("{}/acme/etl", reg.host))]));
    p.file("Dockerfile", "FROM scratch\nCOPY defs.py /app/\n");
    p.file("defs.py", "defs = 1\n");
    let bin = p.home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-fake");
    std::fs::write(
        &helper,
        format!("#!/bin/sh\nread server\necho \"$1 $server\" >> {0}/helper.log\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n", p.home.path().display()),
    )
    .unwrap();
    set_mode(&helper, 0o755);
    let config = p.home.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), json!({ "credHelpers": { reg.host.clone(): "fake" } }).to_string())
        .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out =
        ok(p.cmd().env("PATH", path).env("DOCKER_CONFIG", &config).args(["build", "--json", "--tag", "h1"])).json();
    skopeo_inspect(out["locations"][0]["reference"].as_str().unwrap(), Some(CREDS), &[]);
    let log = std::fs::read_to_string(p.home.path().join("helper.log")).unwrap();
    assert_eq!(log.trim(), format!("get {}", reg.host));
}
