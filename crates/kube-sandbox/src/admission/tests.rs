//! The policy decisions without a server: matching, conditions, variables, failure policy and
//! messages.

use serde_json::{Value, json};

use super::super::authz::UserInfo;
use super::policy::{Denial, Operation, Request, admit, check_policy};

fn user() -> UserInfo {
    UserInfo {
        name: "alice@example.com".into(),
        groups: vec!["system:authenticated".into()],
    }
}

fn policy(spec: Value) -> Value {
    json!({ "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": { "name": "p" }, "spec": spec })
}

fn binding(spec: Value) -> Value {
    let mut spec = spec;
    spec["policyName"] = json!("p");
    if spec.get("validationActions").is_none() {
        spec["validationActions"] = json!(["Deny"]);
    }
    json!({ "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": { "name": "b" }, "spec": spec })
}

/// A policy on every write of widgets (`example.com`), with `extra` merged into its spec.
fn widgets_policy(extra: Value) -> Value {
    let mut spec = json!({
        "matchConstraints": { "resourceRules": [{
            "apiGroups": ["example.com"], "apiVersions": ["*"], "operations": ["*"], "resources": ["widgets"],
        }]},
        "validations": [{ "expression": "false", "message": "no" }],
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    policy(spec)
}

fn widget(labels: Value) -> Value {
    json!({ "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": { "name": "w", "namespace": "team", "labels": labels },
            "spec": { "size": 3 } })
}

fn decide(policy: &Value, binding: &Value, request: Request<'_>) -> Result<(), Denial> {
    admit(
        std::slice::from_ref(policy),
        std::slice::from_ref(binding),
        &request,
    )
}

fn request<'a>(user: &'a UserInfo, object: &'a Value, namespace: &'a Value) -> Request<'a> {
    Request {
        operation: Operation::Create,
        group: "example.com",
        version: "v1",
        resource: "widgets",
        subresource: "",
        kind: "Widget",
        namespaced: true,
        namespace: "team",
        name: "w",
        object: Some(object),
        old_object: None,
        user,
        dry_run: false,
        namespace_object: Some(namespace),
    }
}

fn team() -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "team", "labels": { "tier": "gold" } } })
}

