//! One function per verb.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use super::super::admission::{self, Admission, Operation};
use super::super::errors::{ApiError, Cause};
use super::super::fieldvalidation::{self, Directive, Source};
use super::super::filter::ObjectFilter;
use super::super::kinds::Typed;
use super::super::output::{self, Format};
use super::super::paging;
use super::super::protobuf;
use super::super::registry::ResourceInfo;
use super::super::request::ResourcePath;
use super::super::request::truthy;
use super::super::state::ApiState;
use super::super::storage::{DeleteOptions, Deletion, Propagation};
use super::super::watch;
use super::pure::{self, PatchKind, PatchRequest};
use super::strategy::{self, crd_hooks};

type Params = HashMap<String, String>;

pub(super) async fn handle(
    st: &Arc<ApiState>,
    method: &Method,
    verb: &str,
    rp: ResourcePath<'_>,
    params: &Params,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info = st
        .registry
        .get(rp.group, rp.version, rp.resource)
        .ok_or_else(ApiError::path_not_found)?;
    if rp.namespace.is_some() && !info.namespaced {
        return Err(ApiError::path_not_found());
    }
    if let Some(sub) = rp.subresource
        && (sub != "status" || !info.status_subresource)
    {
        return Err(ApiError::path_not_found());
    }
    let dry_run = dry_run(params)?;
    let format = Format::from_request(headers, params.get("includeObject"));
    let ns = rp.namespace.unwrap_or_default();
    match (verb, rp.name) {
        ("get", Some(name)) => get(st, &info, ns, name, format),
        ("list", None) => list(st, &info, rp.namespace, params, format),
        ("watch", name) => watch::serve(
            st,
            &info,
            rp.namespace,
            filter_for(&info, rp.namespace, name, params)?,
            params,
        ),
        ("create", None) => create(st, &info, ns, params, headers, &body, dry_run),
        ("update", Some(name)) => {
            let w = Write {
                name,
                sub: rp.subresource,
                dry_run,
            };
            update(st, &info, ns, w, params, headers, &body)
        }
        ("patch", Some(name)) => {
            let w = Write {
                name,
                sub: rp.subresource,
                dry_run,
            };
            patch(st, &info, ns, w, params, headers, &body)
        }
        ("delete", Some(name)) if rp.subresource.is_none() => {
            delete(st, &info, ns, name, params, headers, &body)
        }
        ("deletecollection", None) => {
            delete_collection(st, &info, rp.namespace, params, headers, format, dry_run)
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

/// `dryRun=All` (the only value the API defines).
fn dry_run(params: &Params) -> Result<bool, ApiError> {
    match params.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: {other:?}: supported values: \"All\""
        ))),
    }
}

/// The object named by an update or patch.
struct Write<'a> {
    name: &'a str,
    sub: Option<&'a str>,
    dry_run: bool,
}

/// The response with one `Warning` header per field-validation warning.
fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        resp.headers_mut()
            .append(http::header::WARNING, fieldvalidation::warning_header(w));
    }
    resp
}

fn filter_for(
    info: &ResourceInfo,
    ns: Option<&str>,
    name: Option<&str>,
    params: &Params,
) -> Result<ObjectFilter, ApiError> {
    let mut filter = ObjectFilter::parse(
        params.get("labelSelector").map(String::as_str),
        params.get("fieldSelector").map(String::as_str),
        info,
    )?;
    if let Some(name) = name {
        filter.name = Some(name.to_string());
    }
    filter.namespace = ns.map(str::to_string);
    Ok(filter)
}

fn get(
    st: &ApiState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    format: Format,
) -> Result<Response, ApiError> {
    let ns = if info.namespaced { ns } else { "" };
    let stored = st
        .store
        .get(&info.storage, ns, name)
        .ok_or_else(|| ApiError::not_found(info.target(), name))?;
    Ok(output::object(info, &stored, StatusCode::OK, format))
}

