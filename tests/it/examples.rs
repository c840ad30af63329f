//! Every file in examples/ parses into the Rust types and passes the generated CRD schemas,
//! including their CEL rules, exactly as the API server would check it on `kubectl apply`.

use std::path::{Path, PathBuf};

use kube::CustomResourceExt;
use kube_sandbox::validation::SchemaValidator;
use serde_json::Value;
use witboost_token_operator::crd::{AccessToken, BasicAuth, ServiceAccount, TokenPolicy};

fn example_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn validator<K: CustomResourceExt>() -> SchemaValidator {
    let crd = K::crd();
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    SchemaValidator::new(schema).unwrap()
}

#[test]
fn the_examples_cover_the_documented_cases() {
    let names: Vec<String> = example_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "service-account.yaml",
        "access-token-with-expiry.yaml",
        "personal-access-token.yaml",
        "rotating-token.yaml",
        "revoked-token.yaml",
        "basic-auth.yaml",
        "token-policy.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing examples/{expected}"
        );
    }
}

#[test]
fn every_example_parses_and_passes_the_crd_schema() {
    let (tokens, accounts, basic_auths, policies) = (
        validator::<AccessToken>(),
        validator::<ServiceAccount>(),
        validator::<BasicAuth>(),
        validator::<TokenPolicy>(),
    );
    let mut checked = 0;
    for path in example_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.trim_start().starts_with('#'),
            "{} should open with a comment",
            path.display()
        );
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in docs {
            let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
            let mut validated = doc.clone();
            let result = match (doc["apiVersion"].as_str(), kind.as_str()) {
                (Some("iam.witboost.com/v1alpha1"), "AccessToken") => {
                    serde_json::from_value::<AccessToken>(doc.clone())
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    tokens.validate(&mut validated, None)
                }
                (Some("iam.witboost.com/v1alpha1"), "ServiceAccount") => {
                    serde_json::from_value::<ServiceAccount>(doc.clone())
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    accounts.validate(&mut validated, None)
                }
                (Some("iam.witboost.com/v1alpha1"), "TokenPolicy") => {
                    serde_json::from_value::<TokenPolicy>(doc.clone())
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    policies.validate(&mut validated, None)
                }
                (Some("iam.witboost.com/v1alpha1"), "BasicAuth") => {
                    serde_json::from_value::<BasicAuth>(doc.clone())
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    basic_auths.validate(&mut validated, None)
                }
                (Some("v1"), "ConfigMap") => {
                    serde_json::from_value::<k8s_openapi::api::core::v1::ConfigMap>(doc.clone())
                        .unwrap();
                    continue;
                }
                (Some("v1"), "Namespace") => {
                    serde_json::from_value::<k8s_openapi::api::core::v1::Namespace>(doc.clone())
                        .unwrap();
                    continue;
                }
                (Some("apps/v1"), "Deployment") => {
                    serde_json::from_value::<k8s_openapi::api::apps::v1::Deployment>(doc.clone())
                        .unwrap();
                    continue;
                }
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            };
            if let Err(errors) = result {
                panic!("{}: {kind} is invalid: {errors:#?}", path.display());
            }
            // Pruning removes fields the schema does not know: a typo in an example would vanish.
            assert_eq!(
                validated,
                doc,
                "{}: {kind} has fields the CRD does not declare",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} custom resources checked");
}
