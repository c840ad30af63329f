//! Scopes: a space-separated list (RFC 6749 §3.3), checked against an account's allowed scopes.

use std::fmt;

/// A requested set of scopes, in request order without duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope(Vec<String>);

/// Why a scope request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("scope must be a space-separated list of printable ASCII scope names")]
    Malformed,
    #[error("scope {0:?} is not allowed for this account")]
    NotAllowed(String),
    #[error("scope {0:?} is not among the scopes of the presented jwt")]
    NotPresented(String),
}

/// RFC 6749 scope-token: %x21 / %x23-5B / %x5D-7E (printable ASCII but `"` and `\`).
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

const MAX_SCOPE_LEN: usize = 4096;

impl Scope {
    /// Parses a space-separated list. Runs of spaces are tolerated; an all-blank string is no scope.
    pub fn parse(requested: &str) -> Result<Self, ScopeError> {
        if requested.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::Malformed);
        }
        let mut scopes: Vec<String> = Vec::new();
        for name in requested.split(' ').filter(|s| !s.is_empty()) {
            if !name.chars().all(is_scope_char) {
                return Err(ScopeError::Malformed);
            }
            if !scopes.iter().any(|s| s == name) {
                scopes.push(name.to_owned());
            }
        }
        Ok(Self(scopes))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Every requested scope must be in `allowed`; `None` allows any scope.
    pub fn check_allowed(&self, allowed: Option<&[String]>) -> Result<(), ScopeError> {
        let Some(allowed) = allowed else {
            return Ok(());
        };
        match self.0.iter().find(|s| !allowed.contains(s)) {
            Some(refused) => Err(ScopeError::NotAllowed(refused.clone())),
            None => Ok(()),
        }
    }
}

impl Scope {
    /// Every scope must be in `held` (the scopes of the JWT presented for a narrower one).
    pub fn check_within(&self, held: &Scope) -> Result<(), ScopeError> {
        match self.0.iter().find(|s| !held.0.contains(s)) {
            Some(refused) => Err(ScopeError::NotPresented(refused.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}
