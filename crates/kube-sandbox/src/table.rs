//! Server-side `meta.k8s.io/v1` `Table` responses (what `kubectl get` asks for with
//! `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).
//!
//! Faithful to kube-apiserver: a CRD's `additionalPrinterColumns` after a leading `Name` column
//! (a CRD without columns gets `Age` from `.metadata.creationTimestamp`, as the apiserver's CRD
//! defaulting adds it); each cell is the first JSONPath result, `null` when there is none;
//! `integer`/`number`/`boolean` cells typed, `string` cells printed text, `date` cells rendered
//! as ages (`5m`, `3d4h`, like `duration.HumanDuration`) against a caller-supplied clock; columns
//! with `priority` > 0 are sent too (kubectl shows them with `-o wide`); `includeObject` `None`,
//! `Metadata` (a `PartialObjectMetadata`, the default) or `Object`.
//!
//! Built-in kinds get the columns kubectl users know (`Secret`: Name, Type, Data, Age; `Deployment`:
//! Name, Ready, Up-to-date, Available, Age, ...); other kinds fall back to the apiserver's
//! default Name and Created At (RFC 3339). Simplified: JSONPath is RFC 9535 (`jsonpath-rust`)
//! after turning the Kubernetes `{.a.b}`/`.a.b` form into `$.a.b`, which covers field access,
//! indexes, wildcards and filters like `[?(@.type=="Ready")]` but not Kubernetes'
//! `range`/`end` templates; built-in column descriptions are short.

use jiff::Timestamp;
use jsonpath_rust::parser::model::JpQuery;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceColumnDefinition;
use serde_json::{Value, json};

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter; unknown values are `None` of this function.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "None" => Some(Self::None),
            "Metadata" => Some(Self::Metadata),
            "Object" => Some(Self::Object),
            _ => None,
        }
    }
}

/// A printer column whose JSONPath does not parse (the apiserver refuses such a CRD).
#[derive(Debug, thiserror::Error)]
#[error("unrecognized column definition {json_path:?}")]
pub struct TableError {
    pub json_path: String,
    #[source]
    source: jsonpath_rust::parser::errors::JsonPathError,
}

#[derive(Clone, Debug)]
enum Cell {
    Name,
    Path { query: JpQuery, column_type: String },
    Computed(fn(&Value, Timestamp) -> Value),
}

#[derive(Clone, Debug)]
struct Column {
    definition: Value,
    cell: Cell,
}

/// The columns of one resource, built once and used for every table of it.
#[derive(Clone, Debug)]
pub struct TableConvertor {
    columns: Vec<Column>,
}

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although \
     some resources may allow a client to request the generation of an appropriate name automatically. Name is \
     primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: \
     https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATION_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was \
     created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set \
     this value. It is represented in RFC3339 form and is in UTC.";

fn definition(
    name: &str,
    column_type: &str,
    format: &str,
    description: &str,
    priority: i32,
) -> Value {
    json!({"name": name, "type": column_type, "format": format, "description": description, "priority": priority})
}

fn name_column() -> Column {
    Column {
        definition: definition("Name", "string", "name", NAME_DESCRIPTION, 0),
        cell: Cell::Name,
    }
}

fn computed(
    name: &str,
    column_type: &str,
    description: &str,
    priority: i32,
    f: fn(&Value, Timestamp) -> Value,
) -> Column {
    Column {
        definition: definition(name, column_type, "", description, priority),
        cell: Cell::Computed(f),
    }
}

fn age_column() -> Column {
    computed("Age", "string", CREATION_DESCRIPTION, 0, |o, now| {
        age_cell(o.pointer("/metadata/creationTimestamp"), now)
    })
}

/// Turns `{.a.b}` or `.a.b` into the RFC 9535 `$.a.b`.
fn to_rfc9535(path: &str) -> String {
    let trimmed = path.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(trimmed)
        .trim();
    if inner.starts_with('$') {
        inner.to_owned()
    } else if inner.starts_with('.') || inner.starts_with('[') {
        format!("${inner}")
    } else {
        format!("$.{inner}")
    }
}

