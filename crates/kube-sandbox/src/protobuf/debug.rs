//! A parser for what the derived `Debug` of a k8s-pb message prints: structs with named fields,
//! `Some(..)`/`None`, strings, numbers, booleans, lists and maps. That output is the only place
//! prost-generated types name their fields at run time (k8s-pb ships neither serde nor
//! descriptors), so it is the bridge from a decoded protobuf message to Kubernetes JSON.

/// One value of the printed structure.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `Name { field: value, .. }` (the Rust type name and its fields, in declaration order).
    Struct(String, Vec<(String, Node)>),
    /// `Some(value)`: an optional field that was present on the wire.
    Some(Box<Node>),
    /// `None`: an optional field absent from the wire.
    None,
    Str(String),
    /// A number literal as printed (integer or float).
    Num(String),
    Bool(bool),
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Parses the `{:?}` output of a prost message.
pub fn parse(text: &str) -> Result<Node, String> {
    let mut p = Parser { text, pos: 0 };
    let node = p.value()?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.error("trailing input"));
    }
    Ok(node)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error(&self, what: &str) -> String {
        format!("unexpected Debug output at {}: {what}", self.pos)
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek()
            && c.is_whitespace()
        {
            self.pos += c.len_utf8();
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            Ok(())
        } else {
            Err(self.error(&format!("expected {token:?}")))
        }
    }

    /// Consumes `token` if it comes next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek()
            && (c.is_alphanumeric() || c == '_' || c == '#')
        {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    fn value(&mut self) -> Result<Node, String> {
        self.skip_ws();
        match self.peek() {
            Some('"') => self.string().map(Node::Str),
            Some('[') => self.list(),
            Some('{') => self.map(),
            Some(c) if c == '-' || c.is_ascii_digit() => Ok(self.number()),
            Some(c) if c.is_alphabetic() || c == '_' => self.named(),
            _ => Err(self.error("expected a value")),
        }
    }

    /// `[a, b, …]`, a trailing comma allowed.
    fn list(&mut self) -> Result<Node, String> {
        self.pos += 1;
        let mut items = vec![];
        while !self.eat("]") {
            if !items.is_empty() {
                self.expect(",")?;
                if self.eat("]") {
                    break;
                }
            }
            items.push(self.value()?);
        }
        Ok(Node::List(items))
    }

    /// `{k: v, …}`, a trailing comma allowed.
    fn map(&mut self) -> Result<Node, String> {
        self.pos += 1;
        let mut entries = vec![];
        while !self.eat("}") {
            if !entries.is_empty() {
                self.expect(",")?;
                if self.eat("}") {
                    break;
                }
            }
            let key = self.value()?;
            self.expect(":")?;
            entries.push((key, self.value()?));
        }
        Ok(Node::Map(entries))
    }

    /// A number as written (`-1`, `2.5e3`, `1i64`).
    fn number(&mut self) -> Node {
        let start = self.pos;
        while let Some(c) = self.peek()
            && (c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
        {
            self.pos += 1;
        }
        Node::Num(self.text[start..self.pos].to_string())
    }

    /// What starts with a name: `None`, booleans, `NaN`/`inf`, `Some(…)`, or a struct.
    fn named(&mut self) -> Result<Node, String> {
        let ident = self.ident().to_string();
        match ident.as_str() {
            "None" => Ok(Node::None),
            "true" => Ok(Node::Bool(true)),
            "false" => Ok(Node::Bool(false)),
            "NaN" | "inf" => Ok(Node::Num(ident)),
            "Some" => {
                self.expect("(")?;
                let inner = self.value()?;
                self.expect(")")?;
                Ok(Node::Some(Box::new(inner)))
            }
            _ => self.fields().map(|fields| Node::Struct(ident, fields)),
        }
    }

    /// A struct's `{name: value, …}`, if it has any.
    fn fields(&mut self) -> Result<Vec<(String, Node)>, String> {
        let mut fields = vec![];
        if !self.eat("{") {
            return Ok(fields);
        }
        while !self.eat("}") {
            if !fields.is_empty() {
                self.expect(",")?;
                if self.eat("}") {
                    break;
                }
            }
            self.skip_ws();
            let name = self.ident().to_string();
            if name.is_empty() {
                return Err(self.error("expected a field name"));
            }
            self.expect(":")?;
            fields.push((name, self.value()?));
        }
        Ok(fields)
    }

    /// A string literal with Rust's `Debug` escapes.
    fn string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let (_, e) = chars
                        .next()
                        .ok_or_else(|| self.error("unterminated escape"))?;
                    match e {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '0' => out.push('\0'),
                        '\\' | '"' | '\'' => out.push(e),
                        'u' => {
                            let mut hex = String::new();
                            for (_, h) in chars.by_ref() {
                                match h {
                                    '{' => {}
                                    '}' => break,
                                    h => hex.push(h),
                                }
                            }
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.error("bad unicode escape"))?;
                            out.push(code);
                        }
                        _ => return Err(self.error("unknown escape")),
                    }
                }
                c => out.push(c),
            }
        }
        Err(self.error("unterminated string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_structs_options_strings_lists_and_maps() {
        let text = r#"Secret { metadata: Some(ObjectMeta { name: Some("a \"b\"\n\u{1f}"), labels: {"k": "v"} }), data: {"x": [1, 255]}, immutable: None, r#type: Some("Opaque"), n: Some(-3), f: Some(1.5e-7), ok: Some(true), empty: Empty, list: [] }"#;
        let node = parse(text).unwrap();
        let Node::Struct(name, fields) = node else {
            panic!("a struct")
        };
        assert_eq!(name, "Secret");
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "metadata",
                "data",
                "immutable",
                "r#type",
                "n",
                "f",
                "ok",
                "empty",
                "list"
            ]
        );
        let Node::Some(meta) = &fields[0].1 else {
            panic!("Some")
        };
        let Node::Struct(_, meta) = meta.as_ref() else {
            panic!("ObjectMeta")
        };
        assert_eq!(
            meta[0].1,
            Node::Some(Box::new(Node::Str("a \"b\"\n\u{1f}".into())))
        );
        assert_eq!(
            meta[1].1,
            Node::Map(vec![(Node::Str("k".into()), Node::Str("v".into()))])
        );
        assert_eq!(
            fields[1].1,
            Node::Map(vec![(
                Node::Str("x".into()),
                Node::List(vec![Node::Num("1".into()), Node::Num("255".into())])
            )])
        );
        assert_eq!(fields[2].1, Node::None);
        assert_eq!(
            fields[5].1,
            Node::Some(Box::new(Node::Num("1.5e-7".into())))
        );
        assert_eq!(fields[7].1, Node::Struct("Empty".into(), vec![]));
        assert_eq!(fields[8].1, Node::List(vec![]));
    }

    #[test]
    fn rejects_truncated_output() {
        assert!(parse("Secret { data: {\"x\": [1, 2] }").is_err());
        assert!(parse("\"open").is_err());
    }
}
