//! ValidatingAdmissionPolicies against one request, as kube-apiserver's validating policy
//! plugin decides (`admission/plugin/policy/validating`: `dispatcher.go`, `validator.go`).
//!
//! Pure: the policies and bindings come in as JSON, the request as [`Request`]; the CEL is
//! compiled and evaluated with kube-cel's [`VapEvaluator`].

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicySpec,
};
use kube::core::cel::{
    AdmissionRequest, CompiledVapExpression, GroupVersionKind, GroupVersionResource, VapError,
    VapEvaluator, VapExpression, VapResult,
};
use serde_json::Value;

use super::super::authz::UserInfo;
use super::super::errors::Cause;
use super::super::selector::label_selector_matches;
use super::variables::{Undeclared, Variables};

/// The admission operation of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }
}

/// One write, as admission sees it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub operation: Operation,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    /// `""` or `status`.
    pub subresource: &'a str,
    pub kind: &'a str,
    pub namespaced: bool,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The object as it would be stored (`None` on DELETE).
    pub object: Option<&'a Value>,
    /// The object as it is stored (`None` on CREATE).
    pub old_object: Option<&'a Value>,
    pub user: &'a UserInfo,
    pub dry_run: bool,
    /// The Namespace object of a namespaced request (`namespaceObject`, and the labels that
    /// `namespaceSelector`s match).
    pub namespace_object: Option<&'a Value>,
}

/// A request a policy refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial {
    pub policy: String,
    /// `None`: the policy itself could not be used.
    pub binding: Option<String>,
    pub message: String,
    /// The `metav1.StatusReason` of the answer.
    pub reason: &'static str,
}

impl Denial {
    /// kube-apiserver's wording (`dispatcher.go`).
    pub fn text(&self) -> String {
        match &self.binding {
            Some(binding) => format!(
                "ValidatingAdmissionPolicy '{}' with binding '{binding}' denied request: {}",
                self.policy, self.message
            ),
            None => format!(
                "ValidatingAdmissionPolicy '{}' denied request: {}",
                self.policy, self.message
            ),
        }
    }

    /// The HTTP code of [`Self::reason`] (`reasonToCode`).
    pub fn code(&self) -> u16 {
        match self.reason {
            "Unauthorized" => 401,
            "Forbidden" => 403,
            "RequestEntityTooLarge" => 413,
            _ => 422,
        }
    }
}

/// kube-apiserver never runs admission policies on the admission configuration itself
/// (`IsExemptAdmissionConfigurationResource`), so a policy cannot lock its own fix out.
pub fn exempt(group: &str) -> bool {
    group == "admissionregistration.k8s.io"
}

/// The first denial of `request` by the policies and their bindings, in name order; `Ok` when
/// every matching binding admits it.
pub fn admit(policies: &[Value], bindings: &[Value], request: &Request<'_>) -> Result<(), Denial> {
    if exempt(request.group) {
        return Ok(());
    }
    let bindings: Vec<ValidatingAdmissionPolicyBinding> = bindings
        .iter()
        .filter_map(|b| serde_json::from_value(b.clone()).ok())
        .collect();
    let mut evaluator = None;
    for value in policies {
        let Ok(policy) = serde_json::from_value::<ValidatingAdmissionPolicy>(value.clone()) else {
            continue;
        };
        let name = policy.metadata.name.clone().unwrap_or_default();
        let Some(spec) = &policy.spec else { continue };
        let bound: Vec<&ValidatingAdmissionPolicyBinding> = bindings
            .iter()
            .filter(|b| b.spec.policy_name == name)
            .collect();
        let constraints = spec.match_constraints.clone().unwrap_or_default();
        if bound.is_empty() || !resources_match(&constraints, request) {
            continue;
        }
        let fail = spec.failure_policy.as_deref() != Some("Ignore");
        let compiled = match Compiled::new(&policy) {
            Ok(compiled) => compiled,
            Err(problem) if fail => {
                return Err(Denial {
                    policy: name,
                    binding: None,
                    message: format!("failed to configure policy: {problem}"),
                    reason: "Invalid",
                });
            }
            Err(_) => continue,
        };
        let mut decisions = None;
        for binding in bound {
            let binding_spec = &binding.spec;
            if let Some(narrowed) = &binding_spec.match_resources
                && !resources_match(narrowed, request)
            {
                continue;
            }
            if !binding_spec.validation_actions.iter().any(|a| a == "Deny") {
                continue;
            }
            let evaluator = evaluator.get_or_insert_with(|| evaluator_for(request));
            let denied = decisions.get_or_insert_with(|| compiled.decide(evaluator, fail));
            if let Some(first) = denied.first() {
                return Err(Denial {
                    policy: name,
                    binding: binding.metadata.name.clone(),
                    message: first.message.clone(),
                    reason: first.reason,
                });
            }
        }
    }
    Ok(())
}

