//! The seam to the pure modules (`patch`, `table`, `validation`): routing calls them only
//! through this file, so their signatures touch one place.

use serde_json::{Value, json};

use super::super::admission;
use super::super::errors::{ApiError, Cause};
use super::super::patch::{self, ApplyError, FieldManager, PatchError};
use super::super::registry::ResourceInfo;
use super::super::validation::{self, FieldError};

pub use super::super::patch::PatchType as PatchKind;

/// The patch type of a request; strategic merge patch is refused for custom resources, as the
/// real server does.
pub fn patch_kind(content_type: &str, info: &ResourceInfo) -> Result<PatchKind, ApiError> {
    let kind = PatchKind::from_content_type(content_type)
        .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
    if kind == PatchKind::StrategicMerge && info.custom {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            "strategic merge patch is not supported for custom resources; use a JSON merge patch or server-side apply",
        ));
    }
    Ok(kind)
}

pub fn parse_patch(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let parsed: Result<Value, String> = match kind {
        PatchKind::Apply => serde_json::from_slice(body).or_else(|_| {
            let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
            serde_saphyr::from_str(text).map_err(|e| e.to_string())
        }),
        _ => serde_json::from_slice(body).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

fn manager<'a>(name: &'a str, sub: Option<&'a str>) -> FieldManager<'a> {
    match sub {
        Some(sub) => FieldManager::on_subresource(name, sub),
        None => FieldManager::new(name),
    }
}

/// What one patch request asks for.
pub struct PatchRequest<'a> {
    pub kind: PatchKind,
    pub patch: &'a Value,
    pub manager: &'a str,
    pub subresource: Option<&'a str>,
    pub force: bool,
    pub name: &'a str,
}

/// The object after applying the patch to `live` (`None`: apply creating the object).
pub fn apply_patch(
    info: &ResourceInfo,
    live: Option<&Value>,
    req: &PatchRequest<'_>,
) -> Result<Value, ApiError> {
    let target = live.cloned().unwrap_or_else(|| json!({}));
    let patch_error = |e: PatchError| match e.status_code() {
        422 => ApiError::new(
            422,
            "Invalid",
            format!("the server rejected our request due to an error in our request: {e}"),
        ),
        _ => ApiError::bad_request(e.to_string()),
    };
    match req.kind {
        PatchKind::Json => patch::json_patch(&target, req.patch).map_err(patch_error),
        PatchKind::Merge => Ok(patch::merge_patch(&target, req.patch)),
        PatchKind::StrategicMerge => {
            patch::strategic_merge_patch(&target, req.patch).map_err(patch_error)
        }
        PatchKind::Apply => patch::apply_as(
            live,
            req.patch,
            manager(req.manager, req.subresource),
            req.force,
        )
        .map_err(|e| match e {
            ApplyError::Conflict(conflicts) => {
                patch::conflict_status(&conflicts, &info.kind, &info.group, req.name).into()
            }
            ApplyError::Invalid(msg) => ApiError::bad_request(msg),
        }),
    }
}

/// Record an Update operation of `manager` in `new`'s managedFields.
pub fn record_update(old: Option<&Value>, new: &mut Value, name: &str, sub: Option<&str>) {
    patch::record_update_as(old, new, manager(name, sub));
}

/// Printer columns that do not parse make a CRD invalid.
pub fn check_printer_columns(
    columns: &[k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceColumnDefinition],
) -> Result<(), String> {
    super::super::table::TableConvertor::for_crd(columns)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn invalid(info: &ResourceInfo, obj: &Value, errors: &[FieldError]) -> ApiError {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    validation::invalid_status(&info.kind, &info.group, name, errors).into()
}

/// Schema validation, pruning, defaulting and CEL rules of a custom resource.
pub fn validate_custom(
    info: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(validator) = &info.validator else {
        return Ok(());
    };
    validator
        .validate(obj, old)
        .map_err(|errors| invalid(info, obj, &errors))
}

/// `stringData` folding, `type` default and the real server's Secret checks.
pub fn prepare_secret(
    info: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    validation::normalize_secret(obj);
    validation::validate_secret(obj, old).map_err(|errors| invalid(info, obj, &errors))
}

/// Compile a CRD version's schema; an unusable schema makes the CRD invalid.
pub fn compile_schema(
    schema: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
) -> Result<(), String> {
    validation::SchemaValidator::new(schema)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// kube-apiserver's cost checks of a CRD version's `x-kubernetes-validations`: `Forbidden`
/// causes for each rule over the per-rule limit and for a total over the per-CRD limit.
pub fn check_rule_costs(
    schema: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSONSchemaProps,
    path: &str,
) -> Vec<Cause> {
    let Ok(schema) = serde_json::to_value(schema) else {
        return Vec::new();
    };
    validation::cost::check(&schema, path)
        .into_iter()
        .map(|e| Cause {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {}", e.message),
            field: e.field,
        })
        .collect()
}

/// kube-apiserver's checks of a ValidatingAdmissionPolicy, its CEL compiled.
pub fn check_admission_policy(obj: &Value) -> Vec<Cause> {
    admission::check_policy(obj)
}

/// kube-apiserver's checks of a ValidatingAdmissionPolicyBinding.
pub fn check_admission_policy_binding(obj: &Value) -> Vec<Cause> {
    admission::check_binding(obj)
}
