//! The authorizer, table-driven: rule × request → allowed or denied.

use http::{HeaderMap, HeaderValue, Method};
use k8s_openapi::api::rbac::v1::{AggregationRule, ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::{Value, json};

use super::rbac::{Attributes, Policy, UserInfo, rule_allows};
use super::*;

fn rule(v: Value) -> PolicyRule {
    serde_json::from_value(v).unwrap()
}

fn res(verb: &str, group: &str, resource: &str, ns: &str) -> Attributes {
    Attributes::resource(verb, group, resource, ns)
}

#[test]
fn rules_match_verbs_groups_resources_subresources_names_and_urls() {
    let cases: Vec<(Value, Attributes, bool)> = vec![
        // verbs
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
            res("get", "", "secrets", "ns"),
            true,
        ),
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
            res("list", "", "secrets", "ns"),
            false,
        ),
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}),
            res("deletecollection", "", "secrets", "ns"),
            true,
        ),
        // API groups
        (
            json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}),
            res("get", "apps", "deployments", "ns"),
            true,
        ),
        (
            json!({"apiGroups": [""], "resources": ["deployments"], "verbs": ["get"]}),
            res("get", "apps", "deployments", "ns"),
            false,
        ),
        (
            json!({"apiGroups": ["*"], "resources": ["deployments"], "verbs": ["get"]}),
            res("get", "apps", "deployments", "ns"),
            true,
        ),
        (
            json!({"resources": ["deployments"], "verbs": ["get"]}),
            res("get", "apps", "deployments", "ns"),
            false,
        ),
        // resources and subresources
        (
            json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}),
            res("get", "x", "anything", "ns"),
            true,
        ),
        (
            json!({"apiGroups": ["iam.witboost.com"], "resources": ["accesstokens"], "verbs": ["patch"]}),
            res("patch", "iam.witboost.com", "accesstokens/status", "ns"),
            false,
        ),
        (
            json!({"apiGroups": ["iam.witboost.com"], "resources": ["accesstokens/status"], "verbs": ["patch"]}),
            res("patch", "iam.witboost.com", "accesstokens/status", "ns"),
            true,
        ),
        (
            json!({"apiGroups": ["iam.witboost.com"], "resources": ["accesstokens/status"], "verbs": ["patch"]}),
            res("patch", "iam.witboost.com", "accesstokens", "ns"),
            false,
        ),
        (
            json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]}),
            res("patch", "iam.witboost.com", "accesstokens/status", "ns"),
            true,
        ),
        (
            json!({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]}),
            res("patch", "iam.witboost.com", "accesstokens", "ns"),
            false,
        ),
        (
            json!({"apiGroups": ["*"], "resources": ["accesstokens/*"], "verbs": ["patch"]}),
            res("patch", "iam.witboost.com", "accesstokens/status", "ns"),
            false,
        ),
        // resourceNames
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get"]}),
            res("get", "", "secrets", "ns").named("a"),
            true,
        ),
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["get"]}),
            res("get", "", "secrets", "ns").named("b"),
            false,
        ),
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["list"]}),
            res("list", "", "secrets", "ns"),
            false,
        ),
        (
            json!({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"], "verbs": ["create"]}),
            res("create", "", "secrets", "ns"),
            false,
        ),
        // non-resource URLs
        (
            json!({"nonResourceURLs": ["/version"], "verbs": ["get"]}),
            Attributes::non_resource("get", "/version"),
            true,
        ),
        (
            json!({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}),
            Attributes::non_resource("get", "/apis/apps/v1"),
            true,
        ),
        (
            json!({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}),
            Attributes::non_resource("get", "/apis"),
            false,
        ),
        (
            json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            Attributes::non_resource("post", "/anything"),
            true,
        ),
        (
            json!({"nonResourceURLs": ["/version"], "verbs": ["get"]}),
            Attributes::non_resource("post", "/version"),
            false,
        ),
        // resource rules never grant paths, URL rules never grant resources
        (
            json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}),
            Attributes::non_resource("get", "/version"),
            false,
        ),
        (
            json!({"nonResourceURLs": ["*"], "verbs": ["*"]}),
            res("get", "", "secrets", "ns"),
            false,
        ),
    ];
    for (i, (r, attrs, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            rule_allows(&rule(r.clone()), &attrs),
            want,
            "case {i}: {r} × {attrs:?}"
        );
    }
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn sa(ns: &str, name: &str) -> UserInfo {
    let mut headers = HeaderMap::new();
    headers.insert(
        "impersonate-user",
        HeaderValue::from_str(&format!("system:serviceaccount:{ns}:{name}")).unwrap(),
    );
    impersonated(&headers).unwrap().unwrap()
}

