//! The integration tests, in one binary: each module is one former test file, and they share
//! the sandbox helpers (`common`) and the operator harness (`harness`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../harness/mod.rs"]
mod harness;

mod binary_output;
mod chart;
mod cli;
mod controller_accounts;
mod controller_basic_auth;
mod controller_binary;
mod controller_drift;
mod controller_events;
mod controller_issuing;
mod controller_jwt;
mod controller_leader;
mod controller_quiet;
mod crd_rules;
mod crds;
mod examples;
mod operator_shutdown;
mod sandbox_crd;
mod sandbox_crud;
mod sandbox_delete;
mod sandbox_dryrun;
mod sandbox_faults;
mod sandbox_fieldvalidation;
mod sandbox_kinds;
mod sandbox_list;
mod sandbox_paging;
mod sandbox_rbac;
mod sandbox_signals;
mod sandbox_watch;
mod server_connections;
mod values_cli;
mod witboost_config_corpus;
mod witboost_config_properties;
