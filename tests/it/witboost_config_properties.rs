//! Properties of the Witboost configuration editors over generated documents (block and flow
//! YAML with comments, CRLF and 2- or 4-space indentation; HOCON in its several object styles;
//! values files holding both): the flag reads back as requested, a second edit changes nothing,
//! every other value reads as before (serde-saphyr, hocon-parser), and only the flag's lines
//! change. An edit that fails must fail for a reason the document really has. The trust entry
//! likewise: added, found again, removed, and nothing else read differently.

use proptest::prelude::*;
use serde_json::Value;
use witboost_token_operator::witboost_config::external_access::{self, Trust};
use witboost_token_operator::witboost_config::{EditError, app_config, hocon, values};

use crate::witboost_config_corpus::{
    diff_is_only_the_flags, get, hocon_without_flag, with, yaml_value,
};

/// A generated tree: scalars as written, mappings (flow or block) of unique keys.
#[derive(Debug, Clone)]
enum Tree {
    Scalar(String),
    Map(Vec<(String, Tree)>, bool),
}

const YAML_KEYS: &[&str] = &[
    "backend",
    "auth",
    "basicAuth",
    "enabled",
    "app",
    "title",
    "baseUrl",
    "keys",
    "port",
];
const HOCON_KEYS: &[&str] = &[
    "computational-governance-platform",
    "platform-services",
    "auth",
    "basic-auth",
    "enabled",
    "akka",
    "loglevel",
    "realm",
];

fn yaml_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("'yes'".to_owned()),
        Just("\"off\"".to_owned()),
        Just("~".to_owned()),
        (0u16..9000).prop_map(|n| n.to_string()),
        "[a-z]{1,8}",
        "[a-z]{1,5} [a-z]{1,5}".prop_map(|s| format!("'{s}'")),
        Just("\"a \\\"quoted\\\" value\"".to_owned()),
        Just("[1, two]".to_owned()),
    ]
}

fn tree(
    keys: &'static [&'static str],
    scalar: BoxedStrategy<String>,
) -> impl Strategy<Value = Tree> {
    let leaf = scalar.prop_map(Tree::Scalar);
    leaf.prop_recursive(4, 24, 4, move |inner| {
        (
            prop::collection::vec((prop::sample::select(keys), inner), 0..4),
            prop::bool::weighted(0.2),
        )
            .prop_map(|(entries, flow)| {
                let mut seen = std::collections::HashSet::new();
                let entries = entries
                    .into_iter()
                    .filter(|(k, _)| seen.insert(*k))
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                Tree::Map(entries, flow)
            })
    })
}

fn root_entries(tree: Tree) -> Vec<(String, Tree)> {
    match tree {
        Tree::Map(entries, _) => entries,
        scalar => vec![("backend".to_owned(), scalar)],
    }
}

fn flow_yaml(tree: &Tree) -> String {
    match tree {
        Tree::Scalar(s) => s.clone(),
        Tree::Map(entries, _) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{k}: {}", flow_yaml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Block YAML at `indent`, `step` more per level; `comments` picks where comments go.
fn block_yaml(
    entries: &[(String, Tree)],
    indent: usize,
    step: usize,
    comments: &mut impl Iterator<Item = bool>,
    out: &mut String,
) {
    let pad = " ".repeat(indent);
    for (key, value) in entries {
        if comments.next().unwrap_or(false) {
            out.push_str(&format!("{pad}# about {key}\n"));
        }
        let trailing = if comments.next().unwrap_or(false) {
            " # why"
        } else {
            ""
        };
        match value {
            Tree::Map(children, false) if !children.is_empty() => {
                out.push_str(&format!("{pad}{key}:{trailing}\n"));
                block_yaml(children, indent + step, step, comments, out);
            }
            other => out.push_str(&format!("{pad}{key}: {}{trailing}\n", flow_yaml(other))),
        }
    }
}

fn yaml_document() -> impl Strategy<Value = String> {
    (
        tree(YAML_KEYS, yaml_scalar().boxed()),
        prop::sample::select(vec![2usize, 4]),
        prop::collection::vec(any::<bool>(), 64),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tree, step, comments, crlf, header)| {
            let mut out = if header {
                "# app-config\n".to_owned()
            } else {
                String::new()
            };
            block_yaml(
                &root_entries(tree),
                0,
                step,
                &mut comments.into_iter().cycle(),
                &mut out,
            );
            if crlf { out.replace('\n', "\r\n") } else { out }
        })
}

fn hocon_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("yes".to_owned()),
        (0u16..9000).prop_map(|n| n.to_string()),
        "[a-z]{1,8}",
        "[a-z]{1,5} [a-z]{1,5}".prop_map(|s| format!("\"{s}\"")),
        Just("[1, 2]".to_owned()),
        Just("30 seconds".to_owned()),
    ]
}

