//! Which built locations to deploy again: what the deployment runs now
//! (one request), then, for each location whose document is unchanged,
//! the running image's content against the new one's (as the native build
//! made it, else read back from the registry), reading only manifests and
//! configs. Anything that cannot be read is
//! deployed again: redeploying is always safe, skipping must be certain.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::dagster::client::Client;
use crate::dagster::{self, workspace::DeployedLocation};
use crate::image::content::ImageContent;
use crate::plan::redeploy::{Change, Running, before_images, deployed_commit};
use crate::progress::Progress;
use crate::registry::content;
use crate::registry::pool::Services;

/// What `deployment` runs now, by location; nothing to compare with under
/// `--redeploy-all`, or when it cannot be read (a warning).
pub(super) fn running(
    client: &Client,
    progress: &Progress,
    deployment: &str,
    redeploy_all: bool,
) -> BTreeMap<String, DeployedLocation> {
    if redeploy_all {
        return BTreeMap::new();
    }
    dagster::workspace::deployed_locations(client, deployment).unwrap_or_else(|e| {
        progress.warn(format!("could not read what {deployment} runs now ({e:#}); deploying every location"));
        BTreeMap::new()
    })
}

/// One verdict per document (each with its new `image`), in order.
pub(super) fn judge(
    services: &Services,
    progress: &Progress,
    running: &BTreeMap<String, DeployedLocation>,
    built: &[(&Value, Option<&ImageContent>)],
    redeploy_all: bool,
) -> Vec<Change> {
    built
        .iter()
        .map(|(document, content)| {
            let name = document["location_name"].as_str().unwrap_or_default();
            let change = judge_one(services, running.get(name), (*document, *content), redeploy_all);
            match &change {
                Change::Redeploy(why) => progress.info(format!("{name}: deploying ({why})")),
                Change::Unchanged { since, .. } => progress.info(format!(
                    "{name}: unchanged since {}; not deployed again",
                    since.as_deref().map_or("its last deploy", |c| crate::text::prefix(c, 12))
                )),
            }
            change
        })
        .collect()
}

fn judge_one(
    services: &Services,
    deployed: Option<&DeployedLocation>,
    (document, built): (&Value, Option<&ImageContent>),
    all: bool,
) -> Change {
    let running = deployed.map(|d| Running { document: &d.document, load_failed: d.load_failed });
    if let Some(change) = before_images(running.as_ref(), document, all) {
        return change;
    }
    let running = running.expect("before_images decides when nothing runs");
    let (Some(old), Some(new)) = (running.document["image"].as_str(), document["image"].as_str()) else {
        return Change::Redeploy("the running document names no image".into());
    };
    // A tag may have moved since the agent pulled it: only digests are compared.
    if !old.contains('@') || !new.contains('@') {
        return Change::Redeploy("its image is named by a tag, which may have moved".into());
    }
    if old == new {
        return Change::Unchanged { since: deployed_commit(&running), image: old.to_string() };
    }
    let read = |reference: &str, which: &str| {
        content::fetch(services, reference).map_err(|e| format!("the {which} image could not be read: {e:#}"))
    };
    let new_content = || built.cloned().map_or_else(|| read(new, "new"), Ok);
    match read(old, "running").and_then(|o| Ok((o, new_content()?))) {
        Ok((old_content, new_content)) => match old_content.difference(&new_content) {
            Some(difference) => Change::Redeploy(format!("its image changed: {difference}")),
            None => Change::Unchanged {
                since: old_content
                    .revision
                    .filter(|r| crate::ci::is_commit_sha(r))
                    .or_else(|| deployed_commit(&running)),
                image: old.to_string(),
            },
        },
        Err(why) => Change::Redeploy(why),
    }
}
