//! From the printed structure of a decoded k8s-pb message to Kubernetes JSON, guided by
//! k8s-openapi's schema of the kind (see the module docs of `protobuf`).

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::debug::Node;

/// Go's zero `time.Time` in Unix seconds: what `metav1.Time{}` becomes on the wire.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// Converts `node` (a message, field or value) with the schema `schema`.
pub fn to_json(node: &Node, schema: &Value, defs: &Map<String, Value>) -> Result<Value, String> {
    let schema = resolve(schema, defs);
    match node {
        Node::Some(inner) => to_json(inner, schema, defs),
        Node::None => Ok(Value::Null),
        Node::Struct(name, fields) => match special(name, fields)? {
            Some(v) => Ok(v),
            None => object(fields, schema, defs),
        },
        Node::Str(s) => Ok(Value::String(s.clone())),
        Node::Num(n) => number(n),
        Node::Bool(b) => Ok(Value::Bool(*b)),
        Node::List(items) if is_bytes(schema) => bytes(items).map(|b| Value::String(base64(&b))),
        Node::List(items) => {
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            items
                .iter()
                .map(|i| to_json(i, item_schema, defs))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Node::Map(entries) => {
            let value_schema = schema.get("additionalProperties").unwrap_or(&Value::Null);
            let mut out = Map::new();
            for (key, value) in entries {
                let Node::Str(key) = key else {
                    return Err(format!("a map key that is not a string: {key:?}"));
                };
                out.insert(key.clone(), to_json(value, value_schema, defs)?);
            }
            Ok(Value::Object(out))
        }
    }
}

fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .rsplit('/')
            .next()
            .and_then(|name| defs.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

fn is_bytes(schema: &Value) -> bool {
    schema.get("format").and_then(Value::as_str) == Some("byte")
}

/// The JSON property a Rust field name stands for: prost snake-cases the proto (= JSON) name,
/// so `volume_id` is `volumeID` and `external_i_ps` is `externalIPs`.
fn property<'a>(schema: &'a Value, rust_name: &str) -> Option<(&'a String, &'a Value)> {
    let wanted = normalise(rust_name.trim_start_matches("r#"));
    schema
        .get("properties")?
        .as_object()?
        .iter()
        .find(|(name, _)| normalise(name) == wanted)
}

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

fn object(
    fields: &[(String, Node)],
    schema: &Value,
    defs: &Map<String, Value>,
) -> Result<Value, String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (rust_name, node) in fields {
        let value = match node {
            Node::None => continue,
            Node::Some(inner) => inner.as_ref(),
            other => other,
        };
        let Some((name, field_schema)) = property(schema, rust_name) else {
            // A Go struct embedded inline (`IngressRule.IngressRuleValue`, `Volume.VolumeSource`,
            // `Probe.ProbeHandler`) is a message field on the wire and its fields in JSON.
            if let Node::Struct(_, inner) = value
                && let Value::Object(inlined) = object(inner, schema, defs)?
            {
                out.extend(inlined);
                continue;
            }
            return Err(format!(
                "the field {rust_name} has no counterpart in the Kubernetes schema"
            ));
        };
        let is_required = required.contains(&name.as_str());
        let converted = to_json(value, field_schema, defs)?;
        // Go writes every non-pointer scalar and never an empty list or map; `omitempty`
        // drops zero values again on the way to JSON, except for required fields.
        let zero = match value {
            Node::Str(_) | Node::Num(_) | Node::Bool(_) => is_zero(&converted),
            Node::List(items) => items.is_empty(),
            Node::Map(entries) => entries.is_empty(),
            _ => false,
        };
        if zero && !is_required {
            continue;
        }
        // A zero `Time` (and an empty `RawExtension`): Kubernetes 1.37 omits them (`omitzero`).
        if converted.is_null() && matches!(value, Node::Struct(..)) {
            continue;
        }
        let converted = match value {
            // A required list or map that is empty was a nil slice or map: `null` in Go's JSON.
            Node::List(items) if items.is_empty() => Value::Null,
            Node::Map(entries) if entries.is_empty() => Value::Null,
            _ => converted,
        };
        out.insert(name.clone(), converted);
    }
    Ok(Value::Object(out))
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// The k8s-pb types whose JSON form is not an object of their fields.
fn special(name: &str, fields: &[(String, Node)]) -> Result<Option<Value>, String> {
    let field = |wanted: &str| {
        fields.iter().find_map(|(n, v)| match v {
            Node::Some(inner) if n.trim_start_matches("r#") == wanted => Some(inner.as_ref()),
            _ => None,
        })
    };
    let int = |wanted: &str| -> Result<Option<i64>, String> {
        match field(wanted) {
            Some(Node::Num(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}.{wanted} is not an integer: {n}")),
            Some(other) => Err(format!("{name}.{wanted} is not an integer: {other:?}")),
            None => Ok(None),
        }
    };
    let text = |wanted: &str| match field(wanted) {
        Some(Node::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let known = |names: &[&str]| {
        fields
            .iter()
            .all(|(n, _)| names.contains(&n.trim_start_matches("r#")))
    };
    Ok(Some(match name {
        "Time" | "MicroTime" if known(&["seconds", "nanos"]) => {
            let seconds = int("seconds")?;
            let nanos = int("nanos")?.unwrap_or(0);
            match seconds {
                None | Some(GO_ZERO_TIME) => Value::Null,
                Some(s) => Value::String(timestamp(s, nanos, name == "MicroTime")?),
            }
        }
        "Duration" if known(&["duration"]) => {
            Value::String(go_duration(int("duration")?.unwrap_or(0)))
        }
        "Quantity" if known(&["string"]) => Value::String(text("string").unwrap_or_default()),
        "IntOrString" if known(&["type", "int_val", "str_val"]) => {
            if int("type")? == Some(1) {
                Value::String(text("str_val").unwrap_or_default())
            } else {
                Value::Number(int("int_val")?.unwrap_or(0).into())
            }
        }
        "RawExtension" | "FieldsV1" | "Json" | "JSON" if known(&["raw"]) => match field("raw") {
            Some(Node::List(items)) => {
                let raw = bytes(items)?;
                if raw.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&raw)
                        .map_err(|e| format!("{name} does not hold JSON: {e}"))?
                }
            }
            _ => Value::Null,
        },
        _ => return Ok(None),
    }))
}

fn number(literal: &str) -> Result<Value, String> {
    if let Ok(i) = literal.parse::<i64>() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(u) = literal.parse::<u64>() {
        return Ok(Value::Number(u.into()));
    }
    literal
        .parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(|n| {
            // Go prints whole floats without a fraction: 2.0 is `2`.
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Value::Number((f as i64).into()),
                _ => Value::Number(n),
            }
        })
        .ok_or_else(|| format!("not a JSON number: {literal}"))
}

fn bytes(items: &[Node]) -> Result<Vec<u8>, String> {
    items
        .iter()
        .map(|i| match i {
            Node::Num(n) => n.parse::<u8>().map_err(|_| format!("not a byte: {n}")),
            other => Err(format!("not a byte: {other:?}")),
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn timestamp(seconds: i64, nanos: i64, micro: bool) -> Result<String, String> {
    let t = jiff::Timestamp::new(seconds, i32::try_from(nanos).unwrap_or(0))
        .map_err(|e| format!("not a time: {e}"))?;
    Ok(if micro {
        t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    })
}

/// `time.Duration.String()` of Go: `1h2m3.5s`, `1.5ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let frac = |value: u64, unit: u64| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.to_string().len() - 1;
            let s = format!("{whole}.{rest:0digits$}");
            s.trim_end_matches('0').to_string()
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", frac(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", frac(n, 1_000_000));
    }
    let hours = n / 3_600_000_000_000;
    let minutes = (n / 60_000_000_000) % 60;
    let seconds = frac(n % 60_000_000_000, 1_000_000_000);
    let mut out = sign.to_string();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{seconds}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration(-2_000_000_000), "-2s");
    }

    #[test]
    fn times_are_rfc3339_and_go_zero_is_null() {
        assert_eq!(timestamp(0, 0, false).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(1, 1_000, true).unwrap(),
            "1970-01-01T00:00:01.000001Z"
        );
        let zero = Node::Struct(
            "Time".into(),
            vec![
                (
                    "seconds".into(),
                    Node::Some(Box::new(Node::Num(GO_ZERO_TIME.to_string()))),
                ),
                ("nanos".into(), Node::Some(Box::new(Node::Num("0".into())))),
            ],
        );
        assert_eq!(
            to_json(&zero, &Value::Null, &Map::new()).unwrap(),
            Value::Null
        );
    }
}
