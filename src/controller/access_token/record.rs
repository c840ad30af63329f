//! What a Secret of ours records about its value, in its annotations: the revision, the
//! digest, the times and the expiry policy it was issued under. The Secret is written before
//! status, so after a crash these annotations are the truth that status is rebuilt from.
//!
//! Anyone who may write the Secret (a namespace's `edit` role) could write such annotations
//! too, so the record carries a MAC ([`RECORD_MAC`]) under the operator's record key, over the
//! AccessToken's namespace, name and uid and every annotation of the record: a record whose
//! MAC does not verify is a hand edit, and never adopted (see `build`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;

use crate::token::{RecordKey, Token};

pub const REVISION: &str = "iam.witboost.com/revision";
pub const DIGEST: &str = "iam.witboost.com/token-digest";
pub const HINT: &str = "iam.witboost.com/token-hint";
pub const ISSUED_AT: &str = "iam.witboost.com/issued-at";
pub const EXPIRES_AT: &str = "iam.witboost.com/expires-at";
pub const EXPIRY_POLICY: &str = "iam.witboost.com/expiry-policy";
pub const REGENERATE_REQUEST: &str = "iam.witboost.com/regenerate-request";
pub const REVOKED_AT: &str = "iam.witboost.com/revoked-at";
pub const RECORD_MAC: &str = "iam.witboost.com/record-mac";

/// Data keys holding the value.
pub const USERNAME_KEY: &str = "username";
pub const PASSWORD_KEY: &str = "password";
pub const TOKEN_KEY: &str = "token";
/// `username` of every token Secret: the user Witboost's Basic auth expects.
pub const USERNAME: &str = "witboost";

/// The value found in a Secret.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value (never issued, or removed).
    None,
    /// `password` and `token` agree, the token is well-formed and matches the recorded digest.
    Valid(Token),
    /// Anything else: edited by hand.
    Tampered,
}

/// The annotations of a token Secret, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretRecord {
    pub revision: i64,
    pub digest: Option<String>,
    pub hint: Option<String>,
    pub issued_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub expiry_policy: Option<String>,
    pub regenerate_request: Option<String>,
    pub revoked_at: Option<Timestamp>,
    pub value: Value,
    /// Whether the record is the operator's own: its MAC verifies under the record key (or no
    /// key is configured). Set by `dereference`, which knows the key; a parsed record is not.
    pub authentic: bool,
}

/// The AccessToken a record belongs to: a record copied into another token's Secret, or kept
/// from a deleted token of the same name, does not verify.
pub struct Owner<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
}

impl SecretRecord {
    /// Reads a Secret's record and checks its value against it.
    pub fn parse(secret: &Secret) -> Self {
        let empty = BTreeMap::new();
        let annotations = secret.metadata.annotations.as_ref().unwrap_or(&empty);
        let text = |key: &str| annotations.get(key).cloned();
        let time = |key: &str| annotations.get(key).and_then(|t| t.parse().ok());
        let digest = text(DIGEST);
        let data = secret.data.as_ref();
        let key = |k: &str| {
            data.and_then(|d| d.get(k))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        };
        let value = match (key(PASSWORD_KEY), key(TOKEN_KEY)) {
            (None, None) => Value::None,
            (Some(password), Some(token)) if password == token => match Token::parse(&token) {
                Ok(t) if digest.as_deref() == Some(t.digest().as_str()) => Value::Valid(t),
                _ => Value::Tampered,
            },
            _ => Value::Tampered,
        };
        Self {
            revision: text(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0),
            digest,
            hint: text(HINT),
            issued_at: time(ISSUED_AT),
            expires_at: time(EXPIRES_AT),
            expiry_policy: text(EXPIRY_POLICY),
            regenerate_request: text(REGENERATE_REQUEST),
            revoked_at: time(REVOKED_AT),
            value,
            authentic: false,
        }
    }

