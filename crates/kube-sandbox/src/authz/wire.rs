//! The protobuf form of the access reviews: kubectl sends `SelfSubjectAccessReview` and
//! `SelfSubjectRulesReview` as `application/vnd.kubernetes.protobuf` (the `k8s\0` envelope
//! around a `runtime.Unknown`). Only the review's `spec` is read, into the JSON shape the
//! reviews take; field numbers are those of `k8s.io/api/authorization/v1`.

use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// The review's JSON form (`{"spec": …}`), or `None` when `body` is not a protobuf envelope.
pub fn review_from_protobuf(body: &[u8], kind: &str) -> Option<Value> {
    let unknown = body.strip_prefix(MAGIC)?;
    let raw = field(&fields(unknown)?, 2)?;
    let spec = fields(field(&fields(raw)?, 2).unwrap_or_default())?;
    let mut out = Map::new();
    if kind == "SelfSubjectRulesReview" {
        out.insert("namespace".into(), json!(string(&spec, 1)));
        return Some(json!({ "spec": out }));
    }
    if let Some(r) = field(&spec, 1) {
        let r = fields(r)?;
        let names = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        let attrs: Map<String, Value> = names
            .iter()
            .zip(1..)
            .map(|(n, i)| (n.to_string(), json!(string(&r, i))))
            .collect();
        out.insert("resourceAttributes".into(), Value::Object(attrs));
    }
    if let Some(n) = field(&spec, 2) {
        let n = fields(n)?;
        out.insert(
            "nonResourceAttributes".into(),
            json!({ "path": string(&n, 1), "verb": string(&n, 2) }),
        );
    }
    if kind != "SelfSubjectAccessReview" {
        out.insert("user".into(), json!(string(&spec, 3)));
        let groups: Vec<String> = spec
            .iter()
            .filter(|(n, _)| *n == 4)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect();
        out.insert("groups".into(), json!(groups));
    }
    Some(json!({ "spec": out }))
}

fn field<'a>(fields: &[(u64, &'a [u8])], number: u64) -> Option<&'a [u8]> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| *v)
}

fn string(fields: &[(u64, &[u8])], number: u64) -> String {
    field(fields, number)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// The length-delimited fields of one message, in order (other wire types are skipped).
fn fields(mut buf: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = vec![];
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        match key & 7 {
            0 => {
                varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let (value, rest) = (buf.get(..len)?, buf.get(len..)?);
                out.push((key >> 3, value));
                buf = rest;
            }
            5 => buf = buf.get(4..)?,
            _ => return None,
        }
    }
    Some(out)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_field(number: u64, value: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, value.len() as u8];
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn a_self_subject_access_review_envelope_reads_as_its_json_spec() {
        let attrs = [
            bytes_field(1, b"team"),
            bytes_field(2, b"list"),
            bytes_field(5, b"configmaps"),
        ]
        .concat();
        let spec = bytes_field(1, &attrs);
        let review = [bytes_field(1, b""), bytes_field(2, &spec)].concat();
        let type_meta = [
            bytes_field(1, b"authorization.k8s.io/v1"),
            bytes_field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let unknown = [bytes_field(1, &type_meta), bytes_field(2, &review)].concat();
        let body = [MAGIC, &unknown].concat();
        let json = review_from_protobuf(&body, "SelfSubjectAccessReview").unwrap();
        assert_eq!(json["spec"]["resourceAttributes"]["namespace"], "team");
        assert_eq!(json["spec"]["resourceAttributes"]["verb"], "list");
        assert_eq!(json["spec"]["resourceAttributes"]["resource"], "configmaps");
        assert_eq!(json["spec"]["resourceAttributes"]["group"], "");
        assert!(review_from_protobuf(b"{}", "SelfSubjectAccessReview").is_none());
    }
}
