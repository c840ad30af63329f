use super::*;

fn enable_app(text: &str) -> String {
    app_config::set_basic_auth(text, true).unwrap().text
}

#[test]
fn app_config_flag_is_replaced_in_place_keeping_its_comment() {
    let text =
        "backend:\n  auth:\n    basicAuth:\n      enabled: false # off for now\n  baseUrl: x\n";
    assert_eq!(
        enable_app(text),
        "backend:\n  auth:\n    basicAuth:\n      enabled: true # off for now\n  baseUrl: x\n"
    );
}

#[test]
fn app_config_missing_levels_are_created_in_the_documents_indentation() {
    let text = "app:\n    title: W\nbackend:\n    baseUrl: x # url\n# trailing comment\n";
    assert_eq!(
        enable_app(text),
        "app:\n    title: W\nbackend:\n    baseUrl: x # url\n    auth:\n        basicAuth:\n            enabled: true\n# trailing comment\n"
    );
}

#[test]
fn app_config_empty_document_gets_the_whole_path() {
    assert_eq!(
        enable_app(""),
        "backend:\n  auth:\n    basicAuth:\n      enabled: true\n"
    );
    assert_eq!(
        enable_app("# only a comment"),
        "# only a comment\nbackend:\n  auth:\n    basicAuth:\n      enabled: true\n"
    );
}

#[test]
fn app_config_flow_mappings_are_edited_in_place() {
    assert_eq!(
        enable_app("backend: {auth: {basicAuth: {enabled: false}}}\n"),
        "backend: {auth: {basicAuth: {enabled: true}}}\n"
    );
    assert_eq!(
        enable_app("backend: {baseUrl: x}\n"),
        "backend: {baseUrl: x, auth: {basicAuth: {enabled: true}}}\n"
    );
    assert_eq!(
        enable_app("backend:\n  auth: {}\n"),
        "backend:\n  auth: {basicAuth: {enabled: true}}\n"
    );
}

#[test]
fn app_config_empty_level_is_filled() {
    assert_eq!(
        enable_app("backend:\n  auth:\n  baseUrl: x\n"),
        "backend:\n  auth:\n    basicAuth:\n      enabled: true\n  baseUrl: x\n"
    );
    assert_eq!(
        enable_app("backend:\n  auth:\n    basicAuth:\n      enabled:\n"),
        "backend:\n  auth:\n    basicAuth:\n      enabled: true\n"
    );
}

#[test]
fn app_config_crlf_stays_crlf() {
    let text = "backend:\r\n  baseUrl: x\r\n";
    assert_eq!(
        enable_app(text),
        "backend:\r\n  baseUrl: x\r\n  auth:\r\n    basicAuth:\r\n      enabled: true\r\n"
    );
}

#[test]
fn app_config_flag_already_true_for_backstage_is_left_alone() {
    let text = "backend:\n  auth:\n    basicAuth:\n      enabled: 'yes'\n";
    let edit = app_config::set_basic_auth(text, true).unwrap();
    assert!(!edit.changed);
    assert_eq!(edit.text, text);
    assert_eq!(app_config::basic_auth(text).unwrap(), Some(true));
}

#[test]
fn app_config_substitution_is_reported_not_overwritten() {
    let text = "backend:\n  auth:\n    basicAuth:\n      enabled: ${BASIC_AUTH}\n";
    let error = app_config::set_basic_auth(text, true).unwrap_err();
    assert_eq!(
        error,
        EditError::ControlledByEnvironment {
            line: 4,
            value: "${BASIC_AUTH}".into()
        }
    );
    assert_eq!(error.category(), "ControlledByEnvironment");
}

#[test]
fn app_config_path_through_an_alias_or_merge_is_refused_naming_its_line() {
    let alias = "x: &a\n  baseUrl: y\nbackend: *a\n";
    assert_eq!(
        app_config::set_basic_auth(alias, true).unwrap_err(),
        EditError::ThroughAlias { line: 3 }
    );
    let merge = "x: &a\n  auth: {}\nbackend:\n  <<: *a\n  baseUrl: y\n";
    assert_eq!(
        app_config::set_basic_auth(merge, true).unwrap_err(),
        EditError::ThroughAlias { line: 4 }
    );
}

