//! Lossless edits of one value at a path of mapping keys in a YAML document, shared by the
//! app-config and values-file editors.
//!
//! `yaml-edit` gives the lossless syntax tree (every byte, with its offset); the edit itself is a
//! splice of the original text at those offsets, so nothing outside the spliced range can change.
//! `serde-saphyr` reads the document before and after, as an application would (aliases and
//! merge keys expanded): an edit whose result differs anywhere but at the path is refused.

use rowan::{NodeOrToken, ast::AstNode};
use serde_json::Value;
use yaml_edit::{Lang, SyntaxKind as K, YamlFile};

use super::{EditError, LineEnding};

pub(crate) type Node = rowan::SyntaxNode<Lang>;
type Token = rowan::SyntaxToken<Lang>;

/// A YAML text, parsed twice: losslessly and as values.
pub(crate) struct Yaml<'a> {
    pub(crate) text: &'a str,
    /// The document as an application reads it: aliases and merge keys expanded.
    pub(crate) value: Value,
    /// The document's node (mapping, sequence, scalar…), `None` when it has none.
    root: Option<Node>,
    /// The document's own indentation step, for created levels.
    step: usize,
    ending: LineEnding,
}

/// What to write at the end of the path.
pub(crate) enum Leaf<'a> {
    /// A plain scalar, written as is: `true`.
    Plain(&'a str),
    /// A string written as a `|-` block scalar (a double-quoted one inside flow mappings).
    Block(&'a str),
    /// A collection: `block` (lines from column 0) below the key, one step in; `flow` on the
    /// key's line inside flow mappings.
    Nested { block: &'a str, flow: &'a str },
}

/// Where the path leads.
pub(crate) enum Place {
    /// The path exists, with this (non-null) value node.
    Found { entry: Node, value: Node },
    /// `path[depth..]` is missing from `mapping` (`None`: the document has no mapping yet).
    Missing { mapping: Option<Node>, depth: usize },
    /// `path[..depth]` ends at an empty or null value: the rest (or the leaf, when `depth` is the
    /// path's length) is written in its place.
    Null { entry: Node, depth: usize },
}

pub(crate) fn parse(text: &str) -> Result<Yaml<'_>, EditError> {
    let parsed = YamlFile::parse(text);
    if let Some(error) = parsed.positioned_errors().first() {
        let (line, column) = line_column(text, error.range.start as usize);
        return Err(EditError::Invalid {
            line,
            column,
            message: format!("invalid YAML: {}", short(&error.message)),
        });
    }
    let file = parsed.tree();
    let mut documents = file.documents();
    let document = documents.next();
    if let Some(second) = documents.next() {
        let (line, _) = line_column(text, second.syntax().text_range().start().into());
        return Err(EditError::MultipleDocuments { line });
    }
    let mut values: Vec<Value> = serde_saphyr::from_str_multiple(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
        EditError::Invalid {
            line,
            column,
            message: format!("invalid YAML: {}", short(&e.to_string())),
        }
    })?;
    if values.len() > 1 {
        return Err(EditError::MultipleDocuments { line: 1 });
    }
    let value = values.pop().unwrap_or(Value::Null);
    let root = document.and_then(|d| content_of(d.syntax()));
    if let Some(root) = &root
        && (!(root.kind() == K::MAPPING || is_null(root))
            || !(value.is_object() || value.is_null()))
    {
        let (line, column) = line_column(text, start_of(root));
        return Err(EditError::NotAMapping { line, column });
    }
    let step = root.as_ref().map_or(2, |r| indentation_step(text, r));
    Ok(Yaml {
        text,
        value,
        root,
        step,
        ending: LineEnding::of(text),
    })
}

