//! ValidatingAdmissionPolicies: a bound policy refuses matching writes with kube-apiserver's
//! answer, sees the impersonated identity in `request.userInfo` and the stored object in
//! `oldObject`, and a policy whose CEL does not compile is refused.

use crate::common;

use common::{sandbox, status};
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_sandbox::Sandbox;
use serde_json::{Value, json};

/// A client acting as `user` in `groups`, as `kubectl --as --as-group` does.
async fn client_as(sb: &Sandbox, user: &str, groups: &[&str]) -> kube::Client {
    let mut kubeconfig: Kubeconfig = sb.kubeconfig();
    let auth = kubeconfig.auth_infos[0]
        .auth_info
        .get_or_insert_with(Default::default);
    auth.impersonate = Some(user.to_string());
    auth.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// A policy on ConfigMaps for `operations`, with `validations`, bound with `Deny` by
/// `<name>-binding`.
async fn policy(client: &kube::Client, name: &str, operations: &[&str], validations: Value) {
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": { "name": name },
        "spec": {
            "matchConstraints": { "resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": operations,
                "resources": ["configmaps"],
            }]},
            "validations": validations,
        },
    }))
    .unwrap();
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let binding: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": { "name": format!("{name}-binding") },
        "spec": { "policyName": name, "validationActions": ["Deny"] },
    }))
    .unwrap();
    Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

fn config_map(name: &str, data: Value) -> ConfigMap {
    serde_json::from_value(json!({ "metadata": { "name": name }, "data": data })).unwrap()
}

#[tokio::test]
async fn a_bound_policy_refuses_a_matching_write_as_kube_apiserver_words_it() {
    let sb = sandbox().await;
    let client = sb.client();
    policy(
        &client,
        "no-secrets-in-config",
        &["CREATE", "UPDATE"],
        json!([{ "expression": "!has(object.data) || !('password' in object.data)",
                 "message": "passwords belong in Secrets" }]),
    )
    .await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let refused = status(
        cms.create(
            &PostParams::default(),
            &config_map("db", json!({ "password": "x" })),
        )
        .await,
    );
    assert_eq!(refused.code, 422);
    assert_eq!(refused.reason, "Invalid");
    assert_eq!(
        refused.message,
        "configmaps \"db\" is forbidden: ValidatingAdmissionPolicy 'no-secrets-in-config' with binding 'no-secrets-in-config-binding' denied request: passwords belong in Secrets"
    );
    cms.create(
        &PostParams::default(),
        &config_map("db", json!({ "host": "db" })),
    )
    .await
    .unwrap();
    // A resource the policy does not match is not checked.
    let secret: Secret = serde_json::from_value(
        json!({ "metadata": { "name": "db" }, "stringData": { "password": "x" } }),
    )
    .unwrap();
    Api::<Secret>::default_namespaced(client.clone())
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    // Nor is an operation it does not list.
    cms.delete("db", &DeleteParams::default()).await.unwrap();
}

#[tokio::test]
async fn a_policy_without_a_deny_binding_lets_writes_through() {
    let sb = sandbox().await;
    let client = sb.client();
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": { "name": "nothing" },
        "spec": {
            "matchConstraints": { "resourceRules": [{
                "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"],
            }]},
            "validations": [{ "expression": "false" }],
        },
    }))
    .unwrap();
    Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .create(&PostParams::default(), &policy)
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .unwrap();
    let warn_only: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": { "name": "warn" },
        "spec": { "policyName": "nothing", "validationActions": ["Warn"] },
    }))
    .unwrap();
    let bindings = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone());
    bindings
        .create(&PostParams::default(), &warn_only)
        .await
        .unwrap();
    cms.create(&PostParams::default(), &config_map("b", json!({})))
        .await
        .unwrap();
    // The admission configuration itself is never subject to policies.
    let deny: ValidatingAdmissionPolicyBinding = serde_json::from_value(json!({
        "metadata": { "name": "deny" },
        "spec": { "policyName": "nothing", "validationActions": ["Deny"] },
    }))
    .unwrap();
    bindings
        .create(&PostParams::default(), &deny)
        .await
        .unwrap();
    let refused = status(
        cms.create(&PostParams::default(), &config_map("c", json!({})))
            .await,
    );
    assert!(
        refused
            .message
            .ends_with("with binding 'deny' denied request: failed expression: false"),
        "{}",
        refused.message
    );
    bindings
        .delete("deny", &DeleteParams::default())
        .await
        .unwrap();
    cms.create(&PostParams::default(), &config_map("c", json!({})))
        .await
        .unwrap();
}