/// The problems kube-apiserver's validation finds in a ValidatingAdmissionPolicy: missing
/// parts, unsupported values and CEL that does not compile (`compilation failed: …`).
pub fn check_policy(policy: &Value) -> Vec<Cause> {
    let Ok(policy) = serde_json::from_value::<ValidatingAdmissionPolicy>(policy.clone()) else {
        // The kind's type check answers a body that does not decode.
        return vec![];
    };
    let spec = policy.spec.unwrap_or_default();
    let mut causes = required_parts(&spec);
    expressions_compile(&spec, &mut causes);
    reasons_supported(&spec, &mut causes);
    causes
}

/// Resource rules, a supported failure policy, and validations or audit annotations.
fn required_parts(spec: &ValidatingAdmissionPolicySpec) -> Vec<Cause> {
    let mut causes = vec![];
    let rules = spec
        .match_constraints
        .as_ref()
        .and_then(|m| m.resource_rules.as_deref())
        .unwrap_or_default();
    if rules.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.matchConstraints.resourceRules",
            "Required value".into(),
        ));
    }
    if let Some(fp) = spec
        .failure_policy
        .as_deref()
        .filter(|f| !matches!(*f, "Fail" | "Ignore"))
    {
        causes.push(cause(
            "FieldValueNotSupported",
            "spec.failurePolicy",
            format!("Unsupported value: {fp:?}: supported values: \"Fail\", \"Ignore\""),
        ));
    }
    if spec.validations.as_deref().unwrap_or_default().is_empty()
        && spec
            .audit_annotations
            .as_deref()
            .unwrap_or_default()
            .is_empty()
    {
        causes.push(cause(
            "FieldValueRequired",
            "spec.validations",
            "Required value: validations or auditAnnotations must contain at least one item".into(),
        ));
    }
    causes
}

/// Every CEL expression compiles, with the variables declared before it inlined.
fn expressions_compile(spec: &ValidatingAdmissionPolicySpec, causes: &mut Vec<Cause>) {
    let mut variables = Variables::default();
    for (i, v) in spec.variables.iter().flatten().enumerate() {
        let field = format!("spec.variables[{i}].expression");
        match variables.define(&v.name, &v.expression) {
            Ok(inlined) => compiles(causes, &field, &v.expression, &inlined),
            Err(Undeclared(name)) => causes.push(undeclared(&field, &v.expression, &name)),
        }
    }
    let mut check = |field: String, expression: &str| match variables.inline(expression) {
        Ok(inlined) => compiles(causes, &field, expression, &inlined),
        Err(Undeclared(name)) => causes.push(undeclared(&field, expression, &name)),
    };
    for (i, c) in spec.match_conditions.iter().flatten().enumerate() {
        check(
            format!("spec.matchConditions[{i}].expression"),
            &c.expression,
        );
    }
    for (i, v) in spec.validations.iter().flatten().enumerate() {
        check(format!("spec.validations[{i}].expression"), &v.expression);
        if let Some(me) = &v.message_expression {
            check(format!("spec.validations[{i}].messageExpression"), me);
        }
    }
}