/// HOCON with the object style chosen per object: `k { }`, `k = { }`, `k : { }`, or `k.child`
/// paths for an object of one entry.
fn hocon_object(
    entries: &[(String, Tree)],
    indent: usize,
    styles: &mut impl Iterator<Item = u8>,
    out: &mut String,
) {
    let pad = " ".repeat(indent);
    for (key, value) in entries {
        let style = styles.next().unwrap_or(0);
        if style % 5 == 4 {
            out.push_str(&format!("{pad}// about {key}\n"));
        }
        match value {
            Tree::Scalar(s) => out.push_str(&format!(
                "{pad}{key} {} {s}\n",
                if style.is_multiple_of(2) { "=" } else { ":" }
            )),
            Tree::Map(children, _) if children.len() == 1 && style.is_multiple_of(3) => {
                let (child, grandchild) = &children[0];
                hocon_object(
                    &[(format!("{key}.{child}"), grandchild.clone())],
                    indent,
                    styles,
                    out,
                );
            }
            Tree::Map(children, _) => {
                let open = ["{", "= {", ": {"][usize::from(style) % 3];
                out.push_str(&format!("{pad}{key} {open}\n"));
                hocon_object(children, indent + 2, styles, out);
                out.push_str(&format!("{pad}}}\n"));
            }
        }
    }
}

fn hocon_document() -> impl Strategy<Value = String> {
    (
        tree(HOCON_KEYS, hocon_scalar().boxed()),
        prop::collection::vec(any::<u8>(), 64),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(tree, styles, braced, final_newline, crlf)| {
            let mut body = String::new();
            hocon_object(
                &root_entries(tree),
                usize::from(braced) * 2,
                &mut styles.into_iter().cycle(),
                &mut body,
            );
            let mut out = if braced {
                format!("{{\n{body}}}\n")
            } else {
                body
            };
            if !final_newline {
                out = out.trim_end().to_owned();
            }
            if crlf { out.replace('\n', "\r\n") } else { out }
        })
}

/// A values file: other settings, a generated `ui.appConfig`, and a generated `configOverride`
/// as a `|-` or `|` block (or none).
fn values_document() -> impl Strategy<Value = String> {
    (
        tree(YAML_KEYS, yaml_scalar().boxed()),
        prop::option::of(hocon_document()),
        prop::sample::select(vec!["|-", "|"]),
        any::<bool>(),
    )
        .prop_map(|(app_config, hocon, style, anchors)| {
            let mut out = String::new();
            if anchors {
                out.push_str(
                    "x-defaults: &defaults\n  replicas: 2\n  podLabels: {team: platform}\n",
                );
            }
            out.push_str("ui:\n");
            if anchors {
                out.push_str("  <<: *defaults\n");
            }
            out.push_str("  image:\n    tag: 1.0.0 # pinned\n");
            let entries = root_entries(app_config);
            if entries.is_empty() {
                out.push_str("  appConfig: {}\n");
            } else {
                out.push_str("  appConfig:\n");
                block_yaml(&entries, 4, 2, &mut std::iter::repeat(false), &mut out);
            }
            out.push_str("governance-platform:\n");
            if anchors {
                out.push_str("  <<: *defaults\n");
            }
            out.push_str("  ingress: {enabled: true}\n");
            if let Some(hocon) = hocon
                .map(|h| h.replace("\r\n", "\n"))
                .filter(|h| !h.trim().is_empty())
            {
                out.push_str(&format!("  configOverride: {style}\n"));
                for line in hocon.trim_end().lines() {
                    out.push_str(&if line.is_empty() {
                        "\n".to_owned()
                    } else {
                        format!("    {line}\n")
                    });
                }
            }
            out
        })
}

