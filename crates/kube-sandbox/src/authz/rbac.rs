//! The RBAC authorizer: one request's attributes against the stored Roles, ClusterRoles and
//! their bindings, with kube-apiserver's matching rules (`rbac/v1` helpers) and reasons.
//!
//! Pure: [`Policy`] is built from the objects (as JSON) and never sees the store, so the rules
//! are tested table-driven without a server.

use std::collections::HashMap;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use serde_json::Value;

/// Who a request is made as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// What a request asks to do (kube-apiserver's `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// A request for an API resource, rather than for a path such as `/version`.
    pub resource_request: bool,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
    /// The URL path, for non-resource requests.
    pub path: String,
}

impl Attributes {
    /// A resource request.
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str) -> Self {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        Self {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }

    /// A request for a path that is not an API resource.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Self {
            verb: verb.into(),
            path: path.into(),
            ..Self::default()
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
}

/// The authorizer's answer: allowed or not, and why (kube-apiserver's wording).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// The group whose members may do anything, before RBAC is consulted (kube-apiserver's
/// privileged-group authorizer).
pub const MASTERS: &str = "system:masters";

/// Every stored Role, ClusterRole and binding, decoded once per authorization.
#[derive(Debug, Default)]
pub struct Policy {
    cluster_roles: HashMap<String, Vec<PolicyRule>>,
    roles: HashMap<(String, String), Vec<PolicyRule>>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    role_bindings: Vec<RoleBinding>,
}

/// Rules that apply to a user in one namespace (for `SelfSubjectRulesReview`).
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<PolicyRule>,
    /// Bindings whose role does not exist.
    pub errors: Vec<String>,
}

impl Policy {
    /// Decode the objects; ones that do not decode are skipped, as a broken object grants nothing.
    pub fn from_objects<'a>(
        cluster_roles: impl IntoIterator<Item = &'a Value>,
        roles: impl IntoIterator<Item = &'a Value>,
        cluster_role_bindings: impl IntoIterator<Item = &'a Value>,
        role_bindings: impl IntoIterator<Item = &'a Value>,
    ) -> Self {
        let cluster_roles = cluster_roles
            .into_iter()
            .filter_map(decode)
            .map(|r: ClusterRole| {
                (
                    r.metadata.name.unwrap_or_default(),
                    r.rules.unwrap_or_default(),
                )
            })
            .collect();
        let roles = roles
            .into_iter()
            .filter_map(decode)
            .map(|r: Role| {
                (
                    (
                        r.metadata.namespace.unwrap_or_default(),
                        r.metadata.name.unwrap_or_default(),
                    ),
                    r.rules.unwrap_or_default(),
                )
            })
            .collect();
        Self {
            cluster_roles,
            roles,
            cluster_role_bindings: cluster_role_bindings
                .into_iter()
                .filter_map(decode)
                .collect(),
            role_bindings: role_bindings.into_iter().filter_map(decode).collect(),
        }
    }

    /// Allowed when any rule of any role bound to the user (cluster-wide, or in the request's
    /// namespace) covers the request.
    pub fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let mut errors = vec![];
        let mut allowed_by = None;
        self.visit(user, &attrs.namespace, &mut errors, |source, rules| {
            if rules.iter().any(|r| rule_allows(r, attrs)) {
                allowed_by = Some(source.to_string());
                true
            } else {
                false
            }
        });
        match allowed_by {
            Some(source) => Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {source}"),
            },
            None => Decision {
                allowed: false,
                reason: match errors.len() {
                    0 => String::new(),
                    1 => format!("RBAC: {}", errors[0]),
                    _ => format!("RBAC: [{}]", errors.join(", ")),
                },
            },
        }
    }

    /// Every rule that applies to the user in `namespace` (cluster-wide rules included).
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> RuleSet {
        let mut set = RuleSet::default();
        let mut rules = vec![];
        self.visit(user, namespace, &mut set.errors, |_, found| {
            rules.extend(found.iter().cloned());
            false
        });
        set.rules = rules;
        set
    }

    /// Calls `f` with each applicable binding's description and its role's rules until `f`
    /// returns true; bindings to missing roles add an error instead.
    fn visit(
        &self,
        user: &UserInfo,
        namespace: &str,
        errors: &mut Vec<String>,
        mut f: impl FnMut(&str, &[PolicyRule]) -> bool,
    ) {
        for b in &self.cluster_role_bindings {
            let Some(subject) = applicable(b.subjects.as_deref(), user, "") else {
                continue;
            };
            let name = b.metadata.name.as_deref().unwrap_or_default();
            let role = &b.role_ref.name;
            match self
                .cluster_roles
                .get(role)
                .filter(|_| b.role_ref.kind == "ClusterRole")
            {
                Some(rules) => {
                    let source = format!(
                        "ClusterRoleBinding {name:?} of ClusterRole {role:?} to {}",
                        describe(subject, "")
                    );
                    if f(&source, rules) {
                        return;
                    }
                }
                None => errors.push(format!(
                    "clusterrole.rbac.authorization.k8s.io {role:?} not found"
                )),
            }
        }
        if namespace.is_empty() {
            return;
        }
        for b in &self.role_bindings {
            if b.metadata.namespace.as_deref() != Some(namespace) {
                continue;
            }
            let Some(subject) = applicable(b.subjects.as_deref(), user, namespace) else {
                continue;
            };
            let name = b.metadata.name.as_deref().unwrap_or_default();
            let role = &b.role_ref.name;
            let (rules, kind) = match b.role_ref.kind.as_str() {
                "ClusterRole" => (self.cluster_roles.get(role), "clusterrole"),
                _ => (
                    self.roles.get(&(namespace.to_string(), role.clone())),
                    "role",
                ),
            };
            match rules {
                Some(rules) => {
                    let source = format!(
                        "RoleBinding \"{name}/{namespace}\" of {} {role:?} to {}",
                        b.role_ref.kind,
                        describe(subject, namespace)
                    );
                    if f(&source, rules) {
                        return;
                    }
                }
                None => errors.push(format!(
                    "{kind}.rbac.authorization.k8s.io {role:?} not found"
                )),
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    serde_json::from_value(v.clone()).ok()
}

fn applicable<'a>(
    subjects: Option<&'a [Subject]>,
    user: &UserInfo,
    binding_ns: &str,
) -> Option<&'a Subject> {
    subjects?.iter().find(|s| applies_to(s, user, binding_ns))
}