/// A validation's `reason` is one of kube-apiserver's.
fn reasons_supported(spec: &ValidatingAdmissionPolicySpec, causes: &mut Vec<Cause>) {
    for (i, v) in spec.validations.iter().flatten().enumerate() {
        if let Some(reason) = v.reason.as_deref().filter(|r| !REASONS.contains(r)) {
            causes.push(cause(
                "FieldValueNotSupported",
                &format!("spec.validations[{i}].reason"),
                format!(
                    "Unsupported value: {reason:?}: supported values: \"Forbidden\", \"Invalid\", \"RequestEntityTooLarge\", \"Unauthorized\""
                ),
            ));
        }
    }
}

/// The problems kube-apiserver's validation finds in a ValidatingAdmissionPolicyBinding.
pub fn check_binding(binding: &Value) -> Vec<Cause> {
    let Ok(binding) = serde_json::from_value::<ValidatingAdmissionPolicyBinding>(binding.clone())
    else {
        return vec![];
    };
    let spec = binding.spec;
    let mut causes = vec![];
    if spec.policy_name.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.policyName",
            "Required value".into(),
        ));
    }
    let actions = spec.validation_actions;
    if actions.is_empty() {
        causes.push(cause(
            "FieldValueRequired",
            "spec.validationActions",
            "Required value: at least one validation action is required".into(),
        ));
    }
    for (i, a) in actions.iter().enumerate() {
        if !matches!(a.as_str(), "Deny" | "Warn" | "Audit") {
            causes.push(cause(
                "FieldValueNotSupported",
                &format!("spec.validationActions[{i}]"),
                format!(
                    "Unsupported value: {a:?}: supported values: \"Audit\", \"Deny\", \"Warn\""
                ),
            ));
        }
    }
    causes
}

const REASONS: &[&str] = &[
    "Forbidden",
    "Invalid",
    "RequestEntityTooLarge",
    "Unauthorized",
];

fn cause(reason: &str, field: &str, message: String) -> Cause {
    Cause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

fn undeclared(field: &str, expression: &str, name: &str) -> Cause {
    cause(
        "FieldValueInvalid",
        field,
        format!(
            "Invalid value: {expression:?}: compilation failed: undeclared reference to 'variables.{name}'"
        ),
    )
}

fn compiles(causes: &mut Vec<Cause>, field: &str, expression: &str, inlined: &str) {
    if let Err(e) = compile(inlined) {
        let detail = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
        causes.push(cause(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {expression:?}: compilation failed: {detail}"),
        ));
    }
}

fn compile(expression: &str) -> Result<CompiledVapExpression, VapError> {
    let mut compiled = VapEvaluator::builder()
        .build()
        .compile_expressions(&[plain(expression)]);
    compiled.pop().expect("one result per expression")
}

/// The message kube-cel gives a `false` result (the policy's own message is chosen here).
const FALSE: &str = "\u{0}false";

fn plain(expression: &str) -> VapExpression {
    VapExpression {
        expression: expression.to_owned(),
        message: Some(FALSE.to_owned()),
        message_expression: None,
    }
}

/// kube's resource matcher: namespace and object selectors, excluded rules, then rules (none:
/// every resource).
fn resources_match(m: &MatchResources, request: &Request<'_>) -> bool {
    namespace_selected(m, request)
        && object_selected(m, request)
        && !m
            .exclude_resource_rules
            .iter()
            .flatten()
            .any(|r| rule_matches(r, request))
        && match m.resource_rules.as_deref() {
            None | Some([]) => true,
            Some(rules) => rules.iter().any(|r| rule_matches(r, request)),
        }
}

fn labels_of<'a>(object: Option<&'a Value>) -> impl Fn(&str) -> Option<&'a str> {
    let labels = object.and_then(|o| o.pointer("/metadata/labels"));
    move |key| labels.and_then(|l| l.get(key)).and_then(Value::as_str)
}

