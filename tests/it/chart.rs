//! The Helm chart: its CRD templates are generated from the Rust types, and it deploys this
//! crate's version.

use std::path::Path;

use witboost_token_operator::{chart, crd};

fn chart_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/witboost-token-operator")
}

#[test]
fn committed_chart_crd_templates_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(chart::TEMPLATES_DIR);
    let mut expected: Vec<String> = crd::all().iter().map(chart::file_name).collect();
    expected.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("the chart's templates/crds/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    assert_eq!(
        present, expected,
        "templates/crds/ holds other files than the CRDs: run `make crds`"
    );
    for crd in crd::all() {
        let path = dir.join(chart::file_name(&crd));
        let committed = std::fs::read_to_string(&path).unwrap();
        assert!(
            committed == chart::crd_template(&crd),
            "{} is out of date with the Rust types: run `make crds` and commit the result",
            path.display()
        );
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChartMetadata {
    name: String,
    app_version: String,
}

#[test]
fn the_chart_deploys_this_crate_version() {
    let text = std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap();
    let chart: ChartMetadata = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(chart.name, "witboost-token-operator");
    assert_eq!(
        chart.app_version,
        env!("CARGO_PKG_VERSION"),
        "Chart.yaml's appVersion must be the crate's version (Cargo.toml)"
    );
}

/// `kubectl witboost` and the sandbox find the token service where the chart puts it, installed
/// as the install guide installs it: release `witboost-token-operator` (its fullname is the
/// chart's name), `service.port`, namespace `witboost-system`.
#[test]
fn the_plugins_defaults_are_the_charts_service_and_the_install_guides_namespace() {
    let read = |file: &str| -> serde_json::Value {
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join(file)).unwrap()).unwrap()
    };
    assert_eq!(read("Chart.yaml")["name"], chart::SERVICE_NAME);
    assert_eq!(read("values.yaml")["service"]["port"], chart::SERVICE_PORT);
    let install =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/install.md"))
            .unwrap();
    assert!(
        install.contains(&format!(
            "helm install {} charts/witboost-token-operator -n {}",
            chart::SERVICE_NAME,
            chart::NAMESPACE
        )),
        "docs/install.md installs the chart elsewhere"
    );
}
