//! Response bodies: single objects, lists (assembled from each object's cached JSON bytes) and
//! server-side Tables.

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::paging::ListMeta;
use super::registry::ResourceInfo;
use super::storage::Stored;
use super::table::IncludeObject;

/// What the client's `Accept` header asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    /// `application/json;as=Table;g=meta.k8s.io;v=v1`, rows carrying what `includeObject` says.
    Table(IncludeObject),
}

impl Format {
    pub fn from_request(headers: &HeaderMap, include_object: Option<&String>) -> Self {
        match Self::from_headers(headers) {
            Self::Table(_) => Self::Table(
                include_object
                    .and_then(|i| IncludeObject::parse(i))
                    .unwrap_or_default(),
            ),
            json => json,
        }
    }

    fn from_headers(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(http::header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .unwrap_or("");
        let table = accept.split(',').any(|part| {
            let params: Vec<&str> = part.split(';').map(str::trim).collect();
            params.contains(&"as=Table")
                && params.contains(&"g=meta.k8s.io")
                && params.contains(&"v=v1")
        });
        if table {
            Self::Table(IncludeObject::default())
        } else {
            Self::Json
        }
    }
}

/// The object's JSON at the version it is served at (all versions share storage; only
/// `apiVersion` differs).
pub fn served_json(info: &ResourceInfo, stored: &Stored) -> Bytes {
    let api_version = info.api_version();
    if stored.value.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()) {
        return stored.json.clone();
    }
    let mut v = (*stored.value).clone();
    v["apiVersion"] = Value::String(api_version);
    Bytes::from(serde_json::to_vec(&v).expect("JSON values serialise"))
}

pub fn json_response(code: StatusCode, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(code)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("valid response")
}

pub fn object(info: &ResourceInfo, stored: &Stored, code: StatusCode, format: Format) -> Response {
    match format {
        Format::Json => json_response(code, served_json(info, stored)),
        Format::Table(include) => table(info, std::slice::from_ref(stored), None, include),
    }
}

pub fn list(info: &ResourceInfo, items: &[Stored], rv: u64, format: Format) -> Response {
    let meta = ListMeta {
        rv,
        ..ListMeta::default()
    };
    list_page(info, items, &meta, format)
}

/// A list with its metadata (`continue`, `remainingItemCount` of a page).
pub fn list_page(
    info: &ResourceInfo,
    items: &[Stored],
    meta: &ListMeta,
    format: Format,
) -> Response {
    if let Format::Table(include) = format {
        return table(info, items, Some(meta), include);
    }
    let size: usize = items.iter().map(|s| s.json.len() + 1).sum();
    let mut buf = BytesMut::with_capacity(size + 128);
    buf.put_slice(
        format!(
            r#"{{"kind":"{}List","apiVersion":"{}","metadata":{},"items":["#,
            info.kind,
            info.api_version(),
            meta.to_json()
        )
        .as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(&served_json(info, item));
    }
    buf.put_slice(b"]}");
    json_response(StatusCode::OK, buf.freeze())
}

fn table(
    info: &ResourceInfo,
    items: &[Stored],
    meta: Option<&ListMeta>,
    include: IncludeObject,
) -> Response {
    let objects: Vec<Value> = items.iter().map(|s| (*s.value).clone()).collect();
    let mut table = info.table.render(&objects, include, jiff::Timestamp::now());
    if let Some(meta) = meta {
        table["metadata"] = meta.to_json();
    }
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&table).expect("JSON values serialise"),
    )
}
