//! Tenancy: a namespace that may create AccessTokens and ServiceAccounts gets values only for
//! the identities, groups, scopes and lifetimes a TokenPolicy grants there. Each test is an
//! attack first: with `policy_required: false`, as before TokenPolicies, every one of these
//! tokens would be issued.

use crate::harness;

use harness::*;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use witboost_token_operator::crd::{
    AccessToken, AccessTokenPhase, ServiceAccount, ServiceAccountSpec, TokenPolicy,
};
use witboost_token_operator::watching::Watches;

const REASON: &str = "NotAllowedByPolicy";

fn policy_config() -> witboost_token_operator::operator::OperatorConfig {
    witboost_token_operator::operator::OperatorConfig {
        policy_required: true,
        ..config()
    }
}

/// The policy of the harness's namespace: robots of one domain, in one group, with service
/// scopes; PATs of one domain; a day at most.
fn team_policy() -> TokenPolicy {
    serde_json::from_value(json!({
        "apiVersion": "iam.witboost.com/v1alpha1",
        "kind": "TokenPolicy",
        "metadata": { "name": "team" },
        "spec": {
            "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": NS } },
            "serviceAccounts": {
                "emails": ["*@robots.example.com"],
                "groups": ["team-*"],
                "scopes": ["service:*"],
            },
            "users": ["*@team.example.com"],
            "maxLifetime": "24h",
        },
    }))
    .unwrap()
}

async fn put_policy(h: &Harness, policy: &TokenPolicy) {
    let api: Api<TokenPolicy> = Api::all(h.client.clone());
    api.patch(
        policy.metadata.name.as_deref().unwrap(),
        &PatchParams::apply("test").force(),
        &Patch::Apply(policy),
    )
    .await
    .expect("TokenPolicy applied");
}

async fn account(h: &Harness, name: &str, email: &str, groups: &[&str]) {
    let spec = ServiceAccountSpec {
        email: email.into(),
        groups: Some(groups.iter().map(|g| g.to_string()).collect()),
        allowed_scopes: Some(vec!["service:cgp".into()]),
        ..Default::default()
    };
    h.accounts()
        .create(&PostParams::default(), &ServiceAccount::new(name, spec))
        .await
        .expect("ServiceAccount created");
}

fn daily(token: AccessToken) -> AccessToken {
    AccessToken {
        spec: witboost_token_operator::crd::AccessTokenSpec {
            duration: Some("1h".into()),
            ..token.spec
        },
        ..token
    }
}

/// Waits for the token to be refused by policy, and checks it holds no value.
async fn wait_denied(h: &Harness, name: &str, says: &str) -> AccessToken {
    let token = h
        .wait_token(name, &format!("NotAllowedByPolicy: {says}"), |t| {
            ready_of(t)
                .is_some_and(|(_, reason, message)| reason == REASON && message.contains(says))
        })
        .await;
    assert_eq!(phase_of(&token), Some(AccessTokenPhase::Pending));
    let (status, _, message) = ready_of(&token).unwrap();
    assert_eq!(status, "False");
    assert!(message.contains(says), "{message}");
    assert!(
        message.contains("a cluster administrator grants it in a TokenPolicy")
            || message.contains("a cluster administrator"),
        "{message}"
    );
    assert_eq!(
        h.secret_value(name).await,
        None,
        "no value for a denied token"
    );
    token
}

/// Under the team policy, `ci-token` of a robot in group `team-a`, Active, and its value.
async fn active_team_token(h: &Harness) -> (AccessToken, String) {
    put_policy(h, &team_policy()).await;
    account(h, "ci", "ci@robots.example.com", &["team-a"]).await;
    h.create(&daily(
        AccessToken::test("ci-token").for_service_account("ci"),
    ))
    .await;
    let active = h.wait_active("ci-token").await;
    let value = h.secret_value("ci-token").await.expect("a value");
    (active, value)
}

