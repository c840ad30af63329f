//! Per-kind write rules (what the real server's registry "strategies" do): the status
//! subresource split, Secret `stringData`, namespace phase, CRD checks, and validation.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::super::errors::{ApiError, Cause};
use super::super::kinds::{TypeError, Typed};
use super::super::registry::ResourceInfo;
use super::super::storage::metadata_mut;
use super::pure;

/// Fill in `apiVersion`/`kind`, reject a body of another kind, and take namespace and name from
/// the URL (a different value in the body is a BadRequest, as on the real server).
pub fn check_type_and_namespace(
    info: &ResourceInfo,
    obj: &mut Value,
    ns: &str,
    name: Option<&str>,
) -> Result<(), ApiError> {
    let api_version = info.api_version();
    let body_kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !body_kind.is_empty() && body_kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({api_version}) or kind {body_kind} is not {}",
            obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            info.kind
        )));
    }
    obj["apiVersion"] = Value::String(api_version);
    obj["kind"] = Value::String(info.kind.clone());
    let m = metadata_mut(obj);
    if info.namespaced {
        match m.get("namespace").and_then(Value::as_str) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {
                m.insert("namespace".into(), Value::String(ns.to_string()));
            }
        }
    }
    if let Some(name) = name {
        match m.get("name").and_then(Value::as_str) {
            Some(body_name) if !body_name.is_empty() && body_name != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({body_name}) does not match the name on the URL ({name})"
                )));
            }
            _ => {
                m.insert("name".into(), Value::String(name.to_string()));
            }
        }
    }
    Ok(())
}

pub fn prepare_create(info: &ResourceInfo, obj: &mut Value, typed: Typed) -> Result<(), ApiError> {
    if info.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    kind_rules(info, obj, None)?;
    if info.custom {
        pure::validate_custom(info, obj, None)?;
    }
    check_builtin(info, obj, typed)
}

/// The object an update stores: on the main endpoint `.status` stays as it was; on `/status`
/// only `.status` (and the managedFields recording it) changes.
pub fn prepare_update(
    info: &ResourceInfo,
    sub: Option<&str>,
    old: &Value,
    new: Value,
    typed: Typed,
) -> Result<Value, ApiError> {
    let mut new = new;
    if sub == Some("status") {
        let mut result = old.clone();
        set_or_remove(&mut result, "status", new.get("status").cloned());
        let rv = new.pointer("/metadata/resourceVersion").cloned();
        let uid = new.pointer("/metadata/uid").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        let m = metadata_mut(&mut result);
        match rv {
            Some(rv) => m.insert("resourceVersion".into(), rv),
            None => m.remove("resourceVersion"),
        };
        // A uid the request names is a precondition, on /status too (see the storage).
        if let Some(uid) = uid {
            m.insert("uid".into(), uid);
        }
        if let Some(managed) = managed {
            m.insert("managedFields".into(), managed);
        }
        new = result;
    } else if info.status_subresource {
        set_or_remove(&mut new, "status", old.get("status").cloned());
    }
    kind_rules(info, &mut new, Some(old))?;
    if info.custom {
        pure::validate_custom(info, &mut new, Some(old))?;
    }
    check_builtin(info, &new, typed)?;
    Ok(new)
}

/// A built-in object must fit its Kubernetes type: a field of the wrong type is a BadRequest
/// (kube-apiserver cannot decode it), a missing required field is Invalid.
fn check_builtin(info: &ResourceInfo, obj: &Value, typed: Typed) -> Result<(), ApiError> {
    let Some(kind) = info.builtin else {
        return Ok(());
    };
    match kind.check(obj, typed) {
        Ok(()) => Ok(()),
        Err(TypeError::Decode { path, message }) => Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {path}: {message}",
            kind = info.kind,
            version = info.version,
        ))),
        Err(TypeError::Missing { path }) => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            Err(ApiError::invalid(
                info.target(),
                name,
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: path,
                }],
            ))
        }
    }
}

fn set_or_remove(obj: &mut Value, field: &str, value: Option<Value>) {
    if let Some(m) = obj.as_object_mut() {
        match value {
            Some(v) => m.insert(field.to_string(), v),
            None => m.remove(field),
        };
    }
}

fn kind_rules(info: &ResourceInfo, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "secrets") => secret(info, obj, old),
        ("", "namespaces") => {
            if old.is_none() {
                obj["status"] = json!({ "phase": "Active" });
            }
            Ok(())
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd(info, obj),
        ("admissionregistration.k8s.io", "validatingadmissionpolicies") => {
            invalid_if(info, obj, pure::check_admission_policy(obj))
        }
        ("admissionregistration.k8s.io", "validatingadmissionpolicybindings") => {
            invalid_if(info, obj, pure::check_admission_policy_binding(obj))
        }
        _ => Ok(()),
    }
}

fn invalid_if(info: &ResourceInfo, obj: &Value, causes: Vec<Cause>) -> Result<(), ApiError> {
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Err(ApiError::invalid(info.target(), name, causes))
}

