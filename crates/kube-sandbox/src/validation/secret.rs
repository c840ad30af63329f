//! The checks kube-apiserver applies to core/v1 Secrets (`ValidateSecret`,
//! `ValidateSecretUpdate`) that matter to the operator: data keys, base64 values, the size limit,
//! the keys each well-known `type` requires, and immutability of `type` and of `immutable`
//! Secrets.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::structural::child;
use super::{FieldError, FieldErrorReason};

const MAX_SECRET_BYTES: usize = 1024 * 1024;
const CONFIG_KEY_MESSAGE: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
     (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

fn base64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Folds write-only `stringData` into `data` (base64-encoded, `stringData` winning) and defaults
/// `type` to `Opaque`, as the apiserver does before storing a Secret.
pub fn normalize_secret(secret: &mut Value) {
    let Some(fields) = secret.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(string_data)) = fields.remove("stringData") {
        let data = fields
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if data.is_null() {
            *data = Value::Object(Map::new());
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in string_data {
                let text = value.as_str().unwrap_or_default();
                data.insert(key, json!(base64().encode(text)));
            }
        }
    }
    if fields
        .get("type")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        fields.insert("type".into(), json!("Opaque"));
    }
}

fn is_config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && !key.starts_with("..")
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Validates a Secret (after [`normalize_secret`]; `stringData` keys still count as present),
/// and against `old` on update.
pub fn validate_secret(secret: &Value, old: Option<&Value>) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    let keys = check_data(secret, &mut errors);
    let secret_type = secret
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Opaque");
    check_required_keys(secret_type, &keys, &mut errors);
    if let Some(old) = old {
        validate_update(secret, old, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The keys of `data` and `stringData` (valid key names, base64 values, the total size);
/// returns every key present.
fn check_data<'a>(secret: &'a Value, errors: &mut Vec<FieldError>) -> BTreeSet<&'a str> {
    let data = secret.get("data").and_then(Value::as_object);
    let string_data = secret.get("stringData").and_then(Value::as_object);
    let mut keys = BTreeSet::new();
    let mut total = 0;
    for (key, value) in data.into_iter().flatten() {
        let field = format!("data[{key}]");
        if !is_config_key(key) {
            errors.push(FieldError::invalid(&field, json!(key), CONFIG_KEY_MESSAGE));
        }
        match value.as_str().map(|v| base64().decode(v)) {
            Some(Ok(bytes)) => total += bytes.len(),
            Some(Err(e)) => errors.push(FieldError::new(
                &field,
                FieldErrorReason::FieldValueInvalid,
                None,
                format!("illegal base64 data: {e}"),
            )),
            None if value.is_null() => {}
            None => errors.push(FieldError::new(
                &field,
                FieldErrorReason::FieldValueTypeInvalid,
                Some(value.clone()),
                "must be a base64-encoded string",
            )),
        }
        keys.insert(key.as_str());
    }
    for (key, value) in string_data.into_iter().flatten() {
        if !is_config_key(key) {
            errors.push(FieldError::invalid(
                format!("stringData[{key}]"),
                json!(key),
                CONFIG_KEY_MESSAGE,
            ));
        }
        total += value.as_str().map_or(0, str::len);
        keys.insert(key.as_str());
    }
    if total > MAX_SECRET_BYTES {
        errors.push(FieldError::new(
            "data",
            FieldErrorReason::FieldValueTooLong,
            None,
            format!("may not be more than {MAX_SECRET_BYTES} bytes"),
        ));
    }
    keys
}

/// The keys a Secret's type requires.
fn check_required_keys(secret_type: &str, keys: &BTreeSet<&str>, errors: &mut Vec<FieldError>) {
    let required: &[&str] = match secret_type {
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        _ => &[],
    };
    for key in required.iter().filter(|k| !keys.contains(**k)) {
        errors.push(FieldError::required(format!("data[{key}]"), ""));
    }
    // Either may be empty, but one of the two must be there.
    if secret_type == "kubernetes.io/basic-auth"
        && !keys.contains("username")
        && !keys.contains("password")
    {
        errors.push(FieldError::required("data[username]", ""));
        errors.push(FieldError::required("data[password]", ""));
    }
}