/// The team policy, no longer granting the robots' `team-*` groups.
fn without_team_groups() -> TokenPolicy {
    let mut tight = team_policy();
    tight.spec.service_accounts.as_mut().unwrap().groups = Some(vec!["other-*".into()]);
    tight
}

/// Waits for `ci-token` to be Active with a revision after `active`'s.
async fn wait_new_revision(h: &Harness, active: &AccessToken) -> AccessToken {
    h.wait_token("ci-token", "active with a new revision", |t| {
        phase_of(t) == Some(AccessTokenPhase::Active) && revision_of(t) > revision_of(active)
    })
    .await
}

#[tokio::test]
async fn a_namespace_cannot_mint_identities_groups_or_lifetimes_no_policy_grants() {
    let h = Harness::start_with(policy_config()).await;
    put_policy(&h, &team_policy()).await;

    // A PAT of someone else: the classic escalation.
    h.create(&daily(
        AccessToken::test("admin-pat").for_user("admin@company.com"),
    ))
    .await;
    wait_denied(&h, "admin-pat", "spec.user \"admin@company.com\"").await;
    // A robot claiming an email outside the granted domain, and one putting itself into an
    // admin group.
    account(&h, "impostor", "ceo@company.com", &[]).await;
    h.create(&daily(
        AccessToken::test("impostor-token").for_service_account("impostor"),
    ))
    .await;
    wait_denied(&h, "impostor-token", "spec.email \"ceo@company.com\"").await;
    account(&h, "climber", "ci@robots.example.com", &["witboost-admins"]).await;
    h.create(&daily(
        AccessToken::test("climber-token").for_service_account("climber"),
    ))
    .await;
    wait_denied(&h, "climber-token", "group \"witboost-admins\"").await;
    // A token that never expires, and one longer than a day.
    account(&h, "ci", "ci2@robots.example.com", &["team-a"]).await;
    h.create(&AccessToken::test("forever").for_service_account("ci"))
        .await;
    wait_denied(&h, "forever", "never expires").await;
    let mut long = daily(AccessToken::test("long").for_service_account("ci"));
    long.spec.duration = Some("48h".into());
    h.create(&long).await;
    wait_denied(&h, "long", "172800s").await;

    // The account's own status says so too.
    let accounts: Api<ServiceAccount> = h.accounts();
    eventually(15, "the impostor account to be refused", || async {
        let sa = accounts.get("impostor").await.ok()?;
        let ready = sa
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        (ready.reason == REASON).then_some(())
    })
    .await;

    // What the policy grants is issued.
    h.create(&daily(AccessToken::test("ok").for_service_account("ci")))
        .await;
    h.wait_active("ok").await;
    h.create(&daily(
        AccessToken::test("mine").for_user("Dev@Team.example.com"),
    ))
    .await;
    h.wait_active("mine").await;
}

#[tokio::test]
async fn a_tightened_policy_removes_values_and_a_loosened_one_issues_new_ones() {
    let h = Harness::start_with(policy_config()).await;
    let (active, first) = active_team_token(&h).await;

    // The group is no longer granted: the value goes at once.
    put_policy(&h, &without_team_groups()).await;
    wait_denied(&h, "ci-token", "group \"team-a\"").await;

    // Granted again: a new value, never the denied one.
    put_policy(&h, &team_policy()).await;
    let again = wait_new_revision(&h, &active).await;
    let second = h.secret_value("ci-token").await.expect("a new value");
    assert_ne!(second, first, "a denied value never comes back");
    assert_eq!(digest_of(&again), Some(digest(&second)));
    let secrets: Api<Secret> = h.secrets();
    assert!(secrets.get("ci-token").await.is_ok());
}

