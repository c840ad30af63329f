//! The integration tests, in one binary: each module one concern of the API server, driven by
//! real clients (kube-rs, raw HTTP) over loopback.

mod common;

mod admission;
mod control;
mod crd;
mod crud;
mod delete;
mod dryrun;
mod faults;
mod fieldvalidation;
mod kinds;
mod list;
mod paging;
mod proxy;
mod rbac;
mod watch;