/// A cluster-scoped request other than for a Namespace is never excluded by a namespace
/// selector; a Namespace is matched by its own labels.
fn namespace_selected(m: &MatchResources, request: &Request<'_>) -> bool {
    let Some(selector) = &m.namespace_selector else {
        return true;
    };
    let is_namespace = request.group.is_empty() && request.resource == "namespaces";
    if !request.namespaced && !is_namespace {
        return true;
    }
    let labelled = if is_namespace {
        request.object.or(request.old_object)
    } else {
        request.namespace_object
    };
    label_selector_matches(selector, labels_of(labelled))
}

/// The object or the old object matches (an empty selector: any request).
fn object_selected(m: &MatchResources, request: &Request<'_>) -> bool {
    let Some(selector) = &m.object_selector else {
        return true;
    };
    if selector.match_labels.as_ref().is_none_or(|l| l.is_empty())
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(|e| e.is_empty())
    {
        return true;
    }
    [request.object, request.old_object]
        .into_iter()
        .flatten()
        .any(|o| label_selector_matches(selector, labels_of(Some(o))))
}

/// `admission/plugin/webhook/predicates/rules`: operations, groups, versions, `resource/sub`
/// with `*` wildcards on either side, scope and resource names.
fn rule_matches(rule: &NamedRuleWithOperations, request: &Request<'_>) -> bool {
    let any = |list: &Option<Vec<String>>, value: &str| {
        list.iter().flatten().any(|x| x == "*" || x == value)
    };
    let resource = rule.resources.iter().flatten().any(|r| {
        let (res, sub) = r.split_once('/').unwrap_or((r, ""));
        (res == "*" || res == request.resource) && (sub == "*" || sub == request.subresource)
    });
    let scope = match rule.scope.as_deref() {
        Some("Cluster") => !request.namespaced,
        Some("Namespaced") => request.namespaced,
        _ => true,
    };
    let names = rule.resource_names.as_deref().unwrap_or_default();
    any(&rule.operations, request.operation.as_str())
        && any(&rule.api_groups, request.group)
        && any(&rule.api_versions, request.version)
        && resource
        && scope
        && (names.is_empty() || names.iter().any(|n| n == request.name))
}

fn evaluator_for(request: &Request<'_>) -> VapEvaluator {
    let mut builder = VapEvaluator::builder().request(AdmissionRequest {
        operation: request.operation.as_str().into(),
        username: request.user.name.clone(),
        uid: String::new(),
        groups: request.user.groups.clone(),
        name: request.name.into(),
        namespace: request.namespace.into(),
        dry_run: request.dry_run,
        kind: GroupVersionKind {
            group: request.group.into(),
            version: request.version.into(),
            kind: request.kind.into(),
        },
        resource: GroupVersionResource {
            group: request.group.into(),
            version: request.version.into(),
            resource: request.resource.into(),
        },
    });
    if let Some(object) = request.object {
        builder = builder.object(object.clone());
    }
    if let Some(old) = request.old_object {
        builder = builder.old_object(old.clone());
    }
    let is_namespace = request.group.is_empty() && request.resource == "namespaces";
    if let Some(ns) = request.namespace_object.filter(|_| !is_namespace) {
        builder = builder.namespace_object(ns.clone());
    }
    builder.build()
}

/// One validation, ready to evaluate.
struct Validation {
    expression: String,
    message: Option<String>,
    message_expression: Option<String>,
    reason: &'static str,
}

/// A policy's match conditions and validations, variables inlined and compiled.
struct Compiled {
    conditions: Vec<(String, String)>,
    validations: Vec<Validation>,
    programs: Vec<Result<CompiledVapExpression, VapError>>,
}

/// One denying decision of a policy.
struct Decision {
    message: String,
    reason: &'static str,
}

