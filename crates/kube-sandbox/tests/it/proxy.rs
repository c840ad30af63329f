//! The service proxy: a Service object, an endpoint handed to the sandbox, and requests through
//! `/api/v1/namespaces/{ns}/services/{name:port}/proxy/...`, as `kubectl get --raw` sends them.

use crate::common::*;

use axum::extract::Request;
use axum::http::HeaderMap;
use kube::api::{Api, PostParams};
use serde_json::json;

/// An upstream that answers every request with what it received: method, path and query,
/// whether an Authorization header arrived, and the body.
async fn echo_upstream() -> std::net::SocketAddr {
    async fn echo(headers: HeaderMap, request: Request) -> axum::Json<serde_json::Value> {
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap();
        axum::Json(json!({
            "method": method,
            "uri": uri,
            "authorization": headers.contains_key("authorization"),
            "impersonation": headers.keys().any(|k| k.as_str().starts_with("impersonate-")),
            "body": String::from_utf8_lossy(&body),
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(echo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// A request with extra headers: status code and JSON body.
async fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let mut request = kube_sandbox::testing::http::request(method, base, path);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = request
        .body("application/json", body.to_owned())
        .send()
        .await;
    (answer.status, answer.json())
}

async fn create_service(sb: &kube_sandbox::Sandbox) {
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(sb.client(), "default");
    let service = serde_json::from_value(json!({
        "metadata": { "name": "echo" },
        "spec": { "ports": [
            { "name": "http", "port": 80, "targetPort": 8080 },
            { "name": "admin", "port": 8081 },
        ] },
    }))
    .unwrap();
    services
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_service_with_an_endpoint_is_reached_through_the_proxy_by_port_number_or_name() {
    let sb = sandbox().await;
    let base = sb.url();
    let path = "/api/v1/namespaces/default/services/echo:80/proxy/some/path?x=1";

    let (code, body) = request(&base, "GET", path, &[], "").await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["message"], "services \"echo\" not found");

    create_service(&sb).await;
    let (code, body) = request(&base, "GET", path, &[], "").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["reason"], "ServiceUnavailable");
    assert_eq!(
        body["message"],
        "no endpoints available for service \"echo:80\""
    );

    sb.set_service_endpoint("default", "echo", 80, echo_upstream().await);
    let (code, body) = request(
        &base,
        "POST",
        path,
        &[("Authorization", "Bearer not-for-the-upstream")],
        r#"{"a":1}"#,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["method"], "POST");
    assert_eq!(body["uri"], "/some/path?x=1");
    assert_eq!(body["body"], r#"{"a":1}"#);
    assert_eq!(
        body["authorization"], false,
        "the credential stays at the API"
    );

    for id in ["echo:http", "http:echo:80", "echo"] {
        let path = format!("/api/v1/namespaces/default/services/{id}/proxy/");
        let (code, body) = request(&base, "GET", &path, &[], "").await;
        assert_eq!(code, 200, "{id}: {body}");
        assert_eq!(body["uri"], "/", "{id}");
    }
    // The admin port has no endpoint, and a port the Service lacks has none either.
    for id in ["echo:admin", "echo:9090"] {
        let path = format!("/api/v1/namespaces/default/services/{id}/proxy/");
        let (code, _) = request(&base, "GET", &path, &[], "").await;
        assert_eq!(code, 503, "{id}");
    }
}

#[tokio::test]
async fn an_impersonated_user_needs_services_proxy_in_the_namespace() {
    let sb = sandbox().await;
    create_service(&sb).await;
    sb.set_service_endpoint("default", "echo", 80, echo_upstream().await);
    let base = sb.url();
    let path = "/api/v1/namespaces/default/services/echo:80/proxy/";
    let as_jane = [("Impersonate-User", "jane")];

    let (code, body) = request(&base, "GET", path, &as_jane, "").await;
    assert_eq!(code, 403, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("cannot get resource \"services/proxy\""),
        "{message}"
    );

    let client = sb.client();
    let role = serde_json::from_value(json!({
        "metadata": { "name": "proxy" },
        "rules": [{ "apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"] }],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding = serde_json::from_value(json!({
        "metadata": { "name": "proxy" },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "proxy" },
        "subjects": [{ "kind": "User", "name": "jane" }],
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(client, "default")
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    let (code, body) = eventually(10, "jane's role to apply", || async {
        let answer = request(&base, "GET", path, &as_jane, "").await;
        (answer.0 == 200).then_some(answer)
    })
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["impersonation"], false);
    // Only get was granted: a POST is create.
    let (code, _) = request(&base, "POST", path, &as_jane, "{}").await;
    assert_eq!(code, 403);
}
