//! What to do about a Forbidden answer of the API: the permission the operator lacks, and the
//! Helm chart value or role that grants it. The table mirrors "RBAC: which rule serves what" in
//! docs/install.md; a denial no rule of the chart covers gets no hint.

use kube::core::Status;

/// Where the chart's RBAC is documented, rule by rule.
const SEE: &str = "docs/install.md#rbac-which-rule-serves-what";

/// One rule of the chart: an API group, its resources, the verbs granted, and how to get them.
struct Rule {
    group: &'static str,
    resources: &'static [&'static str],
    verbs: &'static [&'static str],
    grant: &'static str,
}

/// The rules of docs/install.md, in its order; the first one that covers a denial answers it.
const RULES: &[Rule] = &[
    Rule {
        group: "iam.witboost.com",
        resources: &["accesstokens", "serviceaccounts"],
        verbs: &["list", "watch"],
        grant: "rbac.create=true (ClusterRole <fullname>, or a Role in watchNamespace; for the \
                token service, <fullname>-token-service)",
    },
    Rule {
        group: "iam.witboost.com",
        resources: &["accesstokens/status", "serviceaccounts/status"],
        verbs: &["patch"],
        grant: "rbac.create=true (ClusterRole <fullname>, or a Role in watchNamespace)",
    },
    Rule {
        group: "",
        resources: &["secrets"],
        verbs: &["get", "list", "watch", "create", "patch", "delete"],
        grant: "rbac.create=true (ClusterRole <fullname>, or a Role in watchNamespace; the \
                signing-key Secret: Role <fullname>-signing-key in the release namespace, for \
                the token service Role <fullname>-token-service-signing-key)",
    },
    Rule {
        group: "events.k8s.io",
        resources: &["events"],
        verbs: &["create", "patch"],
        grant: "rbac.create=true (ClusterRole <fullname>, or a Role in watchNamespace; in a \
                BasicAuth namespace, Role <fullname>-basic-auth with basicAuth.enabled=true)",
    },
    Rule {
        group: "apps",
        resources: &["deployments", "statefulsets", "daemonsets"],
        verbs: &["get", "patch"],
        grant: "rbac.create=true and rbac.rolloutTargets=true (ClusterRole <fullname>, or a Role \
                in watchNamespace; for a BasicAuth's workloads, Role <fullname>-basic-auth with \
                basicAuth.enabled=true)",
    },
    Rule {
        group: "",
        resources: &["secrets"],
        verbs: &["update"],
        grant: "rbac.create=true (Role <fullname>-signing-key in the release namespace, for the \
                Secret named tokenService.signingKeySecret)",
    },
    Rule {
        group: "coordination.k8s.io",
        resources: &["leases"],
        verbs: &["get", "update", "create"],
        grant: "rbac.create=true (Role <fullname>-leader-election in the Lease's namespace)",
    },
    Rule {
        group: "iam.witboost.com",
        resources: &["tokenpolicies"],
        verbs: &["list", "watch"],
        grant: "rbac.create=true and policy.required=true (ClusterRole <fullname>-policy; for \
                the token service, <fullname>-token-service-policy)",
    },
    Rule {
        group: "",
        resources: &["namespaces"],
        verbs: &["list", "watch"],
        grant: "rbac.create=true and policy.required=true (ClusterRole <fullname>-policy; for \
                the token service, <fullname>-token-service-policy)",
    },
    Rule {
        group: "iam.witboost.com",
        resources: &["basicauths"],
        verbs: &["list", "watch"],
        grant: "rbac.create=true and basicAuth.enabled=true with the namespace in \
                basicAuth.namespaces (Role <fullname>-basic-auth)",
    },
    Rule {
        group: "iam.witboost.com",
        resources: &["basicauths/status"],
        verbs: &["patch"],
        grant: "rbac.create=true and basicAuth.enabled=true with the namespace in \
                basicAuth.namespaces (Role <fullname>-basic-auth)",
    },
    Rule {
        group: "",
        resources: &["configmaps"],
        verbs: &["get", "list", "watch", "patch"],
        grant: "rbac.create=true and basicAuth.enabled=true with the namespace in \
                basicAuth.namespaces (Role <fullname>-basic-auth)",
    },
];

