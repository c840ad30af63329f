//! Tenancy: which Witboost identities a namespace may declare, by the cluster's TokenPolicies.
//!
//! Pure: the policies and the namespace's labels are handed in. Policies add up like RBAC: a
//! field is allowed when some policy selecting the namespace allows it, each field on its own
//! (one policy may grant an email, another a group). A denial names the field at fault and
//! nothing of another namespace.
//!
//! The controllers feed it from the operator's own watches of TokenPolicies and namespaces
//! (`controller::tenancy`); the token service from its index's (`server::index`), so that a
//! tightened policy refuses a token there at once, before a controller has removed its value.
//! Both ask [`Policies::allows_token`].

use std::collections::BTreeMap;
use std::time::Duration;

use kube::core::{Selector, SelectorExt};

use crate::crd::{GoDuration, ServiceAccountSpec, TokenPolicySpec};

/// The TokenPolicies of the cluster, ready to be asked about one namespace.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    rules: Vec<Rules>,
}

/// One policy, parsed once.
#[derive(Clone, Debug)]
struct Rules {
    /// `None`: the selector cannot be parsed, and the policy selects nothing.
    selector: Option<Selector>,
    emails: Vec<String>,
    groups: Vec<String>,
    scopes: Vec<String>,
    users: Vec<String>,
    /// The longest lifetime; `None` for no limit.
    max_lifetime: Option<Duration>,
    require_expiry: bool,
}

/// Why a namespace may not declare something: a sentence for a Ready condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial(pub String);

impl Denial {
    fn of(field: &str, value: &str, namespace: &str) -> Self {
        Self(format!(
            "{field} {value:?} is not allowed in namespace {namespace} by any TokenPolicy; a \
             cluster administrator grants it in a TokenPolicy"
        ))
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A namespace as the policies see it: its name and labels.
pub struct Namespace<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// The label every namespace carries with its own name (set by the API server since
/// Kubernetes 1.22), so that a policy can select namespaces by name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A namespace's labels as policies select on them: those watched (none when the namespace is
/// not known yet), with its name label.
pub fn labels_of(
    name: &str,
    watched: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut labels = watched.cloned().unwrap_or_default();
    labels
        .entry(NAME_LABEL.to_owned())
        .or_insert_with(|| name.to_owned());
    labels
}

/// Whose token it is.
pub enum Holder<'a> {
    /// A personal access token of this email.
    User(&'a str),
    /// A token of this ServiceAccount.
    ServiceAccount(&'a ServiceAccountSpec),
}

/// How long a token with `expiresAt` at `at` lives from `now` (unix seconds), as the policies
/// judge its lifetime: what is left of it.
pub fn time_left(at: i64, now: i64) -> Duration {
    Duration::from_secs(u64::try_from(at - now).unwrap_or(0))
}

impl Policies {
    pub fn new<'a>(specs: impl IntoIterator<Item = &'a TokenPolicySpec>) -> Self {
        Self {
            rules: specs.into_iter().map(Rules::parse).collect(),
        }
    }

    fn selecting<'a>(&'a self, ns: &'a Namespace<'_>) -> impl Iterator<Item = &'a Rules> {
        self.rules.iter().filter(|r| {
            r.selector
                .as_ref()
                .is_some_and(|selector| selector.matches(ns.labels))
        })
    }

    /// Whether `ns` may hold a token of `holder` (`None`: its ServiceAccount is not known, which
    /// is the token's other problem) living `lifetime` (`None`: it never expires).
    pub fn allows_token(
        &self,
        ns: &Namespace<'_>,
        holder: Option<Holder<'_>>,
        lifetime: Option<Duration>,
    ) -> Result<(), Denial> {
        match holder {
            Some(Holder::User(email)) => self.allows_user(ns, email)?,
            Some(Holder::ServiceAccount(spec)) => self.allows_account(ns, spec)?,
            None => {}
        }
        self.allows_lifetime(ns, lifetime)
    }