impl TableConvertor {
    /// The table of a custom resource version with these printer columns.
    pub fn for_crd(columns: &[CustomResourceColumnDefinition]) -> Result<Self, TableError> {
        if columns.is_empty() {
            return Self::for_crd(&[CustomResourceColumnDefinition {
                name: "Age".into(),
                type_: "date".into(),
                json_path: ".metadata.creationTimestamp".into(),
                ..CustomResourceColumnDefinition::default()
            }]);
        }
        let mut out = vec![name_column()];
        for column in columns {
            let query = jsonpath_rust::parser::parse_json_path(&to_rfc9535(&column.json_path))
                .map_err(|source| TableError {
                    json_path: column.json_path.clone(),
                    source,
                })?;
            let description = column.description.clone().unwrap_or_else(|| {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    column.json_path
                )
            });
            out.push(Column {
                definition: definition(
                    &column.name,
                    &column.type_,
                    column.format.as_deref().unwrap_or_default(),
                    &description,
                    column.priority.unwrap_or(0),
                ),
                cell: Cell::Path {
                    query,
                    column_type: column.type_.clone(),
                },
            });
        }
        Ok(Self { columns: out })
    }

    /// The table kubectl shows for a built-in kind (by API group and kind).
    pub fn for_builtin(group: &str, kind: &str) -> Self {
        let kind_columns = match (group, kind) {
            ("", "Secret") => secret_columns(),
            ("", "ConfigMap") => config_map_columns(),
            ("", "Namespace") => namespace_columns(),
            ("", "ServiceAccount") => service_account_columns(),
            ("coordination.k8s.io", "Lease") => lease_columns(),
            ("apps", "Deployment" | "StatefulSet") => replicated_columns(kind == "Deployment"),
            ("apps", "DaemonSet") => daemon_set_columns(),
            ("", "Event") | ("events.k8s.io", "Event") => {
                return Self {
                    columns: event_columns(),
                };
            }
            _ => {
                return Self {
                    columns: vec![name_column(), created_at_column()],
                };
            }
        };
        let mut columns = vec![name_column()];
        columns.extend(kind_columns);
        columns.push(age_column());
        Self { columns }
    }

    /// The `Table` of `objects`; the caller adds list metadata (`resourceVersion`, `continue`)
    /// under `metadata`.
    pub fn render(
        &self,
        objects: &[Value],
        include_object: IncludeObject,
        now: Timestamp,
    ) -> Value {
        let definitions: Vec<Value> = self.columns.iter().map(|c| c.definition.clone()).collect();
        let rows: Vec<Value> = objects
            .iter()
            .map(|object| {
                let cells: Vec<Value> = self.columns.iter().map(|c| cell(&c.cell, object, now)).collect();
                let mut row = json!({"cells": cells});
                match include_object {
                    IncludeObject::None => {}
                    IncludeObject::Metadata => {
                        row["object"] = json!({
                            "kind": "PartialObjectMetadata",
                            "apiVersion": "meta.k8s.io/v1",
                            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
                        });
                    }
                    IncludeObject::Object => row["object"] = object.clone(),
                }
                row
            })
            .collect();
        json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {},
            "columnDefinitions": definitions,
            "rows": rows,
        })
    }
}

/// A Secret's columns between Name and Age: Type, Data.
fn secret_columns() -> Vec<Column> {
    vec![
        computed("Type", "string", "The type of the secret", 0, |o, _| {
            o.get("type").cloned().unwrap_or(Value::Null)
        }),
        computed(
            "Data",
            "integer",
            "The number of keys in the secret's data",
            0,
            |o, _| json!(count(o.get("data"))),
        ),
    ]
}

/// A ConfigMap's column between Name and Age: Data.
fn config_map_columns() -> Vec<Column> {
    vec![computed(
        "Data",
        "integer",
        "The number of keys",
        0,
        |o, _| json!(count(o.get("data")) + count(o.get("binaryData"))),
    )]
}

/// A Namespace's column between Name and Age: Status.
fn namespace_columns() -> Vec<Column> {
    vec![computed(
        "Status",
        "string",
        "The status of the namespace",
        0,
        |o, _| {
            o.pointer("/status/phase")
                .cloned()
                .unwrap_or_else(|| json!("Active"))
        },
    )]
}

/// A ServiceAccount's column between Name and Age: Secrets.
fn service_account_columns() -> Vec<Column> {
    vec![computed(
        "Secrets",
        "string",
        "The secrets of the account",
        0,
        |o, _| json!(count(o.get("secrets"))),
    )]
}