fn policy() -> Policy {
    let secrets_reader = json!({"metadata": {"name": "secrets-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]});
    let token_writer = json!({"metadata": {"name": "token-writer", "namespace": "team"}, "rules": [
        {"apiGroups": ["iam.witboost.com"], "resources": ["accesstokens", "accesstokens/status"], "verbs": ["*"]}]});
    let crb = json!({"metadata": {"name": "auditors"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secrets-reader"},
        "subjects": [{"kind": "Group", "name": "auditors"}]});
    let rb_role = json!({"metadata": {"name": "bot-tokens", "namespace": "team"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "token-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "bot"}]});
    let rb_cluster_role = json!({"metadata": {"name": "alice-secrets", "namespace": "team"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "secrets-reader"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "reader", "namespace": "other"}]});
    let rb_missing = json!({"metadata": {"name": "dangling", "namespace": "team"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gone"},
        "subjects": [{"kind": "User", "name": "carol"}]});
    Policy::from_objects(
        [&secrets_reader],
        [&token_writer],
        [&crb],
        [&rb_role, &rb_cluster_role, &rb_missing],
    )
}

#[test]
fn bindings_grant_their_roles_to_users_groups_and_service_accounts() {
    let p = policy();
    let cases: Vec<(UserInfo, Attributes, bool)> = vec![
        // a ClusterRoleBinding to a group grants everywhere
        (
            user("x", &["auditors"]),
            res("list", "", "secrets", "team"),
            true,
        ),
        (
            user("x", &["auditors"]),
            res("list", "", "secrets", ""),
            true,
        ),
        (
            user("x", &["others"]),
            res("list", "", "secrets", "team"),
            false,
        ),
        // a RoleBinding of a Role grants in its namespace only
        (
            sa("team", "bot"),
            res("create", "iam.witboost.com", "accesstokens", "team"),
            true,
        ),
        (
            sa("team", "bot"),
            res("patch", "iam.witboost.com", "accesstokens/status", "team"),
            true,
        ),
        (
            sa("other", "bot"),
            res("create", "iam.witboost.com", "accesstokens", "team"),
            false,
        ),
        (
            sa("team", "bot"),
            res("create", "iam.witboost.com", "accesstokens", "elsewhere"),
            false,
        ),
        (
            sa("team", "bot"),
            res("create", "iam.witboost.com", "accesstokens", ""),
            false,
        ),
        // a RoleBinding of a ClusterRole grants that role in the binding's namespace
        (user("alice", &[]), res("get", "", "secrets", "team"), true),
        (
            user("alice", &[]),
            res("get", "", "secrets", "default"),
            false,
        ),
        (
            user("alice", &[]),
            res("delete", "", "secrets", "team"),
            false,
        ),
        (
            sa("other", "reader"),
            res("get", "", "secrets", "team"),
            true,
        ),
        (
            sa("team", "reader"),
            res("get", "", "secrets", "team"),
            false,
        ),
        // system:masters may do anything
        (
            user("root", &["system:masters"]),
            res("delete", "", "namespaces", ""),
            true,
        ),
        // a binding to a missing role grants nothing
        (user("carol", &[]), res("get", "", "secrets", "team"), false),
    ];
    for (i, (u, attrs, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            p.authorize(&u, &attrs).allowed,
            want,
            "case {i}: {u:?} × {attrs:?}"
        );
    }
}

#[test]
fn reasons_name_the_binding_or_the_missing_role() {
    let p = policy();
    let allowed = p.authorize(
        &sa("team", "bot"),
        &res("get", "iam.witboost.com", "accesstokens", "team"),
    );
    assert_eq!(
        allowed.reason,
        r#"RBAC: allowed by RoleBinding "bot-tokens/team" of Role "token-writer" to ServiceAccount "bot/team""#
    );
    let denied = p.authorize(&user("carol", &[]), &res("get", "", "secrets", "team"));
    assert_eq!(
        denied.reason,
        r#"RBAC: role.rbac.authorization.k8s.io "gone" not found"#
    );
}

#[test]
fn service_accounts_get_their_groups_and_everyone_is_authenticated() {
    assert_eq!(
        sa("ns", "x").groups,
        [
            "system:serviceaccounts",
            "system:serviceaccounts:ns",
            "system:authenticated"
        ]
    );
    let mut headers = HeaderMap::new();
    headers.append("impersonate-user", HeaderValue::from_static("alice"));
    headers.append("impersonate-group", HeaderValue::from_static("devs"));
    headers.append("impersonate-group", HeaderValue::from_static("ops"));
    assert_eq!(
        impersonated(&headers).unwrap().unwrap().groups,
        ["devs", "ops", "system:authenticated"]
    );
    let mut anonymous = HeaderMap::new();
    anonymous.insert(
        "impersonate-user",
        HeaderValue::from_static("system:anonymous"),
    );
    assert!(impersonated(&anonymous).unwrap().unwrap().groups.is_empty());
    assert!(impersonated(&HeaderMap::new()).unwrap().is_none());
    let mut groups_only = HeaderMap::new();
    groups_only.insert("impersonate-group", HeaderValue::from_static("devs"));
    assert!(impersonated(&groups_only).is_err());
}

#[test]
fn request_attributes_follow_the_request_info_rules() {
    let none = HashMap::new();
    let watch: HashMap<String, String> = [("watch".to_string(), "true".to_string())].into();
    let by_name: HashMap<String, String> =
        [("fieldSelector".to_string(), "metadata.name=a".to_string())].into();
    let cases = vec![
        (
            Method::GET,
            "/api/v1/namespaces/ns/secrets",
            &none,
            ("list", "", "secrets", "", "", "ns"),
        ),
        (
            Method::GET,
            "/api/v1/namespaces/ns/secrets",
            &watch,
            ("watch", "", "secrets", "", "", "ns"),
        ),
        (
            Method::GET,
            "/api/v1/namespaces/ns/secrets",
            &by_name,
            ("list", "", "secrets", "", "a", "ns"),
        ),
        (
            Method::DELETE,
            "/api/v1/namespaces/ns/secrets",
            &none,
            ("deletecollection", "", "secrets", "", "", "ns"),
        ),
        // The service proxy: named by the path's whole segment, port and scheme included.
        (
            Method::POST,
            "/api/v1/namespaces/ns/services/wto:80/proxy/api/auth/jwt",
            &none,
            ("create", "", "services", "proxy", "wto:80", "ns"),
        ),
        (
            Method::GET,
            "/api/v1/namespaces/ns/services/https:wto:443/proxy/",
            &none,
            ("get", "", "services", "proxy", "https:wto:443", "ns"),
        ),
        (
            Method::PATCH,
            "/apis/iam.witboost.com/v1/namespaces/ns/accesstokens/t/status",
            &none,
            (
                "patch",
                "iam.witboost.com",
                "accesstokens",
                "status",
                "t",
                "ns",
            ),
        ),
        (
            Method::GET,
            "/api/v1/namespaces/team",
            &none,
            ("get", "", "namespaces", "", "team", "team"),
        ),
        (
            Method::POST,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            &none,
            (
                "create",
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
                "",
                "",
            ),
        ),
    ];
    for (method, path, params, (verb, group, resource, sub, name, ns)) in cases {
        let a = request_attributes(&method, path, params);
        assert!(a.resource_request, "{path}");
        assert_eq!(
            (
                a.verb.as_str(),
                a.api_group.as_str(),
                a.resource.as_str(),
                a.subresource.as_str(),
                a.name.as_str(),
                a.namespace.as_str()
            ),
            (verb, group, resource, sub, name, ns),
            "{method} {path}"
        );
    }
    for path in [
        "/api",
        "/api/v1",
        "/apis/apps/v1",
        "/version",
        "/openapi/v2",
    ] {
        let a = request_attributes(&Method::GET, path, &none);
        assert!(!a.resource_request, "{path}");
        assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", path));
    }
}

#[test]
fn forbidden_messages_are_kube_apiservers() {
    let u = sa("ns", "x");
    let cases = vec![
        (
            res("list", "", "secrets", "ns"),
            r#"secrets is forbidden: User "system:serviceaccount:ns:x" cannot list resource "secrets" in API group "" in the namespace "ns""#,
        ),
        (
            res("get", "apps", "deployments", "ns").named("d"),
            r#"deployments.apps "d" is forbidden: User "system:serviceaccount:ns:x" cannot get resource "deployments" in API group "apps" in the namespace "ns""#,
        ),
        (
            res("patch", "iam.witboost.com", "accesstokens/status", "ns").named("t"),
            r#"accesstokens.iam.witboost.com "t" is forbidden: User "system:serviceaccount:ns:x" cannot patch resource "accesstokens/status" in API group "iam.witboost.com" in the namespace "ns""#,
        ),
        (
            res("list", "", "namespaces", ""),
            r#"namespaces is forbidden: User "system:serviceaccount:ns:x" cannot list resource "namespaces" in API group "" at the cluster scope"#,
        ),
        (
            Attributes::non_resource("get", "/version"),
            r#"forbidden: User "system:serviceaccount:ns:x" cannot get path "/version""#,
        ),
    ];
    for (attrs, want) in cases {
        let e = forbidden(&u, &attrs, "");
        assert_eq!(
            (e.code, e.reason, e.message.as_str()),
            (403, "Forbidden", want)
        );
    }
}

fn role(
    name: &str,
    labels: &[(&str, &str)],
    rules: Vec<Value>,
    selector: Option<(&str, &str)>,
) -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        rules: Some(rules.into_iter().map(rule).collect()),
        aggregation_rule: selector.map(|(k, v)| AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some([(k.to_string(), v.to_string())].into()),
                ..Default::default()
            }]),
        }),
    }
}

#[test]
fn aggregation_collects_matching_roles_rules_in_name_order_without_duplicates() {
    let r1 = json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]});
    let r2 = json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]});
    let roles = vec![
        role("agg", &[], vec![], Some(("team", "true"))),
        role(
            "b-part",
            &[("team", "true")],
            vec![r2.clone(), r1.clone()],
            None,
        ),
        role("a-part", &[("team", "true")], vec![r1.clone()], None),
        role(
            "unrelated",
            &[("team", "false")],
            vec![json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})],
            None,
        ),
    ];
    let selectors = roles[0]
        .aggregation_rule
        .clone()
        .unwrap()
        .cluster_role_selectors
        .unwrap();
    assert_eq!(
        aggregate::aggregated_rules("agg", &selectors, &roles),
        vec![rule(r1), rule(r2)]
    );
}

