//! The access reviews of `authorization.k8s.io/v1`: `SelfSubjectAccessReview` (what
//! `kubectl auth can-i` asks), `SubjectAccessReview`, `LocalSubjectAccessReview` and
//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`). Each is created and answered, never
//! stored, as on the real server.

use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{Value, json};

use super::super::errors::ApiError;
use super::super::state::ApiState;
use super::rbac::{Attributes, UserInfo};

const GROUP: &str = "authorization.k8s.io";

/// Answer a review request; `None` for every other request.
pub(super) fn serve(
    st: &ApiState,
    method: &Method,
    path: &str,
    user: &UserInfo,
    body: &[u8],
) -> Option<Response> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (namespace, resource) = match segs.as_slice() {
        ["apis", GROUP, "v1", resource] => (None, *resource),
        [
            "apis",
            GROUP,
            "v1",
            "namespaces",
            ns,
            resource @ "localsubjectaccessreviews",
        ] => (Some(*ns), *resource),
        _ => return None,
    };
    if !matches!(
        resource,
        "selfsubjectaccessreviews"
            | "subjectaccessreviews"
            | "localsubjectaccessreviews"
            | "selfsubjectrulesreviews"
    ) {
        return None;
    }
    if method != Method::POST {
        return Some(
            ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource ({method})"
            ))
            .into_response(),
        );
    }
    Some(match review(st, resource, namespace, user, body) {
        Ok(answer) => (
            StatusCode::CREATED,
            [(http::header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&answer).expect("JSON values serialise"),
        )
            .into_response(),
        Err(e) => e.into_response(),
    })
}

fn review(
    st: &ApiState,
    resource: &str,
    namespace: Option<&str>,
    caller: &UserInfo,
    body: &[u8],
) -> Result<Value, ApiError> {
    let kind = match resource {
        "selfsubjectaccessreviews" => "SelfSubjectAccessReview",
        "subjectaccessreviews" => "SubjectAccessReview",
        "localsubjectaccessreviews" => "LocalSubjectAccessReview",
        _ => "SelfSubjectRulesReview",
    };
    let mut obj = match super::wire::review_from_protobuf(body, kind) {
        Some(obj) => obj,
        None => super::json_body(body)?,
    };
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let policy = super::policy(&st.store);
    let status = if kind == "SelfSubjectRulesReview" {
        let ns = spec
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        rules_status(&policy, caller, ns)
    } else {
        let subject = match kind {
            "SelfSubjectAccessReview" => caller.clone(),
            _ => subject_of(&spec)?,
        };
        let mut attrs = attributes_of(&spec)?;
        if let Some(ns) = namespace {
            if !attrs.namespace.is_empty() && attrs.namespace != ns {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns}"
                )));
            }
            attrs.namespace = ns.into();
        }
        let decision = policy.authorize(&subject, &attrs);
        let mut status = json!({ "allowed": decision.allowed });
        if !decision.reason.is_empty() {
            status["reason"] = Value::String(decision.reason);
        }
        status
    };
    obj["apiVersion"] = json!(format!("{GROUP}/v1"));
    obj["kind"] = json!(kind);
    if obj.get("metadata").is_none_or(|m| !m.is_object()) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    obj["status"] = status;
    Ok(obj)
}

fn subject_of(spec: &Value) -> Result<UserInfo, ApiError> {
    let name = spec.get("user").and_then(Value::as_str).unwrap_or_default();
    let groups: Vec<String> = spec
        .get("groups")
        .and_then(Value::as_array)
        .map(|g| {
            g.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if name.is_empty() && groups.is_empty() {
        return Err(invalid(
            "spec.user",
            "at least one of user or group must be specified",
        ));
    }
    Ok(UserInfo {
        name: name.into(),
        groups,
    })
}

fn attributes_of(spec: &Value) -> Result<Attributes, ApiError> {
    let text = |v: &Value, f: &str| {
        v.get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match (
        spec.get("resourceAttributes"),
        spec.get("nonResourceAttributes"),
    ) {
        (Some(r), None) => Ok(Attributes {
            verb: text(r, "verb"),
            resource_request: true,
            api_group: text(r, "group"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            name: text(r, "name"),
            namespace: text(r, "namespace"),
            path: String::new(),
        }),
        (None, Some(n)) => Ok(Attributes::non_resource(&text(n, "verb"), &text(n, "path"))),
        (Some(_), Some(_)) => Err(invalid(
            "spec.resourceAttributes",
            "cannot be specified in combination with nonResourceAttributes",
        )),
        (None, None) => Err(invalid(
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        super::super::errors::Target {
            group: GROUP,
            resource: "",
            kind: "SubjectAccessReview",
        },
        "",
        vec![super::super::errors::Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {message}"),
            field: field.into(),
        }],
    )
}

fn rules_status(policy: &super::Policy, user: &UserInfo, namespace: &str) -> Value {
    if user.groups.iter().any(|g| g == super::rbac::MASTERS) {
        return json!({
            "resourceRules": [{ "verbs": ["*"], "apiGroups": ["*"], "resources": ["*"] }],
            "nonResourceRules": [{ "verbs": ["*"], "nonResourceURLs": ["*"] }],
            "incomplete": false,
        });
    }
    let set = policy.rules_for(user, namespace);
    let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
    let (mut resource_rules, mut non_resource_rules) = (vec![], vec![]);
    for PolicyRule {
        api_groups,
        non_resource_urls,
        resource_names,
        resources,
        verbs,
    } in &set.rules
    {
        if resources.as_ref().is_some_and(|r| !r.is_empty()) {
            let mut rule = json!({ "verbs": verbs, "apiGroups": list(api_groups), "resources": list(resources) });
            if resource_names.as_ref().is_some_and(|n| !n.is_empty()) {
                rule["resourceNames"] = json!(resource_names);
            }
            resource_rules.push(rule);
        }
        if non_resource_urls.as_ref().is_some_and(|u| !u.is_empty()) {
            non_resource_rules
                .push(json!({ "verbs": verbs, "nonResourceURLs": list(non_resource_urls) }));
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !set.errors.is_empty(),
    });
    if !set.errors.is_empty() {
        status["evaluationError"] = json!(set.errors.join(", "));
    }
    status
}