impl Yaml<'_> {
    /// Follows `path` through the document's mappings.
    pub(crate) fn locate(&self, path: &[&str]) -> Result<Place, EditError> {
        let Some(mut mapping) = self.root.clone().filter(|r| r.kind() == K::MAPPING) else {
            return Ok(Place::Missing {
                mapping: None,
                depth: 0,
            });
        };
        let mut value = &self.value;
        for (depth, key) in path.iter().enumerate() {
            self.refuse_shared_anchor(&mapping)?;
            let Some(entry) = entries(&mapping).find(|e| key_of(e).as_deref() == Some(*key)) else {
                if value.get(key).is_some() {
                    // Only a merge key can bring a key the mapping does not write out: an
                    // explicit key here would replace, not amend, what the merge brings in.
                    let merge = entries(&mapping)
                        .find(|e| key_of(e).as_deref() == Some("<<"))
                        .unwrap_or_else(|| mapping.clone());
                    return Err(EditError::ThroughAlias {
                        line: self.line(start_of(&merge)),
                    });
                }
                return Ok(Place::Missing {
                    mapping: Some(mapping),
                    depth,
                });
            };
            value = value.get(key).unwrap_or(&Value::Null);
            let content = value_node(&entry).as_ref().and_then(content_of);
            if content.as_ref().is_some_and(|node| node.kind() == K::ALIAS) {
                return Err(EditError::ThroughAlias {
                    line: self.line(start_of(&entry)),
                });
            }
            match content {
                Some(node) if depth + 1 == path.len() && !is_null(&node) => {
                    self.refuse_shared_anchor(&node)?;
                    return Ok(Place::Found { entry, value: node });
                }
                _ if depth + 1 == path.len() => {
                    return Ok(Place::Null {
                        entry,
                        depth: depth + 1,
                    });
                }
                Some(node) if node.kind() == K::MAPPING => mapping = node,
                Some(node) if !is_null(&node) => {
                    let (line, column) = line_column(self.text, start_of(&node));
                    return Err(EditError::NotAMapping { line, column });
                }
                _ => {
                    return Ok(Place::Null {
                        entry,
                        depth: depth + 1,
                    });
                }
            }
        }
        unreachable!("the loop returns at the path's last key")
    }

    /// An anchored node on the path (a mapping, or the flag's own value), used by an alias
    /// elsewhere, would change there too.
    fn refuse_shared_anchor(&self, node: &Node) -> Result<(), EditError> {
        let Some(anchor) = anchor_of(node) else {
            return Ok(());
        };
        let name = anchor.text().trim_start_matches('&').to_owned();
        let root = node.ancestors().last().unwrap_or_else(|| node.clone());
        let used = root
            .descendants_with_tokens()
            .filter_map(NodeOrToken::into_token)
            .any(|t| matches!(t.kind(), K::REFERENCE) && t.text().trim_start_matches('*') == name);
        if used {
            return Err(EditError::ThroughAlias {
                line: self.line(anchor.text_range().start().into()),
            });
        }
        Ok(())
    }

    /// The text with `path[depth..]` created (and `leaf` at its end) where `place` says.
    pub(crate) fn create(&self, place: &Place, path: &[&str], leaf: &Leaf) -> String {
        match place {
            Place::Found { .. } => unreachable!("create is for missing paths"),
            Place::Missing {
                mapping: None,
                depth,
            } => self.append(&path[*depth..], leaf),
            Place::Missing {
                mapping: Some(mapping),
                depth,
            } if is_flow(mapping) => self.add_to_flow(mapping, &path[*depth..], leaf),
            Place::Missing {
                mapping: Some(mapping),
                depth,
            } => self.add_to_block(mapping, &path[*depth..], leaf),
            Place::Null { entry, depth } => self.fill_null(entry, &path[*depth..], leaf),
        }
    }

    /// The text with `keys` appended as a block at the top level (the document has no mapping).
    fn append(&self, keys: &[&str], leaf: &Leaf) -> String {
        let nl = self.ending.as_str();
        let mut out = self.text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push_str(nl);
        }
        out.push_str(&self.block_lines(keys, 0, self.step, leaf));
        out.push_str(nl);
        out
    }

    /// The text with `keys` added as the last entry of the flow mapping `mapping`.
    fn add_to_flow(&self, mapping: &Node, keys: &[&str], leaf: &Leaf) -> String {
        let flow = flow_entries(keys, leaf);
        let (at, text) = match last_significant(mapping, true) {
            Some(t) if t.kind() == K::LEFT_BRACE => (end_of_token(&t), flow),
            Some(t) if t.kind() == K::COMMA => (end_of_token(&t), format!(" {flow}")),
            Some(t) => (end_of_token(&t), format!(", {flow}")),
            None => unreachable!("a flow mapping has its braces"),
        };
        splice(self.text, at, at, &text)
    }

    /// The text with `keys` added as lines after the last entry of the block mapping `mapping`.
    fn add_to_block(&self, mapping: &Node, keys: &[&str], leaf: &Leaf) -> String {
        let column = self.column(start_of(mapping));
        let lines = self.block_lines(keys, column, self.step_at(mapping), leaf);
        let at = line_end_after(
            self.text,
            last_significant(mapping, false).map_or(start_of(mapping), |t| end_of_token(&t)),
        );
        insert_lines(self.text, at, &lines, self.ending.as_str())
    }

    /// The text with the empty or null value of `entry` replaced by `keys` and the leaf.
    fn fill_null(&self, entry: &Node, keys: &[&str], leaf: &Leaf) -> String {
        let nl = self.ending.as_str();
        let colon = colon_of(entry);
        // An explicit `~` or `null` is replaced; an implicit null leaves the line (and a comment
        // on it) as it is, and nested lines go below it.
        let explicit = value_node(entry)
            .and_then(|v| content_of(&v))
            .filter(|v| !v.text().to_string().trim().is_empty());
        let end = explicit.as_ref().map_or(colon, end_of).max(colon);
        let step = entry.parent().map_or(self.step, |m| self.step_at(&m));
        let column = self.column(start_of(entry)) + step;
        let (head, below) = match (keys.is_empty(), parent_is_flow(entry), leaf) {
            (true, true, Leaf::Block(text)) => (format!(" {}", json_string(text)), None),
            (true, _, Leaf::Plain(text)) => (format!(" {text}"), None),
            (true, false, Leaf::Block(text)) => {
                (" |-".to_owned(), Some(block_body(text, column, nl)))
            }
            (true, true, Leaf::Nested { flow, .. }) => (format!(" {flow}"), None),
            (true, false, Leaf::Nested { block, .. }) => {
                (String::new(), Some(block_body(block, column, nl)))
            }
            (false, true, _) => (format!(" {{{}}}", flow_entries(keys, leaf)), None),
            (false, false, _) => (
                String::new(),
                Some(self.block_lines(keys, column, step, leaf)),
            ),
        };
        let out = splice(self.text, colon, end, &head);
        match below {
            None => out,
            Some(lines) => {
                let at = line_end_after(&out, colon + head.len());
                insert_lines(&out, at, &lines, nl)
            }
        }
    }

    /// `keys` as nested block mappings at `column`, the leaf on the last; no final line ending.
    fn block_lines(&self, keys: &[&str], column: usize, step: usize, leaf: &Leaf) -> String {
        let nl = self.ending.as_str();
        let mut out = String::new();
        for (i, key) in keys.iter().enumerate() {
            let indent = " ".repeat(column + i * step);
            if i > 0 {
                out.push_str(nl);
            }
            out.push_str(&format!("{indent}{}:", plain_key(key)));
            if i + 1 == keys.len() {
                match leaf {
                    Leaf::Plain(text) => out.push_str(&format!(" {text}")),
                    Leaf::Block(text) => {
                        out.push_str(" |-");
                        out.push_str(nl);
                        out.push_str(&block_body(text, column + (i + 1) * step, nl));
                    }
                    Leaf::Nested { block, .. } => {
                        out.push_str(nl);
                        out.push_str(&block_body(block, column + (i + 1) * step, nl));
                    }
                }
            }
        }
        out
    }

    pub(crate) fn line(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    pub(crate) fn column(&self, offset: usize) -> usize {
        offset - self.text[..offset].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The indentation step where `mapping` is: how far it is indented from the block mapping
    /// holding it, or the document's smallest step at the top or inside flow collections.
    pub(crate) fn step_at(&self, mapping: &Node) -> usize {
        let outer = mapping.ancestors().skip(1).find(|a| a.kind() == K::MAPPING);
        match outer {
            Some(outer) if !is_flow(&outer) && !is_flow(mapping) => self
                .column(start_of(mapping))
                .checked_sub(self.column(start_of(&outer)))
                .filter(|s| *s > 0)
                .unwrap_or(self.step),
            _ => self.step,
        }
    }

    pub(crate) fn ending(&self) -> LineEnding {
        self.ending
    }
}

/// Checks that `edited` reads as `before` with `path` set to `expected`, and nothing else.
pub(crate) fn check(
    before: &Value,
    edited: &str,
    path: &[&str],
    expected: Value,
) -> Result<(), EditError> {
    let after = parse(edited).map_err(|e| EditError::Invalid {
        line: e.line(),
        column: 1,
        message: format!("the edit would not parse back ({e}); nothing was written"),
    })?;
    let mut wanted = before.clone();
    set_path(&mut wanted, path, expected);
    if after.value != wanted {
        return Err(EditError::Invalid {
            line: 1,
            column: 1,
            message: "the edit would change other settings; nothing was written".into(),
        });
    }
    Ok(())
}

fn set_path(value: &mut Value, path: &[&str], leaf: Value) {
    let Some((first, rest)) = path.split_first() else {
        *value = leaf;
        return;
    };
    if !value.is_object() {
        *value = Value::Object(Default::default());
    }
    let child = value
        .as_object_mut()
        .expect("made an object above")
        .entry((*first).to_owned())
        .or_insert(Value::Null);
    set_path(child, rest, leaf);
}

/// The value at `path`, `None` when absent.
pub(crate) fn get<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// `key: {key: leaf}` for a flow mapping.
fn flow_entries(keys: &[&str], leaf: &Leaf) -> String {
    let leaf = match leaf {
        Leaf::Plain(text) => (*text).to_owned(),
        Leaf::Block(text) => json_string(text),
        Leaf::Nested { flow, .. } => (*flow).to_owned(),
    };
    let mut out = format!("{}: {leaf}", plain_key(keys[keys.len() - 1]));
    for key in keys[..keys.len() - 1].iter().rev() {
        out = format!("{}: {{{out}}}", plain_key(key));
    }
    out
}

/// A key as written: plain when YAML reads it back as the same string.
fn plain_key(key: &str) -> String {
    let plain = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if plain {
        key.to_owned()
    } else {
        json_string(key)
    }
}

/// A double-quoted YAML string: JSON's escapes are YAML's.
pub(crate) fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// The lines of `text` at `indent`, an empty line left empty, joined by `nl`, no final `nl`.
pub(crate) fn block_body(text: &str, indent: usize, nl: &str) -> String {
    let pad = " ".repeat(indent);
    text.split('\n')
        .map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join(nl)
}

pub(crate) fn splice(text: &str, start: usize, end: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..start]);
    out.push_str(with);
    out.push_str(&text[end..]);
    out
}

