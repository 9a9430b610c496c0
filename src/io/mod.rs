//! The edges: the only places that open network connections or start
//! processes. Everything else takes these as arguments, which keeps the core
//! portable (WebAssembly) and lets tests run the real code against real
//! servers.

pub mod http;
pub mod process;
