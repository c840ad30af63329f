//! Label and field selectors of list and watch requests, parsed and matched like apimachinery's
//! `labels.Parse` and `fields.ParseSelector`.
//!
//! Label selectors: `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`,
//! `key` (exists), `!key` (does not exist) and `key>1`/`key<1`, comma-separated (AND). `!=` and
//! `notin` also match objects without the label, as in Kubernetes. Keys are qualified names
//! (`prefix/name`), values at most 63 characters of `[-A-Za-z0-9_.]`.
//!
//! Field selectors: `path=value`, `path==value`, `path!=value`, comma-separated, `\` escaping
//! `,`, `=`, `!` and `\`. Any dotted path into the object is matched (`metadata.name`, `type`,
//! `involvedObject.uid`); a missing field compares as the empty string. The apiserver supports
//! only a per-kind list of fields and answers others with "field label not supported"; callers
//! reproduce that with [`FieldSelector::ensure_supported`].

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A selector the apiserver would answer with `400 BadRequest`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unable to parse requirement: {0}")]
    Label(String),
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    Field { selector: String, term: String },
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One term of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    pub fn matches(&self, label: Option<&str>) -> bool {
        let number = |s: &str| s.parse::<i64>().ok();
        match (self.operator, label) {
            (Operator::Exists, found) => found.is_some(),
            (Operator::DoesNotExist, found) => found.is_none(),
            (Operator::Equals | Operator::In, Some(v)) => self.values.iter().any(|x| x == v),
            (Operator::NotEquals | Operator::NotIn, Some(v)) => !self.values.iter().any(|x| x == v),
            (Operator::NotEquals | Operator::NotIn, None) => true,
            (Operator::GreaterThan, Some(v)) => {
                number(v) > self.values.first().and_then(|x| number(x))
            }
            (Operator::LessThan, Some(v)) => {
                matches!((number(v), self.values.first().and_then(|x| number(x))), (Some(a), Some(b)) if a < b)
            }
            (_, None) => false,
        }
    }
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        Parser::new(selector).selector()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether labels found by `lookup` satisfy every requirement.
    pub fn matches_with<'a>(&self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.requirements.iter().all(|r| r.matches(lookup(&r.key)))
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.matches_with(|key| labels.and_then(|l| l.get(key)).and_then(Value::as_str))
    }
}

/// Whether labels found by `lookup` satisfy a `metav1.LabelSelector` (`matchLabels` and
/// `matchExpressions`, all of them); an empty selector matches everything, an unknown operator
/// nothing.
pub fn label_selector_matches<'a>(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    lookup: impl Fn(&str) -> Option<&'a str>,
) -> bool {
    let match_labels = selector.match_labels.iter().flatten();
    let exprs = selector.match_expressions.iter().flatten();
    match_labels
        .into_iter()
        .all(|(k, v)| lookup(k) == Some(v.as_str()))
        && exprs.into_iter().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = lookup(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

impl FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.operator {
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
                Operator::Equals => format!("{}={}", r.key, r.values[0]),
                Operator::NotEquals => format!("{}!={}", r.key, r.values[0]),
                Operator::GreaterThan => format!("{}>{}", r.key, r.values[0]),
                Operator::LessThan => format!("{}<{}", r.key, r.values[0]),
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
            })
            .collect();
        f.write_str(&terms.join(","))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Identifier(String),
    Comma,
    Open,
    Close,
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Greater,
    Less,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Token::Identifier(s) => s,
            Token::Comma => ",",
            Token::Open => "(",
            Token::Close => ")",
            Token::Not => "!",
            Token::Equals => "=",
            Token::DoubleEquals => "==",
            Token::NotEquals => "!=",
            Token::In => "in",
            Token::NotIn => "notin",
            Token::Greater => ">",
            Token::Less => "<",
        })
    }
}

fn tokenize(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '>' => Token::Greater,
            '<' => Token::Less,
            '!' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::NotEquals
            }
            '!' => Token::Not,
            '=' if chars.peek() == Some(&'=') => {
                chars.next();
                Token::DoubleEquals
            }
            '=' => Token::Equals,
            c => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || ",()!=<>".contains(next) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Identifier(word),
                }
            }
        };
        tokens.push(token);
    }
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

fn label_error(message: impl Into<String>) -> SelectorError {
    SelectorError::Label(message.into())
}

