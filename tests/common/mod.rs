//! Helpers shared by the integration tests, from the sandbox's crate: waits with deadlines and
//! the HTTP test client.
#![allow(dead_code)]

pub use kube_sandbox::testing::{SLOWDOWN, eventually, http, within};