/// `text` with `lines` inserted as whole lines at `at`, the end of a line.
pub(crate) fn insert_lines(text: &str, at: usize, lines: &str, nl: &str) -> String {
    if at == text.len() && !text.ends_with('\n') {
        splice(text, at, at, &format!("{nl}{lines}"))
    } else {
        splice(text, at, at, &format!("{lines}{nl}"))
    }
}

/// The offset just past the line ending of the line holding `offset` (the text's end if none).
pub(crate) fn line_end_after(text: &str, offset: usize) -> usize {
    text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1)
}

fn entries(mapping: &Node) -> impl Iterator<Item = Node> {
    mapping.children().filter(|c| c.kind() == K::MAPPING_ENTRY)
}

pub(crate) fn value_node(entry: &Node) -> Option<Node> {
    entry.children().find(|c| c.kind() == K::VALUE)
}

/// The node a VALUE, KEY or DOCUMENT holds.
pub(crate) fn content_of(node: &Node) -> Option<Node> {
    node.children().find(|c| {
        matches!(
            c.kind(),
            K::MAPPING | K::SEQUENCE | K::SCALAR | K::ALIAS | K::TAGGED_NODE
        )
    })
}

/// The anchor written before a node, in the VALUE (or DOCUMENT) holding it or in the node itself.
fn anchor_of(node: &Node) -> Option<Token> {
    let own = node
        .children_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .find(|t| t.kind() == K::ANCHOR);
    own.or_else(|| {
        node.parent()?
            .children_with_tokens()
            .filter_map(NodeOrToken::into_token)
            .find(|t| t.kind() == K::ANCHOR)
    })
}

