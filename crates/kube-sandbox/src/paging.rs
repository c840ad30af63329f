//! List paging (`limit` and `continue`), as kube-apiserver does it over etcd: every page of one
//! list shows the objects as they were at the first page's resourceVersion, `continue` names
//! that version and the last key returned, and `remainingItemCount` counts what is left (when no
//! selector is given). The store rebuilds an earlier state from its per-resource history (the
//! objects' previous versions), so a token is good as long as that history reaches back to its
//! version, like etcd until compaction; after that the token gets `410 Expired`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::errors::ApiError;
use super::storage::ObjKey;

/// Where a continued list resumes: the snapshot's resourceVersion and the last key returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continue {
    pub rv: u64,
    pub after: ObjKey,
}

/// A page's list metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListMeta {
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<u64>,
}

impl ListMeta {
    pub fn to_json(&self) -> Value {
        let mut meta = json!({ "resourceVersion": self.rv.to_string() });
        if let Some(token) = &self.continue_token {
            meta["continue"] = json!(token);
        }
        if let Some(remaining) = self.remaining {
            meta["remainingItemCount"] = json!(remaining);
        }
        meta
    }
}

/// The token of a list continued after `after` at `rv` (kube-apiserver's shape:
/// base64 of `{"v":"meta.k8s.io/v1","rv":…,"start":"<key>\u0000"}`).
pub fn encode(rv: u64, after: &ObjKey) -> String {
    let start = if after.0.is_empty() {
        format!("{}\u{0}", after.1)
    } else {
        format!("{}/{}\u{0}", after.0, after.1)
    };
    let token = json!({ "v": "meta.k8s.io/v1", "rv": rv, "start": start });
    STANDARD.encode(token.to_string())
}

/// Read a `continue` parameter.
pub fn decode(token: &str, namespaced: bool) -> Result<Continue, ApiError> {
    let invalid = |why: &str| {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {why}"
        ))
    };
    let bytes = STANDARD
        .decode(token)
        .map_err(|_| invalid("expected base64 encoded value"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| invalid("expected JSON value"))?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(invalid("server does not recognize this encoded version"));
    }
    let rv = v
        .get("rv")
        .and_then(Value::as_u64)
        .filter(|rv| *rv > 0)
        .ok_or_else(|| {
            invalid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
        })?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .map(|s| s.trim_end_matches('\u{0}'))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("encoded start key empty"))?;
    let after = match (namespaced, start.split_once('/')) {
        (true, Some((ns, name))) => (ns.to_string(), name.to_string()),
        (false, None) => (String::new(), start.to_string()),
        _ => {
            return Err(invalid(
                "encoded start key does not name an object of this resource",
            ));
        }
    };
    Ok(Continue { rv, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_for_namespaced_and_cluster_keys() {
        let key = ("default".to_string(), "a".to_string());
        assert_eq!(
            decode(&encode(7, &key), true).unwrap(),
            Continue { rv: 7, after: key }
        );
        let key = (String::new(), "ns1".to_string());
        assert_eq!(
            decode(&encode(9, &key), false).unwrap(),
            Continue { rv: 9, after: key }
        );
    }

    #[test]
    fn garbage_tokens_are_bad_requests() {
        for token in [
            "???",
            "e30=",
            &STANDARD.encode(r#"{"v":"x","rv":1,"start":"a"}"#),
        ] {
            assert_eq!(decode(token, true).unwrap_err().code, 400, "{token}");
        }
    }
}
