//! Every rule of the CRD schemas, checked without a cluster: for each rule, an object that passes
//! and one that fails with the message a `kubectl apply` user would see. The validator is the one
//! the sandbox API server runs, which evaluates the schema and its CEL rules like kube-apiserver.

use kube::CustomResourceExt;
use kube_sandbox::validation::{FieldError, SchemaValidator};
use serde_json::{Value, json};
use witboost_token_operator::crd::{AccessToken, BasicAuth, ServiceAccount};

fn validator<K: CustomResourceExt>() -> SchemaValidator {
    let crd = K::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("the CRD has a schema");
    SchemaValidator::new(schema).expect("the CRD schema is valid")
}

fn object(kind: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "iam.witboost.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": "example", "namespace": "default"},
        "spec": spec,
    })
}

fn check<K: CustomResourceExt>(
    spec: Value,
    old_spec: Option<Value>,
) -> Result<(), Vec<FieldError>> {
    let kind = K::crd().spec.names.kind;
    let mut obj = object(&kind, spec);
    let old = old_spec.map(|s| object(&kind, s));
    validator::<K>().validate(&mut obj, old.as_ref())
}

#[track_caller]
fn accepts<K: CustomResourceExt>(spec: Value) {
    if let Err(errors) = check::<K>(spec.clone(), None) {
        panic!("rejected {spec}: {errors:#?}");
    }
}

#[track_caller]
fn rejects<K: CustomResourceExt>(spec: Value, field: &str, message: &str) {
    rejects_update::<K>(None, spec, field, message);
}

#[track_caller]
fn rejects_update<K: CustomResourceExt>(
    old: Option<Value>,
    spec: Value,
    field: &str,
    message: &str,
) {
    let errors = check::<K>(spec.clone(), old).expect_err(&format!("accepted {spec}"));
    assert!(
        errors
            .iter()
            .any(|e| e.field == field && e.body().contains(message)),
        "expected {field}: {message:?} among {errors:#?}"
    );
}

// ServiceAccount

#[test]
fn service_account_needs_an_email() {
    accepts::<ServiceAccount>(json!({"email": "bot@example.com"}));
    rejects::<ServiceAccount>(
        json!({"displayName": "Bot"}),
        "spec.email",
        "Required value",
    );
}

#[test]
fn service_account_email_must_be_an_email_address() {
    rejects::<ServiceAccount>(json!({"email": "not an email"}), "spec.email", "email");
}

#[test]
fn service_account_email_is_immutable() {
    let old = json!({"email": "bot@example.com"});
    assert!(
        check::<ServiceAccount>(
            json!({"email": "bot@example.com", "disabled": true}),
            Some(old.clone())
        )
        .is_ok()
    );
    rejects_update::<ServiceAccount>(
        Some(old),
        json!({"email": "other@example.com"}),
        "spec.email",
        "email is immutable",
    );
}

#[test]
fn service_account_optional_fields_have_their_types() {
    accepts::<ServiceAccount>(json!({
        "email": "bot@example.com",
        "displayName": "Bot",
        "groups": ["data-platform"],
        "allowedScopes": ["service:computational-governance"],
        "disabled": false,
    }));
    rejects::<ServiceAccount>(
        json!({"email": "bot@example.com", "disabled": "yes"}),
        "spec.disabled",
        "boolean",
    );
    rejects::<ServiceAccount>(
        json!({"email": "bot@example.com", "groups": "data-platform"}),
        "spec.groups",
        "array",
    );
    rejects::<ServiceAccount>(
        json!({"email": "bot@example.com", "displayName": "x".repeat(257)}),
        "spec.displayName",
        "256",
    );
}

// AccessToken

#[test]
fn access_token_needs_exactly_one_account() {
    accepts::<AccessToken>(json!({"serviceAccountName": "bot"}));
    accepts::<AccessToken>(json!({"user": "alice@example.com"}));
    let message = "exactly one of serviceAccountName and user must be set";
    rejects::<AccessToken>(json!({}), "spec", message);
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "user": "alice@example.com"}),
        "spec",
        message,
    );
}

