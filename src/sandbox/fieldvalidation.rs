//! Field validation (`fieldValidation=Strict|Warn|Ignore`) as kube-apiserver does it: unknown
//! fields (not in the kind's schema) and duplicate fields (a key twice in one JSON object) of a
//! request body are an error (`Strict`, kubectl's default), a `Warning` header each (`Warn`, the
//! server's default), or silently dropped (`Ignore`).
//!
//! Unknown fields of a built-in kind are the ones k8s-openapi's type of the kind does not
//! decode (the typed round trip drops them, as Go's decoding does); those of a custom resource
//! are the ones its structural schema prunes, plus unknown `metadata` fields.
//! Faithful: the messages (`strict decoding error: unknown field "spec.foo"`, `duplicate
//! field "a"`), field paths (`spec.containers[0].foo`), and that unknown fields are never
//! stored; a server-side apply patch with unknown fields (`Strict`) or a number field of another
//! type fails as kube-apiserver's conversion to the typed patch object fails: a 500 without a
//! reason, `failed to create typed patch object (default/web; apps/v1, Kind=Deployment):
//! .spec.replicas: expected numeric (int or float), got string`. Simplified: duplicates are
//! found in JSON bodies only (not in YAML apply patches); list items are named by index
//! (`containers[0]`), where structured-merge-diff names them by key (`containers[name="web"]`);
//! of the type errors of an apply patch only numbers are told apart (others are a 400 once
//! merged).

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use super::errors::ApiError;
use super::registry::ResourceInfo;

/// What the client asked the server to do about unknown and duplicate fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Strict,
    Warn,
    Ignore,
}

impl Directive {
    /// The `fieldValidation` query parameter; without it the server warns.
    pub fn from_params(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        match params.get("fieldValidation").map(String::as_str) {
            None | Some("") | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation directive {other:?} is not supported: must be one of \"Ignore\", \"Warn\" or \"Strict\""
            ))),
        }
    }
}

/// How a request body reached the object checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A create or update body (decoded as the kind).
    Body,
    /// A patched object (JSON, merge or strategic merge patch).
    Patch,
    /// A server-side apply patch.
    Apply,
}

/// Check `obj` (and, for JSON bodies, the raw `body` for duplicate keys), drop its unknown
/// fields, and return the warnings to send; `Strict` turns any finding into a 400.
pub fn check(
    info: &ResourceInfo,
    directive: Directive,
    source: Source,
    body: Option<&[u8]>,
    obj: &mut Value,
) -> Result<Vec<String>, ApiError> {
    let mut problems = match (directive, body) {
        (Directive::Ignore, _) | (_, None) => vec![],
        (_, Some(body)) => duplicates(body),
    };
    // A value of the wrong type in an apply patch fails its conversion to the typed patch
    // object, whatever the directive.
    let mut typed_errors = if source == Source::Apply {
        numeric_mismatches(info, obj)
    } else {
        vec![]
    };
    let unknown = prune_unknown(info, obj);
    if source == Source::Apply && directive == Directive::Strict {
        typed_errors.extend(
            unknown
                .iter()
                .map(|f| (f.clone(), "field not declared in schema".to_string())),
        );
    }
    if !typed_errors.is_empty() {
        return Err(typed_patch_error(info, obj, typed_errors));
    }
    if directive == Directive::Ignore {
        return Ok(vec![]);
    }
    problems.extend(unknown.iter().map(|f| format!("unknown field {f:?}")));
    if problems.is_empty() || directive == Directive::Warn {
        return Ok(problems);
    }
    let strict = format!("strict decoding error: {}", problems.join(", "));
    Err(ApiError::bad_request(match source {
        Source::Body => format!(
            "{kind} in version {:?} cannot be handled as a {kind}: {strict}",
            info.version,
            kind = info.kind
        ),
        Source::Patch | Source::Apply => strict,
    }))
}

