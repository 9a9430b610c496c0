//! Integration tests: the real binary against real registries and small
//! fake services on 127.0.0.1. Each module is one area.

mod util;

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
