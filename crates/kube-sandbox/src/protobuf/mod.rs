//! Protobuf request bodies (`Content-Type: application/vnd.kubernetes.protobuf`), as kubectl's
//! imperative commands and client-go's typed clients (Helm's release Secrets) send them for
//! built-in kinds.
//!
//! The wire form is the 4 bytes `k8s\0` and a `runtime.Unknown` whose `typeMeta` names the kind
//! and whose `raw` is the object's message. The message is decoded with k8s-pb's prost type of
//! the kind (exact wire format) and turned into the JSON kube-apiserver would have stored for the
//! same Go object: property names and byte fields from k8s-openapi's schema of the kind,
//! `Time`/`MicroTime` as RFC 3339 (left out when zero), `Duration` as Go prints it, `Quantity` as
//! its string, `IntOrString` as number or string, `RawExtension`/`FieldsV1` as embedded JSON,
//! 64-bit integers as JSON numbers, bytes as base64. k8s-pb has neither serde nor descriptors,
//! so the decoded message is read through its derived `Debug` (`debug.rs`).
//!
//! Simplified: Go's protobuf encoding writes every non-pointer scalar, so a zero value (`""`,
//! `0`, `false`) on the wire is dropped unless the schema requires the field, as Go's
//! `omitempty` drops it on the way to JSON; an optional pointer field explicitly set to its zero
//! value (`automountServiceAccountToken: false`) is lost the same way. Answers are always JSON
//! (kubectl and client-go accept it); CustomResourceDefinitions are accepted as JSON only.

mod debug;
mod json;

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::Value;

use super::errors::ApiError;
use super::kinds::{self, Kind};

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// Whether a request's `Content-Type` is Kubernetes protobuf.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// Decodes a protobuf body of the resource `expected` into Kubernetes JSON.
pub fn decode_object(body: &[u8], expected: &Kind) -> Result<Value, ApiError> {
    let unknown = envelope(body)?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if kind != expected.kind {
        return Err(ApiError::bad_request(format!(
            "the protobuf body holds a {kind:?} ({api_version}), not a {}",
            expected.kind
        )));
    }
    let Some(decode) = expected.types.protobuf else {
        return Err(ApiError::unsupported_media_type(MEDIA_TYPE));
    };
    let raw = unknown.raw.unwrap_or_default();
    let printed = decode(&raw).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as a protobuf {kind}: {e}"
        ))
    })?;
    let mut obj = convert(&printed, &expected.key())?;
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(api_version));
        m.insert("kind".into(), Value::String(kind));
    }
    Ok(obj)
}

/// Decodes a protobuf `DeleteOptions` body (what typed clients send with a delete).
pub fn decode_delete_options(body: &[u8]) -> Result<Value, ApiError> {
    let raw = envelope(body)?.raw.unwrap_or_default();
    let options = k8s_pb::apimachinery::pkg::apis::meta::v1::DeleteOptions::decode(raw.as_slice())
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
    convert(&format!("{options:?}"), kinds::DELETE_OPTIONS)
}

fn envelope(body: &[u8]) -> Result<Unknown, ApiError> {
    let Some(message) = body.strip_prefix(MAGIC) else {
        return Err(ApiError::bad_request(
            "the body of the request is not Kubernetes protobuf: it does not start with \"k8s\\x00\"",
        ));
    };
    let unknown = Unknown::decode(message).map_err(|e| {
        ApiError::bad_request(format!("the protobuf envelope could not be decoded: {e}"))
    })?;
    if let Some(encoding) = unknown
        .content_encoding
        .as_deref()
        .filter(|e| !e.is_empty())
    {
        return Err(ApiError::unsupported_media_type(&format!(
            "{MEDIA_TYPE} with content encoding {encoding}"
        )));
    }
    Ok(unknown)
}

/// The printed message of the root `key` as Kubernetes JSON.
fn convert(printed: &str, key: &str) -> Result<Value, ApiError> {
    let schemas = kinds::schemas();
    let node = debug::parse(printed).map_err(ApiError::internal)?;
    let root = schemas
        .by_key(key)
        .ok_or_else(|| ApiError::internal(format!("no schema for {key}")))?;
    json::to_json(&node, root, &schemas.definitions).map_err(|e| {
        ApiError::bad_request(format!("the protobuf body could not be converted: {e}"))
    })
}

/// The `k8s\0` envelope around an encoded message (what clients send).
#[cfg(test)]
pub fn envelop(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

#[cfg(test)]
mod roundtrip;
#[cfg(test)]
mod tests;
