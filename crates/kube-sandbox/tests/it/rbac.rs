//! RBAC for impersonated identities: a kube::Client built from a kubeconfig with `as:` is
//! authorized against the stored Roles, ClusterRoles (aggregated ones included) and bindings;
//! a client without impersonation stays all-powerful.

use crate::common;

use common::{eventually, install_widgets, sandbox, status};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SubjectAccessReview,
    SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_sandbox::Sandbox;
use serde_json::json;

/// A client acting as `user` (and `groups`), built the way a user's kubeconfig would be.
async fn client_as(sb: &Sandbox, user: &str, groups: &[&str]) -> kube::Client {
    let mut kubeconfig: Kubeconfig = sb.kubeconfig();
    let auth = kubeconfig.auth_infos[0]
        .auth_info
        .get_or_insert_with(Default::default);
    auth.impersonate = Some(user.to_string());
    if !groups.is_empty() {
        auth.impersonate_groups = Some(groups.iter().map(|g| g.to_string()).collect());
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

async fn create<K: kube::Resource<DynamicType = ()>>(
    client: &kube::Client,
    ns: Option<&str>,
    mut obj: serde_json::Value,
) {
    let ar = kube::api::ApiResource::erase::<K>(&());
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    obj["apiVersion"] = json!(ar.api_version);
    obj["kind"] = json!(ar.kind);
    let obj: DynamicObject = serde_json::from_value(obj).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap();
}

async fn namespace(client: &kube::Client, name: &str) {
    create::<Namespace>(client, None, json!({"metadata": {"name": name}})).await;
}

/// A RoleBinding in `ns` of `role` (`Role` or `ClusterRole`) to the service account `ns:sa`.
async fn bind(client: &kube::Client, ns: &str, name: &str, kind: &str, role: &str, sa: &str) {
    create::<RoleBinding>(
        client,
        Some(ns),
        json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        }),
    )
    .await;
}

#[tokio::test]
async fn a_service_account_may_do_what_its_role_binding_grants_in_that_namespace_only() {
    let sb = sandbox().await;
    let admin = sb.client();
    namespace(&admin, "team").await;
    namespace(&admin, "other").await;
    create::<Role>(
        &admin,
        Some("team"),
        json!({"metadata": {"name": "config-editor"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create"]},
            {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["visible"], "verbs": ["get"]},
        ]}),
    )
    .await;
    bind(&admin, "team", "bot-config", "Role", "config-editor", "bot").await;
    for ns in ["team", "other"] {
        create::<Secret>(&admin, Some(ns), json!({"metadata": {"name": "visible"}})).await;
        create::<Secret>(&admin, Some(ns), json!({"metadata": {"name": "hidden"}})).await;
    }

    let bot = client_as(&sb, "system:serviceaccount:team:bot", &[]).await;
    let team: Api<ConfigMap> = Api::namespaced(bot.clone(), "team");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    team.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(
        team.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );

    let denied = status(team.delete("c", &DeleteParams::default()).await);
    assert_eq!((denied.code, denied.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        denied.message,
        r#"configmaps "c" is forbidden: User "system:serviceaccount:team:bot" cannot delete resource "configmaps" in API group "" in the namespace "team""#
    );
    let other: Api<ConfigMap> = Api::namespaced(bot.clone(), "other");
    assert_eq!(
        status(other.list(&ListParams::default()).await).message,
        r#"configmaps is forbidden: User "system:serviceaccount:team:bot" cannot list resource "configmaps" in API group "" in the namespace "other""#
    );
    let secrets: Api<Secret> = Api::namespaced(bot.clone(), "team");
    secrets.get("visible").await.unwrap();
    assert_eq!(status(secrets.get("hidden").await).code, 403);
    assert_eq!(status(secrets.list(&ListParams::default()).await).code, 403);
    let other_secrets: Api<Secret> = Api::namespaced(bot.clone(), "other");
    assert_eq!(status(other_secrets.get("visible").await).code, 403);
    let cluster: Api<Namespace> = Api::all(bot);
    assert_eq!(
        status(cluster.list(&ListParams::default()).await).message,
        r#"namespaces is forbidden: User "system:serviceaccount:team:bot" cannot list resource "namespaces" in API group "" at the cluster scope"#
    );

    // Without impersonation the client is the sandbox's administrator.
    let admin_cms: Api<ConfigMap> = Api::namespaced(admin, "team");
    admin_cms
        .delete("c", &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn subresources_are_authorized_on_their_own() {
    let sb = sandbox().await;
    let admin = sb.client();
    let ar = install_widgets(&admin).await;
    create::<Role>(
        &admin,
        Some("default"),
        json!({"metadata": {"name": "status-writer"}, "rules": [
            {"apiGroups": ["example.com"], "resources": ["widgets/status"], "verbs": ["patch"]},
        ]}),
    )
    .await;
    bind(&admin, "default", "status", "Role", "status-writer", "ctl").await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(admin, "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"email": "a@example.com"},
    }))
    .unwrap();
    widgets.create(&PostParams::default(), &w).await.unwrap();

    let ctl = client_as(&sb, "system:serviceaccount:default:ctl", &[]).await;
    let as_ctl: Api<DynamicObject> = Api::namespaced_with(ctl, "default", &ar);
    as_ctl
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    let denied = status(
        as_ctl
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 1}})),
            )
            .await,
    );
    assert_eq!(
        denied.message,
        r#"widgets.example.com "w" is forbidden: User "system:serviceaccount:default:ctl" cannot patch resource "widgets" in API group "example.com" in the namespace "default""#
    );
}

