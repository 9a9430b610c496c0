//! `dagster-branch-deploy`: Dagster+ branch deployments from CI in one binary.
//!
//! The pipeline, in module order: [`config`] reads the project, [`image`]
//! builds each code location's image without a daemon, [`registry`] and
//! [`auth`] push it, [`build`] ties them together per location. The edges
//! that talk to the outside world live in [`io`].
#![deny(missing_docs)]

pub mod auth;
pub mod build;
pub mod check;
pub mod ci;
pub mod cli;
pub mod config;
pub mod dagster;
pub mod deploy;
pub mod env;
#[cfg(test)]
mod fuzz;
pub mod git;
pub mod image;
pub mod io;
pub mod parallel;
pub mod plan;
pub mod progress;
pub mod provenance;
pub mod registry;
pub mod report;
pub mod text;
pub mod urls;
