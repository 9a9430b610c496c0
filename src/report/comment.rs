//! The sticky pull/merge request comment and the step summary, rendered
//! from a [`Report`]: a hidden marker to find it again, a headline, the
//! link to the deployment, and one row per location (status, image digest,
//! build path, time), with each load error's first lines.

use serde::Serialize;

/// The first line of every comment this tool writes.
pub(crate) const MARKER: &str = "<!-- dagster-branch-deploy -->";

/// Where a location is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Its image is being built.
    Building,
    /// Sent to Dagster+, loading.
    Deploying,
    /// Loaded by the agent.
    Loaded,
    /// Deployed without waiting (`--no-wait`).
    Deployed,
    /// Not deployed again: the deployment already runs this content.
    Unchanged,
    /// Failed to build or load.
    Failed,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Building => "⏳ building",
            Status::Deploying => "🚀 deploying",
            Status::Loaded => "✅ loaded",
            Status::Deployed => "✅ deployed",
            Status::Unchanged => "✅ unchanged",
            Status::Failed => "❌ failed",
        }
    }
}

/// One location's row.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) status: Status,
    /// Image reference by digest.
    pub(crate) image: Option<String>,
    /// `native` or `external (buildah)`.
    pub(crate) build: Option<String>,
    /// Build and push time.
    pub(crate) seconds: Option<f64>,
    /// The build or load error.
    pub(crate) error: Option<String>,
    /// For an unchanged location: the commit it has run since.
    pub(crate) since: Option<String>,
}

impl Row {
    /// A location's row before anything happened to it.
    pub(crate) fn new(name: &str, status: Status) -> Row {
        Row { name: name.to_string(), status, image: None, build: None, seconds: None, error: None, since: None }
    }

    /// The status cell: `✅ unchanged since `0123456789ab`` for an unchanged
    /// location.
    fn status_cell(&self) -> String {
        match &self.since {
            Some(commit) if self.status == Status::Unchanged => {
                format!("{} since `{}`", self.status.label(), crate::text::prefix(commit, 12))
            }
            _ => self.status.label().to_string(),
        }
    }
}

/// The state of the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Headline {
    /// Work in progress.
    Deploying,
    /// Every location deployed.
    Deployed,
    /// Nothing changed: the deployment already runs every location.
    Unchanged,
    Failed,
    /// The pull request was closed.
    Closed,
    /// The pull request was merged.
    Merged,
    /// The label `--require-label` names was removed.
    Unlabeled,
    /// The sweep closed it: no commit for `--idle-days`.
    Idle,
    /// Only a plan (dry run).
    Planned,
}

/// What a comment or summary shows.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) headline: Headline,
    pub(crate) deployment: Option<String>,
    /// `{org url}/{deployment}/locations`.
    pub(crate) url: Option<String>,
    /// Whether it is a branch deployment.
    pub(crate) branch: bool,
    pub(crate) commit: Option<String>,
    pub(crate) base: Option<String>,
    pub(crate) rows: Vec<Row>,
    pub(crate) run_url: Option<String>,
    /// Whether the branch deployment was deleted (on close).
    pub(crate) deleted: bool,
    /// Whether the request is a GitLab merge request (for the wording).
    #[serde(skip)]
    pub(crate) merge_request: bool,
}

/// The comment body (marker first).
pub(crate) fn comment(report: &Report) -> String {
    format!("{MARKER}\n{}", body(report))
}

/// The step summary.
pub(crate) fn summary(report: &Report) -> String {
    body(report)
}