fn list(
    st: &ApiState,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &Params,
    format: Format,
) -> Result<Response, ApiError> {
    let filter = filter_for(info, ns, None, params)?;
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let from = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => Some(paging::decode(token, info.namespaced)?),
        None => None,
    };
    if limit.is_none() && from.is_none() {
        let (items, rv) = st.store.list(&info.storage, ns, |v| filter.matches(v));
        return Ok(output::list(info, &items, rv, format));
    }
    // Without a selector the filter keeps every object of the namespace, which the store's
    // range already is; with one, kube-apiserver leaves remainingItemCount out, and so does
    // the store.
    let matches = |v: &Value| filter.matches(v);
    let page = st.store.list_page(
        &info.storage,
        ns,
        filter
            .selects()
            .then_some(&matches as &dyn Fn(&Value) -> bool),
        limit,
        from.as_ref().map(|c| (c.rv, &c.after)),
    )?;
    let mut meta = paging::ListMeta {
        rv: page.rv,
        ..Default::default()
    };
    if page.more
        && let Some(last) = page.items.last()
    {
        meta.continue_token = Some(paging::encode(
            page.rv,
            &super::super::storage::object_key(&last.value),
        ));
        meta.remaining = page.remaining;
    }
    Ok(output::list_page(info, &page.items, &meta, format))
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or("")
}

/// A create or update body: JSON, or Kubernetes protobuf for a built-in kind.
fn parse_body(info: &ResourceInfo, headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    if protobuf::is_protobuf(content_type(headers)) {
        return match info.builtin {
            Some(kind) => protobuf::decode_object(body, kind),
            None => Err(ApiError::unsupported_media_type(protobuf::MEDIA_TYPE)),
        };
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as JSON: {e}"
        ))
    })?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

