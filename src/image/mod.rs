//! Daemonless image building: Dockerfile classification, the build context,
//! reproducible layers, OCI types and the on-disk layout. Pure apart from
//! reading the build context and writing the layout.

pub mod context;
pub mod digest;
pub mod dockerfile;
pub mod dockerignore;
pub mod layer;
pub mod layout;
pub mod mutate;
pub mod oci;
pub mod platform;
pub mod reference;