fn body(r: &Report) -> String {
    let kind = if r.branch { "branch deployment" } else { "deployment" };
    let name = r.deployment.as_deref().map_or(String::new(), |d| format!(" `{d}`"));
    let mut out = match r.headline {
        Headline::Deploying => format!("### ⏳ Deploying to Dagster+ {kind}{name}\n"),
        Headline::Deployed => format!("### ✅ Deployed to Dagster+ {kind}{name}\n"),
        Headline::Unchanged => format!("### ✅ Dagster+ {kind}{name} is up to date: nothing changed\n"),
        Headline::Failed => format!("### ❌ Dagster+ {kind}{name} failed\n"),
        Headline::Closed | Headline::Merged | Headline::Unlabeled | Headline::Idle => {
            let why = match r.headline {
                Headline::Merged if r.merge_request => "The merge request was merged.",
                Headline::Merged => "The pull request was merged.",
                Headline::Unlabeled => "Its label was removed; add it again for a new preview.",
                Headline::Idle => "It had no new commit for a while; push one for a new preview.",
                _ if r.merge_request => "The merge request was closed.",
                _ => "The pull request was closed.",
            };
            let what = if r.deleted { "deleted" } else { "marked closed" };
            format!("### Dagster+ branch deployment{name} {what}\n{why}\n")
        }
        Headline::Planned => format!("### Dry run: would deploy to Dagster+ {kind}{name}\n"),
    };
    let mut facts = Vec::new();
    if let (Some(url), false) = (&r.url, r.deleted) {
        facts.push(format!("[View in Dagster+]({url})"));
    }
    if let Some(c) = &r.commit {
        facts.push(format!("commit `{}`", crate::text::prefix(c, 12)));
    }
    if let Some(b) = &r.base {
        facts.push(format!("base `{b}`"));
    }
    if let Some(run) = &r.run_url {
        facts.push(format!("[CI run]({run})"));
    }
    if !facts.is_empty() {
        out.push_str(&facts.join(" · "));
        out.push('\n');
    }
    if !r.rows.is_empty() {
        out.push_str("\n| Location | Status | Image | Build | Time |\n|---|---|---|---|---|\n");
        for row in &r.rows {
            let image = row
                .image
                .as_deref()
                .and_then(|i| i.split_once('@'))
                .map_or("".to_string(), |(_, d)| format!("`{}`", crate::text::prefix(d, "sha256:".len() + 12)));
            let time = row.seconds.map_or(String::new(), |s| format!("{s:.1}s"));
            let build = row.build.clone().unwrap_or_default();
            out.push_str(&format!("| {} | {} | {image} | {build} | {time} |\n", cell(&row.name), row.status_cell()));
        }
    }
    for row in r.rows.iter().filter(|row| row.error.is_some()) {
        let error = row.error.as_deref().unwrap_or_default();
        let first: Vec<&str> = error.lines().take(12).collect();
        let more = if error.lines().count() > 12 { "\n…" } else { "" };
        out.push_str(&format!(
            "\n<details><summary><code>{}</code>: error</summary>\n\n```\n{}{more}\n```\n</details>\n",
            cell(&row.name),
            first.join("\n").replace("```", "ˋˋˋ")
        ));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            headline: Headline::Failed,
            deployment: Some("db4a7dfa".into()),
            url: Some("https://acme.dagster.cloud/db4a7dfa/locations".into()),
            branch: true,
            commit: Some("0123456789abcdef".into()),
            base: Some("prod".into()),
            rows: vec![
                Row {
                    name: "orders".into(),
                    status: Status::Loaded,
                    image: Some(format!("ghcr.io/acme/orders@sha256:{}", "a".repeat(64))),
                    build: Some("native".into()),
                    seconds: Some(1.25),
                    error: None,
                    since: None,
                },
                Row {
                    name: "ml".into(),
                    status: Status::Failed,
                    image: None,
                    build: Some("external (buildah)".into()),
                    seconds: None,
                    error: Some("ImportError: no module named torch\n  File \"defs.py\", line 1".into()),
                    since: None,
                },
            ],
            run_url: None,
            deleted: false,
            merge_request: false,
        }
    }

    #[test]
    fn the_comment_has_the_marker_link_table_and_errors() {
        let c = comment(&report());
        assert_eq!(
            c,
            "<!-- dagster-branch-deploy -->\n### ❌ Dagster+ branch deployment `db4a7dfa` failed\n\
             [View in Dagster+](https://acme.dagster.cloud/db4a7dfa/locations) · commit `0123456789ab` · base `prod`\n\n\
             | Location | Status | Image | Build | Time |\n|---|---|---|---|---|\n\
             | orders | ✅ loaded | `sha256:aaaaaaaaaaaa` | native | 1.2s |\n\
             | ml | ❌ failed |  | external (buildah) |  |\n\n\
             <details><summary><code>ml</code>: error</summary>\n\n```\nImportError: no module named torch\n  \
             File \"defs.py\", line 1\n```\n</details>\n"
        );
    }

    /// Every headline, as the comment and the step summary show it.
    #[test]
    fn every_headline_renders_as_the_snapshot() {
        for headline in [
            Headline::Planned,
            Headline::Deploying,
            Headline::Deployed,
            Headline::Unchanged,
            Headline::Failed,
            Headline::Closed,
            Headline::Merged,
            Headline::Unlabeled,
        ] {
            let r = Report { headline, ..report() };
            let name = format!("{headline:?}").to_lowercase();
            insta::assert_snapshot!(format!("comment_{name}"), comment(&r));
            insta::assert_snapshot!(format!("summary_{name}"), summary(&r));
        }
        let deleted = Report { headline: Headline::Closed, deleted: true, rows: vec![], ..report() };
        insta::assert_snapshot!("comment_closed_deleted", comment(&deleted));
    }

    #[test]
    fn an_unchanged_location_says_since_when() {
        let mut row = Row::new("orders", Status::Unchanged);
        row.since = Some("fedcba9876543210".into());
        let r = Report { headline: Headline::Deployed, rows: vec![row], ..report() };
        assert!(summary(&r).contains("| orders | ✅ unchanged since `fedcba987654` |"), "{}", summary(&r));
    }

    #[test]
    fn a_closed_and_deleted_deployment_has_no_link() {
        let r = Report { headline: Headline::Merged, deleted: true, rows: vec![], ..report() };
        let on_gitlab = Report { merge_request: true, ..r.clone() };
        assert!(comment(&on_gitlab).contains("The merge request was merged."), "{}", comment(&on_gitlab));
        let s = summary(&r);
        assert!(
            s.starts_with("### Dagster+ branch deployment `db4a7dfa` deleted\nThe pull request was merged."),
            "{s}"
        );
        assert!(!s.contains("View in Dagster+"));
    }
}
