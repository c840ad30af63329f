//! Which objects a list or watch returns: namespace, name, label selector, field selector.

use serde_json::Value;

use super::errors::ApiError;
use super::registry::ResourceInfo;

/// A parsed list/watch filter.
#[derive(Debug, Default)]
pub struct ObjectFilter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    labels: Vec<(String, String)>,
    fields: Vec<(String, String)>,
}

impl ObjectFilter {
    pub fn parse(
        labels: Option<&str>,
        fields: Option<&str>,
        _info: &ResourceInfo,
    ) -> Result<Self, ApiError> {
        let pairs = |s: Option<&str>| -> Result<Vec<(String, String)>, ApiError> {
            s.unwrap_or("")
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    let (k, v) = p
                        .split_once("==")
                        .or_else(|| p.split_once('='))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!("unable to parse requirement: {p:?}"))
                        })?;
                    Ok((k.trim().to_string(), v.trim().to_string()))
                })
                .collect()
        };
        Ok(Self {
            labels: pairs(labels)?,
            fields: pairs(fields)?,
            ..Self::default()
        })
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
        self.labels
            .iter()
            .all(|(k, v)| meta["labels"][k].as_str() == Some(v.as_str()))
            && self
                .fields
                .iter()
                .all(|(k, v)| field_value(obj, k).as_deref() == Some(v.as_str()))
    }
}

fn field_value(obj: &Value, path: &str) -> Option<String> {
    let pointer = format!("/{}", path.replace('.', "/"));
    match obj.pointer(&pointer) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => Some(String::new()),
        Some(v) => Some(v.to_string()),
    }
}
