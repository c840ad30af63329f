//! The Governance Platform's HOCON (`application.conf`, the `configOverride` of the Witboost
//! values): `computational-governance-platform.platform-services.auth.basic-auth.enabled`.
//!
//! No crate writes HOCON keeping its format, so the text is edited, never re-rendered: the flag
//! lives in one marked block at the end, which HOCON lets win over earlier settings of the same
//! key while merging with their sibling settings. Everything before the block stays byte for
//! byte; the block is replaced in place when present. The input is parsed before, and the result
//! after, with `hocon-parser`: what cannot be read back is never returned.

use hocon::{HoconError, ParseOptions, ResolveOptions, TokenKind};

use super::{Edit, EditError, LineEnding};

/// The flag's path, as a HOCON path expression.
pub const PATH: &str =
    "computational-governance-platform.platform-services.auth.basic-auth.enabled";

/// The first line of the managed block.
pub const BEGIN: &str =
    "# BEGIN witboost-token-operator basic-auth (managed: replaced by each edit, keep it last)";
/// The last line of the managed block.
pub const END: &str = "# END witboost-token-operator basic-auth";

// The markers are found by these prefixes, so a reworded explanation still matches.
const BEGIN_PREFIX: &str = "# BEGIN witboost-token-operator basic-auth";
const END_PREFIX: &str = "# END witboost-token-operator basic-auth";

/// Sets the flag to `enabled`. The text is unchanged when HOCON already reads it so.
pub fn set_basic_auth(text: &str, enabled: bool) -> Result<Edit, EditError> {
    parse(text)?;
    refuse_value_on_path(text)?;
    // A flag that is not a boolean (or not resolvable) is simply overridden by the block.
    if flag(text).ok().flatten() == Some(enabled) {
        return Ok(Edit::unchanged(text));
    }
    let ending = LineEnding::of(text);
    let edited = match find_block(text)? {
        Some(block) => {
            let in_place = format!(
                "{}{}{}",
                &text[..block.start],
                render_block(enabled, ending, &block.indent),
                &text[block.end..]
            );
            // A setting after the block wins over it: then the block moves to the end.
            if flag(&in_place).ok().flatten() == Some(enabled) {
                in_place
            } else {
                let without = remove_block(text, &block);
                append_block(&without, enabled, ending)?
            }
        }
        None => append_block(text, enabled, ending)?,
    };
    parse(&edited)?;
    match flag(&edited)? {
        Some(value) if value == enabled => Ok(Edit::changed(edited)),
        _ => Err(EditError::Invalid {
            line: 1,
            column: 1,
            message: format!("the edited HOCON does not read back {PATH} = {enabled}"),
        }),
    }
}

/// The flag as HOCON reads it: `None` when it is not set, or set only through a substitution
/// this text cannot resolve on its own.
pub fn basic_auth(text: &str) -> Result<Option<bool>, EditError> {
    parse(text)?;
    flag(text)
}

/// Parses without resolving substitutions: a `configOverride` may refer to settings of the
/// application's own configuration, which it is layered over.
pub(crate) fn parse(text: &str) -> Result<hocon::Config, EditError> {
    hocon::parse_string_with_options(
        text,
        ParseOptions::defaults().with_resolve_substitutions(false),
    )
    .map_err(invalid)
}

fn flag(text: &str) -> Result<Option<bool>, EditError> {
    let resolved = parse(text)?
        .resolve(
            ResolveOptions::defaults()
                .with_use_system_environment(false)
                .with_allow_unresolved(true),
        )
        .map_err(invalid)?;
    if !resolved.has(PATH) {
        return Ok(None);
    }
    match resolved.get(PATH) {
        Some(hocon::HoconValue::Placeholder(_)) | None => Ok(None),
        Some(_) => resolved
            .get_bool(PATH)
            .map(Some)
            .map_err(|e| EditError::Invalid {
                line: 1,
                column: 1,
                message: format!("{PATH} is not a boolean: {}", e.message),
            }),
    }
}

/// A level of the path holding a value (not an object, not null) would be replaced by the block's
/// object: another setting would change, so the edit is refused, naming the level's last setting.
fn refuse_value_on_path(text: &str) -> Result<(), EditError> {
    let resolved = parse(text)?
        .resolve(
            ResolveOptions::defaults()
                .with_use_system_environment(false)
                .with_allow_unresolved(true),
        )
        .map_err(invalid)?;
    let segments: Vec<&str> = PATH.split('.').collect();
    for depth in 1..segments.len() {
        let prefix = segments[..depth].join(".");
        let holds_value = match resolved.get(&prefix) {
            None | Some(hocon::HoconValue::Object(_)) => false,
            Some(hocon::HoconValue::Scalar(s)) => s.value_type != hocon::ScalarType::Null,
            Some(_) => true,
        };
        if holds_value {
            let last = segments[depth - 1];
            let token = hocon::tokenize(text).ok().and_then(|tokens| {
                tokens
                    .into_iter()
                    .rev()
                    .find(|t| t.value.split('.').any(|s| s == last))
            });
            let (line, column) = token.map_or((1, 1), |t| (t.line, t.col));
            return Err(EditError::NotAMapping { line, column });
        }
    }
    Ok(())
}