#[tokio::test]
async fn aggregated_cluster_roles_follow_their_parts_and_the_bootstrap_roles_nest() {
    let sb = sandbox().await;
    let admin = sb.client();
    create::<ClusterRole>(
        &admin,
        None,
        json!({"metadata": {"name": "widget-team"}, "aggregationRule": {
            "clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-team": "true"}}]}}),
    )
    .await;
    bind(
        &admin,
        "default",
        "team",
        "ClusterRole",
        "widget-team",
        "dev",
    )
    .await;
    let dev = client_as(&sb, "system:serviceaccount:default:dev", &[]).await;
    let cms: Api<ConfigMap> = Api::namespaced(dev.clone(), "default");
    assert_eq!(status(cms.list(&ListParams::default()).await).code, 403);

    create::<ClusterRole>(
        &admin,
        None,
        json!({"metadata": {"name": "widget-team-configmaps",
                            "labels": {"example.com/aggregate-to-team": "true"}},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]}),
    )
    .await;
    let roles: Api<ClusterRole> = Api::all(admin.clone());
    eventually(
        30,
        "the aggregated role to get the part's rules",
        || async {
            let role = roles.get("widget-team").await.unwrap();
            role.rules.filter(|r| r.len() == 1).map(|_| ())
        },
    )
    .await;
    cms.list(&ListParams::default()).await.unwrap();

    roles
        .delete("widget-team-configmaps", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        30,
        "the aggregated role to lose the part's rules",
        || async {
            let role = roles.get("widget-team").await.unwrap();
            role.rules.unwrap_or_default().is_empty().then_some(())
        },
    )
    .await;
    assert_eq!(status(cms.list(&ListParams::default()).await).code, 403);

    // view ⊂ edit ⊂ admin, through the aggregate-to-* labels
    bind(&admin, "default", "viewer", "ClusterRole", "view", "viewer").await;
    bind(&admin, "default", "editor", "ClusterRole", "edit", "editor").await;
    let viewer = client_as(&sb, "system:serviceaccount:default:viewer", &[]).await;
    let editor = client_as(&sb, "system:serviceaccount:default:editor", &[]).await;
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).unwrap();
    let as_viewer: Api<ConfigMap> = Api::namespaced(viewer.clone(), "default");
    as_viewer.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        status(as_viewer.create(&PostParams::default(), &cm).await).code,
        403
    );
    let viewer_secrets: Api<Secret> = Api::namespaced(viewer, "default");
    assert_eq!(
        status(viewer_secrets.list(&ListParams::default()).await).code,
        403
    );
    let as_editor: Api<ConfigMap> = Api::namespaced(editor.clone(), "default");
    as_editor.create(&PostParams::default(), &cm).await.unwrap();
    as_editor.list(&ListParams::default()).await.unwrap();
    let editor_secrets: Api<Secret> = Api::namespaced(editor.clone(), "default");
    editor_secrets.list(&ListParams::default()).await.unwrap();
    let editor_roles: Api<Role> = Api::namespaced(editor, "default");
    assert_eq!(
        status(editor_roles.list(&ListParams::default()).await).code,
        403
    );
    let admin_role = roles.get("admin").await.unwrap().rules.unwrap();
    assert!(admin_role.iter().any(|r| {
        r.resources
            .as_ref()
            .is_some_and(|r| r.contains(&"roles".to_string()))
    }));
}

