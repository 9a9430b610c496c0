//! The `check` command: validates the configuration, finds and classifies
//! each Dockerfile, says which credential each registry would get (its
//! source, never its value), and tests the connection to Dagster+ and to
//! each registry. Every problem is listed; the exit status says whether any.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::build::external::Builder;
use crate::config::Project;
use crate::dagster::{self, client::Client, client::organization_url};
use crate::env::Env;
use crate::image::dockerfile::{self, BuildPath};
use crate::io::http::{Http, redact_url};
use crate::progress::Progress;
use crate::registry::pool::Services;
use crate::registry::remote::push_scope;

/// One check's result.
#[derive(Debug, Serialize)]
pub(crate) struct Finding {
    /// What was checked.
    pub(crate) subject: String,
    /// Whether it passed.
    pub(crate) ok: bool,
    /// What was found.
    pub(crate) detail: String,
}

/// Runs every check.
pub(crate) fn run(
    project_dir: &std::path::Path,
    config_file: Option<&std::path::Path>,
    organization: Option<&str>,
    url: Option<&str>,
    insecure: Vec<String>,
    env: Env,
) -> Result<Vec<Finding>> {
    let progress = Progress::new(&env, true);
    let project = Project::load(project_dir, config_file)?;
    let mut findings = vec![Finding {
        subject: project.file.display().to_string(),
        ok: true,
        detail: format!(
            "{} location(s): {}",
            project.locations.len(),
            project.locations.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }];
    let http: Arc<dyn Http> = crate::io::http_client()?;
    let services = Services::new(http.clone(), env.clone(), progress.clone(), insecure);
    for location in &project.locations {
        findings.push(dockerfile_finding(&project, location));
        findings.push(registry_finding(&services, location, &project));
    }
    findings.push(dagster_finding(&env, http, progress, organization, url));
    Ok(findings)
}

fn dockerfile_finding(project: &Project, location: &crate::config::Location) -> Finding {
    let path = location.build_directory.join("Dockerfile");
    if let Some(image) = &location.image {
        let subject = format!("{}: image", location.name);
        return Finding { subject, ok: true, detail: format!("{image}, deployed as given (nothing is built)") };
    }
    let subject = format!("{}: {}", location.name, path.display());
    let classified = project
        .read_file(&path)
        .and_then(|text| text.context("there is no Dockerfile"))
        .and_then(|text| dockerfile::classify(&dockerfile::parse(&text)?));
    match classified {
        Ok(BuildPath::Native(_)) => Finding { subject, ok: true, detail: "native build (no container needed)".into() },
        Ok(BuildPath::External { reason }) => match Builder::detect() {
            Some(builder) => {
                Finding { subject, ok: true, detail: format!("external build with {} ({reason})", builder.name()) }
            }
            None => Finding {
                subject,
                ok: false,
                detail: format!(
                    "needs a container builder ({reason}), and none was found: install docker buildx, podman or buildah"
                ),
            },
        },
        Err(e) => Finding { subject, ok: false, detail: format!("{e:#}") },
    }
}

fn registry_finding(services: &Services, location: &crate::config::Location, project: &Project) -> Finding {
    let subject = format!("{}: registry", location.name);
    if location.image.is_some() && location.registry.is_none() {
        return Finding { subject, ok: true, detail: "none needed: the location names its image".into() };
    }
    let Some(_) = &location.registry else {
        return Finding {
            subject,
            ok: true,
            detail: "no build.registry: Dagster+ Serverless's registry, if the deployment is Serverless".into(),
        };
    };
    let result = (|| -> Result<String> {
        let repo = location.target_repository(&project.file)?;
        let registry = services.registry(&repo)?;
        let credential = registry.credential_description();
        registry.verify_access(&repo.repository, &[push_scope(&repo.repository)])?;
        Ok(format!("{}: reachable, {credential} accepted", repo.name()))
    })();
    match result {
        Ok(detail) => Finding { subject, ok: true, detail },
        Err(e) => Finding { subject, ok: false, detail: format!("{e:#}") },
    }
}

fn dagster_finding(
    env: &Env,
    http: Arc<dyn Http>,
    progress: Progress,
    organization: Option<&str>,
    url: Option<&str>,
) -> Finding {
    let subject = "Dagster+".to_string();
    let org_url = match organization_url(url, organization) {
        Ok(u) => u,
        Err(e) => return Finding { subject, ok: false, detail: format!("{e:#}") },
    };
    let shown = redact_url(&org_url);
    let token = match env.secret("DAGSTER_CLOUD_API_TOKEN") {
        Ok(Some(token)) => token,
        Ok(None) => {
            return Finding { subject, ok: false, detail: format!("{shown}: DAGSTER_CLOUD_API_TOKEN is not set") };
        }
        Err(e) => return Finding { subject, ok: false, detail: format!("{e:#}") },
    };
    let client = Client::new(http, org_url, token, progress);
    match dagster::check_connection(&client) {
        Ok(()) => Finding { subject, ok: true, detail: format!("{shown}: connected, token accepted") },
        Err(e) => Finding { subject, ok: false, detail: format!("{e:#}") },
    }
}
