//! Round trips of every built-in kind with a protobuf form: a k8s-openapi object with
//! representative fields is encoded to the Kubernetes wire format with k8s-pb's prost type of the
//! kind, put in the `k8s\0` envelope, decoded by [`decode_object`], and must come back equal to
//! the object's JSON form.
//!
//! k8s-pb has neither serde nor descriptors, so the encoder learns each message's field numbers
//! and types from prost itself: it decodes probes (one field of a tag, as a varint or as an empty
//! length-delimited value, nested along the path of the message in the kind) with the kind's
//! k8s-pb type and sees which field they set. It then writes the JSON form's values as the wire
//! format: `Time` as seconds and nanos, `Quantity` as its string, `IntOrString` as type and value,
//! `RawExtension`/`FieldsV1` as raw JSON, Go structs embedded inline as their message, bytes
//! from base64. Every row is encoded twice: sparse (only the fields of the JSON form) and as Go
//! writes it (every scalar field of every message present, zero values included), and both must
//! decode to the JSON form. (The probes are read through the same `Debug` parser as the
//! decoder's; the rest of the decoder — names, special types, zero values — is checked against
//! the k8s-openapi form.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;

use base64::Engine as _;
use prost::encoding::{WireType, encode_key, encode_varint};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::debug::{self, Node};
use super::*;
use k8s_openapi::api as k8s;
use k8s_pb::api as pb;

/// The highest field number probed (Kubernetes messages stay far below it).
const MAX_TAG: u32 = 80;

/// One row: the JSON form of a k8s-openapi object and the prost type of its message.
struct Row {
    api_version: &'static str,
    kind: &'static str,
    json: Value,
    decode: fn(&[u8]) -> Result<Node, String>,
}

/// Builds the k8s-openapi object from `object` (so the row is a valid value of the Kubernetes
/// type, whose serialisation is the expected JSON); `P` is k8s-pb's message of the kind.
fn row<T, P>(object: Value) -> Row
where
    T: DeserializeOwned + Serialize + k8s_openapi::Resource,
    P: prost::Message + Default + Debug,
{
    let typed: T =
        serde_json::from_value(object).unwrap_or_else(|e| panic!("a valid {}: {e}", T::KIND));
    let mut json = serde_json::to_value(&typed).expect("JSON");
    json["apiVersion"] = json!(T::API_VERSION);
    json["kind"] = json!(T::KIND);
    Row {
        api_version: T::API_VERSION,
        kind: T::KIND,
        json,
        decode: decode_as::<P>,
    }
}

fn decode_as<P: prost::Message + Default + Debug>(raw: &[u8]) -> Result<Node, String> {
    let message = P::decode(raw).map_err(|e| e.to_string())?;
    debug::parse(&format!("{message:?}"))
}

/// How the encoder writes the fields the JSON form leaves out.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Only the fields present.
    Sparse,
    /// Every scalar field of every message written, as Go writes non-pointer fields.
    Go,
}

/// A field's wire shape, as a probe revealed it.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    Int,
    Bool,
    Str,
    Bytes,
    /// A message, by its Rust type name (`Time`, `Quantity`, `PodSpec`, …).
    Message(String),
    Repeated(Box<Shape>),
    /// A map from strings to values of the shape.
    Map(Box<Shape>),
}

#[derive(Clone, Debug)]
struct Field {
    /// The Rust (snake case) name prost gives the proto field.
    name: String,
    tag: u32,
    shape: Shape,
}

/// One step from the kind's message to a nested one: a message field (the first element, if
/// repeated) or the value of a map field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Step {
    Field(u32, String),
    MapValue(u32, String),
}

fn length_delimited(tag: u32, payload: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// `inner` (fields of the message at `path`) nested in the messages of the path.
fn wrap(path: &[Step], inner: Vec<u8>) -> Vec<u8> {
    let mut out = inner;
    for step in path.iter().rev() {
        let mut outer = vec![];
        match step {
            Step::Field(tag, _) => length_delimited(*tag, &out, &mut outer),
            Step::MapValue(tag, _) => {
                let mut entry = vec![];
                length_delimited(1, b"", &mut entry);
                length_delimited(2, &out, &mut entry);
                length_delimited(*tag, &entry, &mut outer);
            }
        }
        out = outer;
    }
    out
}

fn unwrap_some(node: &Node) -> &Node {
    match node {
        Node::Some(inner) => unwrap_some(inner),
        other => other,
    }
}

fn field_value<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    match unwrap_some(node) {
        Node::Struct(_, fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

/// The message at `path` in a decoded probe.
fn descend<'a>(node: &'a Node, path: &[Step]) -> Option<&'a Node> {
    let mut node = unwrap_some(node);
    for step in path {
        node = match step {
            Step::Field(_, name) => match unwrap_some(field_value(node, name)?) {
                Node::List(items) => unwrap_some(items.first()?),
                other => other,
            },
            Step::MapValue(_, name) => match unwrap_some(field_value(node, name)?) {
                Node::Map(entries) => unwrap_some(&entries.first()?.1),
                _ => return None,
            },
        };
    }
    Some(node)
}

fn shape_of(node: &Node) -> Option<Shape> {
    Some(match unwrap_some(node) {
        Node::Num(_) => Shape::Int,
        Node::Bool(_) => Shape::Bool,
        Node::Str(_) => Shape::Str,
        Node::List(items) if items.is_empty() => Shape::Bytes,
        Node::Struct(name, _) => Shape::Message(name.clone()),
        _ => return None,
    })
}

/// Learns field numbers and shapes from prost, one message (by path) at a time.
struct Encoder<'a> {
    row: &'a Row,
    mode: Mode,
    fields: RefCell<HashMap<Vec<Step>, Vec<Field>>>,
}

