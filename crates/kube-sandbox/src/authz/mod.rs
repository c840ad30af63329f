//! Authorization of impersonated requests: RBAC over the stored Roles, ClusterRoles and
//! bindings, as kube-apiserver does it for the identity named by `Impersonate-User` /
//! `Impersonate-Group` (kubeconfig `as`/`as-groups`, `kubectl --as`, Helm's `kube_as_user`).
//!
//! A request without impersonation headers is the sandbox's administrator (a member of
//! `system:masters`) and may do anything, as before. An impersonated request is checked before
//! it is served; a denied one gets kube-apiserver's `403 Forbidden` Status and message.
//!
//! Faithful: the request attributes (verb from method and path, `watch`, `deletecollection`,
//! subresources, a namespace's own name as its namespace, `metadata.name` field selectors as the
//! name), the service-account identity `system:serviceaccount:<ns>:<name>` with the groups
//! `system:serviceaccounts` and `system:serviceaccounts:<ns>`, `system:authenticated` added to
//! every impersonated user but `system:anonymous`, RBAC's rule matching and reasons (`rbac`),
//! bootstrap roles (`bootstrap`), ClusterRole aggregation kept up to date (`aggregate`), the
//! access reviews `kubectl auth can-i` sends (`reviews`), and the `create` check of a
//! server-side apply that creates its object ([`create_on_apply`]).
//! Simplified: there is no authentication (whoever reaches the port is the administrator and may
//! impersonate anyone); `Impersonate-Extra-*` and `Impersonate-Uid` are accepted and ignored.

pub mod aggregate;
pub mod bootstrap;
pub mod rbac;
mod reviews;
mod wire;

use std::collections::HashMap;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::registry::StorageKey;
use super::request::{parse_path, truthy, verb};
use super::state::ApiState;
use super::storage::Store;
pub use rbac::{Attributes, Policy, UserInfo};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// The identity of a request without impersonation: the sandbox's administrator.
pub fn administrator() -> UserInfo {
    UserInfo {
        name: "system:admin".into(),
        groups: vec![rbac::MASTERS.into(), "system:authenticated".into()],
    }
}

/// The identity the impersonation headers name, or `None` without them.
pub fn impersonated(headers: &HeaderMap) -> Result<Option<UserInfo>, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let users = values("impersonate-user");
    let groups = values("impersonate-group");
    let extra = headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-extra-") || k.as_str() == "impersonate-uid");
    let Some(name) = users.into_iter().next() else {
        if groups.is_empty() && !extra {
            return Ok(None);
        }
        return Err(ApiError::new(
            500,
            "InternalError",
            "Internal error occurred: requested impersonation of groups or extra fields without impersonating a user",
        ));
    };
    let mut user = UserInfo { name, groups };
    if user.groups.is_empty()
        && let Some(ns) = service_account_namespace(&user.name)
    {
        user.groups = vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
        ];
    }
    let authenticated = user
        .groups
        .iter()
        .any(|g| g == "system:authenticated" || g == "system:unauthenticated");
    if user.name != "system:anonymous" && !authenticated {
        user.groups.push("system:authenticated".into());
    }
    Ok(Some(user))
}

fn service_account_namespace(user: &str) -> Option<&str> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some(ns)
}

/// The attributes of an HTTP request, as kube-apiserver's `RequestInfoFactory` derives them.
pub fn request_attributes(
    method: &Method,
    path: &str,
    params: &HashMap<String, String>,
) -> Attributes {
    if let Some(target) = crate::proxy::parse(path) {
        // kube-apiserver authorizes a proxied request as its method's verb on services/proxy,
        // named by the path's whole segment: `resourceNames: [wto]` does not cover `wto:80`.
        return Attributes {
            verb: verb(method, true, false).into(),
            resource_request: true,
            api_group: String::new(),
            resource: "services".into(),
            subresource: "proxy".into(),
            name: target.id.into(),
            namespace: target.namespace.into(),
            path: path.into(),
        };
    }
    let Some(rp) = parse_path(path) else {
        return Attributes::non_resource(&method.as_str().to_ascii_lowercase(), path);
    };
    let watch = truthy(params.get("watch"));
    let mut name = rp.name.unwrap_or_default().to_string();
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    let verb = verb(method, !name.is_empty(), watch);
    if matches!(verb, "list" | "watch")
        && let Some(selected) = params
            .get("fieldSelector")
            .and_then(|s| s.split(',').find_map(|r| r.strip_prefix("metadata.name=")))
    {
        name = selected.to_string();
    }
    let mut namespace = rp.namespace.unwrap_or_default().to_string();
    if rp.group.is_empty() && rp.resource == "namespaces" && namespace.is_empty() {
        namespace = name.clone();
    }
    Attributes {
        verb: verb.into(),
        resource_request: true,
        api_group: rp.group.into(),
        resource: rp.resource.into(),
        subresource: rp.subresource.unwrap_or_default().into(),
        name,
        namespace,
        path: path.into(),
    }
}

