//! End-to-end harness for the controller tests: a sandbox API server, the CRDs, and the real
//! operator talking to it over HTTP. Waits are a condition plus a deadline, never a sleep.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_sandbox::{Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;
use witboost_token_operator::controller::ControllerConfig;
use witboost_token_operator::crd::{
    self, AccessToken, AccessTokenPhase, AccessTokenSpec, BasicAuth, JwtSpec, ServiceAccount,
    ServiceAccountSpec,
};
use witboost_token_operator::leader::LeaseConfig;
use witboost_token_operator::operator::{Operator, OperatorConfig};
use witboost_token_operator::server::{Metrics, TokenService, TokenServiceArgs};
use witboost_token_operator::telemetry;
use witboost_token_operator::token;
use witboost_token_operator::watching::Watches;

pub const NS: &str = "default";
/// The resync period of the operator in these tests: short, so resyncs are cheap to observe.
pub const RESYNC: Duration = Duration::from_secs(2);

pub struct Harness {
    pub sandbox: Sandbox,
    pub client: kube::Client,
    pub operator: Option<Operator>,
    pub config: OperatorConfig,
}

/// The operator's Lease.
pub const LEASE: &str = "witboost-token-operator";

/// [`config`] with leader election as `identity`, with timings a few times shorter than the
/// defaults, so take-overs fit in a test.
pub fn elected(identity: &str) -> OperatorConfig {
    let mut lease = LeaseConfig::new(NS, LEASE);
    lease.identity = identity.into();
    lease.lease_duration = Duration::from_secs(3);
    lease.renew_deadline = Duration::from_secs(2);
    lease.retry_period = Duration::from_millis(200);
    OperatorConfig {
        leader_election: Some(lease),
        ..config()
    }
}

/// Who holds the operator's Lease, if anyone.
pub async fn holder(h: &Harness) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(h.client.clone(), NS);
    leases
        .get_opt(LEASE)
        .await
        .expect("the Lease can be read")?
        .spec?
        .holder_identity
        .filter(|holder| !holder.is_empty())
}

pub fn config() -> OperatorConfig {
    OperatorConfig {
        namespace: None,
        admin_addr: Some("127.0.0.1:0".parse().unwrap()),
        admin_connections: Default::default(),
        controller: ControllerConfig {
            resync_period: RESYNC,
            concurrency: 16,
        },
        issuer: None,
        token_index: None,
        leader_election: None,
        basic_auth: Default::default(),
        // The controller tests are about the lifecycle; `controller_policy.rs` turns it on.
        policy_required: false,
        // Without the token service no key authenticates records; `with_token_service` sets it.
        record_key: None,
        admin_only: false,
        leading: None,
        watches: None,
    }
}

/// A resync far longer than any test, so only watches and wake-ups can make progress.
pub fn slow_resync() -> OperatorConfig {
    let mut c = config();
    c.controller.resync_period = Duration::from_secs(600);
    c
}

impl Harness {
    /// A sandbox with the CRDs and a running, ready operator.
    pub async fn start() -> Self {
        Self::start_with(config()).await
    }

    pub async fn start_with(config: OperatorConfig) -> Self {
        init_test_logging();
        let mut harness = Self::without_operator(config).await;
        harness.start_operator().await;
        harness
    }

    /// A sandbox with the CRDs, no operator yet.
    pub async fn without_operator(config: OperatorConfig) -> Self {
        let sandbox = Sandbox::start(SandboxConfig::default())
            .await
            .expect("sandbox starts");
        let client = sandbox.client();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for crd in crd::all() {
            crds.create(&PostParams::default(), &crd)
                .await
                .expect("CRD created");
        }
        let tokens: Api<AccessToken> = Api::namespaced(client.clone(), NS);
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
        let basic_auths: Api<BasicAuth> = Api::namespaced(client.clone(), NS);
        eventually(10, "the CRDs to be served", || async {
            (tokens.list(&ListParams::default()).await.is_ok()
                && accounts.list(&ListParams::default()).await.is_ok()
                && basic_auths.list(&ListParams::default()).await.is_ok())
            .then_some(())
        })
        .await;
        Self {
            sandbox,
            client,
            operator: None,
            config,
        }
    }

    /// A sandbox with the CRDs, the token service on a free port, and the operator minting
    /// `spec.jwt` JWTs with the service's keys, as `run` wires them. The service stops with
    /// the returned guard.
    pub async fn with_token_service(config: OperatorConfig) -> (Self, TokenServiceGuard) {
        init_test_logging();
        let mut harness = Self::without_operator(config).await;
        // One watch per kind, shared by the service and the controllers.
        let watches = Watches::new(
            &harness.client,
            harness.config.namespace.as_deref(),
            harness.config.policy_required,
            true,
        );
        harness.config.watches = Some(watches.clone());
        let service = TokenService::start_on(
            TokenServiceArgs {
                policy_required: harness.config.policy_required,
                ..TokenServiceArgs::on("127.0.0.1:0".parse().unwrap())
            },
            harness.client.clone(),
            Metrics::unregistered(),
            Some(watches),
        )
        .await
        .expect("token service starts");
        let addr = service.local_addr();
        harness.config.issuer = Some(service.issuer());
        harness.config.record_key = service.record_key();
        let stop = CancellationToken::new();
        tokio::spawn(service.run(stop.clone()));
        harness.start_operator().await;
        (harness, TokenServiceGuard { addr, stop })
    }

