//! The Witboost UI's Backstage app-config (YAML): `backend.auth.basicAuth.enabled`.

use serde_json::Value;

use super::yaml::{self, Leaf, Place};
use super::{Edit, EditError};

/// The flag's path in an app-config document.
pub const PATH: [&str; 4] = ["backend", "auth", "basicAuth", "enabled"];

/// Sets the flag to `enabled`, changing no other byte. The text is unchanged when Backstage
/// already reads the flag so (`true`, or a string such as `"yes"`).
pub fn set_basic_auth(text: &str, enabled: bool) -> Result<Edit, EditError> {
    set_flag(text, &PATH, enabled)
}

/// The flag as Backstage's `getOptionalBoolean` reads it; `None` when it is not set.
pub fn basic_auth(text: &str) -> Result<Option<bool>, EditError> {
    read_flag(text, &PATH)
}

/// Sets the boolean at `path` (the app-config's own path, or one below `ui.appConfig`).
pub(crate) fn set_flag(text: &str, path: &[&str], enabled: bool) -> Result<Edit, EditError> {
    let yaml = yaml::parse(text)?;
    let literal = if enabled { "true" } else { "false" };
    let place = yaml.locate(path)?;
    let edited = match &place {
        Place::Found { value, .. } => {
            let line = yaml.line(yaml::start_of(value));
            if meaning(yaml::get(&yaml.value, path), line)? == Some(enabled) {
                return Ok(Edit::unchanged(text));
            }
            yaml::splice(text, yaml::start_of(value), yaml::end_of(value), literal)
        }
        Place::Missing { .. } | Place::Null { .. } => {
            yaml.create(&place, path, &Leaf::Plain(literal))
        }
    };
    yaml::check(&yaml.value, &edited, path, Value::Bool(enabled))?;
    Ok(Edit::changed(edited))
}

pub(crate) fn read_flag(text: &str, path: &[&str]) -> Result<Option<bool>, EditError> {
    let yaml = yaml::parse(text)?;
    let line = match yaml.locate(path) {
        Ok(Place::Found { value, .. }) => yaml.line(yaml::start_of(&value)),
        _ => 1,
    };
    meaning(yaml::get(&yaml.value, path), line)
}

/// What Backstage's `getOptionalBoolean` makes of a value (a boolean, or one of its boolean
/// words); a `${VAR}` substitution is the environment's to decide.
fn meaning(value: Option<&Value>, line: usize) -> Result<Option<bool>, EditError> {
    let not_boolean = |shown: String| EditError::Invalid {
        line,
        column: 1,
        message: format!("the flag is {shown}, not a boolean"),
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if is_substitution(s) => Err(EditError::ControlledByEnvironment {
            line,
            value: s.clone(),
        }),
        Some(Value::String(s)) => words(s)
            .map(Some)
            .ok_or_else(|| not_boolean(format!("{s:?}"))),
        Some(Value::Number(n)) => words(&n.to_string())
            .map(Some)
            .ok_or_else(|| not_boolean(n.to_string())),
        Some(other) => Err(not_boolean(other.to_string())),
    }
}

/// Backstage's boolean words, trimmed and in any case.
fn words(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "1" | "on" => Some(true),
        "n" | "no" | "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Backstage replaces `${VAR}` from the environment; `$${` escapes a literal `${`.
pub(crate) fn is_substitution(value: &str) -> bool {
    value
        .match_indices("${")
        .any(|(i, _)| !value[..i].ends_with('$'))
}
