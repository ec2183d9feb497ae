//! Reading YAML (and JSON, which is YAML) into a [`Node`] tree that remembers where every
//! node and key was written.
//!
//! Built on `saphyr-parser` events. Anchors and aliases are expanded, merge keys (`<<`) are
//! applied (keys written in the mapping itself win), CloudFormation short tags (`!Ref`,
//! `!GetAtt`, `!Sub`...) are kept on the node, plain scalars are typed with the YAML 1.2 core
//! schema, and duplicate keys are errors.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::scalar::scalar_value;

/// Where a node was written: index into the loader's file table, 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Index of the file in the loader's list of files read.
    pub file: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One YAML node with its position and optional tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// A local tag without its `!` (`Ref`, `GetAtt`, `Sub`...), if any.
    pub tag: Option<String>,
    /// Where it was written.
    pub pos: Pos,
    /// Set once the variable resolver has dealt with this string (so kept `${ssm:...}` text is
    /// not looked at again).
    pub resolved: bool,
}

/// The content of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~`, or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in written order.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key, as text.
    pub key: String,
    /// Where the key was written.
    pub key_pos: Pos,
    /// The value.
    pub value: Node,
}

impl Node {
    /// A node with no tag.
    pub fn new(value: Value, pos: Pos) -> Node {
        Node {
            value,
            tag: None,
            pos,
            resolved: false,
        }
    }

    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The entry `key` of a mapping, with its key position.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The text of a string node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name for the kind of value, for messages (`a string`, `a list`...).
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (numbers and booleans written out), `None` for null, lists and maps.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    /// Where.
    pub pos: Pos,
    /// The dotted key path, when known.
    pub key: String,
    /// What.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// Help for a scanner error.
const SYNTAX_HELP: &str =
    "fix the YAML syntax here (an unclosed `[`, `{` or quote on a line above can also cause this)";

enum Frame {
    Seq {
        node: Node,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        node: Node,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Pos)>,
        merges: Vec<Node>,
    },
}