#[test]
fn rules_match_subresources_only_when_they_name_them() {
    let (u, w, ns) = (user(), widget(json!({})), team());
    let b = binding(json!({}));
    let on_status = Request {
        operation: Operation::Update,
        subresource: "status",
        old_object: Some(&w),
        ..request(&u, &w, &ns)
    };
    assert!(decide(&widgets_policy(json!({})), &b, on_status).is_ok());
    let with_status = widgets_policy(json!({ "matchConstraints": { "resourceRules": [{
        "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["UPDATE"], "resources": ["widgets/*"],
    }]}}));
    assert!(decide(&with_status, &b, on_status).is_err());
    assert!(decide(&with_status, &b, request(&u, &w, &ns)).is_ok());
}

#[test]
fn namespace_and_object_selectors_of_policy_and_binding_narrow_the_match() {
    let (u, ns) = (user(), team());
    let (plain, labelled) = (widget(json!({})), widget(json!({ "checked": "yes" })));
    let gold = widgets_policy(json!({ "matchConstraints": {
        "resourceRules": [{ "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"] }],
        "namespaceSelector": { "matchLabels": { "tier": "gold" } },
    }}));
    let silver = widgets_policy(json!({ "matchConstraints": {
        "resourceRules": [{ "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"] }],
        "namespaceSelector": { "matchExpressions": [{ "key": "tier", "operator": "In", "values": ["silver"] }] },
    }}));
    let all = binding(json!({}));
    assert!(decide(&gold, &all, request(&u, &plain, &ns)).is_err());
    assert!(decide(&silver, &all, request(&u, &plain, &ns)).is_ok());
    let checked = binding(json!({ "matchResources": {
        "objectSelector": { "matchLabels": { "checked": "yes" } },
    }}));
    assert!(decide(&gold, &checked, request(&u, &plain, &ns)).is_ok());
    assert!(decide(&gold, &checked, request(&u, &labelled, &ns)).is_err());
    let excluded = binding(json!({ "matchResources": {
        "excludeResourceRules": [{ "apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["widgets"] }],
    }}));
    assert!(decide(&gold, &excluded, request(&u, &labelled, &ns)).is_ok());
}

#[test]
fn match_conditions_and_variables_decide_with_the_request() {
    let (u, w, ns) = (user(), widget(json!({})), team());
    let b = binding(json!({}));
    let p = widgets_policy(json!({
        "matchConditions": [{ "name": "not-admins", "expression": "!('admins' in request.userInfo.groups)" }],
        "variables": [
            { "name": "size", "expression": "object.spec.size" },
            { "name": "big", "expression": "variables.size > 2" },
        ],
        "validations": [{
            "expression": "!variables.big || namespaceObject.metadata.labels.tier == 'platinum'",
            "messageExpression": "'size ' + string(variables.size) + ' needs platinum, ' + request.userInfo.username",
            "reason": "Forbidden",
        }],
    }));
    let denial = decide(&p, &b, request(&u, &w, &ns)).unwrap_err();
    assert_eq!(
        denial.text(),
        "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: size 3 needs platinum, alice@example.com"
    );
    assert_eq!((denial.reason, denial.code()), ("Forbidden", 403));
    let admin = UserInfo {
        name: "root".into(),
        groups: vec!["admins".into()],
    };
    assert!(decide(&p, &b, request(&admin, &w, &ns)).is_ok());
}

#[test]
fn a_message_expression_that_fails_falls_back_to_the_message_then_the_expression() {
    let (u, w, ns) = (user(), widget(json!({})), team());
    let b = binding(json!({}));
    let p = widgets_policy(json!({ "validations": [
        { "expression": "object.spec.size < 3", "message": "  too big  ", "messageExpression": "object.spec.missing" },
        { "expression": " object.spec.size < 2 " },
    ]}));
    assert_eq!(
        decide(&p, &b, request(&u, &w, &ns)).unwrap_err().message,
        "too big"
    );
    let p = widgets_policy(json!({ "validations": [{ "expression": " object.spec.size < 2 " }] }));
    assert_eq!(
        decide(&p, &b, request(&u, &w, &ns)).unwrap_err().message,
        "failed expression: object.spec.size < 2"
    );
}

#[test]
fn an_evaluation_error_denies_unless_the_failure_policy_is_ignore() {
    let (u, w, ns) = (user(), widget(json!({})), team());
    let b = binding(json!({}));
    let failing = json!([{ "expression": "object.spec.missing == 1", "message": "never shown" }]);
    let p = widgets_policy(json!({ "validations": failing }));
    let denial = decide(&p, &b, request(&u, &w, &ns)).unwrap_err();
    assert!(
        denial
            .message
            .starts_with("expression 'object.spec.missing == 1' resulted in error: "),
        "{}",
        denial.message
    );
    assert_eq!(denial.reason, "Invalid");
    let p = widgets_policy(json!({ "validations": failing, "failurePolicy": "Ignore" }));
    assert!(decide(&p, &b, request(&u, &w, &ns)).is_ok());
}

#[test]
fn a_policy_is_checked_for_its_parts_then_its_cel_then_its_reasons_in_that_order() {
    let policy = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"},
        "spec": {
            "failurePolicy": "Sometimes",
            "validations": [{"expression": "object.data.size() <", "reason": "Nope"}]
        }
    });
    let fields: Vec<String> = check_policy(&policy)
        .into_iter()
        .map(|cause| cause.field)
        .collect();
    assert_eq!(
        fields,
        [
            "spec.matchConstraints.resourceRules",
            "spec.failurePolicy",
            "spec.validations[0].expression",
            "spec.validations[0].reason",
        ]
    );
    let empty = serde_json::json!({"spec": {"matchConstraints": {"resourceRules": [{}]}}});
    let fields: Vec<String> = check_policy(&empty).into_iter().map(|c| c.field).collect();
    assert_eq!(fields, ["spec.validations"]);
}
