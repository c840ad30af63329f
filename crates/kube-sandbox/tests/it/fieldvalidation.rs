//! `fieldValidation`: Strict rejects unknown and duplicate fields with kube-apiserver's message,
//! Warn accepts and answers with `Warning` headers, Ignore drops them silently.

use crate::common;

use common::{install_widgets, sandbox};
use serde_json::{Value, json};

/// One request: status code, `Warning` header values, JSON body.
async fn send(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Vec<String>, Value) {
    let answer = kube_sandbox::testing::http::request(method, base, path)
        .body(content_type, body.to_owned())
        .send()
        .await;
    (
        answer.status,
        answer.header_values("warning"),
        answer.json(),
    )
}

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn strict_rejects_unknown_and_duplicate_fields_of_built_in_kinds() {
    let sb = sandbox().await;
    let url = sb.url();
    let (code, _, body) = send(
        &url,
        "POST",
        &format!("{CMS}?fieldValidation=Strict"),
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"},"spec":{"foo":1}}"#,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(body["reason"], "BadRequest");
    assert_eq!(
        body["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "spec""#
    );

    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {
            "metadata": {"labels": {"app": "d"}},
            "spec": {"containers": [{"name": "c", "image": "nginx", "imagee": "typo"}]}}},
    });
    let (code, _, body) = send(
        &url,
        "POST",
        "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
        "application/json",
        &deployment.to_string(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagee""#
    );

    let (code, _, body) = send(
        &url,
        "POST",
        &format!("{CMS}?fieldValidation=Strict"),
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","name":"b"},"data":{}}"#,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: duplicate field "metadata.name""#
    );
    let (code, _, _) = send(&url, "GET", &format!("{CMS}/a"), "application/json", "").await;
    assert_eq!(code, 404, "nothing was stored");
}

#[tokio::test]
async fn warn_answers_with_warning_headers_and_ignore_stays_silent_both_dropping_the_field() {
    let sb = sandbox().await;
    let url = sb.url();
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","bogus":1}},"data":{{"k":"v"}},"extra":true}}"#
        )
    };
    for (directive, name) in [("Warn", "w"), ("", "default")] {
        let query = if directive.is_empty() {
            String::new()
        } else {
            format!("?fieldValidation={directive}")
        };
        let (code, warnings, stored) = send(
            &url,
            "POST",
            &format!("{CMS}{query}"),
            "application/json",
            &body(name),
        )
        .await;
        assert_eq!(code, 201, "{directive}");
        assert_eq!(
            warnings,
            [
                r#"299 - "unknown field \"extra\"""#,
                r#"299 - "unknown field \"metadata.bogus\"""#
            ],
            "{directive}"
        );
        assert!(stored.get("extra").is_none());
        assert!(stored["metadata"].get("bogus").is_none());
    }
    let (code, warnings, stored) = send(
        &url,
        "POST",
        &format!("{CMS}?fieldValidation=Ignore"),
        "application/json",
        &body("i"),
    )
    .await;
    assert_eq!(code, 201);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(stored.get("extra").is_none());

    let (code, _, body) = send(
        &url,
        "POST",
        &format!("{CMS}?fieldValidation=Sometimes"),
        "application/json",
        &body("x"),
    )
    .await;
    assert_eq!(code, 400, "{body}");
}

#[tokio::test]
async fn custom_resources_and_patches_are_checked_too() {
    let sb = sandbox().await;
    install_widgets(&sb.client()).await;
    let url = sb.url();
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let widget = json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"email": "a@example.com", "bogus": 1, "free": {"anything": "goes"}},
    });
    let (code, _, body) = send(
        &url,
        "POST",
        &format!("{widgets}?fieldValidation=Strict"),
        "application/json",
        &widget.to_string(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.bogus""#
    );
    let (code, warnings, stored) = send(
        &url,
        "POST",
        &format!("{widgets}?fieldValidation=Warn"),
        "application/json",
        &widget.to_string(),
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.bogus\"""#]);
    assert_eq!(stored["spec"]["free"]["anything"], "goes");

    let (code, _, body) = send(
        &url,
        "PATCH",
        &format!("{widgets}/w?fieldValidation=Strict"),
        "application/merge-patch+json",
        r#"{"spec":{"colour":"red"}}"#,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body["message"],
        r#"strict decoding error: unknown field "spec.colour""#
    );

    let (code, _, body) = send(
        &url,
        "PATCH",
        &format!("{widgets}/w?fieldValidation=Strict&fieldManager=me"),
        "application/apply-patch+yaml",
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"colour":"red"}}"#,
    )
    .await;
    // kube-apiserver answers this with a 500 without a reason (kubernetes#139253).
    assert_eq!(code, 500);
    assert_eq!(body.get("reason"), None);
    assert_eq!(
        body["message"],
        r#"failed to create typed patch object (/w; example.com/v1, Kind=Widget): .spec.colour: field not declared in schema"#
    );
}