/// The flag's value means `enabled` to Backstage.
fn backstage_reads(value: Option<&Value>, enabled: bool) -> bool {
    match value {
        Some(Value::Bool(b)) => *b == enabled,
        Some(Value::String(s)) => {
            let words: &[&str] = if enabled {
                &["y", "yes", "true", "1", "on"]
            } else {
                &["n", "no", "false", "0", "off"]
            };
            words.contains(&s.trim().to_ascii_lowercase().as_str())
        }
        _ => false,
    }
}

/// The document really is as the error says: a level of the path holds a non-mapping, or the
/// flag holds something that is not a boolean.
fn justified(value: &Value, path: &[&str], error: &EditError) -> bool {
    let mut at = value;
    for (depth, key) in path.iter().enumerate() {
        match at.get(key) {
            None | Some(Value::Null) => return false,
            Some(next) if depth + 1 == path.len() => {
                return matches!(error, EditError::Invalid { .. })
                    && !backstage_reads(Some(next), true)
                    && !backstage_reads(Some(next), false);
            }
            Some(next) if !next.is_object() => {
                return matches!(error, EditError::NotAMapping { .. });
            }
            Some(next) => at = next,
        }
    }
    false
}

/// A level of the HOCON flag's path holds a value that is neither an object nor null.
fn hocon_value_on_path(text: &str) -> bool {
    let config = ::hocon::parse(text).unwrap();
    let segments: Vec<&str> = hocon::PATH.split('.').collect();
    (1..segments.len()).any(|depth| match config.get(&segments[..depth].join(".")) {
        None | Some(::hocon::HoconValue::Object(_)) => false,
        Some(::hocon::HoconValue::Scalar(s)) => s.value_type != ::hocon::ScalarType::Null,
        Some(_) => true,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn app_config_edit_reads_back_is_idempotent_and_changes_nothing_else(text in yaml_document(), enabled: bool) {
        let before = yaml_value(&text);
        match app_config::set_basic_auth(&text, enabled) {
            Ok(edit) => {
                prop_assert_eq!(app_config::basic_auth(&edit.text).unwrap(), Some(enabled), "{}", edit.text);
                let again = app_config::set_basic_auth(&edit.text, enabled).unwrap();
                prop_assert!(!again.changed && again.text == edit.text);
                let after = yaml_value(&edit.text);
                let flag = get(&after, &app_config::PATH).cloned();
                prop_assert!(backstage_reads(flag.as_ref(), enabled));
                prop_assert_eq!(after, with(before, &app_config::PATH, flag.unwrap()));
                diff_is_only_the_flags("generated", &text, &edit.text);
            }
            Err(error) => prop_assert!(justified(&before, &app_config::PATH, &error), "{error}\n{text}"),
        }
    }

    #[test]
    fn trust_entry_reads_back_is_idempotent_removable_and_changes_nothing_else(text in yaml_document(), rs512: bool) {
        let before = yaml_value(&text);
        let trust = Trust::for_issuer("https://wto.example:8443", if rs512 { "RS512" } else { "ES256" }, "witboost");
        match external_access::set_trust(&text, &trust) {
            Ok(edit) => {
                prop_assert_eq!(external_access::trust(&edit.text, &trust.subject_prefix).unwrap(), Some(trust.value()), "{}", edit.text);
                let again = external_access::set_trust(&edit.text, &trust).unwrap();
                prop_assert!(!again.changed && again.text == edit.text);
                let after = yaml_value(&edit.text);
                prop_assert_eq!(after, with(before.clone(), &external_access::PATH, Value::Array(vec![trust.value()])));
                let removed = external_access::remove_trust(&edit.text, &trust.subject_prefix).unwrap();
                prop_assert_eq!(yaml_value(&removed.text), with(before, &external_access::PATH, Value::Array(vec![])));
                prop_assert!(!external_access::remove_trust(&removed.text, &trust.subject_prefix).unwrap().changed);
            }
            Err(error) => prop_assert!(justified(&before, &external_access::PATH, &error), "{error}\n{text}"),
        }
    }

    #[test]
    fn hocon_edit_reads_back_is_idempotent_and_changes_nothing_else(text in hocon_document(), enabled: bool) {
        let edit = match hocon::set_basic_auth(&text, enabled) {
            Ok(edit) => edit,
            Err(error) => {
                prop_assert!(hocon_value_on_path(&text), "{error}\n{text}");
                return Ok(());
            }
        };
        prop_assert_eq!(hocon::basic_auth(&edit.text).unwrap(), Some(enabled), "{}", edit.text);
        let again = hocon::set_basic_auth(&edit.text, enabled).unwrap();
        prop_assert!(!again.changed && again.text == edit.text);
        prop_assert_eq!(hocon_without_flag(&edit.text), hocon_without_flag(&text), "{}", edit.text);
        diff_is_only_the_flags("generated", &text, &edit.text);
    }

    #[test]
    fn values_edit_sets_both_flags_is_idempotent_and_changes_nothing_else(text in values_document(), enabled: bool) {
        let before = yaml_value(&text);
        match values::set_basic_auth(&text, enabled) {
            Ok(edit) => {
                prop_assert_eq!(values::basic_auth(&edit.text).unwrap(), (Some(enabled), Some(enabled)), "{}", edit.text);
                let again = values::set_basic_auth(&edit.text, enabled).unwrap();
                prop_assert!(!again.changed && again.text == edit.text);
                let after = yaml_value(&edit.text);
                let hocon_of = |v: &Value| get(v, &values::CONFIG_OVERRIDE_PATH).and_then(Value::as_str).unwrap_or("").to_owned();
                prop_assert_eq!(hocon_without_flag(&hocon_of(&after)), hocon_without_flag(&hocon_of(&before)));
                let flag = get(&after, &values::UI_PATH).cloned().unwrap();
                let expected = with(
                    with(before, &values::UI_PATH, flag),
                    &values::CONFIG_OVERRIDE_PATH,
                    Value::String(hocon_of(&after)),
                );
                prop_assert_eq!(after, expected);
                diff_is_only_the_flags("generated", &text, &edit.text);
            }
            Err(error) => {
                let hocon = get(&before, &values::CONFIG_OVERRIDE_PATH).and_then(Value::as_str).unwrap_or("");
                prop_assert!(
                    justified(&before, &values::UI_PATH, &error) || hocon_value_on_path(hocon),
                    "{error}\n{text}"
                );
            }
        }
    }
}

/// The properties above are not vacuous: most generated documents are edited, not refused.
#[test]
fn most_generated_documents_are_edited_rather_than_refused() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut sample = |strategy: &BoxedStrategy<String>, edit: &dyn Fn(&str) -> bool| {
        (0..200)
            .filter(|_| edit(&strategy.new_tree(&mut runner).unwrap().current()))
            .count()
    };
    let app = sample(&yaml_document().boxed(), &|t| {
        app_config::set_basic_auth(t, true).is_ok()
    });
    let hocon = sample(&hocon_document().boxed(), &|t| {
        hocon::set_basic_auth(t, true).is_ok()
    });
    let values = sample(&values_document().boxed(), &|t| {
        values::set_basic_auth(t, true).is_ok()
    });
    let trust = Trust::for_issuer("https://wto.example", "ES256", "witboost");
    let trusted = sample(&yaml_document().boxed(), &|t| {
        external_access::set_trust(t, &trust).is_ok()
    });
    assert!(
        app > 100 && hocon > 100 && values > 100 && trusted > 100,
        "{app} {hocon} {values} {trusted} of 200"
    );
}
