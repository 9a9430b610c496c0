//! Integration tests: the real binary against real registries and small
//! fake services on 127.0.0.1. Each module is one area.

mod util;

/// The GitHub Action, run as a runner runs it (Node 24, INPUT_*, runner files).
mod action;
/// Registry authentication: htpasswd, token service, CI secrets, ECR.
mod auth;
/// Native builds and pushes, checked with skopeo and umoci.
mod build;
/// Branch deployments end to end: fake Dagster+, GitHub and GitLab, real registry.
mod deploy;
/// The external builder path (buildah).
mod external;
/// Faults: retries, registry errors, bad input.
mod faults;
/// The GitLab component, run by gitlab-ci-local in shell mode.
mod gitlab_component;
/// Schemas, actionlint, the examples, and the tool's own image.
mod lint;
/// After the first deploy: only what changed, sweeps, GitHub Deployments, labels.
mod preview;
/// Real project layouts planned by the dry run.
mod projects;
/// The native Python build from uv.lock, run in a chroot, against uv.
mod python_build;
/// Hostile servers and files: redirects, paging, symlinks, FIFOs, forks, secrets.
mod security;
