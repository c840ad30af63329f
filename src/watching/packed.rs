//! An AccessToken as the process's cache keeps it: packed into one allocation.
//!
//! Held as the API serves it, a cached AccessToken was about 950 bytes of struct and some 25
//! small allocations beside it (each string of its metadata, spec, status and conditions), and
//! with the reflector's key and the scheduler's copies of its reference, the largest item of
//! the operator's memory at scale. [`PackedToken`] keeps the name and namespace, which the
//! reflector and the controller key it by, as metadata, and everything else as one compact
//! JSON document; [`PackedToken::unpack`] gives back the object as the watch delivered it
//! (without the bookkeeping [`super::slim`] drops), or why it did not deserialize.

use std::borrow::Cow;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::watcher;
use serde::{Deserialize, Serialize};

use crate::crd::{AccessToken, AccessTokenSpec, AccessTokenStatus};

/// An AccessToken, or one that failed to deserialize, packed (see the module documentation).
#[derive(Clone)]
pub struct PackedToken {
    /// The name and namespace alone.
    metadata: ObjectMeta,
    /// [`Body`] as JSON.
    packed: Box<[u8]>,
}

/// What is packed: the object less its name and namespace. One lives only while a token is
/// packed or unpacked, so its variants' sizes do not matter.
#[derive(Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)]
enum Body {
    #[serde(rename = "t")]
    Token {
        #[serde(rename = "m")]
        metadata: ObjectMeta,
        #[serde(rename = "s")]
        spec: AccessTokenSpec,
        #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
        status: Option<AccessTokenStatus>,
    },
    #[serde(rename = "e")]
    Invalid {
        #[serde(rename = "m")]
        metadata: ObjectMeta,
        error: String,
    },
}

impl PackedToken {
    /// Packs a watched AccessToken.
    pub fn new(object: DeserializeGuard<AccessToken>) -> Self {
        let mut body = match object.0 {
            Ok(token) => Body::Token {
                metadata: token.metadata,
                spec: token.spec,
                status: token.status,
            },
            Err(InvalidObject { error, metadata }) => Body::Invalid { metadata, error },
        };
        let (Body::Token { metadata, .. } | Body::Invalid { metadata, .. }) = &mut body;
        let key = ObjectMeta {
            name: metadata.name.take(),
            namespace: metadata.namespace.take(),
            ..ObjectMeta::default()
        };
        let packed = serde_json::to_vec(&body).expect("an object that was deserialized serializes");
        Self {
            metadata: key,
            packed: packed.into_boxed_slice(),
        }
    }

    /// The object as it was watched: the AccessToken, or why it did not deserialize.
    pub fn unpack(&self) -> DeserializeGuard<AccessToken> {
        let with_key = |mut metadata: ObjectMeta| {
            metadata.name.clone_from(&self.metadata.name);
            metadata.namespace.clone_from(&self.metadata.namespace);
            metadata
        };
        // What was packed reads back; were it ever not to, the token is reported as an object
        // that does not read rather than taking the watch down.
        let body = serde_json::from_slice(&self.packed).unwrap_or_else(|e| Body::Invalid {
            metadata: ObjectMeta::default(),
            error: format!("the cached AccessToken does not read back: {e}"),
        });
        DeserializeGuard(match body {
            Body::Token {
                metadata,
                spec,
                status,
            } => Ok(AccessToken {
                metadata: with_key(metadata),
                spec,
                status,
            }),
            Body::Invalid { metadata, error } => Err(InvalidObject {
                error,
                metadata: with_key(metadata),
            }),
        })
    }

    /// The AccessToken, when it deserialized.
    pub fn token(&self) -> Option<AccessToken> {
        self.unpack().0.ok()
    }
}

/// A packed token reads as the AccessToken it packs (kube's controller asks its objects to be
/// deserializable; the watch packs what it deserialized, [`token_event`]).
impl<'de> Deserialize<'de> for PackedToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DeserializeGuard::deserialize(deserializer).map(Self::new)
    }
}

/// Names the token only.
impl std::fmt::Debug for PackedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedToken")
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("packed_bytes", &self.packed.len())
            .finish_non_exhaustive()
    }
}

impl Resource for PackedToken {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        AccessToken::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        AccessToken::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        AccessToken::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        AccessToken::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A watch event of AccessTokens as the cache keeps them.
pub fn token_event(
    event: watcher::Event<DeserializeGuard<AccessToken>>,
) -> watcher::Event<PackedToken> {
    use watcher::Event;
    let pack = |mut object: DeserializeGuard<AccessToken>| {
        super::slim(&mut object);
        PackedToken::new(object)
    };
    match event {
        Event::Apply(t) => Event::Apply(pack(t)),
        Event::Delete(t) => Event::Delete(pack(t)),
        Event::InitApply(t) => Event::InitApply(pack(t)),
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(json: serde_json::Value) -> DeserializeGuard<AccessToken> {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_packed_token_unpacks_to_the_token_watched() {
        let object = watched(serde_json::json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": {
                "name": "ci", "namespace": "team-a", "uid": "u-1", "resourceVersion": "7",
                "generation": 2, "annotations": {"iam.witboost.com/regenerate-requested-at": "x"},
            },
            "spec": {"serviceAccountName": "bot", "duration": "720h"},
            "status": {
                "phase": "Active", "revision": 3, "tokenDigest": "sha256:ab",
                "conditions": [{"type": "Ready", "status": "True", "reason": "Active",
                    "message": "revision 3 is active", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            },
        }));
        let packed = PackedToken::new(object.clone());
        assert_eq!(packed.meta().name.as_deref(), Some("ci"));
        assert_eq!(packed.meta().namespace.as_deref(), Some("team-a"));
        assert_eq!(packed.meta().uid, None, "only the key is kept as metadata");
        assert_eq!(packed.unpack().0.unwrap(), object.0.unwrap());
    }

    #[test]
    fn packed_bytes_that_do_not_read_back_unpack_to_an_error_naming_the_token() {
        let packed = PackedToken {
            metadata: ObjectMeta {
                name: Some("ci".into()),
                namespace: Some("team-a".into()),
                ..ObjectMeta::default()
            },
            packed: b"{".to_vec().into_boxed_slice(),
        };
        let unpacked = packed.unpack().0.unwrap_err();
        assert!(
            unpacked.error.contains("does not read back"),
            "{}",
            unpacked.error
        );
        assert_eq!(unpacked.metadata.name.as_deref(), Some("ci"));
        assert_eq!(unpacked.metadata.namespace.as_deref(), Some("team-a"));
    }

    #[test]
    fn a_token_that_did_not_deserialize_unpacks_to_its_error() {
        let object = watched(serde_json::json!({
            "apiVersion": "iam.witboost.com/v1alpha1",
            "kind": "AccessToken",
            "metadata": {"name": "bad", "namespace": "team-a", "uid": "u-2"},
            "spec": {"duration": 12},
        }));
        let error = object.0.as_ref().unwrap_err().error.clone();
        let unpacked = PackedToken::new(object).unpack().0.unwrap_err();
        assert_eq!(unpacked.error, error);
        assert_eq!(unpacked.metadata.name.as_deref(), Some("bad"));
        assert_eq!(unpacked.metadata.uid.as_deref(), Some("u-2"));
    }
}