/// kube-apiserver's answer to an apply patch that does not convert to the kind's typed object
/// (structured-merge-diff's `ObjectToTyped`): a plain error, so a 500 without a reason, naming
/// the patch's namespace/name and group/version/kind, then each field's error (one, or a list).
fn typed_patch_error(
    info: &ResourceInfo,
    patch: &Value,
    mut errors: Vec<(String, String)>,
) -> ApiError {
    errors.sort();
    let meta = |field: &str| {
        patch
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let object = format!(
        "{}/{}; {}/{}, Kind={}",
        meta("namespace"),
        meta("name"),
        info.group,
        info.version,
        info.kind
    );
    let lines: Vec<String> = errors
        .iter()
        .map(|(path, message)| format!(".{path}: {message}"))
        .collect();
    let detail = match lines.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    ApiError::unclassified(format!(
        "failed to create typed patch object ({object}): {detail}"
    ))
}

/// Fields of a built-in kind's object whose schema is a number but whose value is not, with
/// structured-merge-diff's message (`expected numeric (int or float), got string`).
fn numeric_mismatches(info: &ResourceInfo, obj: &Value) -> Vec<(String, String)> {
    let Some(kind) = info.builtin else {
        return vec![];
    };
    let schemas = super::kinds::schemas();
    let mut found = vec![];
    if let Some(root) = schemas.root(kind) {
        walk_numeric(schemas, obj, root, "", &mut found);
    }
    found
}

fn walk_numeric(
    schemas: &super::kinds::Schemas,
    value: &Value,
    schema: &Value,
    path: &str,
    found: &mut Vec<(String, String)>,
) {
    let schema = schemas.resolve(schema);
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let numeric = !types.is_empty()
        && types
            .iter()
            .all(|t| matches!(*t, "integer" | "number" | "null"));
    if numeric && !value.is_number() && !value.is_null() {
        let go_type = match value {
            Value::String(_) => "string",
            Value::Bool(_) => "bool",
            Value::Array(_) => "[]interface {}",
            _ => "map[string]interface {}",
        };
        found.push((
            path.to_string(),
            format!("expected numeric (int or float), got {go_type}"),
        ));
        return;
    }
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, v) in fields {
                if let Some(sub) = props.and_then(|p| p.get(k)).or(additional) {
                    let child = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk_numeric(schemas, v, sub, &child, found);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk_numeric(schemas, item, item_schema, &format!("{path}[{i}]"), found);
                }
            }
        }
        _ => {}
    }
}

/// The `Warning` header value for one warning (RFC 7234 form, as kube-apiserver sends).
pub fn warning_header(text: &str) -> http::HeaderValue {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    http::HeaderValue::from_str(&format!("299 - \"{escaped}\"")).unwrap_or_else(|_| {
        http::HeaderValue::from_static("299 - \"a field of the request was not valid\"")
    })
}

/// Remove the fields of `obj` the kind does not declare; returns their paths.
pub fn prune_unknown(info: &ResourceInfo, obj: &mut Value) -> Vec<String> {
    let mut found = vec![];
    let known = if info.custom {
        // The structural schema keeps root `metadata` whole: check it as ObjectMeta first.
        if let Some(meta) = obj.get_mut("metadata")
            && let Some(known) =
                round_trip::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(meta)
        {
            diff(meta, &known, "metadata", &mut found);
        }
        info.validator.as_ref().map(|v| {
            let mut pruned = obj.clone();
            v.prune(&mut pruned);
            pruned
        })
    } else {
        typed_round_trip(&info.group, &info.kind, obj)
    };
    if let Some(known) = known {
        diff(obj, &known, "", &mut found);
    }
    found
}