/// A Lease's column between Name and Age: Holder.
fn lease_columns() -> Vec<Column> {
    vec![computed(
        "Holder",
        "string",
        "The holder of the lease",
        0,
        |o, _| {
            o.pointer("/spec/holderIdentity")
                .cloned()
                .unwrap_or(Value::Null)
        },
    )]
}

/// Ready, for a StatefulSet or a Deployment; Up-to-date and Available too for a Deployment.
fn replicated_columns(deployment: bool) -> Vec<Column> {
    let mut columns = vec![computed(
        "Ready",
        "string",
        "The number of ready replicas of the desired",
        0,
        |o, _| {
            json!(format!(
                "{}/{}",
                number(o, "/status/readyReplicas"),
                number_or(o, "/spec/replicas", 1)
            ))
        },
    )];
    if deployment {
        columns.push(computed(
            "Up-to-date",
            "integer",
            "Replicas of the latest template",
            0,
            |o, _| json!(number(o, "/status/updatedReplicas")),
        ));
        columns.push(computed(
            "Available",
            "integer",
            "Available replicas",
            0,
            |o, _| json!(number(o, "/status/availableReplicas")),
        ));
    }
    columns
}

/// A DaemonSet's columns between Name and Age: Desired, Current, Ready.
fn daemon_set_columns() -> Vec<Column> {
    vec![
        computed("Desired", "integer", "Desired pods", 0, |o, _| {
            json!(number(o, "/status/desiredNumberScheduled"))
        }),
        computed("Current", "integer", "Current pods", 0, |o, _| {
            json!(number(o, "/status/currentNumberScheduled"))
        }),
        computed("Ready", "integer", "Ready pods", 0, |o, _| {
            json!(number(o, "/status/numberReady"))
        }),
    ]
}

