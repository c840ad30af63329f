//! The Witboost UI's trust in the token service: one entry of type `jwks` in the Backstage
//! app-config list `backend.auth.externalAccess`, so that Backstage's backend accepts the
//! token service's JWTs (it fetches the keys from `options.url` and yields the principal
//! `external:<subjectPrefix>:<sub>`).
//!
//! The entry is found again by its subject prefix (an entry of type `jwks` whose
//! `options.subjectPrefix` is ours): a changed URL, issuer, algorithm or audience updates it in
//! place, and switching the trust off removes it. Every other entry of the list (`static`,
//! `legacy`, other issuers) keeps its bytes: the list is edited where it is, never rewritten,
//! because Backstage replaces a list whole rather than merging a later file's. A list that is a
//! `${VAR}` substitution is the environment's ([`EditError::ControlledByEnvironment`]).

use serde_json::{Value, json};

use super::yaml::{self, Leaf, Place};
use super::{Edit, EditError};

/// The list's path in an app-config document.
pub const PATH: [&str; 3] = ["backend", "auth", "externalAccess"];

/// The subject prefix used when none is given: principals read
/// `external:witboost-token-operator:<email>`.
pub const DEFAULT_SUBJECT_PREFIX: &str = "witboost-token-operator";

/// Where the token service publishes its keys, below its issuer URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The audience the token service puts in `aud` unless told otherwise (`--audience`).
pub const DEFAULT_AUDIENCE: &str = "witboost";

/// What the entry says: Backstage's `jwks` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// The JWKS URL Backstage fetches the keys from.
    pub url: String,
    /// The `iss` a JWT must carry.
    pub issuer: String,
    /// The signing algorithm a JWT must use (`ES256` or `RS512`).
    pub algorithm: String,
    /// The `aud` a JWT must carry.
    pub audience: String,
    /// The marker of the entry, and the middle of the principal's name.
    pub subject_prefix: String,
}

impl Trust {
    /// The trust in `issuer`'s token service, its keys at [`jwks_url`].
    pub fn for_issuer(issuer: &str, algorithm: &str, audience: &str) -> Self {
        Self {
            url: jwks_url(issuer),
            issuer: issuer.to_owned(),
            algorithm: algorithm.to_owned(),
            audience: audience.to_owned(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
        }
    }

    /// The entry as Backstage reads it.
    pub fn value(&self) -> Value {
        json!({
            "type": "jwks",
            "options": {
                "url": self.url,
                "issuer": self.issuer,
                "algorithm": self.algorithm,
                "audience": self.audience,
                "subjectPrefix": self.subject_prefix,
            }
        })
    }

    /// The entry as a block sequence item, from column 0, lines joined by `\n`.
    fn block(&self) -> String {
        let q = yaml::json_string;
        format!(
            "- type: jwks\n  options:\n    url: {}\n    issuer: {}\n    algorithm: {}\n    audience: {}\n    subjectPrefix: {}",
            q(&self.url),
            q(&self.issuer),
            q(&self.algorithm),
            q(&self.audience),
            q(&self.subject_prefix),
        )
    }

    /// The entry as a flow mapping.
    fn flow(&self) -> String {
        let q = yaml::json_string;
        format!(
            "{{type: jwks, options: {{url: {}, issuer: {}, algorithm: {}, audience: {}, subjectPrefix: {}}}}}",
            q(&self.url),
            q(&self.issuer),
            q(&self.algorithm),
            q(&self.audience),
            q(&self.subject_prefix),
        )
    }
}

/// The token service's JWKS URL for its issuer URL.
pub fn jwks_url(issuer: &str) -> String {
    format!("{}{JWKS_PATH}", issuer.trim_end_matches('/'))
}

/// What the list should hold of ours.
#[derive(Clone, Copy, Debug)]
pub enum Wanted<'a> {
    /// This entry, added or updated in place.
    Present(&'a Trust),
    /// No entry of type `jwks` with this subject prefix.
    Absent { subject_prefix: &'a str },
}

impl Wanted<'_> {
    fn subject_prefix(&self) -> &str {
        match self {
            Wanted::Present(trust) => &trust.subject_prefix,
            Wanted::Absent { subject_prefix } => subject_prefix,
        }
    }
}

/// Adds or updates the trust entry, changing no other entry's bytes.
pub fn set_trust(text: &str, trust: &Trust) -> Result<Edit, EditError> {
    edit(text, &PATH, Wanted::Present(trust))
}

/// Removes the entry of type `jwks` with this subject prefix, if there is one.
pub fn remove_trust(text: &str, subject_prefix: &str) -> Result<Edit, EditError> {
    edit(text, &PATH, Wanted::Absent { subject_prefix })
}

/// The entry of ours as Backstage reads it, `None` when there is none.
pub fn trust(text: &str, subject_prefix: &str) -> Result<Option<Value>, EditError> {
    read(text, &PATH, subject_prefix)
}

pub(crate) fn read(
    text: &str,
    path: &[&str],
    subject_prefix: &str,
) -> Result<Option<Value>, EditError> {
    let yaml = yaml::parse(text)?;
    let list = list_at(&yaml, path)?;
    Ok(list.into_iter().find(|e| is_ours(e, subject_prefix)))
}

fn is_ours(entry: &Value, subject_prefix: &str) -> bool {
    entry.get("type").and_then(Value::as_str) == Some("jwks")
        && entry
            .get("options")
            .and_then(|o| o.get("subjectPrefix"))
            .and_then(Value::as_str)
            == Some(subject_prefix)
}

/// The list at `path` as Backstage reads it (empty when absent).
fn list_at(yaml: &yaml::Yaml, path: &[&str]) -> Result<Vec<Value>, EditError> {
    let line = || match yaml.locate(path) {
        Ok(Place::Found { value, .. }) => yaml.line(yaml::start_of(&value)),
        _ => 1,
    };
    match yaml::get(&yaml.value, path) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(list)) => Ok(list.clone()),
        Some(Value::String(s)) if super::app_config::is_substitution(s) => {
            Err(EditError::ControlledByEnvironment {
                line: line(),
                value: s.clone(),
            })
        }
        Some(_) => Err(EditError::Invalid {
            line: line(),
            column: 1,
            message: format!("{} is not a list", path.join(".")),
        }),
    }
}