    /// Whether `ns` may declare a ServiceAccount with this email, groups and allowed scopes.
    pub fn allows_account(
        &self,
        ns: &Namespace<'_>,
        spec: &ServiceAccountSpec,
    ) -> Result<(), Denial> {
        let allowed = |pick: fn(&Rules) -> &Vec<String>, value: &str| {
            self.selecting(ns)
                .any(|r| pick(r).iter().any(|p| glob(p, value)))
        };
        let email = spec.email.to_lowercase();
        if !allowed(|r| &r.emails, &email) {
            return Err(Denial::of("spec.email", &spec.email, ns.name));
        }
        for group in spec.groups.iter().flatten() {
            if !allowed(|r| &r.groups, group) {
                return Err(Denial::of("group", group, ns.name));
            }
        }
        match &spec.allowed_scopes {
            Some(scopes) => {
                for scope in scopes {
                    if !allowed(|r| &r.scopes, scope) {
                        return Err(Denial::of("scope", scope, ns.name));
                    }
                }
            }
            None if !self
                .selecting(ns)
                .any(|r| r.scopes.iter().any(|p| p == "*")) =>
            {
                return Err(Denial(format!(
                    "spec.allowedScopes is unset, so the account may ask for any scope, which \
                     no TokenPolicy allows in namespace {}: list the scopes it needs, or a \
                     cluster administrator grants the scope pattern \"*\" in a TokenPolicy",
                    ns.name
                )));
            }
            None => {}
        }
        Ok(())
    }

    /// Whether `ns` may declare personal access tokens of `email`.
    pub fn allows_user(&self, ns: &Namespace<'_>, email: &str) -> Result<(), Denial> {
        let email = email.to_lowercase();
        if self
            .selecting(ns)
            .any(|r| r.users.iter().any(|p| glob(p, &email)))
        {
            Ok(())
        } else {
            Err(Denial::of("spec.user", &email, ns.name))
        }
    }

    /// Whether `ns` may declare a token living `lifetime` (`None`: it never expires).
    pub fn allows_lifetime(
        &self,
        ns: &Namespace<'_>,
        lifetime: Option<Duration>,
    ) -> Result<(), Denial> {
        let fits = |r: &Rules| match (lifetime, r.max_lifetime) {
            (None, max) => max.is_none() && !r.require_expiry,
            (Some(_), None) => true,
            (Some(lifetime), Some(max)) => lifetime <= max,
        };
        if self.selecting(ns).any(fits) {
            return Ok(());
        }
        Err(Denial(match lifetime {
            None => format!(
                "a token that never expires is not allowed in namespace {} by any TokenPolicy: \
                 set spec.duration or spec.expiresAt, or a cluster administrator allows it in a \
                 TokenPolicy",
                ns.name
            ),
            Some(lifetime) => format!(
                "a lifetime of {}s is longer than any TokenPolicy allows in namespace {}; a \
                 cluster administrator grants a longer maxLifetime in a TokenPolicy",
                lifetime.as_secs(),
                ns.name
            ),
        }))
    }
}

impl Rules {
    fn parse(spec: &TokenPolicySpec) -> Self {
        let selector = match &spec.namespace_selector {
            None => Some(Selector::default()),
            Some(selector) => Selector::try_from(selector.clone()).ok(),
        };
        let accounts = spec.service_accounts.as_ref();
        let lower = |patterns: &[String]| patterns.iter().map(|p| p.to_lowercase()).collect();
        Self {
            selector,
            emails: accounts.map(|a| lower(&a.emails)).unwrap_or_default(),
            groups: accounts.and_then(|a| a.groups.clone()).unwrap_or_default(),
            scopes: accounts.and_then(|a| a.scopes.clone()).unwrap_or_default(),
            users: spec.users.as_deref().map(lower).unwrap_or_default(),
            // A maxLifetime that does not parse (the schema prevents it) allows nothing longer
            // than a second rather than everything.
            max_lifetime: spec.max_lifetime.as_ref().map(|text| {
                text.parse::<GoDuration>()
                    .map_or(Duration::from_secs(1), GoDuration::as_std)
            }),
            require_expiry: spec.require_expiry.unwrap_or(false),
        }
    }
}

/// Whether `text` matches `pattern` whole, `*` standing for any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut tail) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or_default();
    for part in parts {
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.len() >= last.len() && tail.ends_with(last)
}

#[cfg(test)]
mod tests;