#[test]
fn app_config_anchored_level_used_elsewhere_is_refused() {
    let text = "backend: &b\n  auth:\n    basicAuth:\n      enabled: false\nother: *b\n";
    assert!(matches!(
        app_config::set_basic_auth(text, true).unwrap_err(),
        EditError::ThroughAlias { .. }
    ));
}

#[test]
fn app_config_invalid_documents_are_errors_with_a_position() {
    let invalid = app_config::set_basic_auth("backend:\n  auth: [x\n  y: z\n", true).unwrap_err();
    assert!(
        matches!(invalid, EditError::Invalid { line, .. } if line >= 2),
        "{invalid:?}"
    );
    assert_eq!(invalid.category(), "InvalidConfig");
    assert_eq!(
        app_config::set_basic_auth("a: 1\n---\nb: 2\n", true).unwrap_err(),
        EditError::MultipleDocuments { line: 2 }
    );
    assert_eq!(
        app_config::set_basic_auth("- a\n- b\n", true).unwrap_err(),
        EditError::NotAMapping { line: 1, column: 1 }
    );
    assert!(matches!(
        app_config::set_basic_auth("backend:\n  auth: yes\n", true).unwrap_err(),
        EditError::NotAMapping { line: 2, column: 9 }
    ));
}

#[test]
fn hocon_block_is_appended_then_replaced_in_place() {
    let text = "akka.loglevel = INFO\n";
    let on = hocon::set_basic_auth(text, true).unwrap();
    assert!(on.changed);
    assert_eq!(
        on.text,
        format!(
            "akka.loglevel = INFO\n\n{}\n{} = true\n{}\n",
            hocon::BEGIN,
            hocon::PATH,
            hocon::END
        )
    );
    assert_eq!(hocon::basic_auth(&on.text).unwrap(), Some(true));
    let off = hocon::set_basic_auth(&on.text, false).unwrap();
    assert_eq!(off.text, on.text.replace("= true", "= false"));
    assert!(!hocon::set_basic_auth(&off.text, false).unwrap().changed);
}

#[test]
fn hocon_braced_root_gets_the_block_inside_its_braces() {
    let text = "{\n  a = 1\n}\n";
    let on = hocon::set_basic_auth(text, true).unwrap().text;
    assert!(on.starts_with("{\n  a = 1\n  # BEGIN"), "{on}");
    assert!(on.ends_with("basic-auth\n}\n"), "{on}");
    assert_eq!(hocon::basic_auth(&on).unwrap(), Some(true));
}

#[test]
fn hocon_invalid_text_is_an_error_with_its_position() {
    let error = hocon::set_basic_auth("a {\n  b = 1\n", true).unwrap_err();
    assert!(matches!(error, EditError::Invalid { .. }), "{error:?}");
    assert_eq!(error.category(), "InvalidConfig");
}

#[test]
fn values_empty_file_gets_both_places() {
    let on = values::set_basic_auth("", true).unwrap().text;
    assert_eq!(
        on,
        format!(
            "ui:\n  appConfig:\n    backend:\n      auth:\n        basicAuth:\n          enabled: true\ngovernance-platform:\n  configOverride: |-\n    {}\n    {} = true\n    {}\n",
            hocon::BEGIN,
            hocon::PATH,
            hocon::END
        )
    );
    assert_eq!(values::basic_auth(&on).unwrap(), (Some(true), Some(true)));
}

#[test]
fn values_config_override_keeps_its_block_style() {
    let text = "governance-platform:\n  configOverride: |\n    a = 1\n\n    b = 2\n  image: x\n";
    let on = values::set_basic_auth(text, true).unwrap().text;
    let expected = format!(
        "governance-platform:\n  configOverride: |\n    a = 1\n\n    b = 2\n\n    {}\n    {} = true\n    {}\n  image: x\nui:\n",
        hocon::BEGIN,
        hocon::PATH,
        hocon::END
    );
    assert!(on.starts_with(&expected), "{on}");
    assert_eq!(values::basic_auth(&on).unwrap(), (Some(true), Some(true)));
}

#[test]
fn values_hocon_error_names_the_line_in_the_values_file() {
    let text = "ui: {}\ngovernance-platform:\n  configOverride: |-\n    a {\n      b = 1\n";
    let error = values::set_basic_auth(text, true).unwrap_err();
    assert!(
        matches!(error, EditError::Invalid { line, .. } if line >= 4),
        "{error:?}"
    );
}

