//! What a write or a delete checks, and changes, on the object before the store takes it: the
//! resourceVersion a client sent, the finalizers of an object being deleted, delete
//! preconditions, and the marks of a deletion that waits for its finalizers.

use serde_json::Value;

use super::super::errors::{ApiError, Cause};
use super::super::registry::{Generation, ResourceInfo};
use super::{DeleteOptions, ObjKey, meta};

/// Where object `name` lives in its collection: cluster-scoped objects have no namespace.
pub(super) fn object_key(info: &ResourceInfo, ns: &str, name: &str) -> ObjKey {
    let ns = if info.namespaced { ns } else { "" };
    (ns.to_owned(), name.to_owned())
}

/// An update that names a resourceVersion must name the current one.
pub(super) fn resource_version_is_current(
    info: &ResourceInfo,
    name: &str,
    new: &Value,
    current: u64,
) -> Result<(), ApiError> {
    let Some(rv) = meta::get_str(new, "resourceVersion").filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let rv: u64 = rv.parse().map_err(|_| {
        ApiError::invalid(
            info.target(),
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {rv:?}: must be a resource version"),
                field: "metadata.resourceVersion".into(),
            }],
        )
    })?;
    if rv == current {
        Ok(())
    } else {
        Err(ApiError::stale(info.target(), name))
    }
}

/// An object being deleted may lose finalizers but gain none.
pub(super) fn no_new_finalizers(
    info: &ResourceInfo,
    name: &str,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    let old_finalizers = meta::finalizers(old);
    if meta::finalizers(new)
        .iter()
        .all(|f| old_finalizers.contains(f))
    {
        return Ok(());
    }
    Err(ApiError::invalid(
        info.target(),
        name,
        vec![Cause {
            reason: "FieldValueForbidden".into(),
            message: "Forbidden: no new finalizers can be added if the object is being deleted"
                .into(),
            field: "metadata.finalizers".into(),
        }],
    ))
}

/// An update's or patch's `metadata.uid`, when the request names one, must be the object's:
/// kube-apiserver treats it as a precondition (a PUT; a patch fails its immutability check), so
/// that a write meant for an object deleted and created again under the same name fails.
pub(super) fn uid_is_current(
    info: &ResourceInfo,
    name: &str,
    new: &Value,
    old: &Value,
) -> Result<(), ApiError> {
    let Some(want) = meta::get_str(new, "uid").filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let uid = meta::get_str(old, "uid").unwrap_or_default();
    if want == uid {
        return Ok(());
    }
    Err(ApiError::conflict(
        info.target(),
        name,
        &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
    ))
}

/// A delete's preconditions: the object's uid and resourceVersion, when the client named them.
pub(super) fn delete_preconditions_hold(
    info: &ResourceInfo,
    name: &str,
    opts: &DeleteOptions,
    uid: &str,
    rv: u64,
) -> Result<(), ApiError> {
    if let Some(want) = &opts.precondition_uid
        && want != uid
    {
        return Err(ApiError::conflict(
            info.target(),
            name,
            &format!("Precondition failed: UID in precondition: {want}, UID in object meta: {uid}"),
        ));
    }
    if let Some(want) = &opts.precondition_rv
        && *want != rv.to_string()
    {
        return Err(ApiError::conflict(
            info.target(),
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rv}"
            ),
        ));
    }
    Ok(())
}

/// Marks an object whose finalizers hold up its deletion: the deletion time, no grace period,
/// and a new generation where the kind counts them.
pub(super) fn mark_deleting(info: &ResourceInfo, object: &mut Value) {
    meta::set(
        object,
        "deletionTimestamp",
        Value::String(meta::now_rfc3339()),
    );
    meta::set(object, "deletionGracePeriodSeconds", Value::from(0));
    if info.generation != Generation::None {
        let g = meta::get(object, "generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        meta::set(object, "generation", Value::from(g + 1));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::super::registry::Registry;
    use super::super::Propagation;
    use super::*;

    fn info(plural: &str, group: &str, version: &str) -> std::sync::Arc<ResourceInfo> {
        Registry::new().get(group, version, plural).unwrap()
    }

    #[test]
    fn a_namespaced_object_is_keyed_by_namespace_and_a_cluster_scoped_one_by_name_alone() {
        let secrets = info("secrets", "", "v1");
        let namespaces = info("namespaces", "", "v1");
        assert_eq!(
            object_key(&secrets, "team", "ci"),
            ("team".into(), "ci".into())
        );
        assert_eq!(
            object_key(&namespaces, "team", "ci"),
            (String::new(), "ci".into())
        );
    }

    #[test]
    fn only_the_current_resource_version_or_none_passes() {
        let secrets = info("secrets", "", "v1");
        let with = |rv: &str| json!({"metadata": {"resourceVersion": rv}});
        let code = |r: Result<(), ApiError>| r.err().map(|e| e.code);
        let cases = [
            ("none", json!({"metadata": {}}), None),
            ("blank", with(""), None),
            ("current", with("7"), None),
            ("stale", with("6"), Some(409)),
            ("not a number", with("x"), Some(422)),
        ];
        for (case, new, expected) in cases {
            assert_eq!(
                code(resource_version_is_current(&secrets, "ci", &new, 7)),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn a_finalizer_may_be_dropped_but_not_added_while_deleting() {
        let secrets = info("secrets", "", "v1");
        let with = |f: &[&str]| json!({"metadata": {"finalizers": f}});
        let old = with(&["a", "b"]);
        assert!(no_new_finalizers(&secrets, "ci", &old, &with(&["b"])).is_ok());
        assert!(no_new_finalizers(&secrets, "ci", &old, &with(&[])).is_ok());
        let err = no_new_finalizers(&secrets, "ci", &old, &with(&["a", "c"])).unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn delete_preconditions_compare_uid_and_resource_version() {
        let secrets = info("secrets", "", "v1");
        let opts = |uid: Option<&str>, rv: Option<&str>| DeleteOptions {
            propagation: Propagation::Background,
            precondition_uid: uid.map(Into::into),
            precondition_rv: rv.map(Into::into),
            dry_run: false,
        };
        let code = |o: DeleteOptions| {
            delete_preconditions_hold(&secrets, "ci", &o, "u-1", 7)
                .err()
                .map(|e| e.code)
        };
        assert_eq!(code(opts(None, None)), None);
        assert_eq!(code(opts(Some("u-1"), Some("7"))), None);
        assert_eq!(code(opts(Some("u-2"), None)), Some(409));
        assert_eq!(code(opts(None, Some("6"))), Some(409));
    }

    #[test]
    fn a_pending_deletion_is_stamped_and_counts_a_generation_where_the_kind_does() {
        let secrets = info("secrets", "", "v1");
        let deployments = info("deployments", "apps", "v1");
        assert_eq!(secrets.generation, Generation::None);
        assert_ne!(deployments.generation, Generation::None);
        for (info, generation) in [(&secrets, json!(3)), (&deployments, json!(4))] {
            let mut object = json!({"metadata": {"generation": 3}});
            mark_deleting(info, &mut object);
            assert!(object["metadata"]["deletionTimestamp"].is_string());
            assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
            assert_eq!(
                object["metadata"]["generation"], generation,
                "{}",
                info.plural
            );
        }
    }
}
