//! OpenAPI v2 at `/openapi/v2`: what kubectl and Helm read for client-side validation.
//!
//! Faithful: the definitions of every built-in kind (k8s-openapi's schemas, named
//! `io.k8s.api.apps.v1.Deployment` and so on, tagged with `x-kubernetes-group-version-kind`) and
//! of every served version of every CRD (its `openAPIV3Schema` with `apiVersion`, `kind` and a
//! `metadata` that refers to `ObjectMeta`); JSON by default, the gnostic `openapi_v2.Document`
//! protobuf when asked for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`.
//! Simplified: no paths, parameters or responses (clients validate with the definitions only);
//! a CRD schema's `x-kubernetes-preserve-unknown-fields` and `x-kubernetes-int-or-string`
//! subtrees are published without a type, so they accept anything, and `oneOf`/`anyOf`/`not`
//! are left out, as kube-apiserver does for v2.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use prost::Message as _;
use serde_json::{Value, json};

use super::super::registry::ResourceInfo;
use super::super::state::ApiState;

/// The media type Helm and kubectl ask for (kube-openapi's deprecated spelling).
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/// The media type kube-apiserver answers with, and accepts too: `@` is not a MIME token
/// character, so Go's `mime.ParseMediaType` (kubectl validating a `v1 List`) rejects the
/// deprecated spelling in a Content-Type.
pub const PROTOBUF_ANSWER: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

pub(crate) fn serve(st: &Arc<ApiState>, headers: &HeaderMap) -> Response {
    let doc = document(st);
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .unwrap_or("");
    if accept.split(',').any(|a| {
        let a = a.trim();
        a.starts_with(PROTOBUF) || a.starts_with(PROTOBUF_ANSWER)
    }) {
        let body = gnostic::Document::from_json(&doc).encode_to_vec();
        return (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, PROTOBUF_ANSWER)],
            body,
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&doc).expect("JSON"),
    )
        .into_response()
}

/// The whole document as JSON (the protobuf form is converted from it).
fn document(st: &ApiState) -> Value {
    let schemas = super::super::kinds::schemas();
    let mut definitions = schemas.definitions.clone();
    for kind in super::super::kinds::KINDS {
        if let Some(def) = schemas
            .name(&kind.key())
            .and_then(|name| definitions.get_mut(name))
        {
            def["x-kubernetes-group-version-kind"] =
                json!([{ "group": kind.group, "kind": kind.kind, "version": kind.version }]);
        }
    }
    for info in st.registry.all() {
        if let Some(schema) = &info.schema {
            definitions.insert(
                super::openapi::schema_name(&info),
                crd_definition(&info, schema),
            );
        }
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": "v1.37.0" },
        "paths": {},
        "definitions": definitions,
    })
}

fn crd_definition(
    info: &ResourceInfo,
    schema: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
) -> Value {
    let mut v = serde_json::to_value(schema).unwrap_or_else(|_| json!({}));
    to_v2(&mut v);
    if v.get("type").is_none() {
        v["type"] = json!("object");
    }
    let props = v
        .as_object_mut()
        .map(|o| o.entry("properties").or_insert_with(|| json!({})));
    if let Some(Value::Object(props)) = props {
        props
            .entry("apiVersion")
            .or_insert_with(|| json!({ "type": "string" }));
        props
            .entry("kind")
            .or_insert_with(|| json!({ "type": "string" }));
        props.insert(
            "metadata".into(),
            json!({ "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" }),
        );
    }
    v["x-kubernetes-group-version-kind"] =
        json!([{ "group": info.group, "kind": info.kind, "version": info.version }]);
    v
}

