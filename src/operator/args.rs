//! The options of `run` (and of the operator inside `sandbox`), and what they turn into: an
//! [`OperatorConfig`] and the leader Lease.

use std::net::SocketAddr;
use std::time::Duration;

use crate::controller::{ControllerConfig, MANAGED_BY};
use crate::crd::GoDuration;
use crate::leader::LeaseConfig;
use crate::server::TokenServiceArgs;
use crate::telemetry::LogArgs;

use super::OperatorConfig;

/// Where `run`'s admin server listens unless `--admin-addr` says otherwise.
pub const DEFAULT_ADMIN_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    8081,
));

/// A part of the operator that `run` starts (`--components`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// The AccessToken, ServiceAccount and BasicAuth controllers, with leader election; they
    /// own the signing-key Secret (create, rotate) and sign the JWTs kept in Secrets.
    Controllers,
    /// The token service, which only reads: AccessTokens, ServiceAccounts, with
    /// --policy-required TokenPolicies and Namespaces, and the signing-key Secret.
    TokenService,
}

/// Options of `run` (and of the operator inside `sandbox`). Flatten-friendly: other parts of
/// `run` add their own `#[command(flatten)]` groups next to it.
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// What this process runs: controllers, token-service, or both (comma-separated). Apart,
    /// each needs only its own rights: the token service reads the signing-key Secret the
    /// controllers create and rotate, and needs no leader election.
    #[arg(
        long,
        env = "WITBOOST_COMPONENTS",
        value_delimiter = ',',
        value_name = "COMPONENTS",
        default_value = "controllers,token-service"
    )]
    pub components: Vec<Component>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WITBOOST_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the admin server: /livez, /readyz and /metrics [default: 0.0.0.0:8081; in
    /// `sandbox`, 127.0.0.1 on a free port].
    #[arg(long, env = "WITBOOST_ADMIN_ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// How often every object is reconciled even when nothing changed (e.g. 5m, 30s).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub resync_period: Duration,
    /// Reconciles running at once, per controller.
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Run the controllers only while holding a Lease, so that several replicas can run: one
    /// leads, the others stand by and serve the token service.
    #[arg(long, env = "WITBOOST_LEADER_ELECT", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub leader_elect: bool,
    /// Namespace of the leader Lease. Default: $POD_NAMESPACE, else the kubeconfig's namespace.
    #[arg(long, env = "WITBOOST_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Run the BasicAuth controller. Off, nothing reads BasicAuths or ConfigMaps and `/readyz`
    /// does not wait for them.
    #[arg(long, env = "WITBOOST_BASIC_AUTH", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub basic_auth: bool,
    /// Run the BasicAuth controller only in these namespaces (comma-separated, or the flag
    /// repeated), whatever --namespace says. Default: where --namespace says.
    #[arg(
        long,
        env = "WITBOOST_BASIC_AUTH_NAMESPACES",
        value_delimiter = ',',
        value_name = "NAMESPACES"
    )]
    pub basic_auth_namespaces: Vec<String>,
    /// Issue tokens only for the accounts, users and lifetimes a TokenPolicy allows in the
    /// token's namespace. Switch off only on a cluster where everyone who may create
    /// AccessTokens may mint any Witboost identity.
    #[arg(long, env = "WITBOOST_POLICY_REQUIRED", default_value_t = true,
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub policy_required: bool,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub token_service: TokenServiceArgs,
}

impl RunArgs {
    /// Whether this process runs `component`.
    pub fn runs(&self, component: Component) -> bool {
        self.components.contains(&component)
    }

    /// The operator of `sandbox`: its token service and admin server on loopback, on free
    /// ports, unless their flags say otherwise, so that several sandboxes run side by side.
    pub fn on_loopback(mut self) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        self.admin_addr.get_or_insert(loopback);
        self.token_service.http_addr.get_or_insert(loopback);
        self
    }
}

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: GoDuration = text.parse().map_err(|e| format!("{e}"))?;
    if d.as_std().is_zero() {
        return Err("must be positive".into());
    }
    Ok(d.as_std())
}

impl From<&RunArgs> for OperatorConfig {
    /// What the arguments alone decide. The issuer (the token service's) and the Lease
    /// ([`lease_config`], which needs the client's namespace) are the caller's to fill in.
    fn from(args: &RunArgs) -> Self {
        Self {
            namespace: args.namespace.clone(),
            admin_addr: Some(args.admin_addr.unwrap_or(DEFAULT_ADMIN_ADDR)),
            admin_connections: args.token_service.connections.clone(),
            controller: ControllerConfig {
                resync_period: args.resync_period,
                concurrency: args.concurrency,
            },
            issuer: None,
            token_index: None,
            leader_election: None,
            basic_auth: Default::default(),
            policy_required: args.policy_required,
            record_key: None,
            admin_only: !args.runs(Component::Controllers),
            leading: None,
            watches: None,
        }
    }
}

/// The Lease of `run`: one per watched scope, so operators for different namespaces do not
/// compete.
pub fn lease_config(client: &kube::Client, args: &RunArgs) -> LeaseConfig {
    let namespace = args
        .leader_election_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let name = match &args.namespace {
        Some(watched) => format!("{MANAGED_BY}.{watched}"),
        None => MANAGED_BY.to_owned(),
    };
    LeaseConfig::new(namespace, name)
}
