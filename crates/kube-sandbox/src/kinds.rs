//! The built-in kinds: one row per resource, with its real scope, verbs, short names,
//! categories and status subresource, and the Kubernetes types that check and decode it —
//! k8s-openapi's for JSON and its schema, k8s-pb's for the protobuf wire format.
//!
//! Faithful: the names, scopes, verbs, short names and categories kube-apiserver 1.37 lists in
//! discovery; writes are checked against the Kubernetes type (a wrong type is a 400 BadRequest
//! naming the field, a missing required field a 422 Invalid). Simplified: every kind is stored
//! only — no controller runs for it (no Pods behind a Deployment, no webhook is called, no
//! defaulting beyond what `routing::strategy` does) — but ValidatingAdmissionPolicies and their
//! bindings are evaluated on every write (`admission`).

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::OnceLock;

use k8s_openapi::api as k8s;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as k8s_ext;
use k8s_pb::api as pb;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use super::fieldpath::{FieldPath, Segment};

use serde_json::{Map, Value};

/// Every verb: what most resources allow.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Namespaces cannot be deleted as a collection.
const NO_DELETECOLLECTION: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// A write whose body does not fit the kind's Kubernetes type.
#[derive(Debug, PartialEq, Eq)]
pub enum TypeError {
    /// A field of the wrong type or shape (kube-apiserver: 400, "cannot be handled as").
    Decode { path: String, message: String },
    /// A required field is missing (kube-apiserver: 422, "Required value").
    Missing { path: String },
}

/// Whether an object is already known to decode as its kind's type (field validation decodes a
/// request body to find its unknown fields), so that only its required fields are left to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typed {
    Decoded,
    Unchecked,
}

/// Decodes a kind's protobuf message and prints it with its derived `Debug`.
pub type DecodeProtobuf = fn(&[u8]) -> Result<String, prost::DecodeError>;

/// The Kubernetes types behind one kind, as plain function pointers so the table stays `static`.
#[derive(Clone, Copy, Debug)]
pub struct Types {
    /// Checks a JSON object against the k8s-openapi type.
    pub check: fn(&Value) -> Result<(), TypeError>,
    /// The paths of the fields the k8s-openapi type does not declare, which Go's decoding drops
    /// (`None` if the object does not decode).
    pub unknown: fn(&Value) -> Option<Vec<Vec<Segment>>>,
    /// Adds the k8s-openapi schema to a generator's definitions; returns a `$ref` to it.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
    /// Decodes the kind's protobuf message with k8s-pb's type and prints it with its derived
    /// `Debug`, the structure `protobuf` turns into Kubernetes JSON (`None`: JSON only).
    pub protobuf: Option<DecodeProtobuf>,
}

const fn types<T, P>() -> Types
where
    T: DeserializeOwned + JsonSchema,
    P: prost::Message + Default + Debug,
{
    Types {
        check: check::<T>,
        unknown: unknown::<T>,
        schema: schema::<T>,
        protobuf: Some(protobuf::<P>),
    }
}

/// A kind whose protobuf form the sandbox does not decode.
const fn json_only<T>() -> Types
where
    T: DeserializeOwned + JsonSchema,
{
    Types {
        check: check::<T>,
        unknown: unknown::<T>,
        schema: schema::<T>,
        protobuf: None,
    }
}

fn protobuf<P: prost::Message + Default + Debug>(raw: &[u8]) -> Result<String, prost::DecodeError> {
    P::decode(raw).map(|m| format!("{m:?}"))
}

/// What decoding an object with a kind's Kubernetes type found: the type error (with its
/// path), or the fields the type does not declare.
type Decoded = Result<Vec<Vec<Segment>>, TypeError>;

/// Decodes `value` as `T` once, tracking both the path of a failure and the fields `T` does not
/// declare. One instantiation of `T`'s `Deserialize` per kind serves [`check`] and [`unknown`]:
/// the derived decoders of the Kubernetes types are most of this crate's machine code, so each
/// further deserializer they are instantiated for costs about as much compile time again.
fn decode<T: DeserializeOwned>(value: &Value) -> Decoded {
    let mut found = vec![];
    let mut callback = |path: serde_ignored::Path<'_>| {
        let mut segments = vec![];
        segments_of(&path, &mut segments);
        found.push(segments);
    };
    let ignored = serde_ignored::Deserializer::new(value, &mut callback);
    match serde_path_to_error::deserialize::<_, T>(ignored) {
        Ok(_) => Ok(found),
        Err(e) => {
            let path = e.path().to_string();
            let message = e.inner().to_string();
            // serde names a missing field in its message only: "missing field `containers`".
            Err(
                match message
                    .strip_prefix("missing field `")
                    .and_then(|m| m.strip_suffix('`'))
                {
                    Some(field) => TypeError::Missing {
                        path: if path == "." || path.is_empty() {
                            field.to_string()
                        } else {
                            format!("{path}.{field}")
                        },
                    },
                    None => TypeError::Decode { path, message },
                },
            )
        }
    }
}