/// A mapping key as a string: plain, single- or double-quoted.
fn key_of(entry: &Node) -> Option<String> {
    let key = entry.children().find(|c| c.kind() == K::KEY)?;
    let text = key.text().to_string();
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    if text.starts_with('"') {
        return serde_json::from_str(text).ok();
    }
    Some(text.to_owned())
}

/// The items of a sequence, in order.
pub(crate) fn items(sequence: &Node) -> Vec<Node> {
    sequence
        .children()
        .filter(|c| c.kind() == K::SEQUENCE_ENTRY)
        .collect()
}

/// A node (a mapping or sequence) written in flow style, `{…}` or `[…]`.
pub(crate) fn is_flow_collection(node: &Node) -> bool {
    node.children_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .any(|t| matches!(t.kind(), K::LEFT_BRACE | K::LEFT_BRACKET))
}

/// The offset of a flow collection's closing bracket or brace.
pub(crate) fn closing_of(node: &Node) -> Option<usize> {
    node.children_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .filter(|t| matches!(t.kind(), K::RIGHT_BRACE | K::RIGHT_BRACKET))
        .last()
        .map(|t| t.text_range().start().into())
}

/// Where a sequence item's own text ends: its content's end, not counting a flow sequence's
/// comma after it.
pub(crate) fn end_of_item(item: &Node) -> usize {
    item.descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .filter(|t| {
            !matches!(
                t.kind(),
                K::WHITESPACE | K::NEWLINE | K::INDENT | K::COMMENT | K::COMMA
            )
        })
        .filter(|t| !t.text().is_empty())
        .last()
        .map_or_else(|| start_of(item), |t| end_of_token(&t))
}