impl Encoder<'_> {
    fn fields(&self, path: &[Step]) -> Result<Vec<Field>, String> {
        if let Some(found) = self.fields.borrow().get(path) {
            return Ok(found.clone());
        }
        let mut found = vec![];
        for tag in 1..=MAX_TAG {
            let mut probes = vec![];
            let mut varint = vec![];
            encode_key(tag, WireType::Varint, &mut varint);
            encode_varint(1, &mut varint);
            probes.push(varint);
            let mut empty = vec![];
            length_delimited(tag, b"", &mut empty);
            probes.push(empty);
            for probe in probes {
                let Ok(node) = (self.row.decode)(&wrap(path, probe)) else {
                    continue;
                };
                let Some(Node::Struct(_, fields)) = descend(&node, path) else {
                    return Err(format!("no message at {path:?}"));
                };
                let set = fields.iter().find(|(_, v)| match v {
                    Node::None => false,
                    Node::List(items) => !items.is_empty(),
                    Node::Map(entries) => !entries.is_empty(),
                    _ => true,
                });
                let Some((name, value)) = set else { continue };
                let shape = match value {
                    Node::List(items) => Shape::Repeated(Box::new(
                        shape_of(&items[0]).ok_or_else(|| format!("{name}: {value:?}"))?,
                    )),
                    Node::Map(entries) => Shape::Map(Box::new(
                        shape_of(&entries[0].1).ok_or_else(|| format!("{name}: {value:?}"))?,
                    )),
                    other => shape_of(other).ok_or_else(|| format!("{name}: {other:?}"))?,
                };
                found.push(Field {
                    name: name.trim_start_matches("r#").to_string(),
                    tag,
                    shape,
                });
                break;
            }
        }
        self.fields
            .borrow_mut()
            .insert(path.to_vec(), found.clone());
        Ok(found)
    }

    fn by_name(&self, path: &[Step], name: &str) -> Result<Field, String> {
        self.fields(path)?
            .into_iter()
            .find(|f| f.name == name)
            .ok_or_else(|| format!("no field {name} at {path:?}"))
    }

    /// The fields of the message at `path`, from the JSON object (or special value) `value`.
    fn message(&self, path: &[Step], type_name: &str, value: &Value) -> Result<Vec<u8>, String> {
        let mut out = vec![];
        match type_name {
            "Time" | "MicroTime" => {
                let text = value.as_str().ok_or("a time as a string")?;
                let t: jiff::Timestamp = text.parse().map_err(|e| format!("{text}: {e}"))?;
                self.put(
                    path,
                    &self.by_name(path, "seconds")?,
                    &json!(t.as_second()),
                    &mut out,
                )?;
                self.put(
                    path,
                    &self.by_name(path, "nanos")?,
                    &json!(t.subsec_nanosecond()),
                    &mut out,
                )?;
            }
            "Quantity" => {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.put(path, &self.by_name(path, "string")?, &json!(text), &mut out)?;
            }
            "IntOrString" => {
                // Go writes all three fields of the struct.
                let (kind, int, text) = match value {
                    Value::String(s) => (1, 0, s.clone()),
                    other => (0, other.as_i64().ok_or("an int or string")?, String::new()),
                };
                self.put(path, &self.by_name(path, "type")?, &json!(kind), &mut out)?;
                self.put(path, &self.by_name(path, "int_val")?, &json!(int), &mut out)?;
                self.put(
                    path,
                    &self.by_name(path, "str_val")?,
                    &json!(text),
                    &mut out,
                )?;
            }
            "RawExtension" | "FieldsV1" => {
                let raw = base64::engine::general_purpose::STANDARD
                    .encode(serde_json::to_vec(value).expect("JSON"));
                self.put(path, &self.by_name(path, "raw")?, &json!(raw), &mut out)?;
            }
            _ => self.object(path, value, &mut out)?,
        }
        Ok(out)
    }

    /// Whether the message at `path` has a field for `key`, itself or in a Go struct embedded in
    /// it inline, at most `depth` levels down (`NamedRuleWithOperations` embeds
    /// `RuleWithOperations`, which embeds `Rule`).
    fn declares(&self, path: &[Step], key: &str, depth: usize) -> Result<bool, String> {
        for field in self.fields(path)? {
            if normalise(&field.name) == normalise(key) {
                return Ok(true);
            }
            if depth > 1 && matches!(field.shape, Shape::Message(_)) {
                let mut inner = path.to_vec();
                inner.push(Step::Field(field.tag, field.name.clone()));
                if self.declares(&inner, key, depth - 1)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn object(&self, path: &[Step], value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
        let Value::Object(obj) = value else {
            return Err(format!("{value} at {path:?} is not an object"));
        };
        let fields = self.fields(path)?;
        let named = |key: &str| fields.iter().find(|f| normalise(&f.name) == normalise(key));
        let mut written = vec![];
        // Keys of Go structs embedded inline, by the message field that holds them.
        let mut embedded: Vec<(Field, Map<String, Value>)> = vec![];
        for (key, v) in obj {
            if v.is_null() {
                continue;
            }
            if let Some(field) = named(key) {
                self.put(path, field, v, out)?;
                written.push(field.name.clone());
                continue;
            }
            let mut holder = None;
            for field in &fields {
                let Shape::Message(_) = field.shape else {
                    continue;
                };
                if obj.keys().any(|k| normalise(k) == normalise(&field.name)) {
                    continue;
                }
                let mut inner = path.to_vec();
                inner.push(Step::Field(field.tag, field.name.clone()));
                if self.declares(&inner, key, 2)? {
                    holder = Some(field.clone());
                    break;
                }
            }
            let holder = holder.ok_or_else(|| format!("no field for {key} at {path:?}"))?;
            match embedded.iter_mut().find(|(f, _)| f.tag == holder.tag) {
                Some((_, keys)) => {
                    keys.insert(key.clone(), v.clone());
                }
                None => embedded.push((holder, Map::from_iter([(key.clone(), v.clone())]))),
            }
        }
        for (field, keys) in embedded {
            written.push(field.name.clone());
            self.put(path, &field, &Value::Object(keys), out)?;
        }
        if self.mode == Mode::Go {
            for field in &fields {
                if written.contains(&field.name) {
                    continue;
                }
                let zero = match field.shape {
                    Shape::Int => json!(0),
                    Shape::Bool => json!(false),
                    Shape::Str => json!(""),
                    _ => continue,
                };
                self.put(path, field, &zero, out)?;
            }
        }
        Ok(())
    }

    /// One field of the message at `path`.
    fn put(
        &self,
        path: &[Step],
        field: &Field,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        self.value(path, field.tag, &field.name, &field.shape, v, out)
    }

    fn value(
        &self,
        path: &[Step],
        tag: u32,
        name: &str,
        shape: &Shape,
        v: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let wrong = || format!("{name}: {v} is not {shape:?}");
        match shape {
            Shape::Int => {
                encode_key(tag, WireType::Varint, out);
                encode_varint(v.as_i64().ok_or_else(wrong)? as u64, out);
            }
            Shape::Bool => {
                encode_key(tag, WireType::Varint, out);
                encode_varint(u64::from(v.as_bool().ok_or_else(wrong)?), out);
            }
            Shape::Str => length_delimited(tag, v.as_str().ok_or_else(wrong)?.as_bytes(), out),
            Shape::Bytes => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().ok_or_else(wrong)?)
                    .map_err(|e| format!("{name}: {e}"))?;
                length_delimited(tag, &bytes, out);
            }
            Shape::Message(type_name) => {
                let mut inner = path.to_vec();
                inner.push(Step::Field(tag, name.to_string()));
                let payload = self.message(&inner, type_name, v)?;
                length_delimited(tag, &payload, out);
            }
            Shape::Repeated(item) => {
                for i in v.as_array().ok_or_else(wrong)? {
                    self.value(path, tag, name, item, i, out)?;
                }
            }
            Shape::Map(value_shape) => {
                for (key, value) in v.as_object().ok_or_else(wrong)? {
                    let mut entry = vec![];
                    length_delimited(1, key.as_bytes(), &mut entry);
                    let mut inner = path.to_vec();
                    inner.push(Step::MapValue(tag, name.to_string()));
                    match value_shape.as_ref() {
                        Shape::Message(type_name) => {
                            let payload = self.message(&inner, type_name, value)?;
                            length_delimited(2, &payload, &mut entry);
                        }
                        other => self.value(&inner, 2, name, other, value, &mut entry)?,
                    }
                    length_delimited(tag, &entry, out);
                }
            }
        }
        Ok(())
    }
}