    pub async fn start_operator(&mut self) {
        let operator = Operator::start(
            self.client.clone(),
            self.config.clone(),
            telemetry::registry(),
        )
        .await
        .expect("operator starts");
        within(10, "the operator's caches to sync", operator.ready()).await;
        self.operator = Some(operator);
    }

    pub async fn stop_operator(&mut self) {
        if let Some(operator) = self.operator.take() {
            within(10, "the operator to stop", operator.shutdown()).await;
        }
    }

    pub fn tokens(&self) -> Api<AccessToken> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn accounts(&self) -> Api<ServiceAccount> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub async fn create_account(&self, name: &str) -> ServiceAccount {
        self.accounts()
            .create(
                &PostParams::default(),
                &ServiceAccount::new(
                    name,
                    ServiceAccountSpec {
                        email: format!("{name}@witboost.example.com"),
                        ..Default::default()
                    },
                ),
            )
            .await
            .expect("ServiceAccount created")
    }

    /// A TokenPolicy that lets every namespace declare any account, PAT and lifetime, for an
    /// operator that requires one (`run`'s default).
    pub async fn allow_everything(&self) {
        let policy: crd::TokenPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "TokenPolicy",
            "metadata": { "name": "allow-everything" },
            "spec": {
                "serviceAccounts": { "emails": ["*"], "groups": ["*"], "scopes": ["*"] },
                "users": ["*"],
            },
        }))
        .unwrap();
        Api::<crd::TokenPolicy>::all(self.client.clone())
            .create(&PostParams::default(), &policy)
            .await
            .expect("TokenPolicy created");
    }

    pub async fn create(&self, token: &AccessToken) -> AccessToken {
        self.tokens()
            .create(&PostParams::default(), token)
            .await
            .expect("AccessToken created")
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.tokens()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "spec": spec })),
            )
            .await
            .expect("AccessToken patched");
    }

    pub async fn delete_token(&self, name: &str) {
        self.tokens()
            .delete(name, &DeleteParams::default())
            .await
            .expect("AccessToken deleted");
    }

    /// Waits until the AccessToken satisfies `check`, then returns it.
    pub async fn wait_token(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&AccessToken) -> bool,
    ) -> AccessToken {
        let api = self.tokens();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15 * common::SLOWDOWN);
        loop {
            let token = api.get_opt(name).await.ok().flatten();
            if let Some(token) = token.as_ref().filter(|t| check(t)) {
                return token.clone();
            }
            if tokio::time::Instant::now() >= deadline {
                // Say what the token looked like, so that a failure on a loaded machine
                // explains itself: its status and its Secret's record (never the value).
                let secret = self.secrets().get_opt(name).await.ok().flatten();
                panic!(
                    "timed out waiting for {name}: {what}; last status: {:?}; Secret annotations: {:?}",
                    token.and_then(|t| t.status),
                    secret.and_then(|s| s.metadata.annotations),
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn wait_phase(&self, name: &str, phase: AccessTokenPhase) -> AccessToken {
        self.wait_token(name, &format!("phase {phase:?}"), |t| {
            phase_of(t) == Some(phase)
        })
        .await
    }

    pub async fn wait_active(&self, name: &str) -> AccessToken {
        self.wait_phase(name, AccessTokenPhase::Active).await
    }

    /// The token value in Secret `name`, if any.
    pub async fn secret_value(&self, name: &str) -> Option<String> {
        let secret = self.secrets().get_opt(name).await.unwrap()?;
        value_of(&secret)
    }

    pub async fn events_for(&self, name: &str) -> Vec<Event> {
        let events: Api<Event> = Api::namespaced(self.client.clone(), NS);
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect()
    }

    /// Waits for an Event with `reason` about `name`, returns its note.
    pub async fn wait_event(&self, name: &str, reason: &str) -> String {
        eventually(10, &format!("event {reason} for {name}"), || async {
            self.events_for(name)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
                .map(|e| e.note.unwrap_or_default())
        })
        .await
    }

    /// Successful reconciles of `controller` so far, from the operator's metrics.
    pub fn reconciles(&self, controller: &str) -> u64 {
        let prefix = format!(
            "witboost_controller_reconciles_total{{controller=\"{controller}\",result=\"success\"}} "
        );
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until AccessTokens were reconciled `count` more times (with N tokens, N × k
    /// reconciles span at least k resync periods).
    pub async fn wait_reconciles(&self, count: u64) {
        let start = self.reconciles("accesstoken");
        let secs = 10 + 3 * RESYNC.as_secs() * (count / 50 + 1);
        eventually(secs, &format!("{count} more reconciles"), || async {
            (self.reconciles("accesstoken") >= start + count).then_some(())
        })
        .await;
    }

    pub fn metrics(&self) -> String {
        self.operator
            .as_ref()
            .expect("operator runs")
            .metrics_text()
    }
}

/// The token service of [`Harness::with_token_service`]; stops it when dropped.
pub struct TokenServiceGuard {
    pub addr: std::net::SocketAddr,
    stop: CancellationToken,
}

impl Drop for TokenServiceGuard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn create_namespace(h: &Harness, name: &str) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(h.client.clone());
    let mut ns = k8s_openapi::api::core::v1::Namespace::default();
    ns.metadata.name = Some(name.into());
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace created");
}

pub fn value_of(secret: &Secret) -> Option<String> {
    let data = secret.data.as_ref()?;
    data.get("token")
        .map(|v| String::from_utf8(v.0.clone()).unwrap())
}

pub fn phase_of(token: &AccessToken) -> Option<AccessTokenPhase> {
    token.status.as_ref()?.phase
}

/// The condition of `type_` in the token's status.
pub fn condition_of<'a>(token: &'a AccessToken, type_: &str) -> Option<&'a Condition> {
    token
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `(status, reason, message)` of the Ready condition.
pub fn ready_of(token: &AccessToken) -> Option<(String, String, String)> {
    let c = condition_of(token, "Ready")?.clone();
    Some((c.status, c.reason, c.message))
}

pub fn reason_of(token: &AccessToken) -> Option<String> {
    ready_of(token).map(|(_, reason, _)| reason)
}

pub fn revision_of(token: &AccessToken) -> Option<i64> {
    token.status.as_ref()?.revision
}

pub fn digest_of(token: &AccessToken) -> Option<String> {
    token.status.as_ref()?.token_digest.clone()
}

pub fn digest(value: &str) -> String {
    token::digest(value.as_bytes())
}

/// Fixtures: small builders on the type.
pub trait AccessTokenFixture {
    fn test(name: &str) -> Self;
    fn for_service_account(self, account: &str) -> Self;
    fn for_user(self, email: &str) -> Self;
    fn expiring_at(self, at: jiff::Timestamp) -> Self;
    fn rotating(self, duration: &str, renew_before: &str) -> Self;
    fn in_secret(self, secret: &str) -> Self;
    fn with_jwt(self, scope: Option<&str>, duration_seconds: Option<i64>) -> Self;
}

impl AccessTokenFixture for AccessToken {
    fn test(name: &str) -> Self {
        AccessToken::new(name, AccessTokenSpec::default())
    }
    fn for_service_account(mut self, account: &str) -> Self {
        self.spec.service_account_name = Some(account.into());
        self
    }
    fn for_user(mut self, email: &str) -> Self {
        self.spec.user = Some(email.into());
        self
    }
    fn expiring_at(mut self, at: jiff::Timestamp) -> Self {
        self.spec.expires_at = Some(Time(at));
        self
    }
    fn rotating(mut self, duration: &str, renew_before: &str) -> Self {
        self.spec.duration = Some(duration.into());
        self.spec.renew_before = Some(renew_before.into());
        self
    }
    fn in_secret(mut self, secret: &str) -> Self {
        self.spec.secret_name = Some(secret.into());
        self
    }
    fn with_jwt(mut self, scope: Option<&str>, duration_seconds: Option<i64>) -> Self {
        self.spec.jwt = Some(JwtSpec {
            scope: scope.map(str::to_owned),
            duration_seconds,
        });
        self
    }
}

/// The JWT in Secret `secret`'s `jwt` key, if any.
pub fn jwt_of(secret: &Secret) -> Option<String> {
    let value = secret.data.as_ref()?.get("jwt")?;
    Some(String::from_utf8(value.0.clone()).unwrap())
}

/// `(status, reason)` of the JwtReady condition.
pub fn jwt_ready_of(token: &AccessToken) -> Option<(String, String)> {
    let c = condition_of(token, "JwtReady")?;
    Some((c.status.clone(), c.reason.clone()))
}

// The waiting helpers are the sandbox tests' own (every test crate using the harness declares
// `common` too).
use crate::common;
pub use crate::common::{eventually, within};

/// Logs to the test's output with `RUST_LOG` set (e.g. `RUST_LOG=witboost_token_operator=debug`).
pub fn init_test_logging() {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// `run`'s arguments as the command line gives them: `run` followed by `flags`.
pub fn run_args(flags: &[&str]) -> witboost_token_operator::operator::RunArgs {
    #[derive(clap::Parser)]
    struct Run {
        #[command(flatten)]
        args: witboost_token_operator::operator::RunArgs,
    }
    <Run as clap::Parser>::parse_from(std::iter::once("run").chain(flags.iter().copied())).args
}
