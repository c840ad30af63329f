//! Witboost configuration editing: switching Basic auth on or off in the Witboost UI's Backstage
//! app-config (YAML), the Governance Platform's HOCON, and a Witboost Helm values file holding
//! both; and the UI's trust in the token service's JWTs. The editors are pure, text in and text
//! out: no Kubernetes types, no I/O. Every edit changes only its flag or entry, is checked by
//! parsing its result, and is idempotent.
//!
//! - [`app_config`]: the YAML is edited losslessly: `yaml-edit`'s syntax tree gives the offsets
//!   and the original text is spliced there;
//! - [`external_access`]: the UI's `backend.auth.externalAccess` entry of type `jwks` for the
//!   token service, found again by its subject prefix, added, updated or removed in the list
//!   where it is;
//! - [`hocon`]: the flag is set in one marked block at the end;
//! - [`values`]: both at once, in a values file;
//! - [`command`]: `witboost-token-operator values basic-auth` and `values trust`, the editors
//!   applied to a file,
//!   the one part of this module that does I/O.
//!
//! Every result is read back (`serde-saphyr` for YAML, `hocon-parser` for HOCON) and refused if
//! anything but the flag changed. A refusal, [`EditError`], names the line and column and has a
//! bounded category. The BasicAuth controller applies these editors to ConfigMaps:
//! `docs/basic-auth.md`.

pub mod app_config;
pub mod command;
pub mod external_access;
pub mod hocon;
pub mod values;
mod yaml;

/// The result of an edit: the new text and whether it differs from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub text: String,
    pub changed: bool,
}

impl Edit {
    fn unchanged(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            changed: false,
        }
    }

    fn changed(text: String) -> Self {
        Self {
            text,
            changed: true,
        }
    }
}

/// Why an edit was refused; nothing is written. Lines and columns are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The text does not parse, or the flag's place holds something that is not a boolean.
    #[error("line {line}, column {column}: {message}")]
    Invalid {
        line: usize,
        column: usize,
        message: String,
    },
    /// The flag (or the trust entry's list) is a `${VAR}` substitution: the environment
    /// decides, not this file.
    #[error("line {line}: the value is {value}, set by the environment")]
    ControlledByEnvironment { line: usize, value: String },
    /// A level of the flag's path comes from an alias or a merge key (`<<: *x`), or is an
    /// anchored node an alias uses elsewhere: editing it would change every place that shares
    /// it, or replace what the merge brings in.
    #[error(
        "line {line}: the path to the flag runs through an alias, a merge key or a shared anchor"
    )]
    ThroughAlias { line: usize },
    /// A level of the flag's path (or the document itself) is not a mapping.
    #[error("line {line}, column {column}: not a mapping")]
    NotAMapping { line: usize, column: usize },
    /// The text holds more than one YAML document.
    #[error("line {line}: a second YAML document; one is expected")]
    MultipleDocuments { line: usize },
}

impl EditError {
    /// A bounded category, for a Ready condition's reason, metric labels and Events.
    pub fn category(&self) -> &'static str {
        match self {
            Self::ControlledByEnvironment { .. } => "ControlledByEnvironment",
            Self::ThroughAlias { .. } => "ThroughAlias",
            Self::Invalid { .. } | Self::NotAMapping { .. } | Self::MultipleDocuments { .. } => {
                "InvalidConfig"
            }
        }
    }

    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            Self::Invalid { line, .. }
            | Self::ControlledByEnvironment { line, .. }
            | Self::ThroughAlias { line }
            | Self::NotAMapping { line, .. }
            | Self::MultipleDocuments { line } => *line,
        }
    }

    /// What a person can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "fix the text at that place and run again",
            Self::ControlledByEnvironment { .. } => {
                "set the environment variable instead, or write the value (true or false for the flag) in place of the substitution"
            }
            Self::ThroughAlias { .. } => {
                "write that level out in place instead of sharing it through an anchor, alias or merge key"
            }
            Self::NotAMapping { .. } => "make that level a mapping, or remove it",
            Self::MultipleDocuments { .. } => "split the file so it holds one document",
        }
    }

    /// The same error, `lines` further down: for text embedded in a larger file.
    pub(crate) fn shifted(self, lines: usize) -> Self {
        match self {
            Self::Invalid {
                line,
                column,
                message,
            } => Self::Invalid {
                line: line + lines,
                column,
                message,
            },
            Self::ControlledByEnvironment { line, value } => Self::ControlledByEnvironment {
                line: line + lines,
                value,
            },
            Self::ThroughAlias { line } => Self::ThroughAlias { line: line + lines },
            Self::NotAMapping { line, column } => Self::NotAMapping {
                line: line + lines,
                column,
            },
            Self::MultipleDocuments { line } => Self::MultipleDocuments { line: line + lines },
        }
    }
}

/// The line ending a text uses: that of its first line, `\n` when it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    pub(crate) fn of(text: &str) -> Self {
        match text.find('\n') {
            Some(i) if text[..i].ends_with('\r') => Self::CrLf,
            _ => Self::Lf,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Lf => "\n",
            Self::CrLf => "\r\n",
        }
    }
}

#[cfg(test)]
mod tests;