/// Go names (`volumeID`) and prost's snake case (`volume_id`) compared.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Encodes the row both ways, decodes it, and says how the result differs from the JSON form.
fn check(row: &Row) -> Result<(), String> {
    for mode in [Mode::Sparse, Mode::Go] {
        let what = format!("{} {} ({mode:?})", row.api_version, row.kind);
        let encoder = Encoder {
            row,
            mode,
            fields: RefCell::new(HashMap::new()),
        };
        let mut object = row.json.clone();
        if let Some(m) = object.as_object_mut() {
            m.remove("apiVersion");
            m.remove("kind");
        }
        let mut raw = vec![];
        encoder
            .object(&[], &object, &mut raw)
            .map_err(|e| format!("{what}: {e}"))?;
        let body = envelop(row.api_version, row.kind, raw);
        let kind = kinds::by_kind(row.api_version, row.kind)
            .ok_or_else(|| format!("{what}: not a built-in kind"))?;
        let decoded = decode_object(&body, kind).map_err(|e| format!("{what}: {}", e.message))?;
        if decoded != row.json {
            return Err(format!(
                "{what}: decoded\n{}\ninstead of\n{}",
                serde_json::to_string(&decoded).unwrap_or_default(),
                serde_json::to_string(&row.json).unwrap_or_default()
            ));
        }
    }
    Ok(())
}

fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "namespace": "default",
        "labels": { "app.kubernetes.io/name": name, "tier": "web" },
        "annotations": { "note": "a \"quoted\" value\nwith a newline" },
        "creationTimestamp": "2026-11-30T01:02:03Z",
        "generation": 3,
        "uid": "0b4d4c2e-6a4b-4e8e-9f58-3c1e2d9a7f10",
        "resourceVersion": "42",
        "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "owner",
            "uid": "5e0c0f9e-3f0e-4b7c-8b0a-2f8a1b6c9d00", "controller": true,
            "blockOwnerDeletion": true,
        }],
        "finalizers": ["example.com/keep"],
        "managedFields": [{
            "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
            "time": "2026-11-30T01:02:03Z", "fieldsType": "FieldsV1",
            "fieldsV1": { "f:metadata": { "f:labels": { ".": {}, "f:tier": {} } } },
        }],
    })
}

fn cluster_meta(name: &str) -> Value {
    let mut m = meta(name);
    m.as_object_mut().expect("an object").remove("namespace");
    m
}

fn pod_spec() -> Value {
    json!({
        "serviceAccountName": "runner",
        "automountServiceAccountToken": true,
        "terminationGracePeriodSeconds": 45,
        "activeDeadlineSeconds": 600,
        "nodeSelector": { "kubernetes.io/os": "linux" },
        "securityContext": { "runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000, "seccompProfile": { "type": "RuntimeDefault" } },
        "imagePullSecrets": [{ "name": "registry" }],
        "initContainers": [{ "name": "init", "image": "busybox:1.37", "command": ["sh", "-c", "true"] }],
        "containers": [{
            "name": "web",
            "image": "nginx:1.29",
            "args": ["--port", "8080"],
            "ports": [{ "name": "http", "containerPort": 8080, "protocol": "TCP" }],
            "env": [
                { "name": "MODE", "value": "demo" },
                { "name": "TOKEN", "valueFrom": { "secretKeyRef": { "name": "s", "key": "token", "optional": true } } },
                { "name": "LIMIT", "valueFrom": { "resourceFieldRef": { "resource": "limits.memory", "divisor": "1Mi" } } },
            ],
            "envFrom": [{ "configMapRef": { "name": "cm" }, "prefix": "CM_" }],
            "resources": {
                "limits": { "cpu": "500m", "memory": "128Mi" },
                "requests": { "cpu": "0.25", "memory": "64Mi", "ephemeral-storage": "1Gi" },
            },
            "readinessProbe": {
                "httpGet": { "path": "/healthz", "port": "http", "scheme": "HTTP" },
                "initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3,
            },
            "livenessProbe": { "tcpSocket": { "port": 8080 }, "timeoutSeconds": 2 },
            "lifecycle": { "preStop": { "exec": { "command": ["sleep", "5"] } } },
            "securityContext": {
                // Not `false`: a pointer field set to its zero value reads as unset (the
                // decoder's documented simplification; the wire cannot tell it from Go's zero).
                "allowPrivilegeEscalation": true, "readOnlyRootFilesystem": true,
                "capabilities": { "drop": ["ALL"] },
            },
            "volumeMounts": [{ "name": "config", "mountPath": "/etc/app", "readOnly": true }],
            "imagePullPolicy": "IfNotPresent",
        }],
        "volumes": [
            { "name": "config", "configMap": { "name": "cm", "defaultMode": 420, "items": [{ "key": "a", "path": "a.txt" }] } },
            { "name": "cache", "emptyDir": { "medium": "Memory", "sizeLimit": "64Mi" } },
            { "name": "secret", "secret": { "secretName": "s" } },
        ],
        "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule", "tolerationSeconds": 30 }],
        "affinity": { "podAntiAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": { "topologyKey": "kubernetes.io/hostname", "labelSelector": { "matchExpressions": [{ "key": "app", "operator": "In", "values": ["web"] }] } },
        }] } },
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
    })
}

fn template() -> Value {
    json!({
        "metadata": { "labels": { "app": "web" }, "annotations": { "checksum": "abc" } },
        "spec": pod_spec(),
    })
}

fn selector() -> Value {
    json!({
        "matchLabels": { "app": "web" },
        "matchExpressions": [{ "key": "tier", "operator": "NotIn", "values": ["db", "cache"] }],
    })
}

fn rules() -> Value {
    json!([
        { "apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch"], "resourceNames": ["one"] },
        { "apiGroups": ["witboost.com"], "resources": ["accesstokens", "accesstokens/status"], "verbs": ["*"] },
    ])
}