#[test]
fn access_token_has_at_most_one_expiry() {
    accepts::<AccessToken>(
        json!({"serviceAccountName": "bot", "expiresAt": "2030-01-01T00:00:00Z"}),
    );
    accepts::<AccessToken>(json!({"serviceAccountName": "bot", "duration": "720h"}));
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "expiresAt": "2030-01-01T00:00:00Z", "duration": "720h"}),
        "spec",
        "at most one of expiresAt and duration may be set",
    );
}

#[test]
fn expires_at_must_be_an_rfc3339_time() {
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "expiresAt": "next year"}),
        "spec.expiresAt",
        "date-time",
    );
}

#[test]
fn duration_is_hours_minutes_and_seconds() {
    accepts::<AccessToken>(json!({"serviceAccountName": "bot", "duration": "1h30m"}));
    accepts::<AccessToken>(json!({"serviceAccountName": "bot", "duration": "30m"}));
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "duration": "30 days"}),
        "spec.duration",
        "should match",
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "duration": "0s"}),
        "spec.duration",
        "duration must be positive",
    );
}

#[test]
fn renew_before_needs_a_duration() {
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "expiresAt": "2030-01-01T00:00:00Z", "renewBefore": "1h"}),
        "spec",
        "renewBefore requires duration",
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "renewBefore": "1d"}),
        "spec.renewBefore",
        "should match",
    );
}

#[test]
fn renew_before_must_be_shorter_than_the_duration() {
    accepts::<AccessToken>(
        json!({"serviceAccountName": "bot", "duration": "720h", "renewBefore": "168h"}),
    );
    let message = "renewBefore must be shorter than duration";
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "duration": "1h", "renewBefore": "60m"}),
        "spec",
        message,
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "duration": "1h", "renewBefore": "2h"}),
        "spec",
        message,
    );
}

#[test]
fn the_account_of_a_token_is_immutable() {
    let message = "the token's account is immutable";
    let old = json!({"serviceAccountName": "bot"});
    assert!(
        check::<AccessToken>(
            json!({"serviceAccountName": "bot", "revoked": true}),
            Some(old.clone())
        )
        .is_ok()
    );
    rejects_update::<AccessToken>(
        Some(old.clone()),
        json!({"serviceAccountName": "other"}),
        "spec",
        message,
    );
    rejects_update::<AccessToken>(
        Some(old),
        json!({"user": "alice@example.com"}),
        "spec",
        message,
    );
}

#[test]
fn referenced_names_must_be_kubernetes_object_names() {
    accepts::<AccessToken>(json!({"serviceAccountName": "ci-bot", "secretName": "ci-bot.token"}));
    rejects::<AccessToken>(
        json!({"serviceAccountName": "CI_Bot"}),
        "spec.serviceAccountName",
        "should match",
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "secretName": "My Secret"}),
        "spec.secretName",
        "should match",
    );
}

#[test]
fn user_must_be_an_email_address() {
    rejects::<AccessToken>(json!({"user": "alice"}), "spec.user", "email");
}

#[test]
fn secret_template_keys_under_the_operator_prefix_are_reserved() {
    accepts::<AccessToken>(json!({
        "serviceAccountName": "bot",
        "secretTemplate": {"labels": {"team": "a"}, "annotations": {"owner": "a@example.com"}},
    }));
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "secretTemplate": {"labels": {"iam.witboost.com/revision": "9"}}}),
        "spec.secretTemplate.labels",
        "labels under iam.witboost.com/ are reserved for the operator",
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "secretTemplate": {"annotations": {"iam.witboost.com/x": "y"}}}),
        "spec.secretTemplate.annotations",
        "annotations under iam.witboost.com/ are reserved for the operator",
    );
}

#[test]
fn secret_template_may_not_set_the_managed_by_label_the_operator_selects_its_secrets_by() {
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "secretTemplate": {"labels": {"app.kubernetes.io/managed-by": "argocd"}}}),
        "spec.secretTemplate.labels",
        "the label app.kubernetes.io/managed-by is reserved for the operator",
    );
    // As an annotation it selects nothing, and the controller accepts it too.
    accepts::<AccessToken>(json!({
        "serviceAccountName": "bot",
        "secretTemplate": {"annotations": {"app.kubernetes.io/managed-by": "argocd"}},
    }));
}