impl Compiled {
    fn new(policy: &ValidatingAdmissionPolicy) -> Result<Self, String> {
        let spec = policy.spec.clone().unwrap_or_default();
        let variables = Variables::declare(
            spec.variables
                .iter()
                .flatten()
                .map(|v| (v.name.as_str(), v.expression.as_str())),
        )
        .map_err(|(_, Undeclared(name))| format!("undeclared reference to 'variables.{name}'"))?;
        let inline = |e: &str| {
            variables
                .inline(e)
                .map_err(|Undeclared(name)| format!("undeclared reference to 'variables.{name}'"))
        };
        let mut conditions = vec![];
        for c in spec.match_conditions.iter().flatten() {
            conditions.push((c.name.clone(), inline(&c.expression)?));
        }
        let mut validations = vec![];
        for v in spec.validations.iter().flatten() {
            validations.push(Validation {
                expression: v.expression.clone(),
                message: v.message.clone(),
                message_expression: v.message_expression.as_deref().map(inline).transpose()?,
                reason: REASONS
                    .iter()
                    .find(|r| Some(**r) == v.reason.as_deref())
                    .copied()
                    .unwrap_or("Invalid"),
            });
        }
        let mut expressions: Vec<VapExpression> =
            conditions.iter().map(|(_, e)| plain(e)).collect();
        for v in spec.validations.iter().flatten() {
            expressions.push(plain(&inline(&v.expression)?));
        }
        let programs = VapEvaluator::builder()
            .build()
            .compile_expressions(&expressions);
        if let Some(Err(e)) = programs.iter().find(|p| p.is_err()) {
            return Err(e.to_string());
        }
        Ok(Self {
            conditions,
            validations,
            programs,
        })
    }

    /// The denying decisions, in the order of the validations (`validator.go`): none when a
    /// match condition is false; an evaluation error denies under `failurePolicy: Fail`.
    fn decide(&self, evaluator: &VapEvaluator, fail: bool) -> Vec<Decision> {
        let results = evaluator.evaluate_compiled(&self.programs);
        let (conditions, validations) = results.split_at(self.conditions.len());
        for ((name, _), result) in self.conditions.iter().zip(conditions) {
            match outcome(result) {
                Outcome::True => {}
                Outcome::False => return vec![],
                Outcome::Error(e) if fail => {
                    return vec![Decision {
                        message: format!(
                            "failed to evaluate matchCondition '{name}': expression '{}' resulted in error: {e}",
                            result.expression
                        ),
                        reason: "Invalid",
                    }];
                }
                Outcome::Error(_) => return vec![],
            }
        }
        let mut denied = vec![];
        for (v, result) in self.validations.iter().zip(validations) {
            match outcome(result) {
                Outcome::True => {}
                Outcome::False => denied.push(Decision {
                    message: v.failure_message(evaluator),
                    reason: v.reason,
                }),
                Outcome::Error(e) if fail => denied.push(Decision {
                    message: format!("expression '{}' resulted in error: {e}", v.expression),
                    reason: "Invalid",
                }),
                Outcome::Error(_) => {}
            }
        }
        denied
    }
}

impl Validation {
    /// `messageExpression`'s string (trimmed, one line, at most 5 KiB), else `message`, else
    /// `failed expression: <expression>`.
    fn failure_message(&self, evaluator: &VapEvaluator) -> String {
        let evaluated = self.message_expression.as_ref().and_then(|me| {
            let result = evaluator.evaluate(&[VapExpression {
                expression: "false".into(),
                message: Some(FALSE.into()),
                message_expression: Some(me.clone()),
            }]);
            let message = result.into_iter().next()?.message?;
            let message = message.trim();
            (message != FALSE
                && !message.is_empty()
                && !message.contains('\n')
                && message.len() <= 5 * 1024)
                .then(|| message.to_owned())
        });
        evaluated
            .or_else(|| {
                self.message
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| format!("failed expression: {}", self.expression.trim()))
    }
}

enum Outcome {
    True,
    False,
    Error(String),
}

fn outcome(result: &VapResult) -> Outcome {
    match (result.passed, result.message.as_deref()) {
        (true, _) => Outcome::True,
        (false, Some(FALSE)) => Outcome::False,
        (false, message) => {
            let message = message.unwrap_or("no result");
            Outcome::Error(
                message
                    .strip_prefix("evaluation error: ")
                    .unwrap_or(message)
                    .to_owned(),
            )
        }
    }
}