    /// The MAC of this record for `owner`.
    pub fn mac(&self, key: &RecordKey, owner: &Owner<'_>) -> String {
        key.sign(
            &self
                .signed_fields(owner)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
    }

    /// Whether `secret`'s MAC annotation is this record's (parsed from it) for `owner`.
    pub fn verifies(&self, secret: &Secret, key: &RecordKey, owner: &Owner<'_>) -> bool {
        let Some(mac) = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RECORD_MAC))
        else {
            return false;
        };
        let fields = self.signed_fields(owner);
        key.verify(&fields.iter().map(String::as_str).collect::<Vec<_>>(), mac)
    }

    fn signed_fields(&self, owner: &Owner<'_>) -> Vec<String> {
        let mut fields = vec![
            "witboost-token-record/v1".to_owned(),
            owner.namespace.to_owned(),
            owner.name.to_owned(),
            owner.uid.to_owned(),
        ];
        for (key, value) in self.annotations() {
            fields.push(key);
            fields.push(value);
        }
        fields
    }

    /// The annotations that record this value.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(REVISION.to_owned(), self.revision.to_string());
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                out.insert(key.to_owned(), v);
            }
        };
        put(DIGEST, self.digest.clone());
        put(HINT, self.hint.clone());
        put(ISSUED_AT, self.issued_at.map(|t| t.to_string()));
        put(EXPIRES_AT, self.expires_at.map(|t| t.to_string()));
        put(EXPIRY_POLICY, self.expiry_policy.clone());
        put(REGENERATE_REQUEST, self.regenerate_request.clone());
        put(REVOKED_AT, self.revoked_at.map(|t| t.to_string()));
        out
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;

    fn secret(annotations: BTreeMap<String, String>, data: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.annotations = Some(annotations);
        s.data = Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        s
    }

    fn record_of(token: &Token) -> SecretRecord {
        SecretRecord {
            revision: 3,
            digest: Some(token.digest()),
            hint: Some(token.hint()),
            issued_at: Some("2026-01-01T00:00:00Z".parse().unwrap()),
            expires_at: None,
            expiry_policy: Some("never".into()),
            regenerate_request: Some("r1".into()),
            revoked_at: None,
            value: Value::Valid(token.clone()),
            authentic: false,
        }
    }

    #[test]
    fn a_record_round_trips_through_the_annotations() {
        let token = Token::generate();
        let record = record_of(&token);
        let parsed = SecretRecord::parse(&secret(
            record.annotations(),
            &[("password", token.expose()), ("token", token.expose())],
        ));
        assert_eq!(parsed, record);
    }

    #[test]
    fn a_value_edited_by_hand_is_tampered() {
        let token = Token::generate();
        let other = Token::generate();
        let annotations = record_of(&token).annotations();
        let edited = secret(
            annotations.clone(),
            &[("password", other.expose()), ("token", other.expose())],
        );
        assert_eq!(SecretRecord::parse(&edited).value, Value::Tampered);
        let half = secret(
            annotations.clone(),
            &[("password", token.expose()), ("token", "x")],
        );
        assert_eq!(SecretRecord::parse(&half).value, Value::Tampered);
        let gone = secret(annotations, &[("username", "witboost")]);
        assert_eq!(SecretRecord::parse(&gone).value, Value::None);
    }

    #[test]
    fn a_record_verifies_only_with_its_own_mac_for_its_own_token() {
        let key = RecordKey::generate();
        let token = Token::generate();
        let record = record_of(&token);
        let owner = Owner {
            namespace: "ns",
            name: "ci",
            uid: "u1",
        };
        let mut annotations = record.annotations();
        annotations.insert(RECORD_MAC.into(), record.mac(&key, &owner));
        let data = [("password", token.expose()), ("token", token.expose())];
        let signed = secret(annotations.clone(), &data);
        let parsed = SecretRecord::parse(&signed);
        assert!(parsed.verifies(&signed, &key, &owner));
        let other_owner = Owner { uid: "u2", ..owner };
        assert!(
            !parsed.verifies(&signed, &key, &other_owner),
            "a re-created token"
        );
        assert!(
            !parsed.verifies(&signed, &RecordKey::generate(), &owner),
            "another key"
        );
        // One annotation changed by hand: the expiry removed.
        let mut forged = annotations.clone();
        forged.insert(REVISION.into(), "4".into());
        let forged = secret(forged, &data);
        assert!(!SecretRecord::parse(&forged).verifies(&forged, &key, &owner));
        annotations.remove(RECORD_MAC);
        let unsigned = secret(annotations, &data);
        assert!(!SecretRecord::parse(&unsigned).verifies(&unsigned, &key, &owner));
    }
}