#[test]
fn jwt_duration_is_at_least_one_second() {
    accepts::<AccessToken>(
        json!({"serviceAccountName": "bot", "jwt": {"scope": "a b", "durationSeconds": 1}}),
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "jwt": {"durationSeconds": 0}}),
        "spec.jwt.durationSeconds",
        "greater than or equal to 1",
    );
}

#[test]
fn rollout_targets_name_a_supported_workload() {
    accepts::<AccessToken>(json!({
        "serviceAccountName": "bot",
        "rolloutTargets": [{"kind": "Deployment", "name": "a"}, {"kind": "StatefulSet", "name": "b"}, {"kind": "DaemonSet", "name": "c"}],
    }));
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "rolloutTargets": [{"kind": "CronJob", "name": "a"}]}),
        "spec.rolloutTargets[0].kind",
        "supported values",
    );
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "rolloutTargets": [{"kind": "Deployment"}]}),
        "spec.rolloutTargets[0].name",
        "Required value",
    );
}

#[test]
fn revoked_is_a_boolean() {
    accepts::<AccessToken>(json!({"serviceAccountName": "bot", "revoked": true}));
    rejects::<AccessToken>(
        json!({"serviceAccountName": "bot", "revoked": "yes"}),
        "spec.revoked",
        "boolean",
    );
}

// BasicAuth

fn target(name: &str, key: &str) -> Value {
    json!({"configMap": {"name": name, "key": key}, "workloads": [{"kind": "Deployment", "name": name}]})
}

#[test]
fn basic_auth_needs_enabled_and_at_least_one_target() {
    accepts::<BasicAuth>(json!({"enabled": true, "ui": target("ui", "app-config.yaml")}));
    accepts::<BasicAuth>(
        json!({"enabled": false, "governancePlatform": target("gp", "application.conf")}),
    );
    accepts::<BasicAuth>(json!({
        "enabled": true,
        "ui": target("ui", "app-config.yaml"),
        "governancePlatform": target("gp", "application.conf"),
    }));
    rejects::<BasicAuth>(
        json!({"enabled": true}),
        "spec",
        "at least one of ui and governancePlatform must be set",
    );
    rejects::<BasicAuth>(
        json!({"ui": target("ui", "app-config.yaml")}),
        "spec.enabled",
        "Required value",
    );
}

#[test]
fn basic_auth_targets_name_different_config_map_keys() {
    accepts::<BasicAuth>(json!({
        "enabled": true,
        "ui": target("witboost", "app-config.yaml"),
        "governancePlatform": target("witboost", "application.conf"),
    }));
    rejects::<BasicAuth>(
        json!({
            "enabled": true,
            "ui": target("witboost", "config"),
            "governancePlatform": target("witboost", "config"),
        }),
        "spec",
        "ui and governancePlatform must name different ConfigMap keys",
    );
}

#[test]
fn basic_auth_targets_name_a_config_map_key_and_supported_workloads() {
    rejects::<BasicAuth>(
        json!({"enabled": true, "ui": {"workloads": []}}),
        "spec.ui.configMap",
        "Required value",
    );
    rejects::<BasicAuth>(
        json!({"enabled": true, "ui": {"configMap": {"name": "Not_A_Name", "key": "k"}}}),
        "spec.ui.configMap.name",
        "should match",
    );
    rejects::<BasicAuth>(
        json!({"enabled": true, "ui": {"configMap": {"name": "ui", "key": "a/b"}}}),
        "spec.ui.configMap.key",
        "should match",
    );
    rejects::<BasicAuth>(
        json!({"enabled": true, "ui": {"configMap": {"name": "ui", "key": "k"},
               "workloads": [{"kind": "CronJob", "name": "x"}]}}),
        "spec.ui.workloads[0].kind",
        "supported values",
    );
}
