//! A Witboost Helm values file: both flags at once, `ui.appConfig.backend.auth.basicAuth.enabled`
//! (a mapping) and the flag inside the `governance-platform.configOverride` HOCON string; and the
//! UI's trust entry, `ui.appConfig.backend.auth.externalAccess`.

use serde_json::Value;

use super::external_access::{self, Trust, Wanted};
use super::yaml::{self, Leaf, Place};
use super::{Edit, EditError, app_config, hocon};

/// The UI flag's path in the values.
pub const UI_PATH: [&str; 6] = ["ui", "appConfig", "backend", "auth", "basicAuth", "enabled"];
/// The UI's `externalAccess` list in the values.
pub const TRUST_PATH: [&str; 5] = ["ui", "appConfig", "backend", "auth", "externalAccess"];
/// The path of the Governance Platform's HOCON string in the values.
pub const CONFIG_OVERRIDE_PATH: [&str; 2] = ["governance-platform", "configOverride"];

/// Sets both flags to `enabled`, changing no other byte of the values file. A missing
/// `configOverride` is created as a `|-` block; an existing one keeps its block style.
pub fn set_basic_auth(text: &str, enabled: bool) -> Result<Edit, EditError> {
    let ui = app_config::set_flag(text, &UI_PATH, enabled)?;
    let governance_platform = set_config_override(&ui.text, enabled)?;
    Ok(Edit {
        changed: ui.changed || governance_platform.changed,
        text: governance_platform.text,
    })
}

/// Adds or updates the UI's trust entry, changing no other entry of its list.
pub fn set_trust(text: &str, trust: &Trust) -> Result<Edit, EditError> {
    external_access::edit(text, &TRUST_PATH, Wanted::Present(trust))
}

/// Removes the UI's trust entry with this subject prefix, if there is one.
pub fn remove_trust(text: &str, subject_prefix: &str) -> Result<Edit, EditError> {
    external_access::edit(text, &TRUST_PATH, Wanted::Absent { subject_prefix })
}

/// The UI's trust entry with this subject prefix, as Backstage reads it.
pub fn trust(text: &str, subject_prefix: &str) -> Result<Option<Value>, EditError> {
    external_access::read(text, &TRUST_PATH, subject_prefix)
}

/// Both flags as their readers see them: `(ui, governance_platform)`, `None` when not set.
pub fn basic_auth(text: &str) -> Result<(Option<bool>, Option<bool>), EditError> {
    let ui = app_config::read_flag(text, &UI_PATH)?;
    let yaml = yaml::parse(text)?;
    let (hocon_text, first_line) = config_override(&yaml)?;
    let governance_platform = hocon::basic_auth(&hocon_text).map_err(|e| e.shifted(first_line))?;
    Ok((ui, governance_platform))
}

/// The `configOverride` string ("" when absent) and the number of lines before its text.
fn config_override(yaml: &yaml::Yaml) -> Result<(String, usize), EditError> {
    let place = yaml.locate(&CONFIG_OVERRIDE_PATH)?;
    let lines_before = match &place {
        Place::Found { value, .. } => {
            let start = yaml::start_of(value);
            let body = if is_block(yaml.text, value) {
                line_end_after(yaml.text, start)
            } else {
                start
            };
            yaml.line(body) - 1
        }
        _ => 0,
    };
    match yaml::get(&yaml.value, &CONFIG_OVERRIDE_PATH) {
        None | Some(Value::Null) => Ok((String::new(), lines_before)),
        Some(Value::String(s)) => Ok((s.clone(), lines_before)),
        Some(_) => Err(EditError::Invalid {
            line: lines_before.max(1),
            column: 1,
            message: "governance-platform.configOverride is not a string of HOCON".into(),
        }),
    }
}

fn set_config_override(text: &str, enabled: bool) -> Result<Edit, EditError> {
    let yaml = yaml::parse(text)?;
    let (current, lines_before) = config_override(&yaml)?;
    let hocon = hocon::set_basic_auth(&current, enabled).map_err(|e| e.shifted(lines_before))?;
    if !hocon.changed {
        return Ok(Edit::unchanged(text));
    }
    let place = yaml.locate(&CONFIG_OVERRIDE_PATH)?;
    let edited = match &place {
        Place::Found { value, entry } if current.is_empty() => {
            // `configOverride: ""`: as if absent, a `|-` block.
            let step = entry.parent().map_or(2, |m| yaml.step_at(&m));
            let column = column(text, yaml::start_of(entry)) + step;
            let body = yaml::block_body(&hocon.text, column, yaml.ending().as_str());
            yaml::splice(
                text,
                yaml::start_of(value),
                yaml::end_of(value),
                &format!("|-{}{body}", yaml.ending().as_str()),
            )
        }
        Place::Found { value, .. } if is_block(text, value) => {
            let start = yaml::start_of(value);
            let body_start = line_end_after(text, start);
            let region = &text[body_start..usize::from(value.text_range().end()).max(body_start)];
            let indent = region
                .lines()
                .find(|l| !l.trim().is_empty())
                .map_or(0, |l| l.len() - l.trim_start_matches(' ').len());
            let body_end = body_start + content_end(region, indent);
            let body = yaml::block_body(
                hocon.text.trim_end_matches('\n'),
                indent,
                yaml.ending().as_str(),
            );
            yaml::splice(text, body_start, body_end, &body)
        }
        Place::Found { value, .. } => {
            // A quoted or plain string stays on its line, as a double-quoted string.
            let quoted = yaml::json_string(&hocon.text);
            yaml::splice(text, yaml::start_of(value), yaml::end_of(value), &quoted)
        }
        Place::Missing { .. } | Place::Null { .. } => {
            yaml.create(&place, &CONFIG_OVERRIDE_PATH, &Leaf::Block(&hocon.text))
        }
    };
    yaml::check(
        &yaml.value,
        &edited,
        &CONFIG_OVERRIDE_PATH,
        Value::String(hocon.text),
    )?;
    Ok(Edit::changed(edited))
}

/// A block scalar (`|`, `|-`, `>`…) rather than a flow one.
fn is_block(text: &str, value: &yaml::Node) -> bool {
    matches!(
        text[yaml::start_of(value)..].chars().next(),
        Some('|' | '>')
    )
}

/// The offset just past the end of the last line of `region` holding more than whitespace at
/// the block's indentation or deeper (a comment less indented is not the block's), before its
/// line ending.
fn content_end(region: &str, indent: usize) -> usize {
    let mut end = 0;
    let mut offset = 0;
    for line in region.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let deep = content.len() - content.trim_start_matches(' ').len() >= indent;
        if !content.trim().is_empty() && deep {
            end = offset + content.len();
        }
        offset += line.len();
    }
    end
}

fn line_end_after(text: &str, offset: usize) -> usize {
    text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1)
}

fn column(text: &str, offset: usize) -> usize {
    offset - text[..offset].rfind('\n').map_or(0, |i| i + 1)
}