/// The controller must not keep a value a policy refused, even when the policy allows the
/// token again before the value could be removed (here its Secret cannot be written meanwhile):
/// the token service refused that value for good, so the token gets a new one.
#[tokio::test]
async fn a_policy_tightened_and_loosened_before_the_value_is_removed_still_issues_a_new_value() {
    // The controllers' watches, handed in, to tell when they saw the loosened policy.
    let mut h = Harness::without_operator(policy_config()).await;
    let watches = Watches::new(&h.client, None, true, true);
    h.config.watches = Some(watches.clone());
    h.start_operator().await;
    let (active, first) = active_team_token(&h).await;

    h.sandbox
        .faults()
        .fail_fraction("patch", "secrets", 1.0, 500);
    let patches = || h.sandbox.request_counts().get("patch", "secrets");
    let before = patches();
    put_policy(&h, &without_team_groups()).await;
    // The controller tried to remove the value, and could not.
    eventually(15, "a refused write of the Secret", || async {
        (patches() > before).then_some(())
    })
    .await;
    put_policy(&h, &team_policy()).await;
    // Until the controllers saw it, and a write after that was refused too, a reconcile that
    // decided on the tightened policy could still remove the value.
    let policies = watches.tenancy.as_ref().unwrap().policies.store().unwrap();
    let loosened = team_policy().spec;
    eventually(15, "the controllers to see the loosened policy", || async {
        policies
            .state()
            .iter()
            .any(|p| p.0.as_ref().is_ok_and(|p| p.spec == loosened))
            .then_some(())
    })
    .await;
    let seen = patches();
    eventually(15, "a refused write after that", || async {
        (patches() > seen).then_some(())
    })
    .await;
    h.sandbox.faults().clear_failures();

    let again = wait_new_revision(&h, &active).await;
    let second = h.secret_value("ci-token").await.expect("a new value");
    assert_ne!(second, first, "a refused value came back");
    assert_eq!(digest_of(&again), Some(digest(&second)));
    // Events are published after the status is written: waited for.
    let note = h.wait_event("ci-token", "Reissued").await;
    assert!(
        note.contains("a TokenPolicy refused the last value"),
        "the Event says why a new value was issued: {note}"
    );
}

#[tokio::test]
async fn without_any_policy_nothing_is_issued_and_a_new_policy_issues_it() {
    let h = Harness::start_with(policy_config()).await;
    account(&h, "ci", "ci@robots.example.com", &[]).await;
    h.create(&daily(
        AccessToken::test("ci-token").for_service_account("ci"),
    ))
    .await;
    wait_denied(&h, "ci-token", "spec.email").await;
    put_policy(&h, &team_policy()).await;
    h.wait_active("ci-token").await;
}

mod token_service_apart {
    //! The token service enforces the policies itself: a tightened policy stops it accepting
    //! the affected tokens and their JWTs at once, even while no controller runs to remove
    //! their values.

    use super::*;
    use base64::Engine as _;
    use serde_json::Value;
    use std::net::SocketAddr;
    use witboost_token_operator::operator::{RunArgs, Running};

    fn run_args(components: &str) -> RunArgs {
        harness::run_args(&[
            &format!("--components={components}"),
            "--leader-election-namespace=default",
            "--policy-required=true",
            "--basic-auth=false",
            "--admin-addr=127.0.0.1:0",
            "--http-addr=127.0.0.1:0",
        ])
    }

