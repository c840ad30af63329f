//! Field paths as kube-apiserver writes them in messages (`spec.containers[0].image`).

use std::fmt;

/// A field path written out only when a message needs it: each level borrows its parent, so
/// walking a valid object allocates nothing for paths.
#[derive(Clone, Copy, Debug)]
pub enum FieldPath<'a> {
    Root,
    Field(&'a FieldPath<'a>, &'a str),
    Index(&'a FieldPath<'a>, usize),
}

impl<'a> FieldPath<'a> {
    /// The path of `key` under this one.
    pub fn field(&'a self, key: &'a str) -> Self {
        Self::Field(self, key)
    }

    /// The path of item `i` of the list at this one.
    pub fn index(&'a self, i: usize) -> Self {
        Self::Index(self, i)
    }
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Field(Self::Root, key) => f.write_str(key),
            Self::Field(parent, key) => write!(f, "{parent}.{key}"),
            Self::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// One step of a path into a JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// The path `segments` lead along, written as [`FieldPath`] writes it.
pub fn written(segments: &[Segment]) -> String {
    fn along(segments: &[Segment], at: FieldPath<'_>) -> String {
        match segments.split_first() {
            None => at.to_string(),
            Some((Segment::Key(key), rest)) => along(rest, at.field(key)),
            Some((Segment::Index(i), rest)) => along(rest, at.index(*i)),
        }
    }
    along(segments, FieldPath::Root)
}

#[cfg(test)]
mod tests {
    use super::{FieldPath, Segment, written};

    #[test]
    fn writes_fields_with_dots_and_items_with_brackets() {
        let root = FieldPath::Root;
        let spec = root.field("spec");
        let containers = spec.field("containers");
        let first = containers.index(0);
        assert_eq!(first.field("image").to_string(), "spec.containers[0].image");
        assert_eq!(root.index(2).to_string(), "[2]");
        assert_eq!(root.to_string(), "");
        let segments = [
            Segment::Key("spec".into()),
            Segment::Key("containers".into()),
            Segment::Index(0),
            Segment::Key("image".into()),
        ];
        assert_eq!(written(&segments), "spec.containers[0].image");
    }
}
