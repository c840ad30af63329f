use serde_json::{Value, json};

use super::*;

fn validator(schema: Value) -> SchemaValidator {
    SchemaValidator::new(&serde_json::from_value(schema).unwrap()).unwrap()
}

/// A schema shaped like our AccessToken CRD.
fn token_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
            "spec": {
                "type": "object",
                "required": ["email"],
                "properties": {
                    "email": {
                        "type": "string", "format": "email", "pattern": "^.+@.+$",
                        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "email is immutable"}]
                    },
                    "serviceAccountName": {"type": "string", "minLength": 1, "maxLength": 10},
                    "user": {"type": "string"},
                    "expiresAt": {"type": "string", "format": "date-time"},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
                    "phase": {"type": "string", "enum": ["Pending", "Active"]},
                    "note": {"type": "string", "nullable": true},
                    "port": {"x-kubernetes-int-or-string": true},
                    "groups": {
                        "type": "array", "maxItems": 2, "x-kubernetes-list-type": "set",
                        "items": {"type": "string"}
                    },
                    "rolloutTargets": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["kind"],
                            "properties": {"kind": {"type": "string"}, "name": {"type": "string"}},
                            "x-kubernetes-validations": [{
                                "rule": "self.kind in ['Deployment', 'StatefulSet']",
                                "messageExpression": "'unsupported kind ' + self.kind"
                            }]
                        }
                    },
                    "revoked": {"type": "boolean"}
                },
                "x-kubernetes-validations": [
                    {
                        "rule": "has(self.serviceAccountName) != has(self.user)",
                        "message": "exactly one of serviceAccountName or user must be set"
                    },
                    {
                        "rule": "!has(oldSelf.revoked) || !oldSelf.revoked || self.revoked",
                        "message": "a revoked token cannot be reinstated",
                        "reason": "FieldValueForbidden",
                        "fieldPath": ".revoked"
                    }
                ]
            },
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }
    })
}

fn token(spec: Value) -> Value {
    json!({"apiVersion": "iam.witboost.com/v1alpha1", "kind": "AccessToken", "metadata": {"name": "ci"}, "spec": spec})
}