#[test]
fn created_levels_follow_the_indentation_where_they_are_created() {
    let text = "a:\n  b: 1\nui:\n    appConfig:\n        app: {}\n";
    let on = values::set_basic_auth(text, true).unwrap().text;
    assert!(
        on.starts_with("a:\n  b: 1\nui:\n    appConfig:\n        app: {}\n        backend:\n            auth:\n                basicAuth:\n                    enabled: true\n"),
        "{on}"
    );
}

#[test]
fn an_empty_level_with_a_comment_keeps_the_comment_on_its_line() {
    assert_eq!(
        enable_app("backend:\n  auth: # later\n  baseUrl: x\n"),
        "backend:\n  auth: # later\n    basicAuth:\n      enabled: true\n  baseUrl: x\n"
    );
    assert_eq!(
        enable_app("backend:\n  auth: ~ # none\n"),
        "backend:\n  auth: # none\n    basicAuth:\n      enabled: true\n"
    );
    assert_eq!(
        enable_app("backend:\n  auth:\n    basicAuth:\n      enabled: # unset"),
        "backend:\n  auth:\n    basicAuth:\n      enabled: true # unset"
    );
    let on = values::set_basic_auth(
        "governance-platform:\n  configOverride: # none yet\nui: {}\n",
        true,
    )
    .unwrap();
    assert!(
        on.text.starts_with(&format!(
            "governance-platform:\n  configOverride: |- # none yet\n    {}\n",
            hocon::BEGIN
        )),
        "{}",
        on.text
    );
}

#[test]
fn values_with_numeric_keys_and_tags_are_edited() {
    let text = "ports:\n  80: http\n  443: https\nui:\n  appConfig:\n    x: !!str 12\n";
    let on = values::set_basic_auth(text, true).unwrap();
    assert!(on.text.starts_with(text), "{}", on.text);
    assert_eq!(
        values::basic_auth(&on.text).unwrap(),
        (Some(true), Some(true))
    );
}

#[test]
fn hocon_substitutions_of_the_application_config_are_left_to_it() {
    let text = "cgp.persistence.url = ${database.url}\ncgp.timeout = ${?TIMEOUT}\n";
    let on = hocon::set_basic_auth(text, true).unwrap();
    assert!(on.text.starts_with(text));
    assert_eq!(hocon::basic_auth(&on.text).unwrap(), Some(true));
}

#[test]
fn an_anchored_flag_used_elsewhere_is_refused_naming_the_anchor() {
    let text = "backend:\n  auth:\n    basicAuth:\n      enabled: &on false\nother: *on\n";
    assert_eq!(
        app_config::set_basic_auth(text, true).unwrap_err(),
        EditError::ThroughAlias { line: 4 }
    );
    // An anchor nobody uses is no reason to refuse.
    let unused = "backend:\n  auth:\n    basicAuth:\n      enabled: &on false\n";
    assert_eq!(
        app_config::set_basic_auth(unused, true).unwrap().text,
        "backend:\n  auth:\n    basicAuth:\n      enabled: &on true\n"
    );
}

#[test]
fn hocon_block_overridden_by_a_later_setting_moves_to_the_end() {
    let block = |on: bool| format!("{}\n{} = {on}\n{}", hocon::BEGIN, hocon::PATH, hocon::END);
    let text = format!("a = 1\n{}\n{} = false\nb = 2\n", block(false), hocon::PATH);
    let on = hocon::set_basic_auth(&text, true).unwrap().text;
    assert_eq!(
        on,
        format!("a = 1\n{} = false\nb = 2\n\n{}\n", hocon::PATH, block(true))
    );
    assert_eq!(hocon::basic_auth(&on).unwrap(), Some(true));
}

mod trust {
    use super::external_access::{self, DEFAULT_SUBJECT_PREFIX, Trust};
    use super::*;

    fn trust(issuer: &str) -> Trust {
        Trust::for_issuer(issuer, "ES256", "witboost")
    }

    const OURS: &str = "      - type: jwks\n        options:\n          url: \"https://wto.example/.well-known/jwks.json\"\n          issuer: \"https://wto.example\"\n          algorithm: \"ES256\"\n          audience: \"witboost\"\n          subjectPrefix: \"witboost-token-operator\"\n";