/// `fieldManager`, or the client's user agent up to the first `/`, as the real server does.
fn manager(params: &Params, headers: &HeaderMap) -> String {
    if let Some(m) = params.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    headers
        .get(http::header::USER_AGENT)
        .and_then(|u| u.to_str().ok())
        .and_then(|u| u.split('/').next())
        .filter(|u| !u.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

fn create(
    st: &ApiState,
    info: &Arc<ResourceInfo>,
    ns: &str,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
    dry_run: bool,
) -> Result<Response, ApiError> {
    let directive = Directive::from_params(params)?;
    let mut obj = parse_body(info, headers, body)?;
    strategy::check_type_and_namespace(info, &mut obj, ns, None)?;
    let checked = fieldvalidation::check(info, directive, Source::Body, Some(body), &mut obj)?;
    strategy::prepare_create(info, &mut obj, checked.typed)?;
    let admission = Admission::load(st, info, ns, headers)?;
    admission::check(
        admission.as_ref(),
        info,
        admission::Write {
            operation: Operation::Create,
            subresource: None,
            namespace: ns,
            name: "",
            object: Some(&obj),
            old_object: None,
            dry_run,
        },
    )?;
    pure::record_update(None, &mut obj, &manager(params, headers), None);
    let stored = st.store.create_with(&info.storage, obj, dry_run)?;
    if !dry_run {
        crd_hooks::after_write(st, info, &stored);
    }
    let resp = output::object(info, &stored, StatusCode::CREATED, Format::Json);
    Ok(with_warnings(resp, &checked.warnings))
}

fn update(
    st: &ApiState,
    info: &Arc<ResourceInfo>,
    ns: &str,
    w: Write<'_>,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let Write { name, sub, dry_run } = w;
    let directive = Directive::from_params(params)?;
    let mut obj = parse_body(info, headers, body)?;
    strategy::check_type_and_namespace(info, &mut obj, ns, Some(name))?;
    let checked = fieldvalidation::check(info, directive, Source::Body, Some(body), &mut obj)?;
    let manager = manager(params, headers);
    let admission = Admission::load(st, info, ns, headers)?;
    let (stored, _) = st
        .store
        .write_with(&info.storage, ns, name, dry_run, |cur| {
            let cur = cur.ok_or_else(|| ApiError::not_found(info.target(), name))?;
            let mut new = strategy::prepare_update(info, sub, &cur.value, obj, checked.typed)?;
            admission::check(
                admission.as_ref(),
                info,
                admission::Write {
                    operation: Operation::Update,
                    subresource: sub,
                    namespace: ns,
                    name,
                    object: Some(&new),
                    old_object: Some(&cur.value),
                    dry_run,
                },
            )?;
            pure::record_update(Some(&cur.value), &mut new, &manager, sub);
            Ok(new)
        })?;
    if !dry_run {
        crd_hooks::after_write(st, info, &stored);
    }
    let resp = output::object(info, &stored, StatusCode::OK, Format::Json);
    Ok(with_warnings(resp, &checked.warnings))
}

fn patch(
    st: &ApiState,
    info: &Arc<ResourceInfo>,
    ns: &str,
    w: Write<'_>,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let Write { name, sub, dry_run } = w;
    let directive = Directive::from_params(params)?;
    let kind = pure::patch_kind(content_type(headers), info)?;
    let mut patch = pure::parse_patch(kind, body)?;
    let (manager, mut warnings) = if kind == PatchKind::Apply {
        let warnings = check_apply_fields(info, directive, &mut patch, body)?;
        (apply_field_manager(params)?, warnings)
    } else {
        (manager(params, headers), vec![])
    };
    let req = PatchRequest {
        kind,
        patch: &patch,
        manager: &manager,
        subresource: sub,
        force: truthy(params.get("force")),
        name,
    };
    authorize_create_on_apply(st, info, ns, headers, &req)?;
    let admission = Admission::load(st, info, ns, headers)?;
    let admit = |operation, object: &Value, old_object: Option<&Value>| {
        admission::check(
            admission.as_ref(),
            info,
            admission::Write {
                operation,
                subresource: sub,
                namespace: ns,
                name,
                object: Some(object),
                old_object,
                dry_run,
            },
        )
    };
    let patched_warnings = &mut warnings;
    let (stored, created) =
        st.store
            .write_with(&info.storage, ns, name, dry_run, |cur| match cur {
                None if kind == PatchKind::Apply && sub.is_none() => {
                    create_by_apply(info, ns, &req, &admit)
                }
                None => Err(ApiError::not_found(info.target(), name)),
                Some(cur) => {
                    let target = PatchTarget {
                        info,
                        ns,
                        directive,
                        body,
                    };
                    let (new, warnings) = patch_existing(target, &cur.value, &req, &admit)?;
                    if let Some(warnings) = warnings {
                        *patched_warnings = warnings;
                    }
                    Ok(new)
                }
            })?;
    if !dry_run {
        crd_hooks::after_write(st, info, &stored);
    }
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let resp = output::object(info, &stored, code, Format::Json);
    Ok(with_warnings(resp, &warnings))
}

/// An apply that would create the object needs `create` too, as kube-apiserver asks.
fn authorize_create_on_apply(
    st: &ApiState,
    info: &ResourceInfo,
    ns: &str,
    headers: &HeaderMap,
    req: &PatchRequest<'_>,
) -> Result<(), ApiError> {
    let storage_ns = if info.namespaced { ns } else { "" };
    if req.kind != PatchKind::Apply
        || req.subresource.is_some()
        || st.store.get(&info.storage, storage_ns, req.name).is_some()
    {
        return Ok(());
    }
    super::super::authz::authorize_create_on_apply(
        st,
        headers,
        (&info.group, &info.plural),
        storage_ns,
        req.name,
    )
}

/// An apply of an object that does not exist yet: created from the patch alone, checked,
/// prepared as a create and admitted.
fn create_by_apply(
    info: &ResourceInfo,
    ns: &str,
    req: &PatchRequest<'_>,
    admit: &impl Fn(Operation, &Value, Option<&Value>) -> Result<(), ApiError>,
) -> Result<Value, ApiError> {
    let mut obj = pure::apply_patch(info, None, req)?;
    strategy::check_type_and_namespace(info, &mut obj, ns, Some(req.name))?;
    strategy::prepare_create(info, &mut obj, Typed::Unchecked)?;
    admit(Operation::Create, &obj, None)?;
    Ok(obj)
}

/// Unknown fields of an apply patch are found in the patch, before it is merged: checks them
/// (as the kind they are applied to) and returns the warnings. The patch keeps its own
/// `apiVersion` and `kind`, or their absence.
fn check_apply_fields(
    info: &ResourceInfo,
    directive: Directive,
    patch: &mut Value,
    body: &[u8],
) -> Result<Vec<String>, ApiError> {
    let body_json = body.first() == Some(&b'{');
    let mut checked = patch.clone();
    checked["apiVersion"] = Value::String(info.api_version());
    checked["kind"] = Value::String(info.kind.clone());
    let warnings = fieldvalidation::check(
        info,
        directive,
        Source::Apply,
        body_json.then_some(body),
        &mut checked,
    )?
    .warnings;
    for field in ["apiVersion", "kind"] {
        match (patch.get(field), checked.as_object_mut()) {
            (Some(v), _) => checked[field] = v.clone(),
            (None, Some(m)) => {
                m.remove(field);
            }
            (None, None) => {}
        }
    }
    *patch = checked;
    Ok(warnings)
}

/// An apply patch must name its field manager.
fn apply_field_manager(params: &Params) -> Result<String, ApiError> {
    params
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .cloned()
        .ok_or_else(|| {
            ApiError::invalid(
                super::super::errors::Target {
                    group: "meta.k8s.io",
                    resource: "",
                    kind: "PatchOptions",
                },
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: is required for apply patch".into(),
                    field: "fieldManager".into(),
                }],
            )
        })
}

