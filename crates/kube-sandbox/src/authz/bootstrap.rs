//! The bootstrap ClusterRoles and ClusterRoleBindings kube-apiserver creates at start, for the
//! resources the sandbox serves: `cluster-admin` (bound to `system:masters`), the user-facing
//! `admin`, `edit` and `view` (aggregated from the `system:aggregate-to-*` roles through the
//! `rbac.authorization.k8s.io/aggregate-to-*` labels, `view` ⊂ `edit` ⊂ `admin`), and the roles
//! every authenticated user holds: `system:discovery`, `system:basic-user`,
//! `system:public-info-viewer`. Their rules follow kube-apiserver's bootstrap policy, limited
//! to resources a cluster commonly serves.

use serde_json::{Value, json};

use super::super::storage::Store;

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 5] = ["create", "delete", "deletecollection", "patch", "update"];
const ALL: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({ "apiGroups": groups, "resources": resources, "verbs": verbs })
}

fn labels(extra: &[(&str, &str)]) -> Value {
    let mut labels = json!({ "kubernetes.io/bootstrapping": "rbac-defaults" });
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    labels
}

fn cluster_role(name: &str, extra_labels: &[(&str, &str)], rules: Vec<Value>) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": labels(extra_labels),
            "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
        },
        "rules": rules,
    })
}

fn aggregated(name: &str, extra_labels: &[(&str, &str)], selector_label: &str) -> Value {
    let mut role = cluster_role(name, extra_labels, vec![]);
    role["aggregationRule"] = json!({
        "clusterRoleSelectors": [{ "matchLabels": { selector_label: "true" } }],
    });
    role
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g }))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": labels(&[]),
            "annotations": { "rbac.authorization.kubernetes.io/autoupdate": "true" },
        },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": subjects,
    })
}

const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

/// The bootstrap ClusterRoles.
pub fn cluster_roles() -> Vec<Value> {
    let mut roles = cluster_admin_and_basic_roles();
    roles.extend(user_facing_roles());
    roles.push(aggregate_to_admin());
    roles.push(aggregate_to_edit());
    roles.push(aggregate_to_view());
    roles
}

/// `cluster-admin`, and the roles every authenticated user holds.
fn cluster_admin_and_basic_roles() -> Vec<Value> {
    let discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public_urls = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    vec![
        cluster_role(
            "cluster-admin",
            &[],
            vec![
                rule(&["*"], &["*"], &["*"]),
                json!({ "nonResourceURLs": ["*"], "verbs": ["*"] }),
            ],
        ),
        cluster_role(
            "system:discovery",
            &[],
            vec![json!({ "nonResourceURLs": discovery_urls, "verbs": ["get"] })],
        ),
        cluster_role(
            "system:public-info-viewer",
            &[],
            vec![json!({ "nonResourceURLs": public_urls, "verbs": ["get"] })],
        ),
        cluster_role(
            "system:basic-user",
            &[],
            vec![
                rule(
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                    &["create"],
                ),
                rule(
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    &["create"],
                ),
            ],
        ),
    ]
}

/// `admin`, `edit` and `view`, aggregated from the `system:aggregate-to-*` roles.
fn user_facing_roles() -> Vec<Value> {
    vec![
        aggregated("admin", &[], TO_ADMIN),
        aggregated("edit", &[(TO_ADMIN, "true")], TO_EDIT),
        aggregated("view", &[(TO_EDIT, "true")], TO_VIEW),
    ]
}

/// `system:aggregate-to-admin`: what `admin` holds beyond `edit`.
fn aggregate_to_admin() -> Value {
    cluster_role(
        "system:aggregate-to-admin",
        &[(TO_ADMIN, "true")],
        vec![
            rule(
                &["authorization.k8s.io"],
                &["localsubjectaccessreviews"],
                &["create"],
            ),
            rule(
                &["rbac.authorization.k8s.io"],
                &["rolebindings", "roles"],
                &ALL,
            ),
        ],
    )
}

/// `system:aggregate-to-edit`: what `edit` holds beyond `view`.
fn aggregate_to_edit() -> Value {
    cluster_role(
        "system:aggregate-to-edit",
        &[(TO_EDIT, "true")],
        vec![
            // Read access to the resources that can escalate, which view leaves out.
            rule(
                &[""],
                &[
                    "pods/attach",
                    "pods/exec",
                    "pods/portforward",
                    "pods/proxy",
                    "secrets",
                    "services/proxy",
                ],
                &READ,
            ),
            rule(&[""], &["serviceaccounts"], &["impersonate"]),
            rule(
                &[""],
                &[
                    "pods",
                    "pods/attach",
                    "pods/exec",
                    "pods/portforward",
                    "pods/proxy",
                ],
                &WRITE,
            ),
            rule(&[""], &["pods/eviction"], &["create"]),
            rule(
                &[""],
                &[
                    "configmaps",
                    "events",
                    "persistentvolumeclaims",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "secrets",
                    "serviceaccounts",
                    "services",
                    "services/proxy",
                ],
                &WRITE,
            ),
            rule(&[""], &["serviceaccounts/token"], &["create"]),
            rule(
                &["apps"],
                &[
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "replicasets",
                    "replicasets/scale",
                    "statefulsets",
                    "statefulsets/scale",
                ],
                &WRITE,
            ),
            rule(&["autoscaling"], &["horizontalpodautoscalers"], &WRITE),
            rule(&["batch"], &["cronjobs", "jobs"], &WRITE),
            rule(
                &["networking.k8s.io"],
                &["ingresses", "networkpolicies"],
                &WRITE,
            ),
            rule(&["policy"], &["poddisruptionbudgets"], &WRITE),
            rule(&["coordination.k8s.io"], &["leases"], &WRITE),
        ],
    )
}

/// `system:aggregate-to-view`: read access to the resources that cannot escalate.
fn aggregate_to_view() -> Value {
    let mut rules = core_view_rules();
    rules.extend([
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            &READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            &READ,
        ),
        rule(
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            &READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
            &READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            &READ,
        ),
        rule(&["events.k8s.io"], &["events"], &READ),
        rule(&["coordination.k8s.io"], &["leases"], &READ),
    ]);
    cluster_role("system:aggregate-to-view", &[(TO_VIEW, "true")], rules)
}

/// The rules of `system:aggregate-to-view` in the core API group.
fn core_view_rules() -> Vec<Value> {
    vec![
        rule(
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
            &READ,
        ),
        rule(
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
            &READ,
        ),
        rule(&[""], &["namespaces"], &READ),
    ]
}

/// The bootstrap ClusterRoleBindings.
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

/// Store the bootstrap policy; does nothing when RBAC resources are not served.
pub fn install(store: &Store) -> anyhow::Result<()> {
    for (resource, objects) in [
        ("clusterroles", cluster_roles()),
        ("clusterrolebindings", cluster_role_bindings()),
    ] {
        let key = super::key(resource);
        if !store.serves(&key) {
            continue;
        }
        for obj in objects {
            store.create(&key, obj)?;
        }
    }
    super::aggregate::reconcile(store);
    Ok(())
}
