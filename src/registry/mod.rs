//! A registry client in layers, after go-containerregistry's `remote`:
//! [`transport`] (ping, auth, retries) under [`remote`] (one function per
//! protocol step) under [`push`] and [`pull`] (whole images).

pub mod challenge;
pub mod error;
pub mod pool;
pub mod pull;
pub mod push;
pub mod remote;
pub mod transport;