/// A request the API refused, as its Forbidden message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied<'a> {
    pub verb: &'a str,
    /// With its subresource, as in `accesstokens/status`.
    pub resource: &'a str,
    /// `""` for the core group.
    pub group: &'a str,
    /// The namespace named, or `None` at the cluster scope.
    pub namespace: Option<&'a str>,
}

/// The request a Forbidden message names, in kube-apiserver's words: `… cannot VERB resource
/// "R" in API group "G" in the namespace "N"` (or `at the cluster scope`).
pub fn denied(message: &str) -> Option<Denied<'_>> {
    let (_, rest) = message.split_once("cannot ")?;
    let (verb, rest) = rest.split_once(" resource \"")?;
    let (resource, rest) = rest.split_once("\" in API group \"")?;
    let (group, rest) = rest.split_once('"')?;
    let namespace = rest
        .strip_prefix(" in the namespace \"")
        .and_then(|n| n.split_once('"'))
        .map(|(n, _)| n);
    Some(Denied {
        verb,
        resource,
        group,
        namespace,
    })
}

/// What to do about a denial: `forbidden: the operator may not list
/// tokenpolicies.iam.witboost.com (cluster-wide); the Helm chart grants it with … ; see …`.
/// `None` for a request no rule of the chart grants.
pub fn hint(denied: &Denied<'_>) -> Option<String> {
    let rule = RULES.iter().find(|rule| {
        rule.group == denied.group
            && rule.resources.contains(&denied.resource)
            && rule.verbs.contains(&denied.verb)
    })?;
    let resource = if denied.group.is_empty() {
        denied.resource.to_owned()
    } else {
        let (plural, sub) = match denied.resource.split_once('/') {
            Some((plural, sub)) => (plural, format!("/{sub}")),
            None => (denied.resource, String::new()),
        };
        format!("{plural}.{}{sub}", denied.group)
    };
    let scope = match denied.namespace {
        Some(namespace) => format!("in namespace {namespace}"),
        None => "cluster-wide".to_owned(),
    };
    Some(format!(
        "forbidden: the operator may not {} {resource} ({scope}); the Helm chart grants it with \
         {}; see {SEE}",
        denied.verb, rule.grant
    ))
}

/// The hint for the first Forbidden (403) answer among `error` and its sources, if the chart
/// grants what was denied.
pub fn explain(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(current) = next {
        let status = current
            .downcast_ref::<Status>()
            .or_else(|| current.downcast_ref::<Box<Status>>().map(AsRef::as_ref))
            .or_else(|| match current.downcast_ref::<kube::Error>() {
                Some(kube::Error::Api(status)) => Some(status.as_ref()),
                _ => None,
            });
        if let Some(status) = status.filter(|s| s.code == 403) {
            return denied(&status.message).as_ref().and_then(hint);
        }
        next = current.source();
    }
    None
}

