//! What a request asks for, read from its method, path and query: the resource path, the
//! Kubernetes verb. Parsed here once, for routing, authorization, discovery and watches alike.

use http::Method;

/// A resource request, parsed from the path.
#[derive(Debug)]
pub(crate) struct ResourcePath<'a> {
    pub group: &'a str,
    pub version: &'a str,
    pub namespace: Option<&'a str>,
    pub resource: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

pub(crate) fn parse_path(path: &str) -> Option<ResourcePath<'_>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r, ..] if !(rest.len() == 3 && matches!(*r, "status" | "finalize")) => {
            (Some(*ns), &rest[2..])
        }
        _ => (None, rest),
    };
    match rest {
        [resource] => Some(ResourcePath {
            group,
            version,
            namespace,
            resource,
            name: None,
            subresource: None,
        }),
        [resource, name] => Some(ResourcePath {
            group,
            version,
            namespace,
            resource,
            name: Some(name),
            subresource: None,
        }),
        [resource, name, sub] => Some(ResourcePath {
            group,
            version,
            namespace,
            resource,
            name: Some(name),
            subresource: Some(sub),
        }),
        _ => None,
    }
}

/// The Kubernetes verb of a request.
pub(crate) fn verb(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match (method.as_str(), has_name) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

pub(crate) fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "true" || v == "1")
}
