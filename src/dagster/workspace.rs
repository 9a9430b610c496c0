//! What a deployment runs, read from its workspace: the locations it runs
//! now (for the redeploy decision), and the wait until newly deployed ones
//! load, with each load error as Python prints it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Value, json};

use super::client::{Client, Scope};
use super::documents;
use crate::io::clock::Clock;
use crate::progress::Progress;

/// How long to wait, and how often to look.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitOptions {
    /// Give up on loading after this long.
    pub(crate) location_load_timeout: Duration,
    /// Give up when no agent heartbeats for this long.
    pub(crate) agent_heartbeat_timeout: Duration,
    /// Time between polls.
    pub(crate) poll_interval: Duration,
}

/// One location's load outcome.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct LoadOutcome {
    pub(crate) name: String,
    /// The load error (message, stack, causes), when it failed.
    pub(crate) error: Option<String>,
}

/// Polls the agents and the workspace, in one request each time, until
/// every location in `names` is LOADED; returns each one's outcome.
pub(crate) fn wait_for_load(
    client: &Client,
    deployment: &str,
    names: &[String],
    options: WaitOptions,
    progress: &Progress,
    clock: &dyn Clock,
) -> Result<Vec<LoadOutcome>> {
    let started = clock.now();
    let scope = Scope::Deployment(deployment);
    let mut agent_seen = false;
    for poll in 0.. {
        let waited = clock.now() - started;
        let data = client.request(scope, documents::WAIT_STATUS, json!({}))?;
        agent_seen = agent_seen || data["agents"].as_array().into_iter().flatten().any(|a| a["status"] == "RUNNING");
        if !agent_seen && waited > options.agent_heartbeat_timeout {
            bail!(
                "no Dagster+ agent is heartbeating for deployment {deployment} (waited {}s); start one, or check it \
                 in Deployment › Agents",
                waited.as_secs()
            );
        }
        if waited > options.location_load_timeout {
            bail!("timed out after {}s waiting for {} to load in {deployment}", waited.as_secs(), names.join(", "));
        }
        if agent_seen && let Some(outcomes) = load_status(&workspace_entries(&data)?, names) {
            return Ok(outcomes);
        }
        if poll % 3 == 2 {
            progress.info(format!("  still waiting for {} to load ({}s)", names.join(", "), waited.as_secs()));
        }
        clock.sleep(options.poll_interval);
    }
    unreachable!("the loop returns or fails")
}

/// The workspace's location entries from a reply that selected
/// `workspaceOrError`.
fn workspace_entries(data: &Value) -> Result<Vec<Value>> {
    let workspace = &data["workspaceOrError"];
    if workspace["__typename"] != "Workspace" {
        bail!("Dagster+ could not read the workspace: {}", python_error_text(workspace));
    }
    Ok(workspace["locationEntries"].as_array().cloned().unwrap_or_default())
}

/// `Some` once every location is LOADED.
fn load_status(entries: &[Value], names: &[String]) -> Option<Vec<LoadOutcome>> {
    let mut outcomes = Vec::new();
    for name in names {
        let entry = entries.iter().find(|e| e["name"] == name.as_str())?;
        if entry["loadStatus"] != "LOADED" {
            return None;
        }
        let loaded = &entry["locationOrLoadError"];
        let error = (loaded["__typename"] == "PythonError").then(|| python_error_text(loaded));
        outcomes.push(LoadOutcome { name: name.clone(), error });
    }
    Some(outcomes)
}

/// A location a deployment runs now.
#[derive(Clone, Debug)]
pub(crate) struct DeployedLocation {
    /// Its location document, as `locationsAsDocument` gives it back.
    pub(crate) document: Value,
    /// Whether its last load ended in an error (or it is not in the
    /// workspace at all).
    pub(crate) load_failed: bool,
}

/// The locations `deployment` runs now, by name, in one request.
pub(crate) fn deployed_locations(client: &Client, deployment: &str) -> Result<BTreeMap<String, DeployedLocation>> {
    let data = client.request(Scope::Deployment(deployment), documents::DEPLOYED_LOCATIONS, json!({}))?;
    let entries = workspace_entries(&data)?;
    let document = &data["locationsAsDocument"]["document"];
    let mut deployed = BTreeMap::new();
    for location in document["locations"].as_array().into_iter().flatten() {
        let Some(name) = location["location_name"].as_str() else { continue };
        let entry = entries.iter().find(|e| e["name"] == name);
        let load_failed = entry.is_none_or(|e| e["locationOrLoadError"]["__typename"] == "PythonError");
        deployed.insert(name.to_string(), DeployedLocation { document: location.clone(), load_failed });
    }
    Ok(deployed)
}