/// An Event's whole table (no Name column): Last Seen, Type, Reason, Object, Message.
fn event_columns() -> Vec<Column> {
    vec![
        computed(
            "Last Seen",
            "string",
            "Time since the event was last seen",
            0,
            |o, now| {
                let seen = [
                    "/lastTimestamp",
                    "/eventTime",
                    "/series/lastObservedTime",
                    "/metadata/creationTimestamp",
                ]
                .iter()
                .find_map(|p| o.pointer(p).filter(|v| v.is_string()));
                age_cell(seen, now)
            },
        ),
        computed("Type", "string", "Normal or Warning", 0, |o, _| {
            o.get("type").cloned().unwrap_or(Value::Null)
        }),
        computed("Reason", "string", "Why the event happened", 0, |o, _| {
            o.get("reason").cloned().unwrap_or(Value::Null)
        }),
        computed(
            "Object",
            "string",
            "The object the event is about",
            0,
            |o, _| {
                let regarding = o.get("involvedObject").or_else(|| o.get("regarding"));
                let kind = regarding
                    .and_then(|r| r.get("kind"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = regarding
                    .and_then(|r| r.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                json!(format!("{}/{name}", kind.to_lowercase()))
            },
        ),
        computed(
            "Message",
            "string",
            "A human-readable description",
            0,
            |o, _| {
                o.get("message")
                    .or_else(|| o.get("note"))
                    .cloned()
                    .unwrap_or(Value::Null)
            },
        ),
    ]
}

/// The column other kinds show after Name, in the apiserver's default table: Created At.
fn created_at_column() -> Column {
    computed("Created At", "date", CREATION_DESCRIPTION, 0, |o, _| {
        o.pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null)
    })
}

/// Renders a custom resource table in one call.
#[cfg(test)]
pub fn render_table(
    columns: &[CustomResourceColumnDefinition],
    objects: &[Value],
    include_object: IncludeObject,
    now: Timestamp,
) -> Result<Value, TableError> {
    Ok(TableConvertor::for_crd(columns)?.render(objects, include_object, now))
}

fn count(value: Option<&Value>) -> usize {
    match value {
        Some(Value::Object(map)) => map.len(),
        Some(Value::Array(items)) => items.len(),
        _ => 0,
    }
}

fn number(object: &Value, pointer: &str) -> i64 {
    number_or(object, pointer, 0)
}

fn number_or(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

fn cell(cell: &Cell, object: &Value, now: Timestamp) -> Value {
    match cell {
        Cell::Name => object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null),
        Cell::Computed(f) => f(object, now),
        Cell::Path { query, column_type } => {
            let first = jsonpath_rust::query::js_path_process(query, object)
                .ok()
                .and_then(|results| results.into_iter().next())
                .map(|r| r.val);
            match first {
                None | Some(Value::Null) => Value::Null,
                Some(value) => typed_cell(column_type, value, now),
            }
        }
    }
}

/// `cellForJSONValue`: a cell of the column's type, or `null` when the value does not fit.
fn typed_cell(column_type: &str, value: &Value, now: Timestamp) -> Value {
    match (column_type, value) {
        ("string", Value::String(_)) => value.clone(),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_f64().map(|f| Value::from(f as i64)))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map(Value::from).unwrap_or(Value::Null),
        ("boolean", Value::Bool(_)) => value.clone(),
        ("date", Value::String(_)) => age_cell(Some(value), now),
        _ => Value::Null,
    }
}

fn age_cell(timestamp: Option<&Value>, now: Timestamp) -> Value {
    match timestamp {
        None | Some(Value::Null) => json!("<unknown>"),
        Some(Value::String(s)) => match s.parse::<Timestamp>() {
            Ok(then) => json!(human_duration(now.as_second() - then.as_second())),
            Err(_) => json!("<invalid>"),
        },
        Some(_) => json!("<invalid>"),
    }
}

/// Kubernetes' `duration.HumanDuration`: `45s`, `5m10s`, `3h`, `2d4h`, `3y`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        let years = hours / 24 / 365;
        return if days == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{days}d")
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-10T12:00:00Z".parse().unwrap()
    }

    fn column(name: &str, column_type: &str, json_path: &str) -> CustomResourceColumnDefinition {
        CustomResourceColumnDefinition {
            name: name.into(),
            type_: column_type.into(),
            json_path: json_path.into(),
            ..CustomResourceColumnDefinition::default()
        }
    }

    fn token(name: &str, ready: &str, revision: Value) -> Value {
        json!({
            "apiVersion": "iam.witboost.com/v1alpha1", "kind": "AccessToken",
            "metadata": {"name": name, "namespace": "team", "creationTimestamp": "2025-01-10T11:55:00Z"},
            "spec": {"serviceAccountName": "bot"},
            "status": {"phase": "Active", "revision": revision,
                       "conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": ready}]}
        })
    }

    fn columns() -> Vec<CustomResourceColumnDefinition> {
        vec![
            column("Account", "string", ".spec.serviceAccountName"),
            column(
                "Ready",
                "string",
                ".status.conditions[?(@.type==\"Ready\")].status",
            ),
            CustomResourceColumnDefinition {
                priority: Some(1),
                ..column("Revision", "integer", ".status.revision")
            },
            CustomResourceColumnDefinition {
                description: Some("When it expires".into()),
                ..column("Expires", "date", ".status.expiresAt")
            },
            column("Age", "date", ".metadata.creationTimestamp"),
        ]
    }

    #[test]
    fn crd_table_has_name_then_the_printer_columns() {
        let table = render_table(&columns(), &[], IncludeObject::None, now()).unwrap();
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["Name", "Account", "Ready", "Revision", "Expires", "Age"]
        );
        let defs = &table["columnDefinitions"];
        assert_eq!(defs[0]["format"], "name");
        assert_eq!(defs[3]["priority"], 1);
        assert_eq!(defs[3]["type"], "integer");
        assert_eq!(defs[4]["description"], "When it expires");
        assert_eq!(
            defs[1]["description"],
            "Custom resource definition column (in JSONPath format): .spec.serviceAccountName"
        );
    }

    #[test]
    fn cells_follow_json_paths_filters_and_types() {
        let table = render_table(
            &columns(),
            &[token("ci", "True", json!(3))],
            IncludeObject::None,
            now(),
        )
        .unwrap();
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["ci", "bot", "True", 3, null, "5m"])
        );
        assert!(table["rows"][0].get("object").is_none());
    }

    #[test]
    fn integer_cells_of_the_wrong_type_are_null() {
        let table = render_table(
            &columns(),
            &[token("ci", "False", json!("three"))],
            IncludeObject::None,
            now(),
        )
        .unwrap();
        assert_eq!(table["rows"][0]["cells"][3], Value::Null);
        assert_eq!(table["rows"][0]["cells"][2], "False");
    }

    #[test]
    fn rows_carry_partial_object_metadata_by_default_or_the_object() {
        let objects = [token("ci", "True", json!(1))];
        let table = render_table(&columns(), &objects, IncludeObject::default(), now()).unwrap();
        let object = &table["rows"][0]["object"];
        assert_eq!(object["kind"], "PartialObjectMetadata");
        assert_eq!(object["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(object["metadata"]["name"], "ci");
        assert!(object.get("spec").is_none());

        let table = render_table(&columns(), &objects, IncludeObject::Object, now()).unwrap();
        assert_eq!(table["rows"][0]["object"], objects[0]);
    }

    #[test]
    fn crd_without_printer_columns_shows_name_and_age() {
        let table = render_table(
            &[],
            &[token("ci", "True", json!(1))],
            IncludeObject::None,
            now(),
        )
        .unwrap();
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Age"]);
        assert_eq!(table["rows"][0]["cells"], json!(["ci", "5m"]));
    }

    #[test]
    fn unparsable_json_path_is_refused() {
        let err = TableConvertor::for_crd(&[column("Bad", "string", ".status[?(")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unrecognized column definition \".status[?(\""
        );
    }

    #[test]
    fn braced_kubernetes_json_paths_are_accepted() {
        let table = render_table(
            &[column("Phase", "string", "{.status.phase}")],
            &[token("ci", "True", json!(1))],
            IncludeObject::None,
            now(),
        )
        .unwrap();
        assert_eq!(table["rows"][0]["cells"][1], "Active");
    }

    #[test]
    fn secret_table_shows_type_data_count_and_age() {
        let secret = json!({"metadata": {"name": "ci", "creationTimestamp": "2025-01-08T12:00:00Z"},
                            "type": "kubernetes.io/basic-auth", "data": {"username": "", "password": "", "token": ""}});
        let table =
            TableConvertor::for_builtin("", "Secret").render(&[secret], IncludeObject::None, now());
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Type", "Data", "Age"]);
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["ci", "kubernetes.io/basic-auth", 3, "2d"])
        );
    }

    #[test]
    fn deployment_table_shows_ready_replicas() {
        let deployment = json!({"metadata": {"name": "web", "creationTimestamp": "2025-01-10T11:59:30Z"},
                                "spec": {"replicas": 2}, "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}});
        let table = TableConvertor::for_builtin("apps", "Deployment").render(
            &[deployment],
            IncludeObject::None,
            now(),
        );
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["web", "1/2", 2, 1, "30s"])
        );
    }

    #[test]
    fn unknown_kinds_get_name_and_created_at() {
        let object =
            json!({"metadata": {"name": "x", "creationTimestamp": "2025-01-10T11:00:00Z"}});
        let table = TableConvertor::for_builtin("apiextensions.k8s.io", "CustomResourceDefinition")
            .render(&[object], IncludeObject::None, now());
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["x", "2025-01-10T11:00:00Z"])
        );
        assert_eq!(table["columnDefinitions"][1]["type"], "date");
    }

    #[test]
    fn event_table_names_the_object_and_reason() {
        let event = json!({"metadata": {"name": "e"}, "type": "Warning", "reason": "SecretNotOwned",
                           "message": "refusing", "lastTimestamp": "2025-01-10T11:58:00Z",
                           "involvedObject": {"kind": "AccessToken", "name": "ci"}});
        let table =
            TableConvertor::for_builtin("", "Event").render(&[event], IncludeObject::None, now());
        assert_eq!(
            table["rows"][0]["cells"],
            json!([
                "2m",
                "Warning",
                "SecretNotOwned",
                "accesstoken/ci",
                "refusing"
            ])
        );
    }

    #[test]
    fn human_durations_read_like_kubectl() {
        let cases = [
            (-5, "<invalid>"),
            (-1, "0s"),
            (59, "59s"),
            (119, "119s"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 300, "3h5m"),
            (20 * 3600, "20h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (3000 * 86400, "8y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}");
        }
    }

    #[test]
    fn missing_timestamps_are_unknown_and_garbage_invalid() {
        assert_eq!(age_cell(None, now()), "<unknown>");
        assert_eq!(age_cell(Some(&json!("yesterday")), now()), "<invalid>");
        assert_eq!(IncludeObject::parse("Object"), Some(IncludeObject::Object));
        assert_eq!(IncludeObject::parse("All"), None);
    }
}
