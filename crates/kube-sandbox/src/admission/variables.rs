//! A policy's `variables`, inlined into the expressions that use them: `variables.name` becomes
//! `(<name's expression>)`, so kube-cel's evaluator, which binds `object`, `oldObject` and
//! `request` but not `variables`, evaluates them. CEL has no side effects, so the result is the
//! same; a variable is evaluated once per use rather than once per request.

use std::collections::HashMap;

/// The variables of one policy, each already inlined with the ones declared before it.
#[derive(Debug, Default)]
pub struct Variables {
    inlined: HashMap<String, String>,
}

/// A reference to a variable the policy does not declare (before the reference).
#[derive(Debug, PartialEq, Eq)]
pub struct Undeclared(pub String);

impl Variables {
    /// Declares variables in order: each may use the ones before it.
    pub fn declare<'a>(
        declared: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, (usize, Undeclared)> {
        let mut vars = Self::default();
        for (i, (name, expression)) in declared.into_iter().enumerate() {
            vars.define(name, expression).map_err(|e| (i, e))?;
        }
        Ok(vars)
    }

    /// Declares one more variable; returns its expression with the earlier ones inlined.
    pub fn define(&mut self, name: &str, expression: &str) -> Result<String, Undeclared> {
        let inlined = self.inline(expression)?;
        self.inlined.insert(name.to_owned(), inlined.clone());
        Ok(inlined)
    }

    /// `expression` with every `variables.<name>` outside string literals replaced by the
    /// variable's expression in parentheses.
    pub fn inline(&self, expression: &str) -> Result<String, Undeclared> {
        const PREFIX: &str = "variables.";
        let bytes = expression.as_bytes();
        let mut out = String::with_capacity(expression.len());
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'\'' || c == b'"' {
                let end = literal_end(bytes, i);
                out.push_str(&expression[i..end]);
                i = end;
                continue;
            }
            let boundary = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'.';
            if boundary && expression[i..].starts_with(PREFIX) {
                let start = i + PREFIX.len();
                let end = start + bytes[start..].iter().take_while(|b| is_ident(**b)).count();
                let name = &expression[start..end];
                let value = self
                    .inlined
                    .get(name)
                    .ok_or_else(|| Undeclared(name.to_owned()))?;
                out.push('(');
                out.push_str(value);
                out.push(')');
                i = end;
                continue;
            }
            let ch = expression[i..].chars().next().unwrap_or_default();
            out.push(ch);
            i += ch.len_utf8().max(1);
        }
        Ok(out)
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The index just past the string literal opening at `start` (single, double or triple quotes,
/// backslash escapes); the end of the text if it is not closed.
fn literal_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.len() >= start + 3 && bytes[start + 1] == quote && bytes[start + 2] == quote;
    let width = if triple { 3 } else { 1 };
    let mut i = start + width;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote && (!triple || bytes[i..].starts_with(&[quote; 3])) {
            return i + width;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_is_inlined_in_parentheses_and_may_use_earlier_ones() {
        let vars = Variables::declare([
            ("user", "request.userInfo.username"),
            ("owner", "variables.user == object.spec.user"),
        ])
        .unwrap();
        assert_eq!(
            vars.inline("variables.owner || variables.user.startsWith('system:')"),
            Ok("((request.userInfo.username) == object.spec.user) || (request.userInfo.username).startsWith('system:')".to_owned())
        );
    }

    #[test]
    fn string_literals_and_other_fields_named_variables_are_left_alone() {
        let vars = Variables::declare([("a", "1")]).unwrap();
        assert_eq!(
            vars.inline(r#"'variables.a' + "it's variables.a" + object.variables.a"#),
            Ok(r#"'variables.a' + "it's variables.a" + object.variables.a"#.to_owned())
        );
    }

    #[test]
    fn an_undeclared_variable_is_reported_with_its_position() {
        let err = Variables::declare([("a", "1"), ("b", "variables.c + 1")]).unwrap_err();
        assert_eq!(err, (1, Undeclared("c".into())));
    }
}
