//! The Witboost configuration editors over the corpus of realistic inputs in
//! `tests/witboost_config/corpus/`: each input, edited to each state, reads the flag back, reads
//! every other value as before (serde-saphyr, hocon-parser), differs only in the flag's lines, and
//! is not changed by a second edit. The inputs in `refused/` are refused for the reason their
//! first line names. (`tests/witboost_config/run.py` feeds the same outputs to the real readers.)

use std::path::{Path, PathBuf};

use ::hocon::HoconValue;
use serde_json::Value;
use witboost_token_operator::witboost_config::{Edit, EditError, app_config, hocon, values};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/witboost_config/corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A YAML document as an application reads it.
pub fn yaml_value(text: &str) -> Value {
    serde_saphyr::from_str::<Option<Value>>(text)
        .unwrap()
        .unwrap_or(Value::Null)
}

/// `value` with `leaf` at `path`, creating the levels on the way.
pub fn with(mut value: Value, path: &[&str], leaf: Value) -> Value {
    let mut at = &mut value;
    for key in path {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = at
            .as_object_mut()
            .unwrap()
            .entry(key.to_string())
            .or_insert(Value::Null);
    }
    *at = leaf;
    value
}

pub fn get<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, k| v.get(k))
}

/// A HOCON text as hocon-parser reads it, without the flag (and without the objects that held
/// only it), so that the rest can be compared.
pub fn hocon_without_flag(text: &str) -> HoconValue {
    let config = ::hocon::parse(text).unwrap();
    let root = config
        .keys()
        .into_iter()
        .map(|k| {
            (
                k.to_owned(),
                config.get(&format!("\"{k}\"")).unwrap().clone(),
            )
        })
        .collect();
    let mut root = HoconValue::Object(root);
    remove(&mut root, &hocon::PATH.split('.').collect::<Vec<_>>());
    root
}

fn remove(value: &mut HoconValue, path: &[&str]) -> bool {
    let HoconValue::Object(map) = value else {
        return false;
    };
    match path {
        [] => {}
        [last] => {
            map.shift_remove(*last);
        }
        [first, rest @ ..] => {
            if map.get_mut(*first).is_some_and(|child| remove(child, rest)) {
                map.shift_remove(*first);
            }
        }
    }
    map.is_empty()
}

/// Every line the edit added or removed is one of the flag's own lines; a line edited in place
/// (a flow mapping, a line that gained its line ending) changed only by the flag.
pub fn diff_is_only_the_flags(name: &str, before: &str, after: &str) {
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old, &new) {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        if op.tag() == similar::DiffTag::Replace {
            // Each old line is one of the new ones edited in place; the others are flag lines.
            let mut unused: Vec<&str> = new[new_range.clone()].to_vec();
            for o in &old[old_range.clone()] {
                let partner = unused.iter().position(|n| edited_in_place(o, n));
                let partner = partner
                    .unwrap_or_else(|| panic!("{name}: the edit changes {o:?} into {unused:?}"));
                unused.remove(partner);
            }
            for line in unused {
                assert!(
                    flag_line(line),
                    "{name}: the edit adds a line that is not the flag's: {line:?}"
                );
            }
            continue;
        }
        if op.tag() == similar::DiffTag::Equal {
            continue;
        }
        for line in old[old_range].iter().chain(&new[new_range]) {
            assert!(
                flag_line(line),
                "{name}: the edit touches a line that is not the flag's: {line:?}"
            );
        }
    }
}

fn flag_line(line: &str) -> bool {
    let line = line.trim();
    line.is_empty()
        || [
            "ui:",
            "appConfig:",
            "backend:",
            "auth:",
            "basicAuth:",
            "governance-platform:",
        ]
        .contains(&line)
        || line.trim_start_matches(['"', '\'']).starts_with("enabled")
        || line == "configOverride: |-"
        || line.starts_with("# BEGIN witboost-token-operator basic-auth")
        || line.starts_with("# END witboost-token-operator basic-auth")
        || line.starts_with(&format!("{} = ", hocon::PATH))
}