#[tokio::test]
async fn self_subject_access_reviews_answer_for_the_impersonated_identity() {
    let sb = sandbox().await;
    let admin = sb.client();
    bind(&admin, "default", "viewer", "ClusterRole", "view", "viewer").await;
    let viewer = client_as(&sb, "system:serviceaccount:default:viewer", &[]).await;
    let reviews: Api<SelfSubjectAccessReview> = Api::all(viewer);
    let ask = |verb: &str, resource: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let allowed = reviews
        .create(&PostParams::default(), &ask("list", "configmaps"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(allowed.allowed);
    assert_eq!(
        allowed.reason.as_deref(),
        Some(
            r#"RBAC: allowed by RoleBinding "viewer/default" of ClusterRole "view" to ServiceAccount "viewer/default""#
        )
    );
    let denied = reviews
        .create(&PostParams::default(), &ask("list", "secrets"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(!denied.allowed);

    // A member of system:masters may do anything, as the unimpersonated administrator.
    let root = client_as(&sb, "root", &["system:masters"]).await;
    let as_root: Api<SelfSubjectAccessReview> = Api::all(root);
    assert!(
        as_root
            .create(&PostParams::default(), &ask("delete", "secrets"))
            .await
            .unwrap()
            .status
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn subject_access_reviews_answer_for_the_named_user_and_need_the_right_to_ask() {
    let sb = sandbox().await;
    let admin = sb.client();
    bind(&admin, "default", "viewer", "ClusterRole", "view", "viewer").await;
    let ask = |verb: &str, resource: &str| SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("system:serviceaccount:default:viewer".into()),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some(verb.into()),
                resource: Some(resource.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SubjectAccessReview> = Api::all(admin);
    let answer = |r: SubjectAccessReview| r.status.unwrap().allowed;
    assert!(answer(
        reviews
            .create(&PostParams::default(), &ask("watch", "configmaps"))
            .await
            .unwrap()
    ));
    assert!(!answer(
        reviews
            .create(&PostParams::default(), &ask("get", "secrets"))
            .await
            .unwrap()
    ));

    let viewer = client_as(&sb, "system:serviceaccount:default:viewer", &[]).await;
    let as_viewer: Api<SubjectAccessReview> = Api::all(viewer);
    let denied = status(
        as_viewer
            .create(&PostParams::default(), &ask("get", "configmaps"))
            .await,
    );
    assert_eq!(
        denied.message,
        r#"subjectaccessreviews.authorization.k8s.io is forbidden: User "system:serviceaccount:default:viewer" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope"#
    );
}

#[tokio::test]
async fn a_server_side_apply_that_creates_needs_create_and_one_that_updates_does_not() {
    let sb = sandbox().await;
    let admin = sb.client();
    namespace(&admin, "team").await;
    create::<Role>(
        &admin,
        Some("team"),
        json!({"metadata": {"name": "appliers"}, "rules": [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch", "create"]},
        ]}),
    )
    .await;
    bind(&admin, "team", "appliers", "Role", "appliers", "bot").await;
    let bot = client_as(&sb, "system:serviceaccount:team:bot", &[]).await;
    let apply = PatchParams::apply("bot");
    let body = |kind: &str, name: &str| {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name},
               "data": {"k": "dmFsdWU="}})
    };

    // patch alone: the apply is refused before anything is stored, as kube-apiserver refuses it
    let secrets: Api<Secret> = Api::namespaced(bot.clone(), "team");
    let refused = secrets
        .patch("new", &apply, &Patch::Apply(body("Secret", "new")))
        .await;
    let s = status(refused);
    assert_eq!(s.code, 403);
    assert_eq!(s.message, "secrets \"new\" is forbidden: ");
    let admin_secrets: Api<Secret> = Api::namespaced(admin.clone(), "team");
    assert!(admin_secrets.get_opt("new").await.unwrap().is_none());

    // patch is enough once the object exists
    admin_secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(body("Secret", "there")).unwrap(),
        )
        .await
        .unwrap();
    secrets
        .patch("there", &apply, &Patch::Apply(body("Secret", "there")))
        .await
        .unwrap();

    // with create, the apply creates
    let config_maps: Api<ConfigMap> = Api::namespaced(bot, "team");
    let mut cm = body("ConfigMap", "made");
    cm["data"] = json!({"k": "value"});
    config_maps
        .patch("made", &apply, &Patch::Apply(cm))
        .await
        .unwrap();
}