fn validate_update(secret: &Value, old: &Value, errors: &mut Vec<FieldError>) {
    let new_type = secret
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Opaque");
    let old_type = old.get("type").and_then(Value::as_str).unwrap_or("Opaque");
    if new_type != old_type {
        errors.push(FieldError::invalid(
            "type",
            json!(new_type),
            "field is immutable",
        ));
    }
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        if secret.get("immutable").and_then(Value::as_bool) != Some(true) {
            errors.push(FieldError::forbidden("immutable", IMMUTABLE_SET));
        }
        let empty = json!({});
        let data = |s: &Value| s.get("data").cloned().unwrap_or_else(|| empty.clone());
        if data(secret) != data(old) || secret.get("stringData").is_some() {
            errors.push(FieldError::forbidden(child("", "data"), IMMUTABLE_SET));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic_auth(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "type": "kubernetes.io/basic-auth", "data": data})
    }

    fn printed(result: Result<(), Vec<FieldError>>) -> Vec<String> {
        result
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn basic_auth_secret_with_a_password_only_is_valid() {
        assert_eq!(
            validate_secret(&basic_auth(json!({"password": "d2JhdC14"})), None),
            Ok(())
        );
    }

    #[test]
    fn basic_auth_secret_without_username_and_password_requires_both() {
        assert_eq!(
            printed(validate_secret(&basic_auth(json!({"token": "eA=="})), None)),
            [
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
    }

    #[test]
    fn basic_auth_keys_given_as_string_data_count() {
        let mut secret = basic_auth(json!(null));
        secret["stringData"] = json!({"username": "witboost"});
        assert_eq!(validate_secret(&secret, None), Ok(()));
    }

    #[test]
    fn data_values_must_be_base64_and_keys_config_keys() {
        let errors = validate_secret(
            &basic_auth(json!({"password": "!!", "bad key": "eA=="})),
            None,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["data[bad key]", "data[password]"]);
        assert!(errors[1].message.starts_with("illegal base64 data"));
    }

    #[test]
    fn type_cannot_change_on_update() {
        let old = basic_auth(json!({"password": "eA=="}));
        let mut new = old.clone();
        new["type"] = json!("Opaque");
        assert_eq!(
            printed(validate_secret(&new, Some(&old))),
            [r#"type: Invalid value: "Opaque": field is immutable"#]
        );
    }

    #[test]
    fn immutable_secret_rejects_data_changes() {
        let mut old = basic_auth(json!({"password": "eA=="}));
        old["immutable"] = json!(true);
        let mut new = old.clone();
        new["data"]["password"] = json!("eQ==");
        assert_eq!(
            printed(validate_secret(&new, Some(&old))),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        assert_eq!(validate_secret(&old, Some(&old)), Ok(()));
    }

    #[test]
    fn normalize_moves_string_data_into_data_and_defaults_the_type() {
        let mut secret = json!({"data": {"a": "eA=="}, "stringData": {"b": "witboost"}});
        normalize_secret(&mut secret);
        assert_eq!(
            secret,
            json!({"data": {"a": "eA==", "b": "d2l0Ym9vc3Q="}, "type": "Opaque"})
        );
    }

    #[test]
    fn each_secret_type_requires_its_keys() {
        let cases: [(&str, &[&str], &[&str]); 6] = [
            ("Opaque", &[], &[]),
            ("kubernetes.io/ssh-auth", &[], &["data[ssh-privatekey]"]),
            ("kubernetes.io/tls", &["tls.crt"], &["data[tls.key]"]),
            (
                "kubernetes.io/dockerconfigjson",
                &[".dockerconfigjson"],
                &[],
            ),
            ("kubernetes.io/basic-auth", &["password"], &[]),
            (
                "kubernetes.io/basic-auth",
                &[],
                &["data[username]", "data[password]"],
            ),
        ];
        for (secret_type, present, missing) in cases {
            let mut errors = Vec::new();
            check_required_keys(secret_type, &present.iter().copied().collect(), &mut errors);
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, missing, "{secret_type} with {present:?}");
        }
    }
}
