//! Real registries for the tests: Debian's `docker-registry` (CNCF
//! distribution) started on a free loopback port, without auth, with
//! htpasswd (bcrypt) Basic auth, or with token auth through an in-process
//! token service that signs RS256 JWTs with openssl. Each one is stopped when
//! dropped; its access log is the request trace tests assert on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use super::server::{Reply, Server};

pub const USER: &str = "ci";
pub const PASSWORD: &str = "secret123";

pub enum Auth {
    None,
    /// Basic auth for `ci:secret123`.
    Htpasswd,
    /// Basic auth for another user and password.
    HtpasswdAs(&'static str, &'static str),
    Token,
}

pub struct TestRegistry {
    pub host: String,
    pub dir: tempfile::TempDir,
    child: Child,
    pub token_server: Option<Server>,
}

pub fn require_tool(name: &str) {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {name}")]).output().is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed; run scripts/test, which installs the test dependencies");
}

impl TestRegistry {
    pub fn start(auth: Auth) -> TestRegistry {
        TestRegistry::start_with(auth, None)
    }

    /// A registry serving TLS for `name`, with a certificate from a test CA
    /// whose certificate is at `dir/ca.crt`.
    pub fn start_tls(auth: Auth, name: &str) -> TestRegistry {
        TestRegistry::start_with(auth, Some(name))
    }

    fn start_with(auth: Auth, tls_name: Option<&str>) -> TestRegistry {
        require_tool("docker-registry");
        let dir = tempfile::tempdir().unwrap();
        let (auth_config, token_server) = Self::auth_config(auth, dir.path());
        let tls_config = Self::tls_config(tls_name, dir.path());
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n{tls_config}{auth_config}",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let mut registry = TestRegistry { host: String::new(), dir, child, token_server };
        registry.host = registry.wait_listening();
        registry
    }

    /// The `auth:` section for `auth`, and the token server it needs.
    fn auth_config(auth: Auth, dir: &std::path::Path) -> (String, Option<Server>) {
        let mut token_server = None;
        let config = match auth {
            Auth::None => String::new(),
            Auth::Htpasswd | Auth::HtpasswdAs(..) => {
                let (user, password) = match auth {
                    Auth::HtpasswdAs(u, p) => (u, p),
                    _ => (USER, PASSWORD),
                };
                let out =
                    Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
                std::fs::write(dir.join("htpasswd"), out.stdout).unwrap();
                format!("auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n", dir.join("htpasswd").display())
            }
            Auth::Token => {
                let keys = TokenKeys::generate(dir);
                let server = token_service(keys);
                let config = format!(
                    "auth:\n  token:\n    realm: {}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                    server.url(),
                    dir.join("tok.crt").display()
                );
                token_server = Some(server);
                config
            }
        };
        (config, token_server)
    }

    /// The `tls:` section serving a certificate for `tls_name`, signed by a
    /// fresh CA (`ca.crt` in `dir`).
    fn tls_config(tls_name: Option<&str>, dir: &std::path::Path) -> String {
        let Some(name) = tls_name else { return String::new() };
        let openssl = |args: &str| {
            let ok = Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(dir)
                .stderr(Stdio::null())
                .status()
                .expect("openssl");
            assert!(ok.success(), "openssl {args}");
        };
        openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.crt");
        openssl(&format!("req -newkey rsa:2048 -nodes -subj /CN={name} -keyout tls.key -out tls.csr"));
        std::fs::write(dir.join("ext.cnf"), format!("subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n")).unwrap();
        openssl("x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out tls.crt");
        format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            dir.join("tls.crt").display(),
            dir.join("tls.key").display()
        )
    }

    /// The address the registry chose itself (it binds port 0 and logs
    /// `listening on 127.0.0.1:PORT`): no port is picked and released first,
    /// which raced between parallel tests.
    fn wait_listening(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            let address = log.lines().find_map(|l| {
                let rest = l.split_once("listening on ")?.1;
                Some(rest.split(['"', ' ', ',']).next()?.to_string())
            });
            if let Some(address) = address {
                return address;
            }
            assert!(Instant::now() < deadline, "the registry did not start: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Access-log request lines (`"PUT /v2/… HTTP/1.1"`) since `from`.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| {
                let start = l.find("\"GET ").or_else(|| l.find("\"HEAD ")).or_else(|| l.find("\"PUT "));
                let start = start
                    .or_else(|| l.find("\"POST "))
                    .or_else(|| l.find("\"PATCH "))
                    .or_else(|| l.find("\"DELETE "))?;
                let rest = &l[start + 1..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .collect()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TokenKeys {
    key: PathBuf,
    cert_der_b64: String,
}

impl TokenKeys {
    fn generate(dir: &Path) -> TokenKeys {
        let key = dir.join("tok.key");
        let cert = dir.join("tok.crt");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-token-issuer"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success());
        let der = Command::new("openssl").args(["x509", "-outform", "DER", "-in"]).arg(&cert).output().unwrap();
        TokenKeys { key, cert_der_b64: STANDARD.encode(der.stdout) }
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        let header = json!({ "typ": "JWT", "alg": "RS256", "x5c": [self.cert_der_b64] });
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let sig = child.wait_with_output().unwrap().stdout;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// The token service: Basic `ci:secret123` gets every action it asks for,
/// anonymous gets `pull` only, anything else 401.
fn token_service(keys: TokenKeys) -> Server {
    Server::start(move |req| {
        let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
        let (subject, full) = match req.header("authorization") {
            None => ("", false),
            Some(a) if a == expected => (USER, true),
            Some(_) => return Reply::json(401, json!({ "details": "incorrect username or password" })),
        };
        let mut access = Vec::new();
        for scope in req.query_all("scope").iter().flat_map(|s| s.split(' ').map(str::to_string).collect::<Vec<_>>()) {
            let mut parts = scope.splitn(3, ':');
            let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let granted: Vec<&str> = actions.split(',').filter(|a| full || *a == "pull").collect();
            access.push(json!({ "type": kind, "name": name, "actions": granted }));
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let claims = json!({
            "iss": "test-issuer", "sub": subject, "aud": req.query_all("service").first().cloned().unwrap_or_default(),
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()), "access": access,
        });
        let token = keys.sign(&claims);
        Reply::json(200, json!({ "token": token, "access_token": token, "expires_in": 300 }))
    })
}