/// What OpenAPI v2 cannot say about a structural schema, taken out as kube-apiserver does.
fn to_v2(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    for key in [
        "oneOf",
        "anyOf",
        "not",
        "nullable",
        "x-kubernetes-validations",
        "default",
    ] {
        o.remove(key);
    }
    let arbitrary = o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || o.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if arbitrary {
        o.remove("type");
        o.remove("properties");
        o.remove("additionalProperties");
        o.remove("items");
        o.remove("required");
        return;
    }
    if let Some(Value::Object(props)) = o.get_mut("properties") {
        for p in props.values_mut() {
            to_v2(p);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = o.get_mut(key) {
            to_v2(sub);
        }
    }
    if let Some(Value::Array(all)) = o.get_mut("allOf") {
        for s in all {
            to_v2(s);
        }
    }
}

/// The gnostic `openapi_v2` messages kubectl and Helm decode, declared from the published field
/// numbers of `openapiv2/OpenAPIv2.proto` (only the fields a schema document uses).
pub mod gnostic {
    use serde_json::Value;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Document {
        #[prost(string, tag = "1")]
        pub swagger: String,
        #[prost(message, optional, tag = "2")]
        pub info: Option<Info>,
        #[prost(message, optional, tag = "9")]
        pub definitions: Option<Definitions>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Info {
        #[prost(string, tag = "1")]
        pub title: String,
        #[prost(string, tag = "2")]
        pub version: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Definitions {
        #[prost(message, repeated, tag = "1")]
        pub additional_properties: Vec<NamedSchema>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamedSchema {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<Schema>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Schema {
        #[prost(string, tag = "1")]
        pub xref: String,
        #[prost(string, tag = "2")]
        pub format: String,
        #[prost(string, tag = "4")]
        pub description: String,
        #[prost(string, repeated, tag = "19")]
        pub required: Vec<String>,
        #[prost(message, optional, tag = "21")]
        pub additional_properties: Option<AdditionalPropertiesItem>,
        #[prost(message, optional, tag = "22")]
        pub r#type: Option<TypeItem>,
        #[prost(message, optional, tag = "23")]
        pub items: Option<ItemsItem>,
        #[prost(message, repeated, tag = "24")]
        pub all_of: Vec<Schema>,
        #[prost(message, optional, tag = "25")]
        pub properties: Option<Properties>,
        #[prost(message, repeated, tag = "31")]
        pub vendor_extension: Vec<NamedAny>,
    }

    /// A oneof of `schema` (1) and `boolean` (2) in the proto: the same wire form.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AdditionalPropertiesItem {
        #[prost(message, optional, boxed, tag = "1")]
        pub schema: Option<Box<Schema>>,
        #[prost(bool, optional, tag = "2")]
        pub boolean: Option<bool>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeItem {
        #[prost(string, repeated, tag = "1")]
        pub value: Vec<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ItemsItem {
        #[prost(message, repeated, tag = "1")]
        pub schema: Vec<Schema>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Properties {
        #[prost(message, repeated, tag = "1")]
        pub additional_properties: Vec<NamedSchema>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NamedAny {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub value: Option<Any>,
    }

    /// Vendor extensions travel as YAML text (field 2).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "2")]
        pub yaml: String,
    }

    impl Document {
        pub fn from_json(doc: &Value) -> Self {
            let definitions = doc
                .get("definitions")
                .and_then(Value::as_object)
                .map(|defs| Definitions {
                    additional_properties: defs
                        .iter()
                        .map(|(name, s)| NamedSchema {
                            name: name.clone(),
                            value: Some(Schema::from_json(s)),
                        })
                        .collect(),
                });
            Self {
                swagger: "2.0".into(),
                info: Some(Info {
                    title: doc["info"]["title"].as_str().unwrap_or_default().into(),
                    version: doc["info"]["version"].as_str().unwrap_or_default().into(),
                }),
                definitions,
            }
        }
    }

    fn text(v: &Value, key: &str) -> String {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    impl Schema {
        pub fn from_json(v: &Value) -> Self {
            let types: Vec<String> = match v.get("type") {
                Some(Value::String(t)) => vec![t.clone()],
                Some(Value::Array(ts)) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .map(str::to_string)
                    .collect(),
                _ => vec![],
            };
            let named = |map: &serde_json::Map<String, Value>| {
                map.iter()
                    .map(|(name, s)| NamedSchema {
                        name: name.clone(),
                        value: Some(Schema::from_json(s)),
                    })
                    .collect()
            };
            Self {
                xref: text(v, "$ref"),
                format: text(v, "format"),
                description: text(v, "description"),
                required: v
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| {
                        r.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                additional_properties: match v.get("additionalProperties") {
                    Some(Value::Bool(b)) => Some(AdditionalPropertiesItem {
                        schema: None,
                        boolean: Some(*b),
                    }),
                    Some(s @ Value::Object(_)) => Some(AdditionalPropertiesItem {
                        schema: Some(Box::new(Schema::from_json(s))),
                        boolean: None,
                    }),
                    _ => None,
                },
                r#type: (!types.is_empty()).then_some(TypeItem { value: types }),
                items: v.get("items").filter(|i| i.is_object()).map(|i| ItemsItem {
                    schema: vec![Schema::from_json(i)],
                }),
                all_of: v
                    .get("allOf")
                    .and_then(Value::as_array)
                    .map(|all| all.iter().map(Schema::from_json).collect())
                    .unwrap_or_default(),
                properties: v
                    .get("properties")
                    .and_then(Value::as_object)
                    .map(|p| Properties {
                        additional_properties: named(p),
                    }),
                vendor_extension: v
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .filter(|(k, _)| k.starts_with("x-"))
                            .map(|(k, ext)| NamedAny {
                                name: k.clone(),
                                value: Some(Any {
                                    yaml: serde_saphyr::to_string(ext).unwrap_or_default(),
                                }),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gnostic::*;
    use prost::Message as _;
    use serde_json::json;

    #[test]
    fn a_definition_round_trips_through_the_gnostic_wire_form() {
        let doc = json!({
            "swagger": "2.0",
            "info": { "title": "Kubernetes", "version": "v1.37.0" },
            "definitions": {
                "io.k8s.api.apps.v1.Deployment": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "metadata": { "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" },
                        "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                        "ports": { "type": "array", "items": { "type": "integer", "format": "int32" } },
                    },
                    "x-kubernetes-group-version-kind": [{ "group": "apps", "kind": "Deployment", "version": "v1" }],
                },
            },
        });
        let bytes = Document::from_json(&doc).encode_to_vec();
        let decoded = Document::decode(bytes.as_slice()).unwrap();
        let defs = decoded.definitions.unwrap().additional_properties;
        assert_eq!(defs[0].name, "io.k8s.api.apps.v1.Deployment");
        let schema = defs[0].value.as_ref().unwrap();
        assert_eq!(schema.r#type.as_ref().unwrap().value, ["object"]);
        assert_eq!(schema.required, ["spec"]);
        let props = &schema.properties.as_ref().unwrap().additional_properties;
        let prop = |n: &str| {
            props
                .iter()
                .find(|p| p.name == n)
                .unwrap()
                .value
                .clone()
                .unwrap()
        };
        assert_eq!(
            prop("metadata").xref,
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        let labels = prop("labels")
            .additional_properties
            .unwrap()
            .schema
            .unwrap();
        assert_eq!(labels.r#type.unwrap().value, ["string"]);
        assert_eq!(prop("ports").items.unwrap().schema[0].format, "int32");
        let gvk = &schema.vendor_extension[0];
        assert_eq!(gvk.name, "x-kubernetes-group-version-kind");
        let yaml: serde_json::Value =
            serde_saphyr::from_str(&gvk.value.as_ref().unwrap().yaml).unwrap();
        assert_eq!(
            yaml,
            json!([{ "group": "apps", "kind": "Deployment", "version": "v1" }])
        );
    }
}