    /// `(status, Authorization header of the answer, JSON body)`.
    async fn http(
        addr: SocketAddr,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> (u16, Option<String>, Value) {
        let mut request = crate::common::http::request(method, addr, path);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let answer = request
            .body("application/json", body.to_owned())
            .send()
            .await;
        let forwarded = answer.header_values("authorization").into_iter().next();
        (answer.status, forwarded, answer.json())
    }

    /// What the token service says of a token value and of a JWT of it, on every endpoint.
    #[derive(Debug, PartialEq)]
    struct Verdicts {
        exchange: u16,
        introspect_token: Value,
        introspect_jwt: Value,
        session_exchange: u16,
        forward_basic: u16,
        forward_bearer: u16,
    }

    async fn verdicts(addr: SocketAddr, value: &str, jwt: &str) -> Verdicts {
        let exchange = json!({ "access_token": value }).to_string();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("witboost:{value}"))
        );
        let bearer = format!("Bearer {jwt}");
        let active = |body: Value| body["active"].clone();
        Verdicts {
            exchange: http(addr, "POST", "/api/auth/access-tokens/jwt", None, &exchange)
                .await
                .0,
            introspect_token: active(
                http(
                    addr,
                    "POST",
                    "/api/auth/introspect",
                    None,
                    &json!({ "token": value }).to_string(),
                )
                .await
                .2,
            ),
            introspect_jwt: active(
                http(
                    addr,
                    "POST",
                    "/api/auth/introspect",
                    None,
                    &json!({ "token": jwt }).to_string(),
                )
                .await
                .2,
            ),
            session_exchange: http(
                addr,
                "POST",
                "/api/auth/session-tokens/jwt",
                Some(&bearer),
                "{}",
            )
            .await
            .0,
            forward_basic: http(addr, "GET", "/api/auth/verify", Some(&basic), "")
                .await
                .0,
            forward_bearer: http(addr, "GET", "/api/auth/verify", Some(&bearer), "")
                .await
                .0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tightened_policy_stops_the_token_service_at_once_without_the_controllers() {
        let h = Harness::without_operator(config()).await;
        put_policy(&h, &team_policy()).await;
        account(&h, "ci", "ci@robots.example.com", &["team-a"]).await;
        // The token service starts first, as pods may: it waits for the controllers' key.
        let client = h.client.clone();
        let service =
            tokio::spawn(async move { Running::start(client, &run_args("token-service")).await });
        let controllers = Running::start(h.client.clone(), &run_args("controllers"))
            .await
            .expect("the controllers start");
        within(15, "the controllers to lead", controllers.ready()).await;
        let service = within(15, "the token service to start", service)
            .await
            .unwrap()
            .expect("the token service starts");
        within(15, "the token service to be ready", service.ready()).await;
        let addr = service
            .token_service_addr()
            .expect("the token service runs");

        h.create(&daily(
            AccessToken::test("ci-token").for_service_account("ci"),
        ))
        .await;
        h.wait_active("ci-token").await;
        let value = h.secret_value("ci-token").await.expect("a value");
        let exchange = json!({ "access_token": value }).to_string();
        let jwt = eventually(15, "the token service to exchange the token", || async {
            let (status, _, body) =
                http(addr, "POST", "/api/auth/access-tokens/jwt", None, &exchange).await;
            (status == 200).then(|| body["jwt"].as_str().unwrap().to_owned())
        })
        .await;
        let allowed = Verdicts {
            exchange: 200,
            introspect_token: Value::Bool(true),
            introspect_jwt: Value::Bool(true),
            session_exchange: 200,
            forward_basic: 200,
            forward_bearer: 200,
        };
        assert_eq!(verdicts(addr, &value, &jwt).await, allowed);

        // The controllers stop: nothing removes the value any more. The group is no longer
        // granted.
        controllers.shutdown().await.unwrap();
        let mut tight = team_policy();
        tight.spec.service_accounts.as_mut().unwrap().groups = Some(vec!["other-*".into()]);
        put_policy(&h, &tight).await;

        // Refused as a revoked token is: the same answers, nothing said of the policy.
        let refused = Verdicts {
            exchange: 401,
            introspect_token: Value::Bool(false),
            introspect_jwt: Value::Bool(false),
            session_exchange: 401,
            forward_basic: 401,
            forward_bearer: 401,
        };
        eventually(15, "the token service to refuse the token", || async {
            (verdicts(addr, &value, &jwt).await == refused).then_some(())
        })
        .await;
        assert_eq!(
            h.secret_value("ci-token").await.as_deref(),
            Some(value.as_str()),
            "the value is still there: the token service refused it on its own"
        );
        service.shutdown().await.unwrap();
    }
}