/// What a patch of an existing object is checked against.
struct PatchTarget<'a> {
    info: &'a ResourceInfo,
    ns: &'a str,
    directive: Directive,
    body: &'a [u8],
}

/// A patch of the existing object `current`: the patched object, checked, prepared as an
/// update and admitted, and the field-validation warnings of a non-apply patch (`None` for
/// an apply, whose fields were checked before the merge).
fn patch_existing(
    target: PatchTarget<'_>,
    current: &Value,
    req: &PatchRequest<'_>,
    admit: &impl Fn(Operation, &Value, Option<&Value>) -> Result<(), ApiError>,
) -> Result<(Value, Option<Vec<String>>), ApiError> {
    let PatchTarget {
        info,
        ns,
        directive,
        body,
    } = target;
    let mut obj = pure::apply_patch(info, Some(current), req)?;
    strategy::check_type_and_namespace(info, &mut obj, ns, Some(req.name))?;
    let warnings = if req.kind == PatchKind::Apply {
        None
    } else {
        let json_body = (req.kind != PatchKind::Json).then_some(body);
        Some(fieldvalidation::check(info, directive, Source::Patch, json_body, &mut obj)?.warnings)
    };
    let mut new = strategy::prepare_update(info, req.subresource, current, obj, Typed::Unchecked)?;
    admit(Operation::Update, &new, Some(current))?;
    if req.kind != PatchKind::Apply {
        pure::record_update(Some(current), &mut new, req.manager, req.subresource);
    }
    Ok((new, warnings))
}