fn check<T: DeserializeOwned>(value: &Value) -> Result<(), TypeError> {
    decode::<T>(value).map(drop)
}

/// The fields of `value` the type does not declare (Go's decoding drops them), in document
/// order; `None` if the object does not decode.
fn unknown<T: DeserializeOwned>(value: &Value) -> Option<Vec<Vec<Segment>>> {
    decode::<T>(value).ok()
}

fn segments_of(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            segments_of(parent, out);
            out.push(Segment::Index(*index));
        }
        Path::Map { parent, key } => {
            segments_of(parent, out);
            out.push(Segment::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => segments_of(parent, out),
    }
}

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One built-in resource.
#[derive(Debug)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// Serves `/status`; the main endpoint keeps `.status` as it was.
    pub status: bool,
    /// `metadata.generation` moves when the spec changes.
    pub generation: bool,
    pub types: Types,
}

impl Kind {
    /// Checks an object against the kind's Kubernetes type and the required fields of its schema
    /// (k8s-openapi fills missing required fields with defaults, kube-apiserver refuses them).
    pub fn check(&'static self, obj: &Value, typed: Typed) -> Result<(), TypeError> {
        if typed == Typed::Unchecked {
            (self.types.check)(obj)?;
        }
        let schemas = schemas();
        match schemas.root(self) {
            Some(root) => schemas.required(obj, root, FieldPath::Root),
            None => Ok(()),
        }
    }

    /// `group/version/kind`, the key of the kind's schema.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.group, self.version, self.kind)
    }

    const fn new(
        group: &'static str,
        version: &'static str,
        plural: &'static str,
        kind: &'static str,
        namespaced: bool,
        types: Types,
    ) -> Self {
        Self {
            group,
            version,
            plural,
            kind,
            namespaced,
            short_names: &[],
            categories: &[],
            verbs: ALL_VERBS,
            status: false,
            generation: false,
            types,
        }
    }

    const fn short(mut self, names: &'static [&'static str]) -> Self {
        self.short_names = names;
        self
    }

    const fn categories(mut self, categories: &'static [&'static str]) -> Self {
        self.categories = categories;
        self
    }

    /// A `/status` subresource, and a generation that follows the spec.
    const fn with_status(mut self) -> Self {
        self.status = true;
        self.generation = true;
        self
    }

    /// A `/status` subresource without a generation.
    const fn status_only(mut self) -> Self {
        self.status = true;
        self
    }

    const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }

    const fn verbs(mut self, verbs: &'static [&'static str]) -> Self {
        self.verbs = verbs;
        self
    }
}

const NS: bool = true;
const CLUSTER: bool = false;
const ALL: &[&str] = &["all"];
const API_EXTENSIONS: &[&str] = &["api-extensions"];