/// A `PythonError` as text: message, stack, and each cause.
pub(crate) fn python_error_text(error: &Value) -> String {
    let mut text = error["message"].as_str().unwrap_or("unknown error").trim_end().to_string();
    let stack = |e: &Value| e["stack"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<String>();
    let s = stack(error);
    if !s.is_empty() {
        text.push('\n');
        text.push_str(s.trim_end());
    }
    for link in error["errorChain"].as_array().into_iter().flatten() {
        let how = if link["isExplicitLink"] == true {
            "The above exception was the direct cause of the following exception:"
        } else {
            "During handling of the above exception, another exception occurred:"
        };
        text.push_str(&format!("\n\n{how}\n{}", link["error"]["message"].as_str().unwrap_or("").trim_end()));
        let s = stack(&link["error"]);
        if !s.is_empty() {
            text.push('\n');
            text.push_str(s.trim_end());
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::auth::Secret;
    use crate::dagster::client::Client;
    use crate::env::Env;
    use crate::io::clock::ManualClock;
    use crate::io::http::{Http, Request, Response};

    /// Dagster+ answering with agents in `agent_status` and locations that
    /// stay LOADING; counts the polls.
    struct Stuck {
        agent_status: &'static str,
        polls: Mutex<usize>,
    }

    impl Http for Stuck {
        fn send(&self, request: &Request) -> Result<Response> {
            *self.polls.lock().unwrap() += 1;
            let crate::io::http::Body::Bytes(body) = &request.body else { bail!("no body") };
            let body = String::from_utf8_lossy(body);
            assert!(body.contains("agents") && body.contains("workspaceOrError"), "one request per poll");
            let data = json!({ "agents": [{ "status": self.agent_status }],
                "workspaceOrError": { "__typename": "Workspace", "locationEntries": [
                    { "name": "orders", "loadStatus": "LOADING" } ] } });
            let reply = json!({ "data": data }).to_string().into_bytes();
            Ok(Response { status: 200, headers: Vec::new(), body: Box::new(std::io::Cursor::new(reply)) })
        }
    }

    fn wait(agent_status: &'static str) -> (String, usize) {
        let http = Arc::new(Stuck { agent_status, polls: Mutex::new(0) });
        let progress = Progress::new(&Env::default(), true);
        let client = Client::new(http.clone(), "http://dagster".into(), Secret::new("t"), progress.clone());
        let options = WaitOptions {
            location_load_timeout: Duration::from_secs(3600),
            agent_heartbeat_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_secs(3),
        };
        let names = vec!["orders".to_string()];
        let clock = ManualClock::new();
        let err = wait_for_load(&client, "prod", &names, options, &progress, &clock).unwrap_err().to_string();
        let polls = *http.polls.lock().unwrap();
        (err, polls)
    }

    #[test]
    fn python_errors_read_like_python() {
        let e = json!({
            "message": "ImportError: no module named foo\n",
            "stack": ["  File \"defs.py\", line 1\n", "    import foo\n"],
            "errorChain": [{ "isExplicitLink": true, "error": { "message": "ModuleNotFoundError: foo", "stack": [] } }]
        });
        let text = python_error_text(&e);
        assert!(text.starts_with("ImportError: no module named foo\n  File \"defs.py\", line 1"), "{text}");
        assert!(text.contains("direct cause of the following exception:\nModuleNotFoundError: foo"), "{text}");
    }

    #[test]
    fn a_location_that_never_loads_times_out_after_the_load_timeout() {
        let (err, polls) = wait("RUNNING");
        assert_eq!(err, "timed out after 3603s waiting for orders to load in prod");
        assert_eq!(polls, 1202, "one request every 3 s for an hour");
    }

    #[test]
    fn no_agent_heartbeat_fails_after_the_heartbeat_timeout() {
        let (err, polls) = wait("NOT_RUNNING");
        assert!(err.starts_with("no Dagster+ agent is heartbeating for deployment prod (waited 123s)"), "{err}");
        assert_eq!(polls, 42);
    }
}