impl Parser {
    fn new(input: &str) -> Self {
        Self {
            tokens: tokenize(input),
            position: 0,
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn found(token: Option<&Token>) -> String {
        token.map_or_else(|| "end of string".to_owned(), |t| format!("'{t}'"))
    }

    fn selector(&mut self) -> Result<LabelSelector, SelectorError> {
        let mut requirements = Vec::new();
        if self.peek().is_none() {
            return Ok(LabelSelector { requirements });
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                None => return Ok(LabelSelector { requirements }),
                Some(Token::Comma) if self.peek().is_some() => {}
                other => {
                    return Err(label_error(format!(
                        "found {}, expected: ',' or end of string",
                        Self::found(other.as_ref())
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let negated = self.peek() == Some(&Token::Not);
        if negated {
            self.next();
        }
        let key = match self.next() {
            Some(Token::Identifier(key)) => key,
            other => {
                return Err(label_error(format!(
                    "found {}, expected: identifier",
                    Self::found(other.as_ref())
                )));
            }
        };
        validate_key(&key)?;
        let requirement = |operator, values| Requirement {
            key: key.clone(),
            operator,
            values,
        };
        if negated {
            return Ok(requirement(Operator::DoesNotExist, Vec::new()));
        }
        let operator = match self.peek() {
            None | Some(Token::Comma) => return Ok(requirement(Operator::Exists, Vec::new())),
            Some(Token::Equals | Token::DoubleEquals) => Operator::Equals,
            Some(Token::NotEquals) => Operator::NotEquals,
            Some(Token::In) => Operator::In,
            Some(Token::NotIn) => Operator::NotIn,
            Some(Token::Greater) => Operator::GreaterThan,
            Some(Token::Less) => Operator::LessThan,
            other => {
                return Err(label_error(format!(
                    "found {}, expected: in, notin, =, ==, !=, gt, lt",
                    Self::found(other)
                )));
            }
        };
        self.next();
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.single_value()?],
        };
        if matches!(operator, Operator::GreaterThan | Operator::LessThan)
            && values[0].parse::<i64>().is_err()
        {
            return Err(label_error(format!(
                "for 'Gt', 'Lt' operators, the value must be an integer, found '{}'",
                values[0]
            )));
        }
        Ok(requirement(operator, values))
    }

    fn single_value(&mut self) -> Result<String, SelectorError> {
        match self.peek() {
            None | Some(Token::Comma) => Ok(String::new()),
            Some(Token::Identifier(_)) => {
                let Some(Token::Identifier(value)) = self.next() else {
                    unreachable!("peeked an identifier")
                };
                validate_value(&value)?;
                Ok(value)
            }
            other => Err(label_error(format!(
                "found {}, expected: identifier",
                Self::found(other)
            ))),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Some(Token::Open) => {}
            other => {
                return Err(label_error(format!(
                    "found {}, expected: '('",
                    Self::found(other.as_ref())
                )));
            }
        }
        let mut values = Vec::new();
        loop {
            let value = match self.peek() {
                Some(Token::Identifier(_)) => {
                    let Some(Token::Identifier(value)) = self.next() else {
                        unreachable!("peeked an identifier")
                    };
                    validate_value(&value)?;
                    value
                }
                Some(Token::Comma | Token::Close) => String::new(),
                other => {
                    return Err(label_error(format!(
                        "found {}, expected: ',', ')' or identifier",
                        Self::found(other)
                    )));
                }
            };
            values.push(value);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::Close) => return Ok(values),
                other => {
                    return Err(label_error(format!(
                        "found {}, expected: ',' or ')'",
                        Self::found(other.as_ref())
                    )));
                }
            }
        }
    }
}

const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
                         with an alphanumeric character";

fn is_name(s: &str) -> bool {
    let first_last_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    first_last_ok(s.chars().next())
        && first_last_ok(s.chars().last())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn validate_key(key: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let dns_ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|l| {
                is_name(l)
                    && !l.contains('_')
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !dns_ok {
            return Err(label_error(format!(
                "invalid label key {key:?}: prefix part must be a lowercase RFC 1123 subdomain"
            )));
        }
    }
    if name.len() > 63 || !is_name(name) {
        return Err(label_error(format!(
            "invalid label key {key:?}: name part {NAME_RULE}, and be at most 63 characters"
        )));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || (value.len() <= 63 && is_name(value)) {
        Ok(())
    } else {
        Err(label_error(format!(
            "invalid label value: {value:?}: a valid label must be an empty string or {NAME_RULE}, and be at most 63 characters"
        )))
    }
}

/// One term of a field selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    /// `!=` rather than `=`/`==`.
    pub negated: bool,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(selector, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let invalid = || SelectorError::Field {
                selector: selector.to_owned(),
                term: term.clone(),
            };
            let (field, value, negated) = split_operator(&term).ok_or_else(invalid)?;
            if field.is_empty() {
                return Err(invalid());
            }
            requirements.push(FieldRequirement {
                field: field.trim().to_owned(),
                value: unescape(value),
                negated,
            });
        }
        Ok(Self { requirements })
    }

    /// Fails with "field label not supported" for a field outside `supported`.
    pub fn ensure_supported(&self, supported: &[&str]) -> Result<(), SelectorError> {
        match self
            .requirements
            .iter()
            .find(|r| !supported.contains(&r.field.as_str()))
        {
            Some(r) => Err(SelectorError::UnsupportedField(r.field.clone())),
            None => Ok(()),
        }
    }

    /// The value a term `field=value` would need for every term to match, if one is pinned
    /// (lets storage narrow `metadata.name=x` to one key).
    #[cfg(test)]
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && !r.negated)
            .map(|r| r.value.as_str())
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let found = field_text(object, &r.field);
            (found == r.value) != r.negated
        })
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The field at dotted `path` as selector text: strings as they are, numbers and booleans
/// printed, anything missing or structured as the empty string.
fn field_text(object: &Value, path: &str) -> String {
    let found = path.split('.').try_fold(object, |v, part| v.get(part));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn split_unescaped(input: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in input.chars() {
        let current = parts.last_mut().expect("parts is never empty");
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(String::new());
        } else {
            current.push(c);
        }
    }
    if escaped {
        parts.last_mut().expect("parts is never empty").push('\\');
    }
    parts
}

/// Splits `field!=value`, `field==value` or `field=value` at the first unescaped operator.
fn split_operator(term: &str) -> Option<(&str, &str, bool)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((&term[..i], &term[i + 2..], true));
            }
            b'=' if bytes.get(i + 1) == Some(&b'=') => {
                return Some((&term[..i], &term[i + 2..], false));
            }
            b'=' => return Some((&term[..i], &term[i + 1..], false)),
            _ => i += 1,
        }
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(labels: Value) -> Value {
        json!({"metadata": {"name": "ci", "namespace": "team", "labels": labels}, "type": "kubernetes.io/basic-auth"})
    }

    fn selects(selector: &str, labels: Value) -> bool {
        LabelSelector::parse(selector)
            .unwrap()
            .matches(&object(labels))
    }

    #[test]
    fn equality_terms_match_exact_values() {
        assert!(selects("app=web", json!({"app": "web"})));
        assert!(selects("app==web", json!({"app": "web"})));
        assert!(!selects("app=web", json!({"app": "db"})));
        assert!(!selects("app=web", json!({})));
    }

    #[test]
    fn inequality_and_notin_also_match_objects_without_the_label() {
        assert!(selects("app!=web", json!({})));
        assert!(selects("app!=web", json!({"app": "db"})));
        assert!(!selects("app!=web", json!({"app": "web"})));
        assert!(selects("tier notin (a, b)", json!({})));
        assert!(!selects("tier notin (a,b)", json!({"tier": "b"})));
    }

    #[test]
    fn set_terms_match_any_listed_value() {
        assert!(selects("env in (dev, prod)", json!({"env": "prod"})));
        assert!(!selects("env in (dev,prod)", json!({"env": "qa"})));
        assert!(!selects("env in (dev,prod)", json!({})));
    }

    #[test]
    fn existence_terms_check_presence_only() {
        assert!(selects("app", json!({"app": ""})));
        assert!(!selects("app", json!({})));
        assert!(selects("!app", json!({})));
        assert!(!selects("!app", json!({"app": "x"})));
    }

    #[test]
    fn comma_separated_terms_must_all_match() {
        let labels = json!({"app": "web", "iam.witboost.com/owner": "ci"});
        assert!(selects(
            "app=web,iam.witboost.com/owner=ci,!legacy",
            labels.clone()
        ));
        assert!(!selects("app=web,iam.witboost.com/owner=other", labels));
    }

    #[test]
    fn numeric_comparisons_need_integers() {
        assert!(selects("gen>2", json!({"gen": "3"})));
        assert!(!selects("gen<2", json!({"gen": "3"})));
        assert!(!selects("gen>2", json!({"gen": "x"})));
        assert!(LabelSelector::parse("gen>x").is_err());
    }

    #[test]
    fn empty_selector_matches_everything() {
        let selector = LabelSelector::parse("").unwrap();
        assert!(selector.is_empty());
        assert!(selector.matches(&json!({})));
    }

    #[test]
    fn malformed_label_selectors_explain_what_was_expected() {
        let cases = [
            (
                "app in dev",
                "unable to parse requirement: found 'dev', expected: '('",
            ),
            (
                "app=web,",
                "unable to parse requirement: found ',', expected: ',' or end of string",
            ),
            (
                "=web",
                "unable to parse requirement: found '=', expected: identifier",
            ),
            (
                "app in (a",
                "unable to parse requirement: found end of string, expected: ',' or ')'",
            ),
        ];
        for (selector, message) in cases {
            assert_eq!(
                LabelSelector::parse(selector).unwrap_err().to_string(),
                message,
                "{selector}"
            );
        }
        assert!(LabelSelector::parse("-bad=x").is_err());
        assert!(LabelSelector::parse("app=has space").is_err());
        assert!(LabelSelector::parse("Upper.Case/x=y").is_err());
    }

    #[test]
    fn label_selector_prints_back_to_its_canonical_form() {
        let s = LabelSelector::parse("a = b, c in (x,y), !d, e").unwrap();
        assert_eq!(s.to_string(), "a=b,c in (x,y),!d,e");
    }

    #[test]
    fn field_selectors_match_name_namespace_and_other_paths() {
        let obj = object(json!({}));
        assert!(
            FieldSelector::parse("metadata.name=ci")
                .unwrap()
                .matches(&obj)
        );
        assert!(
            FieldSelector::parse("metadata.namespace==team,metadata.name!=other")
                .unwrap()
                .matches(&obj)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=ci")
                .unwrap()
                .matches(&obj)
        );
        assert!(
            FieldSelector::parse("type=kubernetes.io/basic-auth")
                .unwrap()
                .matches(&obj)
        );
        assert!(FieldSelector::parse("spec.missing=").unwrap().matches(&obj));
    }

    #[test]
    fn field_selector_values_may_escape_separators() {
        let selector = FieldSelector::parse(r"metadata.name=a\,b,type!=x").unwrap();
        assert_eq!(selector.requirements[0].value, "a,b");
        assert_eq!(selector.requirements.len(), 2);
    }

    #[test]
    fn field_selector_without_operator_is_rejected() {
        assert_eq!(
            FieldSelector::parse("metadata.name")
                .unwrap_err()
                .to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
    }

    #[test]
    fn unsupported_field_labels_are_reported() {
        let selector = FieldSelector::parse("metadata.name=a,spec.x=b").unwrap();
        assert_eq!(
            selector
                .ensure_supported(&["metadata.name", "metadata.namespace"])
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.x"
        );
        assert_eq!(selector.required_value("metadata.name"), Some("a"));
    }

    /// A label key or value as Kubernetes allows them (no prefix, short).
    fn name() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        // `in` and `notin` are keywords of the selector language, as in Kubernetes.
        "[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?"
            .prop_filter("a keyword", |s| s != "in" && s != "notin")
    }

    fn requirement() -> impl proptest::strategy::Strategy<Value = Requirement> {
        use proptest::prelude::*;
        let operator = prop_oneof![
            Just(Operator::Exists),
            Just(Operator::DoesNotExist),
            Just(Operator::Equals),
            Just(Operator::NotEquals),
            Just(Operator::In),
            Just(Operator::NotIn),
        ];
        (name(), operator, proptest::collection::vec(name(), 1..4)).prop_map(
            |(key, operator, mut values)| {
                match operator {
                    Operator::Exists | Operator::DoesNotExist => values.clear(),
                    Operator::Equals | Operator::NotEquals => values.truncate(1),
                    _ => {
                        values.sort();
                        values.dedup();
                    }
                }
                Requirement {
                    key,
                    operator,
                    values,
                }
            },
        )
    }

    /// Property tests (`make fuzz` runs every module named `properties`).
    mod properties {
        use super::*;

        proptest::proptest! {
            #[test]
            fn any_label_selector_text_parses_or_is_refused_without_panicking(s in proptest::prelude::any::<String>()) {
                if let Ok(selector) = LabelSelector::parse(&s) {
                    let _ = selector.matches(&object(json!({"a": "b"})));
                }
            }

            #[test]
            fn any_field_selector_text_parses_or_is_refused_without_panicking(s in proptest::prelude::any::<String>()) {
                if let Ok(selector) = FieldSelector::parse(&s) {
                    let _ = selector.matches(&object(json!({})));
                }
            }

            #[test]
            fn a_printed_selector_parses_back_and_selects_the_same_objects(
                requirements in proptest::collection::vec(requirement(), 1..5),
                labels in proptest::collection::btree_map(name(), name(), 0..4),
            ) {
                let selector = LabelSelector { requirements };
                let printed = selector.to_string();
                let parsed = LabelSelector::parse(&printed).unwrap();
                proptest::prop_assert_eq!(parsed.to_string(), printed);
                let object = object(serde_json::to_value(&labels).unwrap());
                proptest::prop_assert_eq!(parsed.matches(&object), selector.matches(&object));
            }
        }
    }
}