    const EXISTING: &str = "backend:\n  auth:\n    externalAccess:\n      # the CI's token\n      - type: static\n        options:\n          token: ${CI_TOKEN} # from a Secret\n          subject: ci\n      - &legacy {type: legacy, options: {secret: s3cr3t, subject: old}}\n    keys: [{secret: x}]\n";

    #[test]
    fn the_trust_entry_is_appended_to_an_existing_list_leaving_the_others_byte_for_byte() {
        let edit = external_access::set_trust(EXISTING, &trust("https://wto.example")).unwrap();
        assert!(edit.changed);
        let expected = EXISTING.replace("subject: old}}\n", &format!("subject: old}}}}\n{OURS}"));
        assert_eq!(edit.text, expected);
        let again = external_access::set_trust(&edit.text, &trust("https://wto.example")).unwrap();
        assert!(!again.changed, "a second edit changes nothing");
    }

    #[test]
    fn a_changed_issuer_updates_the_entry_instead_of_adding_a_second() {
        let first = external_access::set_trust(EXISTING, &trust("https://wto.example"))
            .unwrap()
            .text;
        let second = external_access::set_trust(&first, &trust("https://other.example:8443/"))
            .unwrap()
            .text;
        assert_eq!(second.matches("type: jwks").count(), 1, "{second}");
        assert!(second.contains("url: \"https://other.example:8443/.well-known/jwks.json\""));
        assert!(second.starts_with(&first[..first.find("      - type: jwks").unwrap()]));
        let entry = external_access::trust(&second, DEFAULT_SUBJECT_PREFIX)
            .unwrap()
            .unwrap();
        assert_eq!(entry["options"]["issuer"], "https://other.example:8443/");
    }

    #[test]
    fn switching_the_trust_off_removes_only_its_entry() {
        let on = external_access::set_trust(EXISTING, &trust("https://wto.example"))
            .unwrap()
            .text;
        let off = external_access::remove_trust(&on, DEFAULT_SUBJECT_PREFIX).unwrap();
        assert_eq!(off.text, EXISTING);
        let again = external_access::remove_trust(&off.text, DEFAULT_SUBJECT_PREFIX).unwrap();
        assert!(!again.changed);
    }

    #[test]
    fn a_missing_list_is_created_and_its_last_entry_removed_leaves_an_empty_list() {
        let text = "backend:\n  baseUrl: x\n";
        let on = external_access::set_trust(text, &trust("https://wto.example"))
            .unwrap()
            .text;
        assert_eq!(
            on,
            format!(
                "backend:\n  baseUrl: x\n  auth:\n    externalAccess:\n{}",
                OURS
            )
        );
        let off = external_access::remove_trust(&on, DEFAULT_SUBJECT_PREFIX)
            .unwrap()
            .text;
        assert_eq!(
            off,
            "backend:\n  baseUrl: x\n  auth:\n    externalAccess: []\n"
        );
        let back = external_access::set_trust(&off, &trust("https://wto.example"))
            .unwrap()
            .text;
        assert!(back.contains("externalAccess: [{type: jwks, options: {url: \"https://wto.example/.well-known/jwks.json\""), "{back}");
        assert_eq!(
            external_access::remove_trust(&back, DEFAULT_SUBJECT_PREFIX)
                .unwrap()
                .text,
            off
        );
    }

    #[test]
    fn a_flow_list_gets_a_flow_entry_and_loses_it_again() {
        let text = "backend:\n  auth:\n    externalAccess: [{type: static, options: {token: t, subject: s}}]\n";
        let on = external_access::set_trust(text, &trust("https://wto.example"))
            .unwrap()
            .text;
        assert!(on.contains("subject: s}}, {type: jwks"), "{on}");
        let off = external_access::remove_trust(&on, DEFAULT_SUBJECT_PREFIX)
            .unwrap()
            .text;
        assert_eq!(off, text);
    }

