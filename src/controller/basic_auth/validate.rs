//! Step 2, validate: turn a BasicAuth's spec into its list of targets.
//!
//! The CRD schema already rejects a spec without targets or with both targets on one key;
//! checking again here protects against objects stored before a rule existed.

use thiserror::Error;

use crate::crd::{BasicAuth, ConfigMapKeyRef, ConfigTarget, Workload};

/// Which of Witboost's two configuration files a target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// The UI's Backstage app-config (YAML).
    Ui,
    /// The Governance Platform's configuration (HOCON).
    GovernancePlatform,
}

impl Field {
    /// The flag set in this file.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Ui => "backend.auth.basicAuth.enabled",
            Field::GovernancePlatform => {
                "computational-governance-platform.platform-services.auth.basic-auth.enabled"
            }
        }
    }

    /// How a user names it.
    pub fn describe(self) -> &'static str {
        match self {
            Field::Ui => "the UI",
            Field::GovernancePlatform => "the Governance Platform",
        }
    }
}

/// One ConfigMap key to keep the flag in, and the workloads reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub field: Field,
    pub config_map: ConfigMapKeyRef,
    pub workloads: Vec<Workload>,
}

/// A checked BasicAuth spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidSpec {
    pub enabled: bool,
    /// `ui` first, then `governancePlatform`.
    pub targets: Vec<Target>,
}

/// Why a spec is unusable. All of these are the user's to fix.
#[derive(Debug, Error)]
pub enum Error {
    #[error("at least one of ui and governancePlatform must be set")]
    NoTarget,
    #[error("ui and governancePlatform must name different ConfigMap keys")]
    SameKey,
}

impl Error {
    /// Bounded label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        "InvalidSpec"
    }
}

/// Checks `basic_auth`'s spec.
pub fn spec(basic_auth: &BasicAuth) -> Result<ValidSpec, Error> {
    let spec = &basic_auth.spec;
    let target = |field, t: &Option<ConfigTarget>| {
        t.as_ref().map(|t| Target {
            field,
            config_map: t.config_map.clone(),
            workloads: t.workloads().to_vec(),
        })
    };
    let targets: Vec<Target> = [
        target(Field::Ui, &spec.ui),
        target(Field::GovernancePlatform, &spec.governance_platform),
    ]
    .into_iter()
    .flatten()
    .collect();
    match targets.as_slice() {
        [] => Err(Error::NoTarget),
        [a, b] if a.config_map == b.config_map => Err(Error::SameKey),
        _ => Ok(ValidSpec {
            enabled: spec.enabled,
            targets,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::BasicAuthSpec;

    fn key(name: &str, key: &str) -> ConfigMapKeyRef {
        ConfigMapKeyRef {
            name: name.into(),
            key: key.into(),
        }
    }

    fn target(name: &str, k: &str) -> Option<ConfigTarget> {
        Some(ConfigTarget {
            config_map: key(name, k),
            workloads: None,
        })
    }

    #[test]
    fn targets_come_in_a_fixed_order_ui_first() {
        let ba = BasicAuth::new(
            "witboost",
            BasicAuthSpec {
                enabled: true,
                ui: target("ui", "app-config.yaml"),
                governance_platform: target("gp", "application.conf"),
            },
        );
        let valid = spec(&ba).unwrap();
        assert!(valid.enabled);
        let fields: Vec<Field> = valid.targets.iter().map(|t| t.field).collect();
        assert_eq!(fields, [Field::Ui, Field::GovernancePlatform]);
    }

    #[test]
    fn a_spec_without_targets_or_with_one_key_twice_is_refused() {
        let none = BasicAuth::new("x", BasicAuthSpec::default());
        assert!(matches!(spec(&none), Err(Error::NoTarget)));
        let twice = BasicAuth::new(
            "x",
            BasicAuthSpec {
                enabled: true,
                ui: target("cm", "k"),
                governance_platform: target("cm", "k"),
            },
        );
        assert!(matches!(spec(&twice), Err(Error::SameKey)));
    }
}