#[tokio::test]
async fn request_user_info_is_the_impersonated_identity_or_else_the_administrator() {
    let sb = sandbox().await;
    let admin = sb.client();
    policy(
        &admin,
        "owner",
        &["CREATE"],
        json!([{
            "expression": "request.userInfo.username == object.metadata.annotations.owner || 'owners' in request.userInfo.groups",
            "messageExpression": "'user ' + request.userInfo.username + ' is not ' + object.metadata.annotations.owner",
        }]),
    )
    .await;
    let owned = |name: &str| -> ConfigMap {
        serde_json::from_value(
            json!({ "metadata": { "name": name, "annotations": { "owner": "alice@example.com" } } }),
        )
        .unwrap()
    };
    let create = |client: kube::Client, name: &'static str| {
        let cm = owned(name);
        async move {
            Api::<ConfigMap>::default_namespaced(client)
                .create(&PostParams::default(), &cm)
                .await
        }
    };
    // `system:masters` lets RBAC through, so only the policy decides.
    let alice = client_as(&sb, "alice@example.com", &["system:masters"]).await;
    create(alice, "by-alice").await.unwrap();
    let bob = client_as(&sb, "bob@example.com", &["system:masters"]).await;
    let refused = status(create(bob, "by-bob").await);
    assert_eq!(
        refused.message,
        "configmaps \"by-bob\" is forbidden: ValidatingAdmissionPolicy 'owner' with binding 'owner-binding' denied request: user bob@example.com is not alice@example.com"
    );
    let owner = client_as(&sb, "carol@example.com", &["system:masters", "owners"]).await;
    create(owner, "by-an-owner").await.unwrap();
    let refused = status(create(admin, "by-the-administrator").await);
    assert!(
        refused
            .message
            .ends_with("denied request: user system:admin is not alice@example.com"),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn old_object_is_the_stored_object_on_update_and_delete() {
    let sb = sandbox().await;
    let client = sb.client();
    policy(
        &client,
        "immutable-phase",
        &["UPDATE", "DELETE"],
        json!([
            { "expression": "request.operation != 'UPDATE' || object.data.phase == oldObject.data.phase",
              "message": "phase is immutable", "reason": "Forbidden" },
            { "expression": "request.operation != 'DELETE' || object == null && oldObject.data.phase != 'kept'",
              "message": "kept objects stay" },
        ]),
    )
    .await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(
        &PostParams::default(),
        &config_map("a", json!({ "phase": "kept" })),
    )
    .await
    .unwrap();
    let patch = |data: Value| Patch::Merge(json!({ "data": data }));
    let refused = status(
        cms.patch(
            "a",
            &PatchParams::default(),
            &patch(json!({ "phase": "gone" })),
        )
        .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert!(
        refused
            .message
            .ends_with("denied request: phase is immutable"),
        "{}",
        refused.message
    );
    let mut replaced = cms.get("a").await.unwrap();
    replaced.data = Some([("phase".to_string(), "gone".to_string())].into());
    let refused = status(cms.replace("a", &PostParams::default(), &replaced).await);
    assert_eq!(refused.code, 403);
    cms.patch(
        "a",
        &PatchParams::default(),
        &patch(json!({ "other": "x" })),
    )
    .await
    .unwrap();
    let refused = status(cms.delete("a", &DeleteParams::default()).await);
    assert!(
        refused
            .message
            .ends_with("denied request: kept objects stay"),
        "{}",
        refused.message
    );
    cms.get("a").await.unwrap();
}

#[tokio::test]
async fn a_policy_whose_cel_does_not_compile_is_refused() {
    let sb = sandbox().await;
    let policy: ValidatingAdmissionPolicy = serde_json::from_value(json!({
        "metadata": { "name": "broken" },
        "spec": {
            "matchConstraints": { "resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"],
            }]},
            "validations": [
                { "expression": "object.data.size() <" },
                { "expression": "true", "messageExpression": "variables.missing" },
            ],
        },
    }))
    .unwrap();
    let refused = status(
        Api::<ValidatingAdmissionPolicy>::all(sb.client())
            .create(&PostParams::default(), &policy)
            .await,
    );
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert!(
        refused.message.starts_with(
            "ValidatingAdmissionPolicy.admissionregistration.k8s.io \"broken\" is invalid: [spec.validations[0].expression: Invalid value: \"object.data.size() <\": compilation failed: "
        ),
        "{}",
        refused.message
    );
    assert!(
        refused.message.contains(
            "spec.validations[1].messageExpression: Invalid value: \"variables.missing\": compilation failed: undeclared reference to 'variables.missing'"
        ),
        "{}",
        refused.message
    );
}