/// `stringData` is write-only: folded into `data` (base64), as the real server does.
fn secret(info: &ResourceInfo, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    pure::prepare_secret(info, obj, old)
}

fn crd(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let crd: CustomResourceDefinition = serde_json::from_value(obj.clone()).map_err(|e| {
        ApiError::bad_request(format!("unable to decode CustomResourceDefinition: {e}"))
    })?;
    let mut causes = vec![];
    let expected = format!("{}.{}", crd.spec.names.plural, crd.spec.group);
    if name != expected {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
            field: "metadata.name".into(),
        });
    }
    if crd.spec.versions.iter().filter(|v| v.storage).count() != 1 {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            message: "Invalid value: must have exactly one version marked as storage version"
                .into(),
            field: "spec.versions".into(),
        });
    }
    if !matches!(crd.spec.scope.as_str(), "Namespaced" | "Cluster") {
        causes.push(Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {:?}: supported values: \"Cluster\", \"Namespaced\"",
                crd.spec.scope
            ),
            field: "spec.scope".into(),
        });
    }
    for (i, v) in crd.spec.versions.iter().enumerate() {
        if let Some(schema) = v
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
        {
            let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
            match pure::compile_schema(schema) {
                Err(e) => causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: {e}"),
                    field: path,
                }),
                // Rules that compile are then held to kube-apiserver's cost limits.
                Ok(()) => causes.extend(pure::check_rule_costs(schema, &path)),
            }
        }
        if let Err(e) =
            pure::check_printer_columns(v.additional_printer_columns.as_deref().unwrap_or_default())
        {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {e}"),
                field: format!("spec.versions[{i}].additionalPrinterColumns"),
            });
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(info.target(), &name, causes))
    }
}

/// Serving custom resources follows the CRDs stored.
pub mod crd_hooks {
    use super::*;
    use crate::state::ApiState;
    use crate::storage::{Deletion, Stored, now_rfc3339};

    fn is_crd(info: &ResourceInfo) -> bool {
        info.is("apiextensions.k8s.io", "customresourcedefinitions")
    }

    /// After a CRD is created or changed: serve its versions and mark it Established.
    pub fn after_write(st: &ApiState, info: &ResourceInfo, stored: &Stored) {
        if is_crd(info) {
            establish(st, &info.storage, stored);
        }
    }

    pub(crate) fn establish(st: &ApiState, key: &crate::registry::StorageKey, stored: &Stored) {
        let Ok(crd) = serde_json::from_value::<CustomResourceDefinition>((*stored.value).clone())
        else {
            return;
        };
        let name = crd.metadata.name.clone().unwrap_or_default();
        if crd.metadata.deletion_timestamp.is_some() {
            if st.store.get(key, "", &name).is_none() {
                forget(st, &crd.spec.group, &crd.spec.names.plural);
            }
            return;
        }
        for served in st.registry.register_crd(&crd) {
            st.store.ensure_collection(&served);
        }
        let storage_version = crd
            .spec
            .versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.clone());
        let _ = st.store.write(key, "", &name, |cur| {
            let cur = cur.ok_or_else(|| ApiError::gone("gone"))?;
            let mut new = (*cur.value).clone();
            let now = now_rfc3339();
            let kept = |t: &str| {
                cur.value
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == "True"))
                    .and_then(|c| c.get("lastTransitionTime").cloned())
                    .unwrap_or_else(|| Value::String(now.clone()))
            };
            let mut stored_versions: Vec<Value> =
                cur.value.pointer("/status/storedVersions").and_then(Value::as_array).cloned().unwrap_or_default();
            if let Some(v) = &storage_version
                && !stored_versions.iter().any(|s| s == v)
            {
                stored_versions.push(Value::String(v.clone()));
            }
            new["status"] = json!({
                "conditions": [
                    { "type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                      "message": "no conflicts found", "lastTransitionTime": kept("NamesAccepted") },
                    { "type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                      "message": "the initial names have been accepted", "lastTransitionTime": kept("Established") },
                ],
                "acceptedNames": cur.value.pointer("/spec/names").cloned().unwrap_or(Value::Null),
                "storedVersions": stored_versions,
            });
            Ok(new)
        });
    }

    /// After a CRD is gone: its custom resources are deleted and no longer served.
    pub fn after_delete(st: &ApiState, info: &ResourceInfo, outcome: &Deletion) {
        if !is_crd(info) {
            return;
        }
        if let Deletion::Deleted(stored) = outcome
            && let Ok(crd) =
                serde_json::from_value::<CustomResourceDefinition>((*stored.value).clone())
        {
            forget(st, &crd.spec.group, &crd.spec.names.plural);
        }
    }

    pub(crate) fn forget(st: &ApiState, group: &str, plural: &str) {
        st.registry.unregister_crd(group, plural);
        st.store.drop_collection(&crate::registry::StorageKey {
            group: group.into(),
            resource: plural.into(),
        });
    }
}