fn errors_of(v: &SchemaValidator, mut obj: Value, old: Option<&Value>) -> Vec<String> {
    match v.validate(&mut obj, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn valid_token_passes_and_gets_its_defaults() {
    let v = validator(token_schema());
    let mut obj = token(json!({"email": "bot@example.com", "serviceAccountName": "bot"}));
    v.validate(&mut obj, None).unwrap();
    assert_eq!(obj["spec"]["replicas"], 1);
}

#[test]
fn unknown_fields_are_pruned_but_metadata_and_preserved_status_stay() {
    let v = validator(token_schema());
    let mut obj = token(json!({"email": "bot@example.com", "user": "a@b.c", "typo": 1}));
    obj["extra"] = json!(true);
    obj["metadata"]["labels"] = json!({"a": "b"});
    obj["status"] = json!({"anything": {"goes": 1}});
    v.validate(&mut obj, None).unwrap();
    assert!(obj["spec"].get("typo").is_none());
    assert!(obj.get("extra").is_none());
    assert_eq!(obj["metadata"]["labels"]["a"], "b");
    assert_eq!(obj["status"]["anything"]["goes"], 1);
}

#[test]
fn missing_required_field_is_reported_with_its_path() {
    let v = validator(token_schema());
    assert_eq!(
        errors_of(&v, token(json!({"user": "a@b.c"})), None),
        [
            "spec.email: Required value",
            r#"<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"#
        ]
    );
}

#[test]
fn wrong_type_reads_like_kube_openapi() {
    let v = validator(token_schema());
    let errors = errors_of(
        &v,
        token(json!({"email": "a@b.c", "user": "u", "replicas": "two"})),
        None,
    );
    assert_eq!(
        errors[0],
        r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#
    );
}

#[test]
fn value_outside_an_enum_lists_the_supported_values() {
    let v = validator(token_schema());
    let errors = errors_of(
        &v,
        token(json!({"email": "a@b.c", "user": "u", "phase": "Gone"})),
        None,
    );
    assert_eq!(
        errors[0],
        r#"spec.phase: Unsupported value: "Gone": supported values: "Pending", "Active""#
    );
}

#[test]
fn pattern_and_format_failures_name_the_rule() {
    let v = validator(token_schema());
    let errors = errors_of(
        &v,
        token(json!({"email": "nobody", "user": "u", "expiresAt": "soon"})),
        None,
    );
    assert!(
        errors.contains(
            &r#"spec.email: Invalid value: "nobody": spec.email in body should match '^.+@.+$'"#
                .to_owned()
        )
    );
    assert!(errors.contains(&r#"spec.email: Invalid value: "nobody": spec.email in body must be of type email: "nobody""#.to_owned()));
    assert!(errors.contains(&r#"spec.expiresAt: Invalid value: "soon": spec.expiresAt in body must be of type date-time: "soon""#.to_owned()));
}

#[test]
fn a_valid_date_time_passes() {
    let v = validator(token_schema());
    let obj = token(json!({"email": "a@b.c", "user": "u", "expiresAt": "2030-01-01T00:00:00Z"}));
    assert_eq!(errors_of(&v, obj, None), Vec::<String>::new());
}

#[test]
fn numeric_bounds_lengths_and_counts_are_enforced() {
    let v = validator(token_schema());
    let spec = json!({
        "email": "a@b.c", "serviceAccountName": "", "replicas": 9, "groups": ["a", "b", "c"]
    });
    let errors = errors_of(&v, token(spec), None);
    assert!(errors.contains(&"spec.replicas: Invalid value: 9: spec.replicas in body should be less than or equal to 5".to_owned()));
    assert!(errors.contains(&r#"spec.serviceAccountName: Invalid value: "": spec.serviceAccountName in body should be at least 1 chars long"#.to_owned()));
    assert!(errors.contains(&"spec.groups: Too many: 3: must have at most 2 items".to_owned()));

    let errors = errors_of(
        &v,
        token(json!({"email": "a@b.c", "serviceAccountName": "much-too-long-name", "replicas": 0})),
        None,
    );
    assert!(
        errors.contains(
            &"spec.serviceAccountName: Too long: may not be more than 10 bytes".to_owned()
        )
    );
    assert!(errors.contains(&"spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1".to_owned()));
}

#[test]
fn nullable_fields_accept_null_and_other_nulls_are_dropped() {
    let v = validator(token_schema());
    let mut obj = token(json!({"email": "a@b.c", "user": "u", "note": null, "phase": null}));
    v.validate(&mut obj, None).unwrap();
    assert_eq!(obj["spec"]["note"], Value::Null);
    assert!(obj["spec"].get("phase").is_none());
}

#[test]
fn int_or_string_accepts_both_and_rejects_a_boolean() {
    let v = validator(token_schema());
    for port in [json!(8080), json!("http")] {
        assert_eq!(
            errors_of(
                &v,
                token(json!({"email": "a@b.c", "user": "u", "port": port})),
                None
            ),
            Vec::<String>::new()
        );
    }
    let errors = errors_of(
        &v,
        token(json!({"email": "a@b.c", "user": "u", "port": true})),
        None,
    );
    assert_eq!(
        errors[0],
        r#"spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean""#
    );
}

#[test]
fn duplicate_entries_of_a_set_list_are_rejected() {
    let v = validator(token_schema());
    let errors = errors_of(
        &v,
        token(json!({"email": "a@b.c", "user": "u", "groups": ["x", "x"]})),
        None,
    );
    assert_eq!(errors, [r#"spec.groups[1]: Duplicate value: "x""#]);
}

#[test]
fn cel_rule_failure_reports_the_rule_message_exactly() {
    let v = validator(token_schema());
    let mut obj = token(json!({"email": "a@b.c", "user": "u", "serviceAccountName": "bot"}));
    let errors = v.validate(&mut obj, None).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "spec");
    assert_eq!(errors[0].reason, FieldErrorReason::FieldValueInvalid);
    assert_eq!(
        errors[0].message,
        "exactly one of serviceAccountName or user must be set"
    );
    assert_eq!(
        errors[0].to_string(),
        r#"spec: Invalid value: "object": exactly one of serviceAccountName or user must be set"#
    );
}

#[test]
fn cel_message_expression_is_evaluated_on_list_items() {
    let v = validator(token_schema());
    let spec = json!({"email": "a@b.c", "user": "u", "rolloutTargets": [{"kind": "Deployment"}, {"kind": "Pod"}]});
    assert_eq!(
        errors_of(&v, token(spec), None),
        [r#"spec.rolloutTargets[1]: Invalid value: "object": unsupported kind Pod"#]
    );
}

#[test]
fn transition_rules_only_apply_on_update() {
    let v = validator(token_schema());
    let old = token(json!({"email": "a@b.c", "user": "u"}));
    let changed = token(json!({"email": "z@b.c", "user": "u"}));
    assert_eq!(errors_of(&v, changed.clone(), None), Vec::<String>::new());
    assert_eq!(
        errors_of(&v, changed, Some(&old)),
        [r#"spec.email: Invalid value: "string": email is immutable"#]
    );
    assert_eq!(errors_of(&v, old.clone(), Some(&old)), Vec::<String>::new());
}

#[test]
fn cel_reason_and_field_path_shape_the_error() {
    let v = validator(token_schema());
    let old = token(json!({"email": "a@b.c", "user": "u", "revoked": true}));
    let new = token(json!({"email": "a@b.c", "user": "u", "revoked": false}));
    let errors = v.validate(&mut new.clone(), Some(&old)).unwrap_err();
    assert_eq!(errors[0].field, "spec.revoked");
    assert_eq!(errors[0].reason, FieldErrorReason::FieldValueForbidden);
    assert_eq!(
        errors[0].to_string(),
        "spec.revoked: Forbidden: a revoked token cannot be reinstated"
    );
}

#[test]
fn rule_on_the_root_reports_the_nil_field_and_default_message() {
    let v = validator(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        "x-kubernetes-validations": [{"rule": "self.spec.a > 1"}]
    }));
    assert_eq!(
        errors_of(&v, json!({"spec": {"a": 1}}), None),
        [r#"<nil>: Invalid value: "object": failed rule: self.spec.a > 1"#]
    );
}

#[test]
fn metadata_name_constraints_of_the_schema_apply() {
    let v = validator(token_schema());
    let mut obj = token(json!({"email": "a@b.c", "user": "u"}));
    obj["metadata"]["name"] = json!("a-name-longer-than-twenty");
    assert_eq!(
        errors_of(&v, obj, None)[0],
        "metadata.name: Too long: may not be more than 20 bytes"
    );
}

#[test]
fn schema_describing_more_of_metadata_than_names_is_refused() {
    let schema = json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}});
    let err = SchemaValidator::new(&serde_json::from_value(schema).unwrap()).unwrap_err();
    assert!(matches!(err, SchemaError::Metadata));
}

#[test]
fn rule_that_does_not_compile_makes_the_schema_unusable() {
    let schema = json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}]});
    let err = SchemaValidator::new(&serde_json::from_value(schema).unwrap()).unwrap_err();
    assert!(
        matches!(err, SchemaError::Rules(ref r) if r.len() == 1),
        "{err}"
    );
}

#[test]
fn embedded_resources_keep_their_type_and_metadata() {
    let v = validator(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"template": {
            "type": "object", "x-kubernetes-embedded-resource": true,
            "properties": {"data": {"type": "object", "additionalProperties": {"type": "string"}}}
        }}}}
    }));
    let mut obj = json!({"spec": {"template": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "b"}, "junk": 1}}});
    v.validate(&mut obj, None).unwrap();
    assert_eq!(
        obj["spec"]["template"],
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "b"}})
    );
}

#[test]
fn several_errors_make_one_invalid_status() {
    let v = validator(token_schema());
    let mut obj = token(json!({"user": "u", "phase": "Gone"}));
    let errors = v.validate(&mut obj, None).unwrap_err();
    let status = invalid_status("AccessToken", "iam.witboost.com", "ci", &errors);
    let message = status.message.unwrap();
    assert!(
        message.starts_with(
            r#"AccessToken.iam.witboost.com "ci" is invalid: [spec.email: Required value, "#
        ),
        "{message}"
    );
}
