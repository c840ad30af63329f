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
    let Some(result) = edited_list(&list, wanted, index) else {
        return Ok(Edit::unchanged(text));
    };
    let place = yaml.locate(path)?;
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
            let listed = Listed {
                yaml: &yaml,
                entry,
                value,
                items,
            };
            listed.edit(wanted, index)?
        }
    };
    yaml::check(&yaml.value, &edited, path, Value::Array(result))?;
    Ok(Edit::changed(edited))
}

/// The list `list` brought to `wanted` (`index`: where our entry is), or `None` when it is
/// already.
fn edited_list(list: &[Value], wanted: Wanted, index: Option<usize>) -> Option<Vec<Value>> {
    let mut result = list.to_vec();
    match (wanted, index) {
        (Wanted::Present(trust), Some(i)) if list[i] == trust.value() => return None,
        (Wanted::Absent { .. }, None) => return None,
        (Wanted::Present(trust), Some(i)) => result[i] = trust.value(),
        (Wanted::Present(trust), None) => result.push(trust.value()),
        (Wanted::Absent { .. }, Some(i)) => {
            result.remove(i);
        }
    }
    Some(result)
}

/// A list written out in the document: its entry, its value node and its items.
struct Listed<'a> {
    yaml: &'a yaml::Yaml<'a>,
    entry: &'a yaml::Node,
    value: &'a yaml::Node,
    items: Vec<yaml::Node>,
}

impl Listed<'_> {
    /// The text with our entry (the item at `index`, if any) brought to `wanted`.
    fn edit(&self, wanted: Wanted, index: Option<usize>) -> Result<String, EditError> {
        if let Some(i) = index {
            let item = &self.items[i];
            if yaml::is_alias_item(item) {
                return Err(EditError::ThroughAlias {
                    line: self.yaml.line(yaml::start_of(item)),
                });
            }
            yaml::refuse_shared(self.yaml, item)?;
        }
        let flow = yaml::is_flow_collection(self.value);
        Ok(match (wanted, index) {
            (Wanted::Present(trust), Some(i)) => self.replace(i, trust, flow),
            (Wanted::Present(trust), None) if flow => self.add_to_flow(trust),
            (Wanted::Present(trust), None) => self.add_to_block(trust),
            (Wanted::Absent { .. }, Some(_)) if self.items.len() == 1 => {
                let text = self.yaml.text;
                yaml::splice(
                    text,
                    yaml::colon_of(self.entry),
                    yaml::end_of(self.value),
                    " []",
                )
            }
            (Wanted::Absent { .. }, Some(i)) if flow => self.remove_from_flow(i),
            (Wanted::Absent { .. }, Some(i)) => self.remove_line(i),
            (Wanted::Absent { .. }, None) => unreachable!("returned unchanged before"),
        })
    }

    /// Item `i` replaced by `trust`, written as the list is.
    fn replace(&self, i: usize, trust: &Trust, flow: bool) -> String {
        let (text, item) = (self.yaml.text, &self.items[i]);
        let rendered = if flow {
            trust.flow()
        } else {
            let column = self.yaml.column(yaml::start_of(item));
            let nl = self.yaml.ending().as_str();
            yaml::block_body(&trust.block(), column, nl)[column..].to_owned()
        };
        yaml::splice(
            text,
            yaml::start_of(item),
            yaml::end_of_item(item),
            &rendered,
        )
    }

    /// `trust` added as the last item of a flow list.
    fn add_to_flow(&self, trust: &Trust) -> String {
        let text = self.yaml.text;
        match self.items.last() {
            Some(last) => {
                let at = yaml::end_of_item(last);
                yaml::splice(text, at, at, &format!(", {}", trust.flow()))
            }
            None => {
                let at = yaml::closing_of(self.value).unwrap_or_else(|| yaml::end_of(self.value));
                yaml::splice(text, at, at, &trust.flow())
            }
        }
    }

    /// `trust` added as lines after the last item of a block list.
    fn add_to_block(&self, trust: &Trust) -> String {
        let text = self.yaml.text;
        let nl = self.yaml.ending().as_str();
        let column = self
            .items
            .first()
            .map_or(0, |first| self.yaml.column(yaml::start_of(first)));
        let lines = yaml::block_body(&trust.block(), column, nl);
        let at = yaml::line_end_after(text, yaml::end_of(self.value));
        yaml::insert_lines(text, at, &lines, nl)
    }

    /// Item `i` removed from a flow list with the comma that joins it.
    fn remove_from_flow(&self, i: usize) -> String {
        let items = &self.items;
        let (start, end) = match items.get(i + 1) {
            Some(next) => (yaml::start_of(&items[i]), yaml::start_of(next)),
            None => (
                yaml::end_of_item(&items[i - 1]),
                yaml::end_of_item(&items[i]),
            ),
        };
        yaml::splice(self.yaml.text, start, end, "")
    }

    /// Item `i` of a block list removed with its lines.
    fn remove_line(&self, i: usize) -> String {
        let text = self.yaml.text;
        let start = yaml::start_of(&self.items[i]);
        let line_start = text[..start].rfind('\n').map_or(0, |n| n + 1);
        let end = yaml::line_end_after(text, yaml::end_of_item(&self.items[i]));
        yaml::splice(text, line_start, end, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_changes_only_where_our_entry_differs_from_the_one_wanted() {
        let ours = Trust::for_issuer("https://tokens.example", "ES256", DEFAULT_AUDIENCE);
        let other = json!({"type": "static", "options": {"token": "x"}});
        let absent = Wanted::Absent {
            subject_prefix: DEFAULT_SUBJECT_PREFIX,
        };
        let present = Wanted::Present(&ours);
        let with_ours = vec![other.clone(), ours.value()];
        let just_other = vec![other.clone()];
        assert_eq!(edited_list(&with_ours, present, Some(1)), None);
        assert_eq!(edited_list(&just_other, absent, None), None);
        assert_eq!(
            edited_list(&just_other, present, None),
            Some(with_ours.clone())
        );
        assert_eq!(edited_list(&with_ours, absent, Some(1)), Some(just_other));
        let moved = Trust::for_issuer("https://elsewhere.example", "ES256", DEFAULT_AUDIENCE);
        assert_eq!(
            edited_list(&with_ours, Wanted::Present(&moved), Some(1)),
            Some(vec![other, moved.value()])
        );
    }
}