/// The built-in kinds, in the order discovery lists their groups.
pub static KINDS: &[Kind] = &[
    // core/v1
    Kind::new(
        "",
        "v1",
        "pods",
        "Pod",
        NS,
        types::<k8s::core::v1::Pod, pb::core::v1::Pod>(),
    )
    .short(&["po"])
    .categories(ALL)
    .with_status(),
    Kind::new(
        "",
        "v1",
        "services",
        "Service",
        NS,
        types::<k8s::core::v1::Service, pb::core::v1::Service>(),
    )
    .short(&["svc"])
    .categories(ALL)
    .status_only(),
    Kind::new(
        "",
        "v1",
        "endpoints",
        "Endpoints",
        NS,
        types::<k8s::core::v1::Endpoints, pb::core::v1::Endpoints>(),
    )
    .short(&["ep"]),
    Kind::new(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        NS,
        types::<k8s::core::v1::PersistentVolumeClaim, pb::core::v1::PersistentVolumeClaim>(),
    )
    .short(&["pvc"])
    .status_only(),
    Kind::new(
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        NS,
        types::<k8s::core::v1::ResourceQuota, pb::core::v1::ResourceQuota>(),
    )
    .short(&["quota"])
    .status_only(),
    Kind::new(
        "",
        "v1",
        "limitranges",
        "LimitRange",
        NS,
        types::<k8s::core::v1::LimitRange, pb::core::v1::LimitRange>(),
    )
    .short(&["limits"]),
    Kind::new(
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        NS,
        types::<k8s::core::v1::ServiceAccount, pb::core::v1::ServiceAccount>(),
    )
    .short(&["sa"]),
    Kind::new(
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        NS,
        types::<k8s::core::v1::ConfigMap, pb::core::v1::ConfigMap>(),
    )
    .short(&["cm"]),
    Kind::new(
        "",
        "v1",
        "secrets",
        "Secret",
        NS,
        types::<k8s::core::v1::Secret, pb::core::v1::Secret>(),
    ),
    Kind::new(
        "",
        "v1",
        "namespaces",
        "Namespace",
        CLUSTER,
        types::<k8s::core::v1::Namespace, pb::core::v1::Namespace>(),
    )
    .short(&["ns"])
    .status_only()
    .verbs(NO_DELETECOLLECTION),
    Kind::new(
        "",
        "v1",
        "events",
        "Event",
        NS,
        types::<k8s::core::v1::Event, pb::core::v1::Event>(),
    )
    .short(&["ev"]),
    // apps/v1
    Kind::new(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        NS,
        types::<k8s::apps::v1::Deployment, pb::apps::v1::Deployment>(),
    )
    .short(&["deploy"])
    .categories(ALL)
    .with_status(),
    Kind::new(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        NS,
        types::<k8s::apps::v1::StatefulSet, pb::apps::v1::StatefulSet>(),
    )
    .short(&["sts"])
    .categories(ALL)
    .with_status(),
    Kind::new(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        NS,
        types::<k8s::apps::v1::DaemonSet, pb::apps::v1::DaemonSet>(),
    )
    .short(&["ds"])
    .categories(ALL)
    .with_status(),
    Kind::new(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        NS,
        types::<k8s::apps::v1::ReplicaSet, pb::apps::v1::ReplicaSet>(),
    )
    .short(&["rs"])
    .categories(ALL)
    .with_status(),
    // batch/v1
    Kind::new(
        "batch",
        "v1",
        "jobs",
        "Job",
        NS,
        types::<k8s::batch::v1::Job, pb::batch::v1::Job>(),
    )
    .categories(ALL)
    .with_status(),
    Kind::new(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        NS,
        types::<k8s::batch::v1::CronJob, pb::batch::v1::CronJob>(),
    )
    .short(&["cj"])
    .categories(ALL)
    .with_status(),
    // rbac.authorization.k8s.io/v1
    Kind::new(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        NS,
        types::<k8s::rbac::v1::Role, pb::rbac::v1::Role>(),
    ),
    Kind::new(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        NS,
        types::<k8s::rbac::v1::RoleBinding, pb::rbac::v1::RoleBinding>(),
    ),
    Kind::new(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        CLUSTER,
        types::<k8s::rbac::v1::ClusterRole, pb::rbac::v1::ClusterRole>(),
    ),
    Kind::new(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        CLUSTER,
        types::<k8s::rbac::v1::ClusterRoleBinding, pb::rbac::v1::ClusterRoleBinding>(),
    ),
    // policy/v1
    Kind::new(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        NS,
        types::<k8s::policy::v1::PodDisruptionBudget, pb::policy::v1::PodDisruptionBudget>(),
    )
    .short(&["pdb"])
    .with_status(),
    // networking.k8s.io/v1
    Kind::new(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        NS,
        types::<k8s::networking::v1::Ingress, pb::networking::v1::Ingress>(),
    )
    .short(&["ing"])
    .with_status(),
    Kind::new(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        CLUSTER,
        types::<k8s::networking::v1::IngressClass, pb::networking::v1::IngressClass>(),
    ),
    Kind::new(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        NS,
        types::<k8s::networking::v1::NetworkPolicy, pb::networking::v1::NetworkPolicy>(),
    )
    .short(&["netpol"])
    .generation(),
    // autoscaling/v2
    Kind::new(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        NS,
        types::<
            k8s::autoscaling::v2::HorizontalPodAutoscaler,
            pb::autoscaling::v2::HorizontalPodAutoscaler,
        >(),
    )
    .short(&["hpa"])
    .categories(ALL)
    .with_status(),
    // scheduling.k8s.io/v1
    Kind::new(
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        CLUSTER,
        types::<k8s::scheduling::v1::PriorityClass, pb::scheduling::v1::PriorityClass>(),
    )
    .short(&["pc"]),
    // admissionregistration.k8s.io/v1: webhook configurations are stored only, no webhook is ever
    // called.
    Kind::new(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        CLUSTER,
        types::<
            k8s::admissionregistration::v1::ValidatingWebhookConfiguration,
            pb::admissionregistration::v1::ValidatingWebhookConfiguration,
        >(),
    )
    .categories(API_EXTENSIONS)
    .generation(),
    Kind::new(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        CLUSTER,
        types::<
            k8s::admissionregistration::v1::MutatingWebhookConfiguration,
            pb::admissionregistration::v1::MutatingWebhookConfiguration,
        >(),
    )
    .categories(API_EXTENSIONS)
    .generation(),
    // Evaluated on writes by `admission`.
    Kind::new(
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        CLUSTER,
        types::<
            k8s::admissionregistration::v1::ValidatingAdmissionPolicy,
            pb::admissionregistration::v1::ValidatingAdmissionPolicy,
        >(),
    )
    .categories(API_EXTENSIONS)
    .with_status(),
    Kind::new(
        "admissionregistration.k8s.io",
        "v1",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        CLUSTER,
        types::<
            k8s::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
            pb::admissionregistration::v1::ValidatingAdmissionPolicyBinding,
        >(),
    )
    .categories(API_EXTENSIONS)
    .generation(),
    // coordination.k8s.io/v1, events.k8s.io/v1
    Kind::new(
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        NS,
        types::<k8s::coordination::v1::Lease, pb::coordination::v1::Lease>(),
    ),
    Kind::new(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        NS,
        types::<k8s::events::v1::Event, pb::events::v1::Event>(),
    )
    .short(&["ev"]),
    // apiextensions.k8s.io/v1
    Kind::new(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        CLUSTER,
        json_only::<k8s_ext::CustomResourceDefinition>(),
    )
    .short(&["crd", "crds"])
    .categories(API_EXTENSIONS)
    .with_status(),
];

