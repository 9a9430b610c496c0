//! A registry client in layers, after go-containerregistry's `remote`:
//! [`transport`] (ping, auth, retries) under [`remote`] (one function per
//! protocol step) under [`push`] and [`pull`] (whole images).

pub(crate) mod challenge;
pub(crate) mod content;
pub(crate) mod error;
pub(crate) mod pool;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod remote;
pub(crate) mod transport;
