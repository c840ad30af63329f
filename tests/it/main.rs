//! The integration tests, in one binary: each module is one former test file, and they share
//! the waits (`common`) and the operator harness (`harness`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../harness/mod.rs"]
mod harness;

mod binary_output;
mod chart;
mod cli;
mod components;
mod controller_accounts;
mod controller_basic_auth;
mod controller_binary;
mod controller_drift;
mod controller_events;
mod controller_issuing;
mod controller_jwt;
mod controller_leader;
mod controller_policy;
mod controller_quiet;
mod crd_rules;
mod crds;
mod examples;
mod krew;
mod operator_shutdown;
mod plugin;
mod sandbox_signals;
mod security_records;
mod server_connections;
mod values_cli;
mod witboost_config_corpus;
mod witboost_config_properties;
