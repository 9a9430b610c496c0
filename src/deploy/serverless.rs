//! Dagster+ Serverless: a location without `build.registry` in a
//! Serverless deployment is pushed to the registry Dagster+ hands out, with
//! the token it hands out.

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::execute::Run;
use crate::auth::{Credential, Secret};
use crate::config::{Location, Project};
use crate::dagster;
use crate::image::reference::ImageRef;
use crate::registry::pool::Services;

impl Run<'_> {
    /// Fills in the Serverless registry for locations without
    /// `build.registry` when the deployment is Serverless.
    pub(super) fn with_registries(
        &self,
        project: &Project,
        locations: &[Location],
        deployment: &str,
        services: &Services,
        agent_type: &mut Option<String>,
    ) -> Result<Vec<Location>> {
        let mut targets = locations.to_vec();
        for location in targets.iter_mut().filter(|l| l.registry.is_none() && l.image.is_none()) {
            if self.agent_type(deployment, agent_type)? != "SERVERLESS" {
                location.target_repository(&project.file)?;
            }
            let registry = dagster::serverless_registry(&self.client, deployment)?;
            let repository = if registry.is_harbor {
                format!("{}/{}", registry.url.trim_end_matches('/'), location.name.to_lowercase().replace('_', "-"))
            } else {
                registry.url.clone()
            };
            let decoded = STANDARD
                .decode(registry.auth_token.expose())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .context("Dagster+ returned a Serverless registry token that is not base64 of user:password")?;
            let (user, password) =
                decoded.split_once(':').context("the Serverless registry token is not user:password")?;
            let host = ImageRef::parse_repository(&repository).context("the Serverless registry URL")?.registry;
            services.give_credential(
                &host,
                Credential {
                    username: user.into(),
                    secret: Secret::new(password),
                    source: "Dagster+ Serverless".into(),
                },
            );
            self.progress
                .info(format!("{}: no build.registry; pushing to Dagster+ Serverless's registry", location.name));
            location.registry = Some(repository);
        }
        Ok(targets)
    }
}
