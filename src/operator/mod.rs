//! `run`: the token service, the controllers and the admin server, against a cluster, until
//! SIGTERM.
//!
//! One file per job:
//! - [`args`]: the command-line options of `run` (and of the operator inside `sandbox`), and
//!   how they become an [`OperatorConfig`] and a leader Lease;
//! - [`start`]: [`Operator`], the controllers and the admin server as one running unit,
//!   started and stopped together (the library entry point: tests start it against a
//!   sandbox's client and stop it);
//! - `wiring`: the controllers, and how the process's watches feed them;
//! - `leader_loop`: with leader election, the controllers run only while this replica holds
//!   the Lease;
//! - [`running`]: [`Running`], the token service beside an [`Operator`] sharing one metrics
//!   registry, and [`run`], the command itself.
//!
//! The token service starts first: the controllers get its [`Issuer`] (its policy and live
//! keys), so a JWT they keep in a Secret for `spec.jwt` is one the service would have minted.
//! Each kind is watched once per process: AccessTokens, ServiceAccounts (and with the tenancy
//! check TokenPolicies and Namespaces) by [`crate::watching::Watches`], shared by the token
//! service and the controllers when both run here; the token Secrets for the controllers alone;
//! BasicAuths and ConfigMaps once per BasicAuth namespace, or not at all. Every task started here, in [`Running`] and in the token service is
//! held as an `AbortOnDropHandle`, so a start that fails half-way, or is dropped when a signal
//! comes, stops what it had started.
//!
//! With leader election ([`crate::leader`]) the controllers start only once this replica holds
//! the Lease and stop the moment it is lost; the token service and the admin server run on every
//! replica.
//!
//! `--components` runs either part alone (both by default). Apart, each has only the watches it
//! needs: the controllers own the signing-key Secret (create it, rotate it, follow it, sign
//! `spec.jwt` with it) and the token service only reads and follows it; the token service's
//! process runs no leader election and its `/readyz` is its index's freshness.

pub mod args;
mod leader_loop;
pub mod running;
pub mod start;
mod wiring;

use std::net::SocketAddr;

use crate::controller::{ControllerConfig, basic_auth};
use crate::jwt::Issuer;
use crate::leader::LeaseConfig;
use crate::server;

pub use args::{Component, RunArgs};
pub use running::{Running, run};
pub use start::Operator;

/// How an [`Operator`] runs.
#[derive(Clone, Debug, Default)]
pub struct OperatorConfig {
    /// Watch only this namespace.
    pub namespace: Option<String>,
    /// Serve the admin endpoints here (port 0 picks one); `None` serves none.
    pub admin_addr: Option<SocketAddr>,
    /// The admin server's connection limits.
    pub admin_connections: server::ConnectionLimits,
    pub controller: ControllerConfig,
    /// The token service's keys and policy, to keep JWTs in Secrets (`spec.jwt`); without it,
    /// such tokens report `JwtReady=False`.
    pub issuer: Option<Issuer>,
    /// Whether the token service's index follows the API server; while it is stale, `/readyz`
    /// reports not ready.
    pub token_index: Option<server::Freshness>,
    /// Run the controllers only while holding this Lease; `None` runs them at once.
    pub leader_election: Option<LeaseConfig>,
    /// Where the BasicAuth controller runs.
    pub basic_auth: basic_auth::watches::Scope,
    /// Whether an account or token needs a TokenPolicy that allows it (`--policy-required`).
    pub policy_required: bool,
    /// The key that authenticates the records beside tokens (the token service's); `None`
    /// believes every record of ours.
    pub record_key: Option<crate::token::RecordKey>,
    /// Run no controllers (and so no leader election): only the admin server, for a token
    /// service running apart (`--components token-service`).
    pub admin_only: bool,
    /// The process's watches, shared with the token service running beside the controllers
    /// (with caches); `None` starts the controllers' own.
    pub watches: Option<crate::watching::Watches>,
    /// Told whether this replica leads (its controllers run): the signing-key Secret's owner
    /// rotates the keys only then.
    pub leading: Option<tokio::sync::watch::Sender<bool>>,
}