fn delete_options(
    params: &Params,
    headers: Option<&HeaderMap>,
    body: &[u8],
) -> Result<DeleteOptions, ApiError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else if headers.is_some_and(|h| protobuf::is_protobuf(content_type(h))) {
        protobuf::decode_delete_options(body)?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    let policy = params
        .get("propagationPolicy")
        .map(String::as_str)
        .or_else(|| body.get("propagationPolicy").and_then(Value::as_str));
    let orphan = body
        .get("orphanDependents")
        .and_then(Value::as_bool)
        .or_else(|| params.get("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy, orphan) {
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Background") | None, _) => Propagation::Background,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}"
            )));
        }
    };
    let pre = body.get("preconditions");
    let field = |f: &str| {
        pre.and_then(|p| p.get(f))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let dry_run = body
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        precondition_uid: field("uid"),
        precondition_rv: field("resourceVersion"),
        dry_run,
    })
}

fn delete(
    st: &ApiState,
    info: &Arc<ResourceInfo>,
    ns: &str,
    name: &str,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut opts = delete_options(params, Some(headers), body)?;
    opts.dry_run |= dry_run(params)?;
    let ns = if info.namespaced { ns } else { "" };
    if let Some(admission) = Admission::load(st, info, ns, headers)?
        && let Some(cur) = st.store.get(&info.storage, ns, name)
    {
        admission.check(info, deletion(ns, name, &cur.value, opts.dry_run))?;
    }
    let outcome = st.store.delete(&info.storage, ns, name, &opts)?;
    if !opts.dry_run {
        crd_hooks::after_delete(st, info, &outcome);
    }
    Ok(match outcome {
        Deletion::Deleted(s) => output::object(info, &s, StatusCode::OK, Format::Json),
        Deletion::Pending(s) => output::object(info, &s, StatusCode::ACCEPTED, Format::Json),
    })
}

/// What admission sees of a delete: the stored object as `oldObject`.
fn deletion<'a>(ns: &'a str, name: &'a str, cur: &'a Value, dry_run: bool) -> admission::Write<'a> {
    admission::Write {
        operation: Operation::Delete,
        subresource: None,
        namespace: ns,
        name,
        object: None,
        old_object: Some(cur),
        dry_run,
    }
}

fn delete_collection(
    st: &ApiState,
    info: &Arc<ResourceInfo>,
    ns: Option<&str>,
    params: &Params,
    headers: &HeaderMap,
    format: Format,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let mut opts = delete_options(params, None, b"")?;
    opts.dry_run = dry_run;
    let filter = filter_for(info, ns, None, params)?;
    let (items, _) = st.store.list(&info.storage, ns, |v| filter.matches(v));
    let mut deleted = Vec::with_capacity(items.len());
    let mut admissions: HashMap<String, Option<Admission>> = HashMap::new();
    for item in items {
        let (ins, iname) = super::super::storage::object_key(&item.value);
        if !admissions.contains_key(&ins) {
            admissions.insert(ins.clone(), Admission::load(st, info, &ins, headers)?);
        }
        if let Some(Some(admission)) = admissions.get(&ins) {
            admission.check(info, deletion(&ins, &iname, &item.value, dry_run))?;
        }
        match st.store.delete(&info.storage, &ins, &iname, &opts) {
            Ok(outcome) => {
                if !dry_run {
                    crd_hooks::after_delete(st, info, &outcome);
                }
                deleted.push(match outcome {
                    Deletion::Deleted(s) | Deletion::Pending(s) => s,
                });
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(output::list(info, &deleted, st.store.current_rv(), format))
}

#[cfg(test)]
mod patch_tests {
    use super::*;

    #[test]
    fn an_apply_patch_without_a_field_manager_is_refused_as_the_apiserver_does() {
        let params = |m: Option<&str>| -> Params {
            m.map(|m| ("fieldManager".to_owned(), m.to_owned()))
                .into_iter()
                .collect()
        };
        assert_eq!(
            apply_field_manager(&params(Some("kubectl"))).unwrap(),
            "kubectl"
        );
        for missing in [None, Some("")] {
            let err = apply_field_manager(&params(missing)).unwrap_err();
            assert_eq!(err.code, 422, "{missing:?}");
            assert!(
                err.message.contains("fieldManager: Required value"),
                "{}",
                err.message
            );
        }
    }
}