/// kube-apiserver's 403 for a denied request.
pub fn forbidden(user: &UserInfo, attrs: &Attributes, reason: &str) -> ApiError {
    let mut msg = if !attrs.resource_request {
        format!(
            "User {:?} cannot {} path {:?}",
            user.name, attrs.verb, attrs.path
        )
    } else {
        let mut resource = attrs.resource.clone();
        if !attrs.subresource.is_empty() {
            resource = format!("{resource}/{}", attrs.subresource);
        }
        if attrs.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                user.name, attrs.verb, attrs.api_group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                user.name, attrs.verb, attrs.api_group, attrs.namespace
            )
        }
    };
    if !reason.is_empty() {
        msg = format!("{msg}: {reason}");
    }
    let qualified = match (attrs.resource.as_str(), attrs.api_group.as_str()) {
        ("", _) => String::new(),
        (r, "") => r.to_string(),
        (r, g) => format!("{r}.{g}"),
    };
    let message = match (qualified.is_empty(), attrs.name.is_empty()) {
        (true, _) => format!("forbidden: {msg}"),
        (false, true) => format!("{qualified} is forbidden: {msg}"),
        (false, false) => format!("{qualified} {:?} is forbidden: {msg}", attrs.name),
    };
    ApiError {
        details: Some(
            json!({ "name": attrs.name, "group": attrs.api_group, "kind": attrs.resource }),
        ),
        ..ApiError::new(403, "Forbidden", message)
    }
}

fn key(resource: &str) -> StorageKey {
    StorageKey {
        group: RBAC_GROUP.into(),
        resource: resource.into(),
    }
}

/// The current RBAC objects of the store.
pub fn policy(store: &Store) -> Policy {
    let all = |r: &str| store.list(&key(r), None, |_| true).0;
    let (crs, rs, crbs, rbs) = (
        all("clusterroles"),
        all("roles"),
        all("clusterrolebindings"),
        all("rolebindings"),
    );
    Policy::from_objects(
        crs.iter().map(|s| &*s.value),
        rs.iter().map(|s| &*s.value),
        crbs.iter().map(|s| &*s.value),
        rbs.iter().map(|s| &*s.value),
    )
}

/// Authorize an impersonated request and answer the access reviews; `None` lets the request
/// through to the API.
pub(crate) fn intercept(
    st: &ApiState,
    method: &Method,
    path: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    // The common case, kept cheap: the administrator, not asking for a review.
    let impersonating = headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"));
    if !impersonating && !path.starts_with("/apis/authorization.k8s.io/") {
        return None;
    }
    let user = match impersonated(headers) {
        Ok(Some(user)) => user,
        Ok(None) => administrator(),
        Err(e) => return Some(e.into_response()),
    };
    if !user.groups.iter().any(|g| g == rbac::MASTERS) {
        let attrs = request_attributes(method, path, params);
        let decision = policy(&st.store).authorize(&user, &attrs);
        if !decision.allowed {
            return Some(forbidden(&user, &attrs, &decision.reason).into_response());
        }
    }
    reviews::serve(st, method, path, &user, body)
}

/// kube-apiserver's second check of a server-side apply that creates its object: the request
/// was authorized as `patch`, and creating needs `create` of that name too (`withAuthorization`
/// around the create validation of its patch handler). The Forbidden is worded as that handler
/// words it: `<resource> "<name>" is forbidden: <RBAC's reason>`. `None`: the administrator.
pub fn create_on_apply(
    policy: &Policy,
    user: Option<&UserInfo>,
    (group, resource): (&str, &str),
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let Some(user) = user else {
        return Ok(());
    };
    let attrs = Attributes::resource("create", group, resource, namespace).named(name);
    let decision = policy.authorize(user, &attrs);
    if decision.allowed {
        return Ok(());
    }
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    Err(ApiError {
        details: Some(json!({ "name": name, "group": group, "kind": resource })),
        ..ApiError::new(
            403,
            "Forbidden",
            format!("{qualified} {name:?} is forbidden: {}", decision.reason),
        )
    })
}

/// [`create_on_apply`] for a request to the sandbox.
pub(crate) fn authorize_create_on_apply(
    st: &ApiState,
    headers: &HeaderMap,
    (group, resource): (&str, &str),
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    match impersonated(headers)? {
        None => Ok(()),
        Some(user) => create_on_apply(
            &policy(&st.store),
            Some(&user),
            (group, resource),
            namespace,
            name,
        ),
    }
}

/// Parse a JSON request body into an object.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            ApiError::bad_request("the body of the request could not be decoded as a JSON object")
        })
}

#[cfg(test)]
mod tests;