fn pos_of(span: &Span, file: usize) -> Pos {
    Pos {
        file,
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

fn tag_name(tag: Option<&Tag>) -> Option<String> {
    let tag = tag?;
    if tag.is_yaml_core_schema() {
        return Some(format!("!!{}", tag.suffix));
    }
    if tag.handle == "!" {
        Some(tag.suffix.clone())
    } else {
        Some(format!("{}{}", tag.handle, tag.suffix))
    }
}

/// Parses the first document of `text` (file index `file` for positions). An empty file is
/// a null node.
pub fn parse(text: &str, file: usize) -> Result<Node, Vec<SyntaxError>> {
    let mut builder = Builder {
        file,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        errors: Vec::new(),
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(pair) => pair,
            Err(error) => {
                let marker = error.marker();
                builder.errors.push(SyntaxError {
                    pos: Pos {
                        file,
                        line: marker.line(),
                        column: marker.col() + 1,
                    },
                    key: String::new(),
                    message: format!("invalid YAML: {}", error.info()),
                    help: SYNTAX_HELP.into(),
                });
                return Err(builder.errors);
            }
        };
        if builder.on_event(event, span) {
            break;
        }
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(builder.root.unwrap_or_else(|| {
        Node::new(
            Value::Null,
            Pos {
                file,
                line: 1,
                column: 1,
            },
        )
    }))
}

struct Builder {
    file: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    errors: Vec<SyntaxError>,
}

impl Builder {
    /// Handles one event; true once the first document is complete.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> bool {
        let pos = pos_of(&span, self.file);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag_name(tag.as_deref());
                let value = scalar_value(&text, style, tag.as_deref());
                let mut node = Node::new(value, pos);
                node.tag = tag.filter(|t| !t.starts_with("!!"));
                // A plain `<<` key is a merge key.
                let merge_key = style == ScalarStyle::Plain && &*text == "<<";
                self.complete(node, anchor, merge_key);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    self.complete(node, 0, false);
                }
                None => {
                    let key = self.path();
                    self.errors.push(SyntaxError {
                        pos,
                        key,
                        message: "alias to an unknown anchor".into(),
                        help: "define the anchor (`&name`) before the alias (`*name`)".into(),
                    });
                }
            },
            Event::SequenceStart(anchor, tag) => {
                let mut node = Node::new(Value::Null, pos);
                node.tag = tag_name(tag.as_deref()).filter(|t| !t.starts_with("!!"));
                self.stack.push(Frame::Seq {
                    node,
                    anchor,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, tag) => {
                let mut node = Node::new(Value::Null, pos);
                node.tag = tag_name(tag.as_deref()).filter(|t| !t.starts_with("!!"));
                self.stack.push(Frame::Map {
                    node,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    mut node,
                    anchor,
                    items,
                }) = self.stack.pop()
                {
                    node.value = Value::Seq(items);
                    self.complete(node, anchor, false);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mut node,
                    anchor,
                    mut entries,
                    merges,
                    ..
                }) = self.stack.pop()
                {
                    apply_merges(&mut entries, merges);
                    node.value = Value::Map(entries);
                    self.complete(node, anchor, false);
                }
            }
            Event::DocumentEnd => return self.root.is_some(),
            Event::StreamEnd => return true,
            Event::Nothing | Event::StreamStart | Event::DocumentStart(_) => {}
        }
        false
    }

    fn complete(&mut self, node: Node, anchor: usize, merge_key: bool) {
        // The key path of the mapping (or list) this node goes into, for errors.
        let parent = if self.errors.len() < 100 {
            self.parent_path()
        } else {
            String::new()
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                key,
                merges,
                ..
            }) => match key.take() {
                None => {
                    if merge_key {
                        *key = Some((MERGE_KEY.into(), node.pos));
                        return;
                    }
                    match node.scalar_text() {
                        Some(text) => *key = Some((text, node.pos)),
                        None if node.value == Value::Null => *key = Some(("null".into(), node.pos)),
                        None => {
                            self.errors.push(SyntaxError {
                                pos: node.pos,
                                key: parent.clone(),
                                message: format!("a mapping key must be text, not {}", node.kind()),
                                help: "write a plain word as the key".into(),
                            });
                            *key = Some((String::new(), node.pos));
                        }
                    }
                }
                Some((name, key_pos)) => {
                    if name == MERGE_KEY && is_merge_source(&node) {
                        merges.push(node);
                        return;
                    }
                    let name = if name == MERGE_KEY {
                        "<<".to_string()
                    } else {
                        name
                    };
                    if let Some(first) = entries.iter().find(|e| e.key == name) {
                        self.errors.push(SyntaxError {
                            pos: key_pos,
                            key: if parent.is_empty() {
                                name.clone()
                            } else {
                                format!("{parent}.{name}")
                            },
                            message: format!(
                                "duplicate key `{name}` (first written at line {})",
                                first.key_pos.line
                            ),
                            help: "remove or rename one of the two".into(),
                        });
                        return;
                    }
                    entries.push(Entry {
                        key: name,
                        key_pos,
                        value: node,
                    });
                }
            },
        }
    }
}

/// The internal name of a plain `<<` key until its value is known.
const MERGE_KEY: &str = "\u{0}<<";

impl Builder {
    /// The dotted key path of the node being built (list items by index).
    fn path(&self) -> String {
        let mut parts = Vec::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => parts.push(items.len().to_string()),
                Frame::Map {
                    key: Some((k, _)), ..
                } => parts.push(k.clone()),
                Frame::Map { .. } => {}
            }
        }
        parts.join(".")
    }

    /// The dotted key path of the innermost open mapping or list.
    fn parent_path(&self) -> String {
        let mut parts = Vec::new();
        let depth = self.stack.len().saturating_sub(1);
        for frame in &self.stack[..depth] {
            match frame {
                Frame::Seq { items, .. } => parts.push(items.len().to_string()),
                Frame::Map {
                    key: Some((k, _)), ..
                } => parts.push(k.clone()),
                Frame::Map { .. } => {}
            }
        }
        parts.join(".")
    }
}

