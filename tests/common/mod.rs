//! Helpers shared by the integration tests: waits with deadlines, from the sandbox's crate.
#![allow(dead_code)]

pub use kube_sandbox::testing::{SLOWDOWN, eventually, within};
