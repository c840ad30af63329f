//! The generated CRDs: the committed files match the types, and their shape is what users rely on.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use witboost_token_operator::crd;

fn crd_named(name: &str) -> CustomResourceDefinition {
    crd::all()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CRD {name}"))
}

#[test]
fn committed_crd_files_match_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut expected_files: Vec<String> = crd::all().iter().map(crd::file_name).collect();
    expected_files.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds other files than the CRDs: run `make crds`"
    );
    for crd in crd::all() {
        let path = dir.join(crd::file_name(&crd));
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == crd::to_yaml(&crd),
            "{} is out of date with the Rust types: run `make crds` and commit the result",
            path.display()
        );
    }
}

#[test]
fn crd_files_parse_back_into_the_same_definition() {
    for crd in crd::all() {
        let parsed: CustomResourceDefinition = serde_saphyr::from_str(&crd::to_yaml(&crd)).unwrap();
        assert_eq!(parsed, crd);
    }
}

#[test]
fn every_kind_is_namespaced_in_the_witboost_category_with_a_status_subresource() {
    for (name, short) in [
        ("accesstokens.iam.witboost.com", "wbat"),
        ("serviceaccounts.iam.witboost.com", "wbsa"),
        ("basicauths.iam.witboost.com", "wbba"),
    ] {
        let crd = crd_named(name);
        assert_eq!(crd.spec.group, "iam.witboost.com");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.short_names.as_deref(),
            Some(&[short.to_owned()][..])
        );
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["witboost".to_owned()][..])
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
        assert!(version.subresources.as_ref().unwrap().status.is_some());
    }
}

#[test]
fn no_optional_field_has_a_schema_default() {
    for crd in crd::all() {
        let json = serde_json::to_string(&crd).unwrap();
        assert!(
            !json.contains("\"default\""),
            "{} has a default value",
            crd.metadata.name.unwrap()
        );
    }
}

#[test]
fn top_level_descriptions_are_written_for_users() {
    for crd in crd::all() {
        let schema = crd.spec.versions[0]
            .schema
            .clone()
            .unwrap()
            .open_api_v3_schema
            .unwrap();
        let description = schema.description.unwrap();
        assert!(!description.contains("Auto-generated"), "{description}");
        assert!(description.len() > 80, "{description}");
    }
}

fn columns(name: &str, wide: bool) -> Vec<String> {
    crd_named(name).spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap()
        .into_iter()
        .filter(|c| wide || c.priority.unwrap_or(0) == 0)
        .map(|c| c.name)
        .collect()
}

#[test]
fn printer_columns_are_the_documented_ones() {
    assert_eq!(
        columns("serviceaccounts.iam.witboost.com", false),
        ["Email", "Ready", "Active Token", "Age"]
    );
    assert_eq!(
        columns("accesstokens.iam.witboost.com", false),
        ["Account", "Phase", "Expires", "Age"]
    );
    assert_eq!(
        columns("accesstokens.iam.witboost.com", true),
        ["Account", "Phase", "Expires", "Age", "Secret", "Revision"]
    );
    assert_eq!(
        columns("basicauths.iam.witboost.com", false),
        ["Enabled", "Ready", "Age"]
    );
    assert_eq!(
        columns("basicauths.iam.witboost.com", true),
        ["Enabled", "Ready", "Age", "Reason"]
    );
}

/// kube-apiserver refuses a CRD whose rules' estimated cost is over its limits, and unbounded
/// strings, lists and maps are estimated at what a 3 MiB request can hold. Ours stay under a
/// hundredth of each limit, which only a `maxLength`, `maxItems` or `maxProperties` on every
/// string compared and every list or map iterated allows (one comparison of an unbounded string
/// alone costs over 300,000).
#[test]
fn every_rule_of_ours_costs_under_a_hundredth_of_kube_apiservers_limits() {
    use kube_sandbox::validation::cost::{CRD_COST_LIMIT, RULE_COST_LIMIT, check, rule_costs};
    let mut expensive = Vec::new();
    for crd in crd::all() {
        let name = crd.metadata.name.clone().unwrap();
        for (i, version) in crd.spec.versions.iter().enumerate() {
            let schema = serde_json::to_value(
                version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref())
                    .unwrap(),
            )
            .unwrap();
            let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
            assert_eq!(check(&schema, &path), vec![], "{name}");
            let costs = rule_costs(&schema, &path);
            expensive.extend(
                costs
                    .iter()
                    .filter(|r| r.cost >= RULE_COST_LIMIT / 100)
                    .map(|r| format!("{name} {}: {}", r.field, r.cost)),
            );
            let total: u64 = costs.iter().map(|r| r.cost).sum();
            if total >= CRD_COST_LIMIT / 100 {
                expensive.push(format!("{name}: the total, {total}"));
            }
        }
    }
    assert!(
        expensive.is_empty(),
        "rules estimated at a hundredth of the limit or more (bound what they compare or \
         iterate):\n{}",
        expensive.join("\n")
    );
}
