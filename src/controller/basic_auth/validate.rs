//! Step 2, validate: turn a BasicAuth's spec into its list of targets, and its `trust` into the
//! UI's external-access entry, with the token service's issuer, audience and algorithm as
//! defaults.
//!
//! The CRD schema already rejects a spec without targets or with both targets on one key;
//! checking again here protects against objects stored before a rule existed.

use thiserror::Error;

use crate::crd::{BasicAuth, ConfigMapKeyRef, ConfigTarget, Workload};
use crate::witboost_config::external_access::{self, DEFAULT_SUBJECT_PREFIX, Trust};

/// What the token service beside the controller signs with: the trust entry's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// Its `--issuer`.
    pub issuer: String,
    /// Its `--audience`.
    pub audience: String,
    /// The algorithm of its current signing key (`ES256`, `RS512`).
    pub algorithm: String,
}

/// What the UI's `backend.auth.externalAccess` list should hold of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustPlan {
    /// This entry, added or updated in place.
    Present(Trust),
    /// No entry with this subject prefix.
    Absent { subject_prefix: String },
}

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
    /// The UI's trust entry; `None` leaves the list alone.
    pub trust: Option<TrustPlan>,
}

/// Why a spec is unusable. All of these are the user's to fix.
#[derive(Debug, Error)]
pub enum Error {
    #[error("at least one of ui and governancePlatform must be set")]
    NoTarget,
    #[error("ui and governancePlatform must name different ConfigMap keys")]
    SameKey,
    #[error("trust is rendered into the UI's app-config: it needs ui")]
    TrustWithoutUi,
    #[error("trust needs the token service's issuer, audience and algorithm, and none runs here")]
    NoSigner,
}

impl Error {
    /// Bounded label for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        "InvalidSpec"
    }
}

/// Checks `basic_auth`'s spec; `signer` gives the trust entry's defaults.
pub fn spec(basic_auth: &BasicAuth, signer: Option<&Signer>) -> Result<ValidSpec, Error> {
    let spec = &basic_auth.spec;
    let trust = match &spec.trust {
        None => None,
        Some(_) if spec.ui.is_none() => return Err(Error::TrustWithoutUi),
        Some(trust) => {
            let subject_prefix = trust
                .subject_prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_SUBJECT_PREFIX.to_owned());
            if trust.enabled {
                let signer = signer.ok_or(Error::NoSigner)?;
                let issuer = trust.issuer.as_deref().unwrap_or(&signer.issuer);
                Some(TrustPlan::Present(Trust {
                    url: trust
                        .jwks_url
                        .clone()
                        .unwrap_or_else(|| external_access::jwks_url(issuer)),
                    issuer: issuer.to_owned(),
                    algorithm: signer.algorithm.clone(),
                    audience: signer.audience.clone(),
                    subject_prefix,
                }))
            } else {
                Some(TrustPlan::Absent { subject_prefix })
            }
        }
    };
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
            trust,
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
                trust: None,
            },
        );
        let valid = spec(&ba, None).unwrap();
        assert!(valid.enabled);
        let fields: Vec<Field> = valid.targets.iter().map(|t| t.field).collect();
        assert_eq!(fields, [Field::Ui, Field::GovernancePlatform]);
    }

    #[test]
    fn a_spec_without_targets_or_with_one_key_twice_is_refused() {
        let none = BasicAuth::new("x", BasicAuthSpec::default());
        assert!(matches!(spec(&none, None), Err(Error::NoTarget)));
        let twice = BasicAuth::new(
            "x",
            BasicAuthSpec {
                enabled: true,
                ui: target("cm", "k"),
                governance_platform: target("cm", "k"),
                trust: None,
            },
        );
        assert!(matches!(spec(&twice, None), Err(Error::SameKey)));
    }

    fn signer() -> Signer {
        Signer {
            issuer: "http://wto.witboost.svc:8443".into(),
            audience: "witboost".into(),
            algorithm: "RS512".into(),
        }
    }

    fn trusting(trust: crate::crd::TrustSpec) -> BasicAuth {
        BasicAuth::new(
            "witboost",
            BasicAuthSpec {
                enabled: true,
                ui: target("ui", "app-config.yaml"),
                governance_platform: None,
                trust: Some(trust),
            },
        )
    }

    #[test]
    fn the_trust_entry_defaults_to_what_the_token_service_signs_with() {
        let on = trusting(crate::crd::TrustSpec {
            enabled: true,
            ..Default::default()
        });
        let Some(TrustPlan::Present(trust)) = spec(&on, Some(&signer())).unwrap().trust else {
            panic!("the entry is wanted");
        };
        assert_eq!(
            trust,
            Trust {
                url: "http://wto.witboost.svc:8443/.well-known/jwks.json".into(),
                issuer: "http://wto.witboost.svc:8443".into(),
                algorithm: "RS512".into(),
                audience: "witboost".into(),
                subject_prefix: "witboost-token-operator".into(),
            }
        );
        assert!(matches!(spec(&on, None), Err(Error::NoSigner)));
    }

    #[test]
    fn the_trust_entry_takes_the_issuer_url_and_prefix_of_the_spec_and_goes_when_switched_off() {
        let on = trusting(crate::crd::TrustSpec {
            enabled: true,
            issuer: Some("https://tokens.example.com".into()),
            jwks_url: Some("http://wto:8443/.well-known/jwks.json".into()),
            subject_prefix: Some("tokens".into()),
        });
        let Some(TrustPlan::Present(trust)) = spec(&on, Some(&signer())).unwrap().trust else {
            panic!("the entry is wanted");
        };
        assert_eq!(trust.issuer, "https://tokens.example.com");
        assert_eq!(trust.url, "http://wto:8443/.well-known/jwks.json");
        assert_eq!(trust.subject_prefix, "tokens");

        let off = trusting(crate::crd::TrustSpec::default());
        assert_eq!(
            spec(&off, None).unwrap().trust,
            Some(TrustPlan::Absent {
                subject_prefix: "witboost-token-operator".into()
            })
        );
    }
}
