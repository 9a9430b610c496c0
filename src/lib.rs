//! `dagster-branch-deploy`: Dagster+ branch deployments from CI in one binary.
//!
//! The pipeline, in module order: [`config`] reads the project, [`image`]
//! builds each code location's image without a daemon, [`registry`] and
//! [`auth`] push it, [`build`] ties them together per location. The edges
//! that talk to the outside world live in [`io`].
#![deny(missing_docs)]

pub mod image;
