//! What the controllers' caches keep of each watched object: everything a reconcile reads, and
//! not the bookkeeping of other writers. `managedFields` and kubectl's
//! `last-applied-configuration` are often larger than the object itself, and with one cached
//! copy per AccessToken, Secret, ServiceAccount, BasicAuth and ConfigMap they decide the
//! operator's memory.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
use kube::core::DeserializeGuard;
use serde_json::Value;

use super::ACCESS_TOKEN_MANAGER;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn drop_bookkeeping(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// An AccessToken or ServiceAccount as cached: no managedFields, no last-applied annotation.
pub fn slim<K: kube::Resource>(guard: &mut DeserializeGuard<K>) {
    if let Ok(object) = guard.0.as_mut() {
        drop_bookkeeping(object.meta_mut());
    }
}

/// A ConfigMap as cached (for BasicAuth): its data, without managedFields or the last-applied
/// annotation. The writer of a key is read from the API when it matters (see
/// `basic_auth::dereference::refresh`).
pub fn slim_config_map(config_map: &mut ConfigMap) {
    drop_bookkeeping(&mut config_map.metadata);
}

/// A Secret as cached: of its managedFields only this controller's own apply entry, which
/// tells which keys the next apply would own (so an unchanged Secret is not written again),
/// and of that entry only the manager, the operation and the owned labels, annotations and
/// data keys, in the compact form of [`owned_fields`].
pub fn slim_secret(secret: &mut Secret) {
    let own = secret.metadata.managed_fields.take().map(|entries| {
        entries
            .into_iter()
            .filter(|e| {
                e.manager.as_deref() == Some(ACCESS_TOKEN_MANAGER)
                    && e.operation.as_deref() == Some("Apply")
            })
            .map(|e| ManagedFieldsEntry {
                manager: e.manager,
                operation: e.operation,
                fields_v1: e.fields_v1.map(|f| FieldsV1(owned_fields(&f.0))),
                ..Default::default()
            })
            .collect::<Vec<_>>()
    });
    drop_bookkeeping(&mut secret.metadata);
    secret.metadata.managed_fields = own.filter(|e| !e.is_empty());
}

/// The sections of a fieldsV1 set this controller's writes are decided on, and how the compact
/// form names them.
const OWNED_SECTIONS: [(&str, &[&str]); 3] = [
    ("labels", &["f:metadata", "f:labels"]),
    ("annotations", &["f:metadata", "f:annotations"]),
    ("data", &["f:data"]),
];

/// Of a fieldsV1 set, the labels, annotations and data keys, as one string of
/// `section:key` lines (`labels:app`, `data:token`): the owner references and the type are not
/// needed to tell whether an apply would change the Secret, and kept as parsed JSON the nested
/// sets cost a B-tree node each, about 3 KiB per cached Secret; one string costs its length.
/// [`crate::controller::access_token::apply`] reads both forms.
fn owned_fields(fields: &Value) -> Value {
    let mut out = String::new();
    for (section, path) in OWNED_SECTIONS {
        let mut node = Some(fields);
        for step in path {
            node = node.and_then(|n| n.get(*step));
        }
        for key in node
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if let Some(key) = key.strip_prefix("f:") {
                out.push_str(section);
                out.push(':');
                out.push_str(key);
                out.push('\n');
            }
        }
    }
    out.shrink_to_fit();
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AccessToken;

    fn entry(manager: &str, operation: &str) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(operation.into()),
            ..Default::default()
        }
    }

    fn meta() -> ObjectMeta {
        ObjectMeta {
            name: Some("ci".into()),
            annotations: Some(
                [
                    (LAST_APPLIED.to_owned(), "{…}".to_owned()),
                    ("team".to_owned(), "a".to_owned()),
                ]
                .into(),
            ),
            managed_fields: Some(vec![
                entry("kubectl", "Update"),
                entry(ACCESS_TOKEN_MANAGER, "Apply"),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn a_cached_token_keeps_its_own_annotations_and_loses_the_bookkeeping() {
        let mut guard: DeserializeGuard<AccessToken> = serde_json::from_value(serde_json::json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": serde_json::to_value(meta()).unwrap(),
            "spec": {"user": "a@example.com"},
        }))
        .unwrap();
        slim(&mut guard);
        let token = guard.0.unwrap();
        assert_eq!(token.metadata.managed_fields, None);
        let annotations = token.metadata.annotations.unwrap();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["team"]);
    }

    #[test]
    fn a_cached_secrets_own_entry_keeps_the_owned_keys_and_nothing_else() {
        let fields = serde_json::json!({
            "f:data": {"f:token": {}, "f:password": {}},
            "f:metadata": {
                "f:labels": {"f:app": {}},
                "f:annotations": {"f:iam.witboost.com/revision": {}},
                "f:ownerReferences": {"k:{\"uid\":\"u\"}": {".": {}}}
            },
            "f:type": {}
        });
        let mut secret = Secret {
            metadata: ObjectMeta {
                managed_fields: Some(vec![ManagedFieldsEntry {
                    fields_v1: Some(FieldsV1(fields)),
                    time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        jiff::Timestamp::now(),
                    )),
                    ..entry(ACCESS_TOKEN_MANAGER, "Apply")
                }]),
                ..Default::default()
            },
            ..Default::default()
        };
        slim_secret(&mut secret);
        let kept = &secret.metadata.managed_fields.unwrap()[0];
        assert_eq!(kept.time, None);
        assert_eq!(
            kept.fields_v1.as_ref().unwrap().0,
            "labels:app\nannotations:iam.witboost.com/revision\ndata:password\ndata:token\n"
        );
    }

    #[test]
    fn a_cached_secret_keeps_only_this_controllers_apply_entry() {
        let mut secret = Secret {
            metadata: meta(),
            ..Default::default()
        };
        slim_secret(&mut secret);
        assert_eq!(
            secret.metadata.managed_fields,
            Some(vec![entry(ACCESS_TOKEN_MANAGER, "Apply")])
        );
        assert!(
            !secret
                .metadata
                .annotations
                .unwrap()
                .contains_key(LAST_APPLIED)
        );

        let mut foreign = Secret {
            metadata: ObjectMeta {
                managed_fields: Some(vec![entry("kubectl", "Update")]),
                ..Default::default()
            },
            ..Default::default()
        };
        slim_secret(&mut foreign);
        assert_eq!(foreign.metadata.managed_fields, None);
    }
}