/// The schemas of every built-in kind, from k8s-openapi, as one set of definitions whose `$ref`s
/// point at `#/definitions/<name>` (the form OpenAPI v2 publishes).
pub struct Schemas {
    pub definitions: Map<String, Value>,
    /// The definition name of each kind, by [`Kind::key`].
    roots: HashMap<String, String>,
    /// The definition name of each kind of the table, by group, version and kind (looked up on
    /// every write, without formatting a key).
    kind_roots: HashMap<(&'static str, &'static str, &'static str), String>,
}

/// Built once, on first use.
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut settings = schemars::generate::SchemaSettings::draft2020_12();
        settings.definitions_path = "/definitions".into();
        settings.meta_schema = None;
        let mut generator = settings.into_generator();
        let mut roots = HashMap::new();
        let mut kind_roots = HashMap::new();
        for kind in KINDS {
            let root = (kind.types.schema)(&mut generator);
            if let Some(name) = ref_name(root.as_value()) {
                roots.insert(kind.key(), name.to_string());
                kind_roots.insert((kind.group, kind.version, kind.kind), name.to_string());
            }
        }
        let delete =
            schema::<k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions>(&mut generator);
        if let Some(name) = ref_name(delete.as_value()) {
            roots.insert(DELETE_OPTIONS.to_string(), name.to_string());
        }
        Schemas {
            definitions: generator.take_definitions(true),
            roots,
            kind_roots,
        }
    })
}

/// The key of `DeleteOptions` among the roots of [`Schemas`].
pub const DELETE_OPTIONS: &str = "meta.k8s.io/v1/DeleteOptions";

fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.rsplit('/').next()
}

impl Schemas {
    /// The schema of a kind.
    pub fn root(&self, kind: &Kind) -> Option<&Value> {
        let name = self
            .kind_roots
            .get(&(kind.group, kind.version, kind.kind))?;
        self.definitions.get(name)
    }

    /// The schema of a root by key ([`Kind::key`] or [`DELETE_OPTIONS`]).
    pub fn by_key(&self, key: &str) -> Option<&Value> {
        self.definitions.get(self.roots.get(key)?)
    }

    /// The definition name of a root by key.
    pub fn name(&self, key: &str) -> Option<&str> {
        self.roots.get(key).map(String::as_str)
    }

    /// Follows a `$ref`.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match ref_name(schema) {
            Some(name) => self.definitions.get(name).unwrap_or(schema),
            None => schema,
        }
    }

    /// Every required property present (not missing, not null), recursively.
    fn required(
        &self,
        value: &Value,
        schema: &Value,
        path: FieldPath<'_>,
    ) -> Result<(), TypeError> {
        let schema = self.resolve(schema);
        match value {
            Value::Object(obj) => {
                if let Some(required) = schema.get("required").and_then(Value::as_array) {
                    for field in required.iter().filter_map(Value::as_str) {
                        if obj.get(field).is_none_or(Value::is_null) {
                            return Err(TypeError::Missing {
                                path: path.field(field).to_string(),
                            });
                        }
                    }
                }
                let props = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                for (field, v) in obj {
                    if let Some(sub) = props.and_then(|p| p.get(field)).or(additional) {
                        self.required(v, sub, path.field(field))?;
                    }
                }
                Ok(())
            }
            Value::Array(items) => match schema.get("items") {
                Some(item_schema) => {
                    for (i, item) in items.iter().enumerate() {
                        self.required(item, item_schema, path.index(i))?;
                    }
                    Ok(())
                }
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// The built-in kind of a group/version/kind.
#[cfg(test)]
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static Kind> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}
