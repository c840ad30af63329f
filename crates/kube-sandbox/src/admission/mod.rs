//! Validating admission policies: every create, update (the main endpoint and `/status`) and
//! delete is checked against the stored `ValidatingAdmissionPolicy` objects and their
//! `ValidatingAdmissionPolicyBinding`s before it is stored, as kube-apiserver's
//! `ValidatingAdmissionPolicy` plugin does, and a refused write gets its answer:
//! `<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>' with binding
//! '<binding>' denied request: <message>`, with the validation's `reason` (422 `Invalid` by
//! default) and the message as the one cause.
//!
//! Faithful: `matchConstraints` and a binding's `matchResources` (`resourceRules` and
//! `excludeResourceRules` with operations, groups, versions, `resource/subresource` wildcards,
//! `scope` and `resourceNames`; `namespaceSelector`, with a Namespace matched by its own labels
//! and other cluster-scoped objects never excluded; `objectSelector` on the object or the old
//! object); `matchConditions`; `variables`; `validations` with `message`, `messageExpression`
//! (trimmed, one line) and `reason`, else `failed expression: <expression>`; `failurePolicy`
//! (`Fail` by default: an evaluation error denies); the CEL variables `object`, `oldObject`
//! (`null` on create, `object` is `null` on delete), `request` (`operation`, `name`,
//! `namespace`, `dryRun`, `kind`, `resource`, `userInfo.username`/`groups` of the impersonated
//! identity, else the administrator `system:admin` in `system:masters`) and `namespaceObject`;
//! the admission configuration itself (`admissionregistration.k8s.io`) is never subject to
//! policies; a policy whose CEL does not compile is refused at its creation
//! (`spec.validations[0].expression: Invalid value: …: compilation failed: …`).
//!
//! Simplified: no `paramKind`/`paramRef` (a binding's `paramRef` is ignored and `params` is not
//! bound); only the `Deny` action acts (`Warn` and `Audit` bindings are ignored, no warning
//! header, no audit annotation; `auditAnnotations` are not evaluated); `matchPolicy` is always
//! `Exact` (no equivalent versions); no `authorizer` variable; CEL is parsed, not type-checked,
//! at creation (a misspelt field is found when a request reaches it, as an evaluation error);
//! `variables` are inlined into the expressions that use them (kube-cel's evaluator binds no
//! `variables`), so a variable is evaluated once per use; no runtime cost budget; `request` has no
//! `uid`, `subResource`, `requestKind`, `options` nor `userInfo.extra`; the policies are read
//! from the store on every write (no informer delay); policy `status` (type checking) is never
//! written.

mod policy;
mod variables;

#[cfg(test)]
mod tests;

use http::HeaderMap;
use serde_json::{Value, json};

use super::authz::{self, UserInfo};
use super::errors::ApiError;
use super::registry::{ResourceInfo, StorageKey};
use super::state::ApiState;
use super::storage::namespaces_key;

pub use policy::{Operation, check_binding, check_policy};

const GROUP: &str = "admissionregistration.k8s.io";

/// What a write looks like to admission, beside its resource.
#[derive(Clone, Copy, Debug)]
pub struct Write<'a> {
    pub operation: Operation,
    pub subresource: Option<&'a str>,
    pub namespace: &'a str,
    /// The name on the URL (empty on create).
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old_object: Option<&'a Value>,
    pub dry_run: bool,
}

/// The policies and bindings that may apply to the writes of one request, and who makes it.
pub struct Admission {
    policies: Vec<Value>,
    bindings: Vec<Value>,
    user: UserInfo,
    namespace_object: Option<Value>,
}

impl Admission {
    /// `None` when no policy can apply: the resource is exempt or nothing is bound.
    pub fn load(
        st: &ApiState,
        info: &ResourceInfo,
        namespace: &str,
        headers: &HeaderMap,
    ) -> Result<Option<Self>, ApiError> {
        if policy::exempt(&info.group) {
            return Ok(None);
        }
        let all = |resource: &str| -> Vec<Value> {
            let key = StorageKey {
                group: GROUP.into(),
                resource: resource.into(),
            };
            let (items, _) = st.store.list(&key, None, |_| true);
            items.iter().map(|s| (*s.value).clone()).collect()
        };
        let bindings = all("validatingadmissionpolicybindings");
        if bindings.is_empty() {
            return Ok(None);
        }
        let namespace_object = (info.namespaced && !namespace.is_empty())
            .then(|| st.store.get(&namespaces_key(), "", namespace))
            .flatten()
            .map(|s| (*s.value).clone());
        Ok(Some(Self {
            policies: all("validatingadmissionpolicies"),
            bindings,
            user: authz::impersonated(headers)?.unwrap_or_else(authz::administrator),
            namespace_object,
        }))
    }

    /// Admit one write, or refuse it as kube-apiserver does.
    pub fn check(&self, info: &ResourceInfo, write: Write<'_>) -> Result<(), ApiError> {
        let request = policy::Request {
            operation: write.operation,
            group: &info.group,
            version: &info.version,
            resource: &info.plural,
            subresource: write.subresource.unwrap_or_default(),
            kind: &info.kind,
            namespaced: info.namespaced,
            namespace: if info.namespaced { write.namespace } else { "" },
            name: write.name,
            object: write.object,
            old_object: write.old_object,
            user: &self.user,
            dry_run: write.dry_run,
            namespace_object: self.namespace_object.as_ref(),
        };
        policy::admit(&self.policies, &self.bindings, &request)
            .map_err(|denial| denied(info, &write, &denial))
    }
}

/// [`Admission::check`] when there is anything to check.
pub fn check(
    admission: Option<&Admission>,
    info: &ResourceInfo,
    write: Write<'_>,
) -> Result<(), ApiError> {
    admission.map_or(Ok(()), |a| a.check(info, write))
}

/// `admission.NewForbidden` with the reason and code of the denial, and the message as the one
/// cause (`dispatcher.go`).
fn denied(info: &ResourceInfo, write: &Write<'_>, denial: &policy::Denial) -> ApiError {
    let meta = |field: &str| {
        write
            .object
            .or(write.old_object)
            .and_then(|o| o.pointer(&format!("/metadata/{field}")))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = Some(write.name)
        .filter(|n| !n.is_empty())
        .or_else(|| meta("name"))
        .or_else(|| meta("generateName"))
        .unwrap_or("Unknown");
    let qualified = if info.group.is_empty() {
        info.plural.clone()
    } else {
        format!("{}.{}", info.plural, info.group)
    };
    let text = denial.text();
    ApiError {
        details: Some(json!({
            "name": name, "group": info.group, "kind": info.plural,
            "causes": [{ "message": text }],
        })),
        ..ApiError::new(
            denial.code(),
            denial.reason,
            format!("{qualified} {name:?} is forbidden: {text}"),
        )
    }
}