fn invalid(error: HoconError) -> EditError {
    let (line, column, message) = match &error {
        HoconError::Parse(e) => (e.line, e.col, e.message.clone()),
        HoconError::Resolve(e) => (e.line, e.col, e.message.clone()),
        other => (1, 1, other.to_string()),
    };
    EditError::Invalid {
        line,
        column,
        message: format!("invalid HOCON: {message}"),
    }
}

struct Block {
    /// Byte offset of the start of the BEGIN line.
    start: usize,
    /// Byte offset just after the END marker (before its line ending).
    end: usize,
    /// The whitespace before the BEGIN marker, repeated on every line of the block.
    indent: String,
}

fn find_block(text: &str) -> Result<Option<Block>, EditError> {
    let mut begin: Option<(usize, String, usize)> = None;
    let mut found = None;
    let mut offset = 0;
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start();
        let indent = &content[..content.len() - trimmed.len()];
        if trimmed.starts_with(BEGIN_PREFIX) {
            if begin.is_some() || found.is_some() {
                return Err(EditError::Invalid {
                    line: number + 1,
                    column: indent.len() + 1,
                    message: "a second witboost-token-operator basic-auth block; keep one".into(),
                });
            }
            begin = Some((offset, indent.to_owned(), number + 1));
        } else if trimmed.starts_with(END_PREFIX) {
            let Some((start, indent, _)) = begin.take() else {
                return Err(EditError::Invalid {
                    line: number + 1,
                    column: 1,
                    message: "the end of a witboost-token-operator basic-auth block without its beginning".into(),
                });
            };
            found = Some(Block {
                start,
                end: offset + content.len(),
                indent,
            });
        }
        offset += line.len();
    }
    if let Some((_, _, line)) = begin {
        return Err(EditError::Invalid {
            line,
            column: 1,
            message: format!(
                "the witboost-token-operator basic-auth block has no end line (`{END}`)"
            ),
        });
    }
    Ok(found)
}

fn render_block(enabled: bool, ending: LineEnding, indent: &str) -> String {
    let nl = ending.as_str();
    format!("{BEGIN}{nl}{indent}{PATH} = {enabled}{nl}{indent}{END}")
}

fn remove_block(text: &str, block: &Block) -> String {
    let mut end = block.end;
    let rest = &text[end..];
    if rest.starts_with("\r\n") {
        end += 2;
    } else if rest.starts_with('\n') {
        end += 1;
    }
    format!("{}{}", &text[..block.start], &text[end..])
}

/// Adds the block after the last setting: inside the root braces when the text has them (HOCON
/// allows nothing after them), otherwise after the last non-blank line, keeping the text's own
/// trailing line endings after the block (so a `|-` or `|` string in YAML keeps its chomping).
fn append_block(text: &str, enabled: bool, ending: LineEnding) -> Result<String, EditError> {
    let nl = ending.as_str();
    if let Some(brace) = root_closing_brace(text)? {
        let block = format!("  {}", render_block(enabled, ending, "  "));
        let line_start = text[..brace].rfind('\n').map_or(0, |i| i + 1);
        return Ok(if text[line_start..brace].trim().is_empty() {
            // `}` alone on its line: the block goes on the lines before it.
            format!("{}{block}{nl}{}", &text[..line_start], &text[line_start..])
        } else {
            format!("{}{nl}{block}{nl}{}", &text[..brace], &text[brace..])
        });
    }
    let body = text.trim_end_matches(['\n', '\r', ' ', '\t']);
    let trailing = &text[body.len()..];
    let separator = if body.is_empty() {
        String::new()
    } else {
        format!("{nl}{nl}")
    };
    Ok(format!(
        "{body}{separator}{}{trailing}",
        render_block(enabled, ending, "")
    ))
}

/// The byte offset of the `}` closing a root object written with braces, if it is.
fn root_closing_brace(text: &str) -> Result<Option<usize>, EditError> {
    let tokens = hocon::tokenize(text).map_err(|e| EditError::Invalid {
        line: e.line,
        column: e.col,
        message: format!("invalid HOCON: {}", e.message),
    })?;
    let mut significant = tokens
        .iter()
        .filter(|t| !matches!(t.kind, TokenKind::Newline | TokenKind::Eof));
    if !matches!(significant.next(), Some(t) if t.kind == TokenKind::LBrace) {
        return Ok(None);
    }
    match significant.next_back() {
        Some(t) if t.kind == TokenKind::RBrace => Ok(Some(offset_of(text, t.line, t.col))),
        _ => Ok(None),
    }
}

/// Byte offset of a 1-based line and (character) column.
pub(crate) fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    text[line_start..]
        .char_indices()
        .nth(column - 1)
        .map_or(text.len(), |(i, _)| line_start + i)
}