/// Whether a sequence item is an alias (`- *x`).
pub(crate) fn is_alias_item(item: &Node) -> bool {
    content_of(item).is_some_and(|c| c.kind() == K::ALIAS)
}

/// Refuses an anchored item an alias uses elsewhere.
pub(crate) fn refuse_shared(yaml: &Yaml, node: &Node) -> Result<(), EditError> {
    yaml.refuse_shared_anchor(node)
}

fn is_flow(mapping: &Node) -> bool {
    mapping
        .children_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .any(|t| t.kind() == K::LEFT_BRACE)
}

fn parent_is_flow(entry: &Node) -> bool {
    entry.parent().is_some_and(|m| is_flow(&m))
}

/// An explicit or implicit null: `~`, `null`, or nothing at all.
fn is_null(node: &Node) -> bool {
    node.kind() == K::SCALAR
        && matches!(
            node.text().to_string().trim(),
            "" | "~" | "null" | "Null" | "NULL"
        )
}

/// The last token of `node` that is not whitespace or a comment (with `closing`, not counting the
/// closing brace of a flow mapping itself).
fn last_significant(node: &Node, closing: bool) -> Option<Token> {
    let mut tokens = node
        .descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .filter(|t| {
            !matches!(
                t.kind(),
                K::WHITESPACE | K::NEWLINE | K::INDENT | K::COMMENT
            )
        })
        .filter(|t| !t.text().is_empty())
        .collect::<Vec<_>>();
    if closing && tokens.last().is_some_and(|t| t.kind() == K::RIGHT_BRACE) {
        tokens.pop();
    }
    tokens.pop()
}

/// The offset just past an entry's `:`.
pub(crate) fn colon_of(entry: &Node) -> usize {
    entry
        .children_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .find(|t| t.kind() == K::COLON)
        .map_or_else(|| end_of(entry), |t| end_of_token(&t))
}

/// Where a node's own text starts: its first token that is not whitespace or a comment.
pub(crate) fn start_of(node: &Node) -> usize {
    node.descendants_with_tokens()
        .filter_map(NodeOrToken::into_token)
        .find(|t| {
            !matches!(
                t.kind(),
                K::WHITESPACE | K::NEWLINE | K::INDENT | K::COMMENT
            )
        })
        .map_or_else(
            || node.text_range().start().into(),
            |t| t.text_range().start().into(),
        )
}

/// Where a node's own text ends: after its last token that is not whitespace or a comment.
pub(crate) fn end_of(node: &Node) -> usize {
    last_significant(node, false).map_or_else(|| start_of(node), |t| end_of_token(&t))
}

fn end_of_token(token: &Token) -> usize {
    token.text_range().end().into()
}

/// The smallest indentation between a block mapping and a block mapping nested in it; 2 if none.
fn indentation_step(text: &str, root: &Node) -> usize {
    let column = |offset: usize| offset - text[..offset].rfind('\n').map_or(0, |i| i + 1);
    root.descendants()
        .filter(|n| n.kind() == K::MAPPING && !is_flow(n))
        .filter_map(|inner| {
            let outer = inner.ancestors().skip(1).find(|a| a.kind() == K::MAPPING)?;
            if is_flow(&outer) {
                return None;
            }
            let outer_column = column(start_of(&outer));
            column(start_of(&inner))
                .checked_sub(outer_column)
                .filter(|s| *s > 0)
        })
        .min()
        .unwrap_or(2)
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A parser's message cut to its first sentence, lowercase: the position is reported apart.
fn short(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    // serde-saphyr repeats the position (`error: line 2 column 1: …`) and names its own options.
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let first = match first
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((_, rest)) => rest,
        None => first,
    };
    let first = first
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(first);
    let sentence = first
        .split(". ")
        .next()
        .unwrap_or(first)
        .trim_end_matches('.');
    let mut chars = sentence.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}
