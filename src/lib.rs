//! witboost-token-operator: Witboost service accounts and access tokens as Kubernetes resources.
#![forbid(unsafe_code)]

pub mod cli;
pub mod crd;
pub mod jwt;
pub mod sandbox;
pub mod server;
pub mod token;