/// `new` is `old` with only the flag (or the levels leading to it) written in.
fn edited_in_place(old: &str, new: &str) -> bool {
    if old.trim_end() == new.trim_end() || (flag_line(old) && flag_line(new)) {
        return true;
    }
    let prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = old[prefix..]
        .bytes()
        .rev()
        .zip(new[prefix..].bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let removed = &old[prefix..old.len() - suffix];
    let inserted = &new[prefix..new.len() - suffix];
    // The flow levels holding the flag; when the null was `basicAuth` itself, its key is
    // part of the unchanged prefix.
    let flow_levels = inserted.contains("basicAuth: {enabled: ")
        || (old[..prefix].ends_with("basicAuth: ") && inserted.starts_with("{enabled: "))
        || inserted.contains("configOverride: \"");
    let flag_value =
        old[..prefix].ends_with("enabled: ") || removed.is_empty() && inserted.contains("enabled");
    let is_null = ["~", "null", "Null", "NULL"].contains(&removed.trim());
    // A null level either goes (block style: the levels follow on lines of their own) or, in
    // a flow mapping, becomes the flow levels holding the flag.
    let null_level = is_null && (inserted.trim().is_empty() || flow_levels);
    (removed.is_empty() && flow_levels)
        || (flag_value && !removed.contains([',', '{', '}']))
        || null_level
}

fn check_edit(name: &str, text: &str, edit: &Edit) {
    assert_eq!(edit.changed, edit.text != text, "{name}");
    diff_is_only_the_flags(name, text, &edit.text);
}

#[test]
fn corpus_has_at_least_twenty_realistic_inputs_and_a_few_of_each_kind() {
    let counts: Vec<(&str, usize)> = ["app-config", "hocon", "values", "refused"]
        .iter()
        .map(|k| (*k, corpus(k).len()))
        .collect();
    assert!(counts.iter().all(|(_, n)| *n >= 3), "{counts:?}");
    assert!(
        counts.iter().map(|(_, n)| n).sum::<usize>() >= 20,
        "{counts:?}"
    );
}

#[test]
fn every_app_config_of_the_corpus_is_edited_to_both_states_and_only_the_flag_changes() {
    for path in corpus("app-config") {
        let text = read(&path);
        let name = path.display().to_string();
        for enabled in [true, false] {
            let edit = app_config::set_basic_auth(&text, enabled)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            check_edit(&name, &text, &edit);
            assert_eq!(
                app_config::basic_auth(&edit.text).unwrap(),
                Some(enabled),
                "{name}"
            );
            let again = app_config::set_basic_auth(&edit.text, enabled).unwrap();
            assert!(
                !again.changed && again.text == edit.text,
                "{name}: second edit changed it"
            );
            let path = app_config::PATH;
            let flag = get(&yaml_value(&edit.text), &path).cloned().unwrap();
            assert_eq!(
                yaml_value(&edit.text),
                with(yaml_value(&text), &path, flag),
                "{name}: another value changed"
            );
        }
    }
}

#[test]
fn every_hocon_of_the_corpus_is_edited_to_both_states_and_only_the_flag_changes() {
    for path in corpus("hocon") {
        let text = read(&path);
        let name = path.display().to_string();
        for enabled in [true, false] {
            let edit =
                hocon::set_basic_auth(&text, enabled).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_edit(&name, &text, &edit);
            assert_eq!(
                hocon::basic_auth(&edit.text).unwrap(),
                Some(enabled),
                "{name}"
            );
            let again = hocon::set_basic_auth(&edit.text, enabled).unwrap();
            assert!(
                !again.changed && again.text == edit.text,
                "{name}: second edit changed it"
            );
            assert_eq!(
                hocon_without_flag(&edit.text),
                hocon_without_flag(&text),
                "{name}: another value changed"
            );
        }
    }
}

#[test]
fn every_values_file_of_the_corpus_gets_both_flags_and_only_they_change() {
    for path in corpus("values") {
        let text = read(&path);
        let name = path.display().to_string();
        for enabled in [true, false] {
            let edit =
                values::set_basic_auth(&text, enabled).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_edit(&name, &text, &edit);
            assert_eq!(
                values::basic_auth(&edit.text).unwrap(),
                (Some(enabled), Some(enabled)),
                "{name}"
            );
            let again = values::set_basic_auth(&edit.text, enabled).unwrap();
            assert!(
                !again.changed && again.text == edit.text,
                "{name}: second edit changed it"
            );
            // Everything but the two places is unchanged; in the HOCON, everything but the flag.
            let (before, after) = (yaml_value(&text), yaml_value(&edit.text));
            let override_path = values::CONFIG_OVERRIDE_PATH;
            let hocon_of = |v: &Value| {
                get(v, &override_path)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            assert_eq!(
                hocon_without_flag(&hocon_of(&after)),
                hocon_without_flag(&hocon_of(&before)),
                "{name}: another HOCON value changed"
            );
            let flag = get(&after, &values::UI_PATH).cloned().unwrap();
            let expected = with(
                with(before, &values::UI_PATH, flag),
                &override_path,
                Value::String(hocon_of(&after)),
            );
            assert_eq!(after, expected, "{name}: another value changed");
        }
    }
}

#[test]
fn every_refused_input_of_the_corpus_is_refused_for_the_reason_it_names() {
    for path in corpus("refused") {
        let text = read(&path);
        let name = path.display().to_string();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name}: no `# expect:` line"));
        let kind = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap();
        let result: Result<Edit, EditError> = match kind {
            "app-config" => app_config::set_basic_auth(&text, true),
            "hocon" => hocon::set_basic_auth(&text, true),
            "values" => values::set_basic_auth(&text, true),
            other => panic!("{name}: unknown kind {other}"),
        };
        let error = result.expect_err(&name);
        assert_eq!(error.category(), expect, "{name}: {error}");
        assert!(error.line() >= 1, "{name}");
    }
}
