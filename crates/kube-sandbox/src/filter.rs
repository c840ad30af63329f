//! Which objects a list or watch returns: namespace, name (watch of one object), label selector
//! and field selector, with the per-kind set of selectable fields of the real server.

use serde_json::Value;

use super::errors::ApiError;
use super::registry::ResourceInfo;
use super::selector::{FieldSelector, LabelSelector};

/// A parsed list/watch filter.
#[derive(Debug, Default)]
pub struct ObjectFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

/// Fields the real server lets clients select on, per kind (beyond metadata.name/namespace).
fn selectable(info: &ResourceInfo) -> &'static [&'static str] {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "secrets") => &["type"],
        ("", "namespaces") => &["status.phase"],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "reason",
            "type",
        ],
        _ => &[],
    }
}

impl ObjectFilter {
    pub fn parse(
        labels: Option<&str>,
        fields: Option<&str>,
        info: &ResourceInfo,
    ) -> Result<Self, ApiError> {
        let bad = |e: super::selector::SelectorError| ApiError::bad_request(e.to_string());
        let labels = labels
            .filter(|s| !s.trim().is_empty())
            .map(LabelSelector::parse)
            .transpose()
            .map_err(bad)?;
        let fields = match fields.filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(f) => {
                let parsed = FieldSelector::parse(f).map_err(bad)?;
                let mut supported = vec!["metadata.name", "metadata.namespace"];
                supported.extend_from_slice(selectable(info));
                parsed.ensure_supported(&supported).map_err(bad)?;
                Some(parsed)
            }
        };
        Ok(Self {
            labels,
            fields,
            ..Self::default()
        })
    }

    /// Whether a label or field selector narrows the objects (an empty or blank selector, as
    /// kube-apiserver reads it, selects everything and does not).
    pub fn selects(&self) -> bool {
        self.labels.is_some() || self.fields.is_some()
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        if let Some(ns) = &self.namespace
            && meta["namespace"].as_str().unwrap_or("") != ns
        {
            return false;
        }
        if let Some(name) = &self.name
            && meta["name"].as_str().unwrap_or("") != name
        {
            return false;
        }
        self.labels.as_ref().is_none_or(|l| l.matches(obj))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}