    #[test]
    fn a_list_from_the_environment_or_through_an_alias_is_refused() {
        let env = "backend:\n  auth:\n    externalAccess: ${EXTERNAL_ACCESS}\n";
        let error = external_access::set_trust(env, &trust("https://wto.example")).unwrap_err();
        assert_eq!(error.category(), "ControlledByEnvironment");

        let shared = "access: &access\n  - type: static\n    options: {token: t, subject: s}\nbackend:\n  auth:\n    externalAccess: *access\n";
        let error = external_access::set_trust(shared, &trust("https://wto.example")).unwrap_err();
        assert_eq!(error.category(), "ThroughAlias");

        let not_a_list = "backend:\n  auth:\n    externalAccess: {type: jwks}\n";
        let error =
            external_access::set_trust(not_a_list, &trust("https://wto.example")).unwrap_err();
        assert_eq!(error.category(), "InvalidConfig");
    }

    #[test]
    fn in_a_values_file_the_entry_goes_under_ui_app_config() {
        let text = "ui:\n  appConfig:\n    backend:\n      auth:\n        basicAuth:\n          enabled: true\n";
        let on = values::set_trust(text, &trust("https://wto.example")).unwrap();
        assert!(on.text.starts_with(text), "{}", on.text);
        let entry = values::trust(&on.text, DEFAULT_SUBJECT_PREFIX)
            .unwrap()
            .unwrap();
        assert_eq!(entry, trust("https://wto.example").value());
        let off = values::remove_trust(&on.text, DEFAULT_SUBJECT_PREFIX).unwrap();
        assert!(off.text.starts_with(text));
    }

    #[test]
    fn crlf_documents_keep_their_line_endings() {
        let text = EXISTING.replace('\n', "\r\n");
        let on = external_access::set_trust(&text, &trust("https://wto.example"))
            .unwrap()
            .text;
        assert!(!on.replace("\r\n", "").contains('\n'), "{on:?}");
        let off = external_access::remove_trust(&on, DEFAULT_SUBJECT_PREFIX).unwrap();
        assert_eq!(off.text, text);
    }
}

#[test]
fn a_flow_list_entry_of_ours_is_replaced_keeping_the_commas_around_it() {
    use external_access::{DEFAULT_SUBJECT_PREFIX, Trust};
    let old = Trust::for_issuer("https://old.example", "RS512", "witboost");
    let new = Trust::for_issuer("https://new.example", "ES256", "witboost");
    let text = "backend:\n  auth:\n    externalAccess: [{type: static, options: {token: t, subject: s}}]\n";
    let with_old = external_access::set_trust(text, &old).unwrap().text;
    let with_static_after = with_old.replace(
        "}}]\n",
        "}}, {type: static, options: {token: u, subject: v}}]\n",
    );
    let with_new = external_access::set_trust(&with_static_after, &new)
        .unwrap()
        .text;
    assert_eq!(
        external_access::trust(&with_new, DEFAULT_SUBJECT_PREFIX)
            .unwrap()
            .unwrap(),
        new.value()
    );
    let off = external_access::remove_trust(&with_new, DEFAULT_SUBJECT_PREFIX)
        .unwrap()
        .text;
    assert_eq!(
        off,
        "backend:\n  auth:\n    externalAccess: [{type: static, options: {token: t, subject: s}}, {type: static, options: {token: u, subject: v}}]\n"
    );
}

#[test]
fn trust_entries_with_anchors_and_merge_keys_around_ours_stay_byte_for_byte() {
    use external_access::{DEFAULT_SUBJECT_PREFIX, Trust};
    let text = "defaults: &restricted\n  accessRestrictions: [{plugin: catalog}]\nbackend:\n  auth:\n    externalAccess:\n      - &ci\n        <<: *restricted\n        type: static\n        options: {token: abcdefgh, subject: ci}\n      - type: legacy   # HS256, deprecated\n        options:\n          secret: c2VjcmV0\n          subject: old\nci-again: *ci\n";
    let trust = Trust::for_issuer("https://wto.example", "RS512", "witboost");
    let on = external_access::set_trust(text, &trust).unwrap().text;
    let ours = on.find("      - type: jwks").expect("our entry");
    assert_eq!(&on[..ours], &text[..text.find("ci-again").unwrap()]);
    assert!(on.ends_with("ci-again: *ci\n"), "{on}");
    let off = external_access::remove_trust(&on, DEFAULT_SUBJECT_PREFIX)
        .unwrap()
        .text;
    assert_eq!(off, text);
}