/// RBAC's `appliesToUser`.
pub fn applies_to(subject: &Subject, user: &UserInfo, binding_ns: &str) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = subject
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        _ => false,
    }
}

fn describe(subject: &Subject, binding_ns: &str) -> String {
    if subject.kind == "ServiceAccount" {
        let ns = subject
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(binding_ns);
        format!("ServiceAccount \"{}/{ns}\"", subject.name)
    } else {
        format!("{} {:?}", subject.kind, subject.name)
    }
}

fn has(list: Option<&Vec<String>>, want: &str) -> bool {
    list.is_some_and(|l| l.iter().any(|x| x == "*" || x == want))
}

/// RBAC's `RuleAllows`.
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if !rule.verbs.iter().any(|v| v == "*" || *v == attrs.verb) {
        return false;
    }
    if !attrs.resource_request {
        return rule.non_resource_urls.as_ref().is_some_and(|urls| {
            urls.iter().any(|u| {
                u == "*"
                    || *u == attrs.path
                    || u.strip_suffix('*')
                        .is_some_and(|prefix| attrs.path.starts_with(prefix))
            })
        });
    }
    has(rule.api_groups.as_ref(), &attrs.api_group)
        && resource_matches(rule, attrs)
        && rule
            .resource_names
            .as_ref()
            .is_none_or(|names| names.is_empty() || names.contains(&attrs.name))
}

/// `*`, the exact `resource[/subresource]`, or `*/subresource`.
fn resource_matches(rule: &PolicyRule, attrs: &Attributes) -> bool {
    let combined = if attrs.subresource.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}/{}", attrs.resource, attrs.subresource)
    };
    rule.resources.iter().flatten().any(|r| {
        r == "*"
            || *r == combined
            || (!attrs.subresource.is_empty()
                && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
    })
}
