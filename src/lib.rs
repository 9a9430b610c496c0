//! `dagster-branch-deploy`: Dagster+ branch deployments from CI in one binary.
//!
//! The pipeline, in the order the data flows:
//!
//! ```text
//! cli ─ flags and environment, resolved once ─► deploy / build / check / sweep
//!   ci        who is calling: GitHub payload, GitLab variables, local git ─► CiContext
//!   config    dagster_cloud.yaml, build.yaml, dg projects and workspaces ─► Project
//!   plan      what to do and why, every location's document ─► Decision (pure)
//!   build     per location: image (Dockerfile, layers, OCI) natively, or external
//!   python    a Python project's lock for the target: wheels, venv layer (pure)
//!   registry  push and pull over auth (keychain, ECR SigV4); pool of clients
//!   dagster   GraphQL documents and client: upsert, what runs, deploy, wait, close, list
//!   report    sticky comment, GitHub deployments, step outputs and summary, dotenv
//! sweep       the open branch deployments whose pull request is gone, closed
//! io          the edges: HTTP (ureq / the launcher's host functions), files from the PR, git, processes, retry
//! ```
//!
//! Beside them: `provenance` (commit, time, source of the images), `env`
//! (the environment snapshot), `text` (outside text made safe to show).

pub mod auth;
pub(crate) mod build;
pub(crate) mod check;
pub(crate) mod ci;
pub mod cli;
pub(crate) mod config;
pub(crate) mod dagster;
pub(crate) mod deploy;
pub(crate) mod env;
#[cfg(test)]
mod fuzz;
pub(crate) mod image;
pub(crate) mod io;
pub(crate) mod parallel;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod provenance;
pub(crate) mod python;
pub(crate) mod registry;
pub(crate) mod report;
pub(crate) mod sweep;
pub(crate) mod text;
pub(crate) mod urls;