/// Logs what to do about a watch the API refused (kube-runtime logs the refusal itself, and
/// the watch retries with backoff).
pub fn log_watch_error(watch: &'static str, error: &kube::runtime::watcher::Error) {
    if let Some(hint) = explain(error) {
        tracing::warn!(watch, "{hint}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATOR_ROLE: &str = "ClusterRole <fullname>, or a Role in watchNamespace";

    fn message(verb: &str, resource: &str, group: &str, namespace: Option<&str>) -> String {
        let scope = namespace.map_or_else(
            || "at the cluster scope".to_owned(),
            |ns| format!("in the namespace \"{ns}\""),
        );
        format!(
            "{resource} is forbidden: User \"system:serviceaccount:ops:wto\" cannot {verb} \
             resource \"{resource}\" in API group \"{group}\" {scope}"
        )
    }

    fn hint_for(verb: &str, resource: &str, group: &str, namespace: Option<&str>) -> String {
        let text = message(verb, resource, group, namespace);
        let denied = denied(&text).unwrap();
        hint(&denied).unwrap_or_else(|| panic!("no hint for {text}"))
    }

    #[test]
    fn a_forbidden_message_names_the_verb_resource_group_and_namespace() {
        let text = message(
            "patch",
            "accesstokens/status",
            "iam.witboost.com",
            Some("team-a"),
        );
        assert_eq!(
            denied(&text),
            Some(Denied {
                verb: "patch",
                resource: "accesstokens/status",
                group: "iam.witboost.com",
                namespace: Some("team-a"),
            })
        );
        let text = message("list", "namespaces", "", None);
        assert_eq!(
            denied(&text),
            Some(Denied {
                verb: "list",
                resource: "namespaces",
                group: "",
                namespace: None,
            })
        );
        assert_eq!(
            denied("the server could not find the requested resource"),
            None
        );
    }

    #[test]
    fn the_policy_rule_names_its_chart_values_and_cluster_role() {
        assert_eq!(
            hint_for("list", "tokenpolicies", "iam.witboost.com", None),
            "forbidden: the operator may not list tokenpolicies.iam.witboost.com (cluster-wide); \
             the Helm chart grants it with rbac.create=true and policy.required=true \
             (ClusterRole <fullname>-policy; for the token service, \
             <fullname>-token-service-policy); see docs/install.md#rbac-which-rule-serves-what"
        );
    }

    #[test]
    fn every_verb_of_every_rule_of_the_chart_gets_a_hint_naming_what_grants_it() {
        for rule in RULES {
            for resource in rule.resources {
                for verb in rule.verbs {
                    for namespace in [None, Some("team-a")] {
                        let hint = hint_for(verb, resource, rule.group, namespace);
                        assert!(
                            hint.starts_with("forbidden: the operator may not "),
                            "{hint}"
                        );
                        assert!(hint.contains(&format!(" {verb} ")), "{hint}");
                        let plural = resource.split('/').next().unwrap();
                        assert!(hint.contains(plural), "{hint}");
                        assert!(hint.contains(rule.grant), "{hint}");
                        assert!(hint.contains("rbac.create=true"), "{hint}");
                        assert!(hint.ends_with(SEE), "{hint}");
                        match namespace {
                            Some(ns) => assert!(hint.contains(&format!("(in namespace {ns})"))),
                            None => assert!(hint.contains("(cluster-wide)"), "{hint}"),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn each_rule_points_at_its_own_role_and_values() {
        let cases = [
            ("watch", "accesstokens", "iam.witboost.com", OPERATOR_ROLE),
            (
                "patch",
                "serviceaccounts/status",
                "iam.witboost.com",
                OPERATOR_ROLE,
            ),
            ("delete", "secrets", "", "<fullname>-signing-key"),
            ("create", "events", "events.k8s.io", OPERATOR_ROLE),
            ("patch", "deployments", "apps", "rbac.rolloutTargets=true"),
            ("update", "secrets", "", "tokenService.signingKeySecret"),
            (
                "update",
                "leases",
                "coordination.k8s.io",
                "<fullname>-leader-election",
            ),
            ("watch", "namespaces", "", "<fullname>-policy"),
            (
                "list",
                "basicauths",
                "iam.witboost.com",
                "basicAuth.enabled=true",
            ),
            (
                "patch",
                "basicauths/status",
                "iam.witboost.com",
                "<fullname>-basic-auth",
            ),
            ("patch", "configmaps", "", "basicAuth.namespaces"),
        ];
        for (verb, resource, group, expected) in cases {
            let hint = hint_for(verb, resource, group, Some("team-a"));
            assert!(hint.contains(expected), "{expected}: {hint}");
        }
        assert!(
            hint_for("patch", "accesstokens/status", "iam.witboost.com", None)
                .contains("accesstokens.iam.witboost.com/status"),
        );
    }

    #[test]
    fn a_request_the_chart_never_grants_gets_no_hint() {
        for (verb, resource, group) in [
            ("delete", "configmaps", ""),
            ("list", "pods", ""),
            ("create", "tokenpolicies", "iam.witboost.com"),
        ] {
            let text = message(verb, resource, group, None);
            assert_eq!(hint(&denied(&text).unwrap()), None, "{text}");
        }
    }

    #[test]
    fn a_forbidden_api_error_is_explained_through_the_chain_of_sources() {
        let status = Status::failure(
            &message("list", "tokenpolicies", "iam.witboost.com", None),
            "Forbidden",
        )
        .with_code(403);
        let error = kube::Error::Api(Box::new(status.clone()));
        let hint = explain(&error).unwrap();
        assert!(hint.contains("ClusterRole <fullname>-policy"), "{hint}");

        let wrapped = kube::runtime::watcher::Error::InitialListFailed(error);
        assert_eq!(explain(&wrapped), Some(hint));

        let not_found = kube::Error::Api(Box::new(status.with_code(404)));
        assert_eq!(explain(&not_found), None);
    }
}