fn is_merge_source(node: &Node) -> bool {
    match &node.value {
        Value::Map(_) => true,
        Value::Seq(items) => items.iter().all(|i| matches!(i.value, Value::Map(_))),
        _ => false,
    }
}

/// Applies `<<` merges: keys written in the mapping win, then earlier merge sources win.
fn apply_merges(entries: &mut Vec<Entry>, merges: Vec<Node>) {
    for source in merges {
        let maps = match source.value {
            Value::Map(map) => vec![map],
            Value::Seq(items) => items
                .into_iter()
                .filter_map(|i| match i.value {
                    Value::Map(map) => Some(map),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for map in maps {
            for entry in map {
                if !entries.iter().any(|e| e.key == entry.key) {
                    entries.push(entry);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node {
        parse(text, 0).expect("valid YAML")
    }

    #[test]
    fn scalars_are_typed_by_the_core_schema() {
        let node = load(
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: hello\ng: 0x10\nh: 1e3\ni: 1.2.3\nj: -4\n",
        );
        assert_eq!(node.get("a").unwrap().value, Value::Int(1));
        assert_eq!(node.get("b").unwrap().value, Value::Float(1.5));
        assert_eq!(node.get("c").unwrap().value, Value::Bool(true));
        assert_eq!(node.get("d").unwrap().value, Value::Null);
        assert_eq!(node.get("e").unwrap().value, Value::Str("1".into()));
        assert_eq!(node.get("f").unwrap().value, Value::Str("hello".into()));
        assert_eq!(node.get("g").unwrap().value, Value::Int(16));
        assert_eq!(node.get("h").unwrap().value, Value::Float(1000.0));
        assert_eq!(node.get("i").unwrap().value, Value::Str("1.2.3".into()));
        assert_eq!(node.get("j").unwrap().value, Value::Int(-4));
    }

    #[test]
    fn positions_are_one_based() {
        let node = load("provider:\n  name: aws\n");
        let provider = node.entry("provider").unwrap();
        assert_eq!((provider.key_pos.line, provider.key_pos.column), (1, 1));
        let name = provider.value.entry("name").unwrap();
        assert_eq!((name.key_pos.line, name.key_pos.column), (2, 3));
        assert_eq!((name.value.pos.line, name.value.pos.column), (2, 9));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let node = load("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        let other = node.get("other").unwrap();
        assert_eq!(other.get("x").unwrap().value, Value::Int(1));
        assert_eq!(other.get("y").unwrap().value, Value::Int(3));
        let Value::Seq(items) = &node.get("list").unwrap().value else {
            panic!("list")
        };
        assert_eq!(items[0].get("y").unwrap().value, Value::Int(2));
    }

    #[test]
    fn short_tags_are_kept() {
        let node = load("a: !Ref Bucket\nb: !GetAtt Fn.Arn\nc: !Join ['', [a, b]]\nd: !!str 12\n");
        assert_eq!(node.get("a").unwrap().tag.as_deref(), Some("Ref"));
        assert_eq!(node.get("b").unwrap().tag.as_deref(), Some("GetAtt"));
        assert_eq!(node.get("c").unwrap().tag.as_deref(), Some("Join"));
        assert_eq!(node.get("d").unwrap().value, Value::Str("12".into()));
        assert_eq!(node.get("d").unwrap().tag, None);
    }

    #[test]
    fn multi_line_scalars() {
        let node = load("a: |\n  one\n  two\nb: >\n  one\n  two\n");
        assert_eq!(node.get("a").unwrap().as_str(), Some("one\ntwo\n"));
        assert_eq!(node.get("b").unwrap().as_str(), Some("one two\n"));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        let errors = parse("a: 1\nb: 2\na: 3\n", 0).unwrap_err();
        assert_eq!(errors[0].pos.line, 3);
        assert!(errors[0].message.contains("duplicate key `a`"));
        let errors = parse("a: [1, 2\nb: 3\n", 0).unwrap_err();
        assert!(errors[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn json_is_yaml() {
        let node = load("{\"a\": {\"b\": [1, \"x\"]}}");
        assert!(node.get("a").unwrap().get("b").is_some());
    }
}