/// Brings the list at `path` to `wanted`.
pub(crate) fn edit(text: &str, path: &[&str], wanted: Wanted) -> Result<Edit, EditError> {
    let yaml = yaml::parse(text)?;
    let list = list_at(&yaml, path)?;
    let index = list
        .iter()
        .position(|e| is_ours(e, wanted.subject_prefix()));
    let mut result = list.clone();
    match (wanted, index) {
        (Wanted::Present(trust), Some(i)) if list[i] == trust.value() => {
            return Ok(Edit::unchanged(text));
        }
        (Wanted::Absent { .. }, None) => return Ok(Edit::unchanged(text)),
        (Wanted::Present(trust), Some(i)) => result[i] = trust.value(),
        (Wanted::Present(trust), None) => result.push(trust.value()),
        (Wanted::Absent { .. }, Some(i)) => {
            result.remove(i);
        }
    }
    let place = yaml.locate(path)?;
    let nl = yaml.ending().as_str();
    let edited = match (&place, wanted) {
        (Place::Missing { .. } | Place::Null { .. }, Wanted::Present(trust)) => {
            let flow = format!("[{}]", trust.flow());
            let block = trust.block();
            yaml.create(
                &place,
                path,
                &Leaf::Nested {
                    block: &block,
                    flow: &flow,
                },
            )
        }
        (Place::Missing { .. } | Place::Null { .. }, Wanted::Absent { .. }) => {
            unreachable!("an absent list holds no entry to remove")
        }
        (Place::Found { entry, value }, wanted) => {
            let items = yaml::items(value);
            if items.len() != list.len() {
                return Err(EditError::Invalid {
                    line: yaml.line(yaml::start_of(value)),
                    column: 1,
                    message: format!("{} is not a list written out in place", path.join(".")),
                });
            }
            if let Some(i) = index {
                let item = &items[i];
                if yaml::is_alias_item(item) {
                    return Err(EditError::ThroughAlias {
                        line: yaml.line(yaml::start_of(item)),
                    });
                }
                yaml::refuse_shared(&yaml, item)?;
            }
            let flow = yaml::is_flow_collection(value);
            match (wanted, index) {
                (Wanted::Present(trust), Some(i)) => {
                    let item = &items[i];
                    let rendered = if flow {
                        trust.flow()
                    } else {
                        let column = yaml.column(yaml::start_of(item));
                        yaml::block_body(&trust.block(), column, nl)[column..].to_owned()
                    };
                    yaml::splice(
                        text,
                        yaml::start_of(item),
                        yaml::end_of_item(item),
                        &rendered,
                    )
                }
                (Wanted::Present(trust), None) if flow => match items.last() {
                    Some(last) => {
                        let at = yaml::end_of_item(last);
                        yaml::splice(text, at, at, &format!(", {}", trust.flow()))
                    }
                    None => {
                        let at = yaml::closing_of(value).unwrap_or_else(|| yaml::end_of(value));
                        yaml::splice(text, at, at, &trust.flow())
                    }
                },
                (Wanted::Present(trust), None) => {
                    let column = items
                        .first()
                        .map_or(0, |first| yaml.column(yaml::start_of(first)));
                    let lines = yaml::block_body(&trust.block(), column, nl);
                    let at = yaml::line_end_after(text, yaml::end_of(value));
                    if at == text.len() && !text.ends_with('\n') {
                        yaml::splice(text, at, at, &format!("{nl}{lines}"))
                    } else {
                        yaml::splice(text, at, at, &format!("{lines}{nl}"))
                    }
                }
                (Wanted::Absent { .. }, Some(_)) if items.len() == 1 => {
                    yaml::splice(text, yaml::colon_of(entry), yaml::end_of(value), " []")
                }
                (Wanted::Absent { .. }, Some(i)) if flow => {
                    let (start, end) = match items.get(i + 1) {
                        Some(next) => (yaml::start_of(&items[i]), yaml::start_of(next)),
                        None => (
                            yaml::end_of_item(&items[i - 1]),
                            yaml::end_of_item(&items[i]),
                        ),
                    };
                    yaml::splice(text, start, end, "")
                }
                (Wanted::Absent { .. }, Some(i)) => {
                    let start = yaml::start_of(&items[i]);
                    let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
                    let end = yaml::line_end_after(text, yaml::end_of_item(&items[i]));
                    yaml::splice(text, line_start, end, "")
                }
                (Wanted::Absent { .. }, None) => unreachable!("returned unchanged above"),
            }
        }
    };
    yaml::check(&yaml.value, &edited, path, Value::Array(result))?;
    Ok(Edit::changed(edited))
}