/// A server-side apply that creates its object needs `create` of that name on top of the
/// `patch` it was authorized for, as in kube-apiserver's patch handler.
#[test]
fn an_apply_that_creates_needs_create_too() {
    let patcher = json!({"metadata": {"name": "patcher", "namespace": "team"}, "rules": [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch", "create"]},
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["named"], "verbs": ["create"]}]});
    let binding = json!({"metadata": {"name": "patcher", "namespace": "team"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "patcher"},
        "subjects": [{"kind": "ServiceAccount", "name": "bot"}]});
    let p = Policy::from_objects([], [&patcher], [], [&binding]);
    let bot = sa("team", "bot");
    let admin = administrator();
    // (who, (group, resource), namespace, name, the Forbidden message or None when allowed)
    type Case<'a> = (
        Option<&'a UserInfo>,
        (&'a str, &'a str),
        &'a str,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        // patch alone does not create
        (
            Some(&bot),
            ("", "secrets"),
            "team",
            "token",
            Some("secrets \"token\" is forbidden: "),
        ),
        // create of any name, or of this one name (create is authorized with the name)
        (Some(&bot), ("", "configmaps"), "team", "config", None),
        (Some(&bot), ("", "secrets"), "team", "named", None),
        // elsewhere the Role grants nothing
        (
            Some(&bot),
            ("", "configmaps"),
            "other",
            "config",
            Some("configmaps \"config\" is forbidden: "),
        ),
        // the group is part of the resource's name in the message
        (
            Some(&bot),
            ("iam.witboost.com", "accesstokens"),
            "team",
            "t",
            Some("accesstokens.iam.witboost.com \"t\" is forbidden: "),
        ),
        // the administrator (no impersonation) and system:masters may
        (None, ("", "secrets"), "team", "token", None),
        (Some(&admin), ("", "secrets"), "team", "token", None),
    ];
    for (who, resource, ns, name, want) in cases {
        let got = create_on_apply(&p, who, resource, ns, name);
        match (want, got) {
            (None, Ok(())) => {}
            (Some(message), Err(e)) => {
                assert_eq!(e.code, 403, "{resource:?} {ns}/{name}");
                assert_eq!(e.message, message, "{resource:?} {ns}/{name}");
            }
            (want, got) => panic!("{resource:?} {ns}/{name}: want {want:?}, got {got:?}"),
        }
    }
}