fn webhook(mutating: bool) -> Value {
    let mut hook = json!({
        "name": "check.example.com",
        "clientConfig": {
            "service": { "namespace": "default", "name": "hooks", "path": "/check", "port": 8443 },
            "caBundle": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
        },
        "rules": [{
            "operations": ["CREATE", "UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
            "resources": ["deployments"], "scope": "Namespaced",
        }],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": { "matchLabels": { "hooks": "on" } },
        "sideEffects": "None",
        "timeoutSeconds": 5,
        "admissionReviewVersions": ["v1"],
        "matchConditions": [{ "name": "not-system", "expression": "!request.userInfo.username.startsWith('system:')" }],
    });
    if mutating {
        hook["reinvocationPolicy"] = json!("IfNeeded");
    }
    hook
}

/// k8s-openapi writes `apiVersion` and `kind` of an object nested in another (a StatefulSet's
/// claim templates); its message has no `TypeMeta`, so they are not on the wire, and a
/// protobuf body stores the object without them, as kube-apiserver does.
fn without_type_meta(mut row: Row, pointer: &str) -> Row {
    if let Some(Value::Object(nested)) = row.json.pointer_mut(pointer) {
        nested.remove("apiVersion");
        nested.remove("kind");
    }
    row
}

/// One row per kind with a protobuf form (several for kinds kubectl creates in several ways).
// One function on purpose: the test table itself, one row per kind, found by its kind.
fn rows() -> Vec<Row> {
    use k8s::{
        admissionregistration::v1 as adm, apps::v1 as apps, autoscaling::v2 as autoscaling,
        batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        events::v1 as events, networking::v1 as networking, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as scheduling,
    };
    use pb::{
        admissionregistration::v1 as padm, apps::v1 as papps, autoscaling::v2 as pautoscaling,
        batch::v1 as pbatch, coordination::v1 as pcoordination, core::v1 as pcore,
        events::v1 as pevents, networking::v1 as pnetworking, policy::v1 as ppolicy,
        rbac::v1 as prbac, scheduling::v1 as pscheduling,
    };
    vec![
        // core/v1
        row::<core::Pod, pcore::Pod>(json!({
            "metadata": meta("pod"),
            "spec": pod_spec(),
            "status": {
                "phase": "Running", "podIP": "10.0.0.7", "podIPs": [{ "ip": "10.0.0.7" }],
                "startTime": "2026-11-30T01:02:04Z",
                "conditions": [{ "type": "Ready", "status": "True", "lastTransitionTime": "2026-11-30T01:02:05Z" }],
                "containerStatuses": [{
                    "name": "web", "ready": true, "restartCount": 2, "image": "nginx:1.29", "imageID": "sha256:abc",
                    "started": true,
                    "state": { "running": { "startedAt": "2026-11-30T01:02:04Z" } },
                    "lastState": { "terminated": { "exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-11-30T01:01:00Z" } },
                }],
            },
        })),
        row::<core::Service, pcore::Service>(json!({
            "metadata": meta("svc"),
            "spec": {
                "type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "selector": { "app": "web" },
                "ports": [
                    { "name": "http", "port": 80, "targetPort": "http", "protocol": "TCP" },
                    { "name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP", "appProtocol": "http" },
                ],
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": { "clientIP": { "timeoutSeconds": 600 } },
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "externalIPs": ["192.0.2.1"],
                "publishNotReadyAddresses": true,
            },
            "status": { "loadBalancer": { "ingress": [{ "ip": "192.0.2.9", "ports": [{ "port": 80, "protocol": "TCP" }] }] } },
        })),
        row::<core::Endpoints, pcore::Endpoints>(json!({
            "metadata": meta("ep"),
            "subsets": [{
                "addresses": [{ "ip": "10.0.0.7", "hostname": "web-0", "nodeName": "node-1",
                    "targetRef": { "kind": "Pod", "namespace": "default", "name": "web-0", "uid": "u-1" } }],
                "notReadyAddresses": [{ "ip": "10.0.0.8" }],
                "ports": [{ "name": "http", "port": 8080, "protocol": "TCP" }],
            }],
        })),
        row::<core::PersistentVolumeClaim, pcore::PersistentVolumeClaim>(json!({
            "metadata": meta("data"),
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": { "requests": { "storage": "10Gi" }, "limits": { "storage": "20Gi" } },
                "storageClassName": "fast", "volumeMode": "Filesystem",
                "selector": { "matchLabels": { "disk": "ssd" } },
            },
            "status": { "phase": "Bound", "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteOnce"] },
        })),
        row::<core::ResourceQuota, pcore::ResourceQuota>(json!({
            "metadata": meta("quota"),
            "spec": {
                "hard": { "pods": "10", "requests.cpu": "4", "requests.memory": "8Gi", "count/secrets": "50" },
                "scopes": ["NotBestEffort"],
                "scopeSelector": { "matchExpressions": [{ "scopeName": "PriorityClass", "operator": "In", "values": ["high"] }] },
            },
            "status": { "hard": { "pods": "10" }, "used": { "pods": "3" } },
        })),
        row::<core::LimitRange, pcore::LimitRange>(json!({
            "metadata": meta("limits"),
            "spec": { "limits": [{
                "type": "Container",
                "max": { "cpu": "2", "memory": "1Gi" }, "min": { "cpu": "10m" },
                "default": { "cpu": "500m" }, "defaultRequest": { "cpu": "100m" },
                "maxLimitRequestRatio": { "cpu": "4" },
            }] },
        })),
        row::<core::ServiceAccount, pcore::ServiceAccount>(json!({
            "metadata": meta("runner"),
            "secrets": [{ "name": "runner-token" }],
            "imagePullSecrets": [{ "name": "registry" }],
            "automountServiceAccountToken": true,
        })),
        row::<core::ConfigMap, pcore::ConfigMap>(json!({
            "metadata": meta("cm"),
            "data": { "a": "1", "config.yaml": "key: value\nlist:\n  - x\n", "unicode": "héllo ✓" },
            "binaryData": { "blob": "AAEC/w==" },
            "immutable": true,
        })),
        // kubectl create secret generic
        row::<core::Secret, pcore::Secret>(json!({
            "metadata": meta("generic"),
            "type": "Opaque",
            "data": { "a": "Yg==", "binary": "AP8Q", "empty": "" },
            "immutable": true,
        })),
        // kubectl create secret tls
        row::<core::Secret, pcore::Secret>(json!({
            "metadata": meta("tls"),
            "type": "kubernetes.io/tls",
            "data": { "tls.crt": "LS0tLS1CRUdJTg==", "tls.key": "LS0tLS1CRUdJTiBL" },
        })),
        // kubectl create secret docker-registry
        row::<core::Secret, pcore::Secret>(json!({
            "metadata": meta("registry"),
            "type": "kubernetes.io/dockerconfigjson",
            "data": { ".dockerconfigjson": "eyJhdXRocyI6e319" },
        })),
        row::<core::Namespace, pcore::Namespace>(json!({
            "metadata": cluster_meta("team-a"),
            "spec": { "finalizers": ["kubernetes"] },
            "status": { "phase": "Active", "conditions": [{ "type": "NamespaceDeletionContentFailure", "status": "False", "lastTransitionTime": "2026-11-30T01:02:05Z" }] },
        })),
        row::<core::Event, pcore::Event>(json!({
            "metadata": meta("web.1"),
            "involvedObject": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "default", "uid": "u-2", "fieldPath": "spec" },
            "reason": "ScalingReplicaSet", "message": "Scaled up to 2", "type": "Normal",
            "source": { "component": "deployment-controller" },
            "firstTimestamp": "2026-11-30T01:02:03Z", "lastTimestamp": "2026-11-30T01:03:03Z",
            "count": 4,
            "eventTime": "2026-11-30T01:02:03.123456Z",
            "series": { "count": 2, "lastObservedTime": "2026-11-30T01:03:03.500000Z" },
            "reportingComponent": "deployment-controller", "reportingInstance": "cm-1", "action": "Scale",
        })),
        // apps/v1
        row::<apps::Deployment, papps::Deployment>(json!({
            "metadata": meta("web"),
            "spec": {
                "replicas": 3, "selector": selector(), "template": template(),
                "strategy": { "type": "RollingUpdate", "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 1 } },
                "minReadySeconds": 5, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            },
            "status": {
                "observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
                "conditions": [{ "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": "2026-11-30T01:02:05Z", "lastTransitionTime": "2026-11-30T01:02:05Z" }],
            },
        })),
        without_type_meta(
            row::<apps::StatefulSet, papps::StatefulSet>(json!({
                "metadata": meta("db"),
                "spec": {
                    "replicas": 2, "serviceName": "db", "selector": selector(), "template": template(),
                    "podManagementPolicy": "Parallel",
                    "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "partition": 1, "maxUnavailable": "50%" } },
                    "volumeClaimTemplates": [{
                        "metadata": { "name": "data" },
                        "spec": { "accessModes": ["ReadWriteOnce"], "resources": { "requests": { "storage": "1Gi" } } },
                    }],
                    "persistentVolumeClaimRetentionPolicy": { "whenDeleted": "Delete", "whenScaled": "Retain" },
                    "ordinals": { "start": 1 },
                },
                "status": { "replicas": 2, "readyReplicas": 1, "currentRevision": "db-1", "collisionCount": 1 },
            })),
            "/spec/volumeClaimTemplates/0",
        ),
        row::<apps::DaemonSet, papps::DaemonSet>(json!({
            "metadata": meta("agent"),
            "spec": {
                "selector": selector(), "template": template(),
                "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1, "maxSurge": "10%" } },
                "minReadySeconds": 3,
            },
            "status": { "currentNumberScheduled": 2, "numberMisscheduled": 1, "desiredNumberScheduled": 3, "numberReady": 2 },
        })),
        row::<apps::ReplicaSet, papps::ReplicaSet>(json!({
            "metadata": meta("web-abc"),
            "spec": { "replicas": 2, "selector": selector(), "template": template() },
            "status": { "replicas": 2, "fullyLabeledReplicas": 2 },
        })),
        // batch/v1
        row::<batch::Job, pbatch::Job>(json!({
            "metadata": meta("once"),
            "spec": {
                "parallelism": 2, "completions": 4, "backoffLimit": 3, "activeDeadlineSeconds": 300,
                "ttlSecondsAfterFinished": 60, "completionMode": "Indexed", "suspend": true,
                "template": { "metadata": { "labels": { "job": "once" } }, "spec": {
                    "restartPolicy": "Never", "containers": [{ "name": "run", "image": "busybox", "command": ["date"] }],
                } },
                "podFailurePolicy": { "rules": [{ "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget", "status": "True" }] }] },
            },
            "status": { "active": 1, "succeeded": 2, "startTime": "2026-11-30T01:02:03Z", "completedIndexes": "0-1" },
        })),
        row::<batch::CronJob, pbatch::CronJob>(json!({
            "metadata": meta("nightly"),
            "spec": {
                "schedule": "0 3 * * *", "timeZone": "Europe/Rome", "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 120, "successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1,
                "jobTemplate": { "metadata": { "labels": { "cron": "nightly" } }, "spec": {
                    "template": { "spec": { "restartPolicy": "OnFailure", "containers": [{ "name": "run", "image": "busybox" }] } },
                } },
            },
            "status": { "lastScheduleTime": "2026-11-30T03:00:00Z", "active": [{ "kind": "Job", "name": "nightly-1", "namespace": "default" }] },
        })),
        // rbac.authorization.k8s.io/v1
        row::<rbac::Role, prbac::Role>(json!({ "metadata": meta("reader"), "rules": rules() })),
        row::<rbac::RoleBinding, prbac::RoleBinding>(json!({
            "metadata": meta("reader"),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader" },
            "subjects": [
                { "kind": "ServiceAccount", "name": "runner", "namespace": "default" },
                { "kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io" },
                { "kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io" },
            ],
        })),
        row::<rbac::ClusterRole, prbac::ClusterRole>(json!({
            "metadata": cluster_meta("aggregate"),
            "rules": [
                { "apiGroups": [""], "resources": ["pods"], "verbs": ["get"] },
                { "nonResourceURLs": ["/healthz", "/metrics"], "verbs": ["get"] },
            ],
            "aggregationRule": { "clusterRoleSelectors": [{ "matchLabels": { "rbac.example.com/aggregate-to-view": "true" } }] },
        })),
        row::<rbac::ClusterRoleBinding, prbac::ClusterRoleBinding>(json!({
            "metadata": cluster_meta("viewers"),
            "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view" },
            "subjects": [{ "kind": "Group", "name": "system:serviceaccounts:team-a", "apiGroup": "rbac.authorization.k8s.io" }],
        })),
        // policy/v1
        row::<policy::PodDisruptionBudget, ppolicy::PodDisruptionBudget>(json!({
            "metadata": meta("pdb"),
            "spec": { "minAvailable": "50%", "selector": selector(), "unhealthyPodEvictionPolicy": "AlwaysAllow" },
            "status": {
                "observedGeneration": 2, "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
                "disruptedPods": { "web-0": "2026-11-30T01:02:03Z" },
                "conditions": [{ "type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods", "message": "",
                    "lastTransitionTime": "2026-11-30T01:02:03Z", "observedGeneration": 2 }],
            },
        })),
        row::<policy::PodDisruptionBudget, ppolicy::PodDisruptionBudget>(json!({
            "metadata": meta("pdb-max"),
            "spec": { "maxUnavailable": 1, "selector": { "matchLabels": { "app": "web" } } },
        })),
        // networking.k8s.io/v1
        row::<networking::Ingress, pnetworking::Ingress>(json!({
            "metadata": meta("web"),
            "spec": {
                "ingressClassName": "nginx",
                "defaultBackend": { "service": { "name": "web", "port": { "name": "http" } } },
                "tls": [{ "hosts": ["web.example.com"], "secretName": "web-tls" }],
                "rules": [{ "host": "web.example.com", "http": { "paths": [
                    { "path": "/", "pathType": "Prefix", "backend": { "service": { "name": "web", "port": { "number": 80 } } } },
                    { "path": "/static", "pathType": "ImplementationSpecific", "backend": { "resource": { "apiGroup": "k8s.example.com", "kind": "Bucket", "name": "static" } } },
                ] } }],
            },
            "status": { "loadBalancer": { "ingress": [{ "hostname": "lb.example.com", "ports": [{ "port": 443, "protocol": "TCP", "error": "none" }] }] } },
        })),
        row::<networking::IngressClass, pnetworking::IngressClass>(json!({
            "metadata": cluster_meta("nginx"),
            "spec": {
                "controller": "k8s.io/ingress-nginx",
                "parameters": { "apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external", "scope": "Namespace", "namespace": "ingress" },
            },
        })),
        row::<networking::NetworkPolicy, pnetworking::NetworkPolicy>(json!({
            "metadata": meta("deny"),
            "spec": {
                "podSelector": { "matchLabels": { "app": "web" } },
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{
                    "from": [
                        { "podSelector": { "matchLabels": { "role": "frontend" } }, "namespaceSelector": { "matchLabels": { "team": "a" } } },
                        { "ipBlock": { "cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"] } },
                    ],
                    "ports": [{ "protocol": "TCP", "port": "http" }, { "protocol": "UDP", "port": 53, "endPort": 60 }],
                }],
                "egress": [{ "to": [{ "namespaceSelector": {} }] }],
            },
        })),
        // autoscaling/v2
        row::<autoscaling::HorizontalPodAutoscaler, pautoscaling::HorizontalPodAutoscaler>(json!({
            "metadata": meta("web"),
            "spec": {
                "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [
                    { "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } },
                    { "type": "Pods", "pods": { "metric": { "name": "rps", "selector": { "matchLabels": { "verb": "GET" } } }, "target": { "type": "AverageValue", "averageValue": "1k" } } },
                ],
                "behavior": { "scaleDown": {
                    "stabilizationWindowSeconds": 300, "selectPolicy": "Min",
                    "policies": [{ "type": "Percent", "value": 10, "periodSeconds": 60 }],
                } },
            },
            "status": {
                "currentReplicas": 3, "desiredReplicas": 4, "lastScaleTime": "2026-11-30T01:02:03Z",
                "currentMetrics": [{ "type": "Resource", "resource": { "name": "cpu", "current": { "averageUtilization": 80, "averageValue": "400m" } } }],
            },
        })),
        // scheduling.k8s.io/v1
        row::<scheduling::PriorityClass, pscheduling::PriorityClass>(json!({
            "metadata": cluster_meta("high"),
            "value": 1_000_000, "globalDefault": true, "description": "for the web tier",
            "preemptionPolicy": "PreemptLowerPriority",
        })),
        // admissionregistration.k8s.io/v1
        row::<adm::ValidatingWebhookConfiguration, padm::ValidatingWebhookConfiguration>(json!({
            "metadata": cluster_meta("checks"),
            "webhooks": [webhook(false)],
        })),
        row::<adm::MutatingWebhookConfiguration, padm::MutatingWebhookConfiguration>(json!({
            "metadata": cluster_meta("defaults"),
            "webhooks": [webhook(true), {
                "name": "url.example.com", "clientConfig": { "url": "https://hooks.example.com/mutate" },
                "sideEffects": "NoneOnDryRun", "admissionReviewVersions": ["v1", "v1beta1"],
                "objectSelector": { "matchExpressions": [{ "key": "skip", "operator": "DoesNotExist" }] },
            }],
        })),
        row::<adm::ValidatingAdmissionPolicy, padm::ValidatingAdmissionPolicy>(json!({
            "metadata": cluster_meta("replicas"),
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [{
                        "apiGroups": ["apps"], "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"], "resources": ["deployments"],
                        "scope": "Namespaced",
                    }],
                    "namespaceSelector": { "matchLabels": { "team": "web" } },
                    "matchPolicy": "Equivalent",
                },
                "matchConditions": [{ "name": "not-system", "expression": "request.namespace != 'kube-system'" }],
                "variables": [{ "name": "replicas", "expression": "object.spec.replicas" }],
                "validations": [{
                    "expression": "variables.replicas <= 5", "message": "at most 5 replicas",
                    "reason": "Invalid", "messageExpression": "'got ' + string(variables.replicas)",
                }],
                "auditAnnotations": [{ "key": "replicas", "valueExpression": "string(object.spec.replicas)" }],
            },
            "status": {
                "observedGeneration": 2,
                "typeChecking": { "expressionWarnings": [{ "fieldRef": "spec.validations[0].expression", "warning": "unknown field" }] },
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Compiled", "message": "",
                    "lastTransitionTime": "2026-11-30T01:02:03Z", "observedGeneration": 2,
                }],
            },
        })),
        row::<adm::ValidatingAdmissionPolicyBinding, padm::ValidatingAdmissionPolicyBinding>(
            json!({
                "metadata": cluster_meta("replicas-web"),
                "spec": {
                    "policyName": "replicas", "validationActions": ["Deny", "Audit"],
                    "paramRef": { "name": "limits", "namespace": "web", "parameterNotFoundAction": "Deny" },
                    "matchResources": {
                        "objectSelector": { "matchExpressions": [{ "key": "skip", "operator": "DoesNotExist" }] },
                        "excludeResourceRules": [{ "apiGroups": [""], "apiVersions": ["*"], "operations": ["*"], "resources": ["pods/status"] }],
                    },
                },
            }),
        ),
        // coordination.k8s.io/v1
        row::<coordination::Lease, pcoordination::Lease>(json!({
            "metadata": meta("leader"),
            "spec": {
                "holderIdentity": "pod-1", "leaseDurationSeconds": 15,
                "acquireTime": "2026-11-30T01:02:03.000001Z", "renewTime": "2026-11-30T01:02:18.250000Z",
                "leaseTransitions": 4,
            },
        })),
        // events.k8s.io/v1
        row::<events::Event, pevents::Event>(json!({
            "metadata": meta("web.2"),
            "eventTime": "2026-11-30T01:02:03.654321Z",
            "series": { "count": 3, "lastObservedTime": "2026-11-30T01:04:03.000100Z" },
            "reportingController": "example.com/operator", "reportingInstance": "operator-0",
            "action": "Reconcile", "reason": "Minted", "note": "a JWT was minted", "type": "Normal",
            "regarding": { "apiVersion": "witboost.com/v1", "kind": "AccessToken", "name": "t", "namespace": "default" },
            "related": { "kind": "Secret", "name": "t-jwt", "namespace": "default" },
            "deprecatedCount": 2, "deprecatedFirstTimestamp": "2026-11-30T01:00:00Z",
            "deprecatedSource": { "component": "operator", "host": "node-1" },
        })),
    ]
}

#[test]
fn every_kind_with_a_protobuf_form_has_a_row() {
    let rows = rows();
    let missing: Vec<String> = kinds::KINDS
        .iter()
        .filter(|k| k.types.protobuf.is_some())
        .filter(|k| {
            !rows
                .iter()
                .any(|r| kinds::by_kind(r.api_version, r.kind).map(Kind::key) == Some(k.key()))
        })
        .map(Kind::key)
        .collect();
    assert!(
        missing.is_empty(),
        "kinds without a round-trip row: {missing:?}"
    );
}

#[test]
fn every_kind_round_trips_sparse_and_as_go_writes_it() {
    let failures: Vec<String> = rows().iter().filter_map(|r| check(r).err()).collect();
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
