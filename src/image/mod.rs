//! Daemonless image building: Dockerfile classification, the build context,
//! reproducible layers, OCI types and the on-disk layout. Pure apart from
//! reading the build context and writing the layout.

pub(crate) mod assemble;
pub(crate) mod container_config;
pub(crate) mod content;
pub(crate) mod context;
pub(crate) mod digest;
pub(crate) mod dockerfile;
pub(crate) mod dockerignore;
pub(crate) mod layer;
pub(crate) mod layout;
pub(crate) mod mutate;
pub(crate) mod oci;
pub(crate) mod platform;
pub(crate) mod reference;
pub(crate) mod words;
