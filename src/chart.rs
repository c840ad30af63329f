//! The Helm chart's CRD templates (`charts/witboost-token-operator/templates/crds/`), generated
//! from the same definitions as `crds/` ([`crate::crd::all`]) and written by
//! `witboost-token-operator crds --chart-templates-dir`.
//!
//! The chart installs the CRDs from templates rather than from a `crds/` directory of its own:
//! Helm never upgrades the latter, and only a rendered template can carry the
//! `helm.sh/resource-policy: keep` annotation that keeps the CRDs, and with them every token,
//! when the release is uninstalled.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::crd;

/// The namespace the install guide puts the chart in (`docs/install.md`), where the sandbox keeps
/// its operator's Lease and Service too, and where `kubectl witboost` looks for them by default.
pub const NAMESPACE: &str = "witboost-system";
/// The Service of the chart installed as release `witboost-token-operator` (its fullname).
pub const SERVICE_NAME: &str = "witboost-token-operator";
/// The chart's default `service.port`: the token service on its Service.
pub const SERVICE_PORT: i32 = 80;

/// Directory of the templates inside the repository.
pub const TEMPLATES_DIR: &str = "charts/witboost-token-operator/templates/crds";

/// The template for one CRD: the YAML of `crds/`, behind `crds.enabled`, with the chart's labels
/// and, when `crds.keep`, the keep annotation.
pub fn crd_template(crd: &CustomResourceDefinition) -> String {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let mut bare = crd.clone();
    // The chart owns the metadata: the generated definitions carry only a name.
    assert!(
        bare.metadata.labels.is_none() && bare.metadata.annotations.is_none(),
        "CRD {name} has labels or annotations: teach chart::crd_template to merge them"
    );
    bare.metadata = Default::default();
    bare.metadata.name = Some(name.clone());
    let yaml = crd::to_yaml(&bare);
    let head = format!("metadata:\n  name: {name}\n");
    let Some((before, after)) = yaml.split_once(&head) else {
        panic!("unexpected YAML layout of CRD {name}");
    };
    let metadata = format!(
        "metadata:\n  name: {name}\n  labels:\n    {{{{- include \"wto.labels\" . | nindent 4 }}}}\n  \
         {{{{- if .Values.crds.keep }}}}\n  annotations:\n    helm.sh/resource-policy: keep\n  \
         {{{{- end }}}}\n"
    );
    format!(
        "{{{{- /* Generated from the Rust types by `make crds`: do not edit. */}}}}\n\
         {{{{- if .Values.crds.enabled }}}}\n{}{metadata}{}{{{{- end }}}}\n",
        escape(before),
        escape(after)
    )
}

/// The file name of a CRD's template: the same as under `crds/`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    crd::file_name(crd)
}

/// Text that Helm's template engine prints as it is: `{{` starts an action, so it is written
/// as an action printing it.
fn escape(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_the_crd_behind_crds_enabled_with_labels_and_the_keep_switch() {
        let crd = crd::all().remove(0);
        let template = crd_template(&crd);
        assert!(
            template
                .contains("{{- if .Values.crds.enabled }}\napiVersion: apiextensions.k8s.io/v1\n")
        );
        assert!(template.contains(
            "  {{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep\n"
        ));
        assert!(template.ends_with("{{- end }}\n"));
        let yaml = crd::to_yaml(&crd);
        let spec = &yaml[yaml.find("\nspec:\n").unwrap()..];
        assert!(template.contains(spec));
    }

    #[test]
    fn braces_in_descriptions_are_printed_not_executed() {
        assert_eq!(escape("a {{ b }}"), "a {{ \"{{\" }} b }}");
    }
}