/// Remove from `input` what `known` lacks, recording the paths (nulls are not fields).
fn diff(input: &mut Value, known: &Value, path: &str, found: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(fields), Value::Object(known_fields)) => {
            let mut gone = BTreeSet::new();
            for (k, v) in fields.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match known_fields.get(k) {
                    Some(kv) => diff(v, kv, &child, found),
                    None if v.is_null() => {}
                    None => {
                        found.push(child);
                        gone.insert(k.clone());
                    }
                }
            }
            fields.retain(|k, _| !gone.contains(k));
        }
        (Value::Array(items), Value::Array(known_items)) => {
            for (i, (item, known)) in items.iter_mut().zip(known_items).enumerate() {
                diff(item, known, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> Option<Value> {
    let typed: T = serde_json::from_value(v.clone()).ok()?;
    serde_json::to_value(typed).ok()
}

/// The object as k8s-openapi's type of the kind decodes and encodes it; `None` for kinds
/// without one and for objects that do not decode (other checks answer those).
pub fn typed_round_trip(group: &str, kind: &str, obj: &Value) -> Option<Value> {
    use k8s_openapi::api::{
        admissionregistration::v1 as admission, apps::v1 as apps, autoscaling::v2 as autoscaling,
        batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        events::v1 as events, networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as scheduling,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    let f: fn(&Value) -> Option<Value> = match (group, kind) {
        ("", "Namespace") => round_trip::<core::Namespace>,
        ("", "Secret") => round_trip::<core::Secret>,
        ("", "ConfigMap") => round_trip::<core::ConfigMap>,
        ("", "Event") => round_trip::<core::Event>,
        ("", "ServiceAccount") => round_trip::<core::ServiceAccount>,
        ("", "Pod") => round_trip::<core::Pod>,
        ("", "Service") => round_trip::<core::Service>,
        ("", "Endpoints") => round_trip::<core::Endpoints>,
        ("", "PersistentVolumeClaim") => round_trip::<core::PersistentVolumeClaim>,
        ("", "ResourceQuota") => round_trip::<core::ResourceQuota>,
        ("", "LimitRange") => round_trip::<core::LimitRange>,
        ("apps", "Deployment") => round_trip::<apps::Deployment>,
        ("apps", "StatefulSet") => round_trip::<apps::StatefulSet>,
        ("apps", "DaemonSet") => round_trip::<apps::DaemonSet>,
        ("apps", "ReplicaSet") => round_trip::<apps::ReplicaSet>,
        ("batch", "Job") => round_trip::<batch::Job>,
        ("batch", "CronJob") => round_trip::<batch::CronJob>,
        ("rbac.authorization.k8s.io", "Role") => round_trip::<rbac::Role>,
        ("rbac.authorization.k8s.io", "RoleBinding") => round_trip::<rbac::RoleBinding>,
        ("rbac.authorization.k8s.io", "ClusterRole") => round_trip::<rbac::ClusterRole>,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            round_trip::<rbac::ClusterRoleBinding>
        }
        ("policy", "PodDisruptionBudget") => round_trip::<policy::PodDisruptionBudget>,
        ("networking.k8s.io", "Ingress") => round_trip::<networking::Ingress>,
        ("networking.k8s.io", "IngressClass") => round_trip::<networking::IngressClass>,
        ("networking.k8s.io", "NetworkPolicy") => round_trip::<networking::NetworkPolicy>,
        ("autoscaling", "HorizontalPodAutoscaler") => {
            round_trip::<autoscaling::HorizontalPodAutoscaler>
        }
        ("scheduling.k8s.io", "PriorityClass") => round_trip::<scheduling::PriorityClass>,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
            round_trip::<admission::ValidatingWebhookConfiguration>
        }
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
            round_trip::<admission::MutatingWebhookConfiguration>
        }
        ("coordination.k8s.io", "Lease") => round_trip::<coordination::Lease>,
        ("events.k8s.io", "Event") => round_trip::<events::Event>,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            round_trip::<apiextensions::CustomResourceDefinition>
        }
        _ => return None,
    };
    f(obj)
}

/// Paths of keys that appear twice in one JSON object of `body` (none if it is not JSON).
pub fn duplicates(body: &[u8]) -> Vec<String> {
    let found = RefCell::new(vec![]);
    let mut de = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: String::new(),
        found: &found,
    };
    if walk.deserialize(&mut de).is_err() {
        return vec![];
    }
    found
        .into_inner()
        .into_iter()
        .map(|p| format!("duplicate field {p:?}"))
        .collect()
}

struct Walk<'a> {
    path: String,
    found: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.found.borrow_mut().push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                found: self.found,
            })?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{i}]", self.path),
                found: self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}
