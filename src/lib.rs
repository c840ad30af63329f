//! witboost-token-operator: Witboost service accounts and access tokens as Kubernetes resources.
#![forbid(unsafe_code)]

pub mod admin;
pub mod chart;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod jwt;
pub mod leader;
pub mod operator;
pub mod plugin;
pub mod policy;
pub mod rbac;
pub mod sandbox;
pub mod server;
pub mod signal;
pub mod sync;
pub mod telemetry;
pub mod token;
pub mod watching;
pub mod witboost_config;
