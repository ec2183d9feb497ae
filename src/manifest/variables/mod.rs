//! Resolving Serverless variables (`${source:address, fallback}`) in the manifest tree.
//!
//! Follows Serverless Framework v3: a string that is exactly one variable takes the variable's
//! value with its type (a number stays a number, a mapping stays a mapping); variables inside
//! longer text are written into it. Fallbacks are tried left to right; `self` references are
//! resolved on demand (so their own variables are resolved first) and a reference back to a
//! value being resolved is a cycle error naming the chain. Sources that only the cloud can
//! answer (`cf`, `ssm`, `s3`, `aws:accountId`, `construct`...) are kept as text with a warning.

mod sources;
pub mod syntax;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::diagnostic::{Diagnostic, Diagnostics};

use super::yaml::{Node, Pos, Value};
use super::{Files, LoadOptions};
use syntax::Part;

/// A resolution that failed; its diagnostic has already been recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

/// Where the string being resolved was written, for diagnostics.
#[derive(Debug, Clone)]
struct Ctx {
    key: String,
    pos: Pos,
}

/// Why a variable has no value.
#[derive(Debug, Clone)]
struct Missing {
    reason: String,
    help: String,
}

/// What one variable (with its fallbacks) gave.
enum Outcome {
    Value(Node),
    /// A cloud-only value: the variable text stays as written.
    Kept,
    Missing(Missing),
}

/// What one source gave for one reference.
enum Lookup {
    Found(Node),
    Missing(Missing),
    /// Only the cloud knows; why.
    Deferred(String),
}

/// Resolves every variable of a manifest tree in place.
pub struct Resolver<'a> {
    /// The manifest tree, resolved in place.
    pub root: Node,
    files: &'a mut Files,
    options: &'a LoadOptions,
    service_dir: PathBuf,
    diagnostics: Diagnostics,
    stack: Vec<String>,
    failed: HashSet<String>,
    file_cache: HashMap<PathBuf, Option<Node>>,
    stage: Option<String>,
}

impl<'a> Resolver<'a> {
    /// A resolver for `root`; `${file(...)}` paths are relative to `service_dir`.
    pub fn new(
        root: Node,
        files: &'a mut Files,
        options: &'a LoadOptions,
        service_dir: PathBuf,
    ) -> Resolver<'a> {
        Resolver {
            root,
            files,
            options,
            service_dir,
            diagnostics: Diagnostics::default(),
            stack: Vec::new(),
            failed: HashSet::new(),
            file_cache: HashMap::new(),
            stage: None,
        }
    }

    /// Resolves the whole tree; returns it with every error and warning found.
    pub fn run(mut self) -> (Node, Diagnostics) {
        let _ = self.resolve_deep(&[]);
        (self.root, self.diagnostics)
    }

    /// The stage in force: `--stage`, else `provider.stage` (resolved), else `dev`.
    fn stage(&mut self) -> Result<String, Failed> {
        if let Some(stage) = &self.stage {
            return Ok(stage.clone());
        }
        let stage = match self.option("stage") {
            Some(stage) => stage,
            None => match self.get_resolved(&path_of("provider.stage"))? {
                Some(node) => node.scalar_text().unwrap_or_else(|| "dev".into()),
                None => "dev".into(),
            },
        };
        self.stage = Some(stage.clone());
        Ok(stage)
    }

    /// The region in force: `--region`, else `provider.region` (resolved), else `us-east-1`.
    fn region(&mut self) -> Result<String, Failed> {
        if let Some(region) = self.option("region") {
            return Ok(region);
        }
        Ok(self
            .get_resolved(&path_of("provider.region"))?
            .and_then(|n| n.scalar_text())
            .unwrap_or_else(|| "us-east-1".into()))
    }

    fn option(&self, name: &str) -> Option<String> {
        let given = match name {
            "stage" => self.options.stage.clone(),
            "region" => self.options.region.clone(),
            _ => None,
        };
        given.or_else(|| self.options.options.get(name).cloned())
    }

    fn push(&mut self, diagnostic: Diagnostic, pos: Pos) {
        let location = self.files.location(pos);
        self.diagnostics.push(diagnostic.at(Some(location)));
    }

    /// Resolves the node at `path` and everything under it.
    fn resolve_deep(&mut self, path: &[String]) -> Result<(), Failed> {
        self.resolve_here(path)?;
        let children: Vec<String> = match node_at(&self.root, path).map(|n| &n.value) {
            Some(Value::Map(entries)) => entries.iter().map(|e| e.key.clone()).collect(),
            Some(Value::Seq(items)) => (0..items.len()).map(|i| i.to_string()).collect(),
            _ => Vec::new(),
        };
        let mut result = Ok(());
        for child in children {
            let mut child_path = path.to_vec();
            child_path.push(child);
            if self.resolve_deep(&child_path).is_err() {
                result = Err(Failed);
            }
        }
        result
    }

    /// Resolves the node at `path` itself, if it is a string holding variables.
    fn resolve_here(&mut self, path: &[String]) -> Result<(), Failed> {
        let key = path.join(".");
        if self.failed.contains(&key) {
            return Err(Failed);
        }
        let Some(node) = node_at(&self.root, path) else {
            return Ok(());
        };
        let Value::Str(text) = &node.value else {
            return Ok(());
        };
        if node.resolved || !syntax::has_variables(text) {
            return Ok(());
        }
        let (text, pos, tag) = (text.clone(), node.pos, node.tag.clone());
        if let Some(start) = self.stack.iter().position(|p| *p == key) {
            let mut chain = self.stack[start..].to_vec();
            chain.push(key.clone());
            self.push(
                Diagnostic::error(&key, format!("variable cycle: {}", chain.join(" → ")))
                    .help("break the cycle: a value cannot depend on itself through `${self:...}` or `${param:...}`"),
                pos,
            );
            self.failed.insert(key);
            return Err(Failed);
        }
        self.stack.push(key.clone());
        let result = self.resolve_text(
            &text,
            &Ctx {
                key: key.clone(),
                pos,
            },
        );
        self.stack.pop();
        match result {
            Ok(mut node) => {
                node.pos = pos;
                node.resolved = true;
                node.tag = node.tag.or(tag);
                if let Some(slot) = node_at_mut(&mut self.root, path) {
                    *slot = node;
                }
                Ok(())
            }
            Err(Failed) => {
                self.failed.insert(key);
                Err(Failed)
            }
        }
    }

    /// The fully resolved node at `path`, resolving the way down first.
    fn get_resolved(&mut self, path: &[String]) -> Result<Option<Node>, Failed> {
        for depth in 0..path.len() {
            self.resolve_here(&path[..depth])?;
            match node_at(&self.root, &path[..=depth]) {
                Some(_) => {}
                None => return Ok(None),
            }
        }
        self.resolve_deep(path)?;
        Ok(node_at(&self.root, path).cloned())
    }

    /// Resolves every variable in a detached tree (a file read by `${file(...)}`).
    fn resolve_detached(&mut self, node: &mut Node, key: &str) -> Result<(), Failed> {
        let mut result = Ok(());
        match &mut node.value {
            Value::Str(text) if !node.resolved && syntax::has_variables(text) => {
                let text = text.clone();
                let ctx = Ctx {
                    key: key.to_string(),
                    pos: node.pos,
                };
                let mut resolved = self.resolve_text(&text, &ctx)?;
                resolved.pos = node.pos;
                resolved.resolved = true;
                resolved.tag = resolved.tag.or(node.tag.take());
                *node = resolved;
            }
            Value::Map(entries) => {
                for entry in entries {
                    if self.resolve_detached(&mut entry.value, key).is_err() {
                        result = Err(Failed);
                    }
                }
            }
            Value::Seq(items) => {
                for item in items {
                    if self.resolve_detached(item, key).is_err() {
                        result = Err(Failed);
                    }
                }
            }
            _ => {}
        }
        result
    }

    /// Resolves the variables in one string: a whole-value variable keeps its type.
    fn resolve_text(&mut self, text: &str, ctx: &Ctx) -> Result<Node, Failed> {
        let found = syntax::find(text);
        if let [only] = found.as_slice()
            && only.start == 0
            && only.end == text.len()
        {
            return match self.evaluate(&only.inner, ctx)? {
                Outcome::Value(node) => Ok(node),
                Outcome::Kept => Ok(Node::new(Value::Str(text.to_string()), ctx.pos)),
                Outcome::Missing(missing) => Err(self.report_missing(&only.inner, missing, ctx)),
            };
        }
        let mut out = String::new();
        let mut last = 0;
        let mut failed = false;
        for variable in &found {
            out.push_str(&text[last..variable.start]);
            last = variable.end;
            let written = &text[variable.start..variable.end];
            match self.evaluate(&variable.inner, ctx) {
                Ok(Outcome::Value(node)) => match node.scalar_text() {
                    Some(s) => out.push_str(&s),
                    None => {
                        self.push(
                            Diagnostic::error(
                                &ctx.key,
                                format!(
                                    "`{written}` gives {}, which cannot be written inside text",
                                    node.kind()
                                ),
                            )
                            .help("make the variable the whole value, or point it at a text, number or boolean value"),
                            ctx.pos,
                        );
                        failed = true;
                    }
                },
                Ok(Outcome::Kept) => out.push_str(written),
                Ok(Outcome::Missing(missing)) => {
                    self.report_missing(&variable.inner, missing, ctx);
                    failed = true;
                }
                Err(Failed) => failed = true,
            }
        }
        out.push_str(&text[last..]);
        if failed {
            return Err(Failed);
        }
        Ok(Node::new(Value::Str(out), ctx.pos))
    }

    fn report_missing(&mut self, inner: &str, missing: Missing, ctx: &Ctx) -> Failed {
        self.push(
            Diagnostic::error(
                &ctx.key,
                format!("cannot resolve `${{{inner}}}`: {}", missing.reason),
            )
            .help(missing.help),
            ctx.pos,
        );
        Failed
    }

    /// Evaluates one variable's inner text: its reference, then each fallback in turn.
    fn evaluate(&mut self, inner: &str, ctx: &Ctx) -> Result<Outcome, Failed> {
        let mut first_missing: Option<Missing> = None;
        let mut deferred: Option<String> = None;
        for raw in syntax::split_parts(inner) {
            let nested = syntax::find(&raw);
            let outcome = if matches!(nested.as_slice(), [n] if n.start == 0 && n.end == raw.len())
            {
                self.evaluate(&nested[0].inner, ctx)?
            } else {
                let text = if nested.is_empty() {
                    raw.clone()
                } else {
                    match self.resolve_text(&raw, ctx)?.value {
                        Value::Str(s) => s,
                        _ => raw.clone(),
                    }
                };
                match syntax::parse_part(&text) {
                    Part::Ref {
                        source,
                        param,
                        address,
                    } => match self.lookup(&source, param.as_deref(), &address, ctx)? {
                        Lookup::Found(node) if node.value == Value::Null => {
                            Outcome::Missing(Missing {
                                reason: format!("`{text}` is null"),
                                help: format!("give `{text}` a value, or add a fallback"),
                            })
                        }
                        Lookup::Found(node) => Outcome::Value(node),
                        Lookup::Missing(missing) => Outcome::Missing(missing),
                        Lookup::Deferred(why) => {
                            deferred.get_or_insert(why);
                            continue;
                        }
                    },
                    Part::Text(s) | Part::Bare(s) => {
                        Outcome::Value(self.literal(Value::Str(s), ctx))
                    }
                    Part::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                        Outcome::Value(self.literal(Value::Int(n as i64), ctx))
                    }
                    Part::Number(n) => Outcome::Value(self.literal(Value::Float(n), ctx)),
                    Part::Bool(b) => Outcome::Value(self.literal(Value::Bool(b), ctx)),
                    Part::Null => Outcome::Value(self.literal(Value::Null, ctx)),
                }
            };
            match outcome {
                Outcome::Value(node) => {
                    if let Some(why) = deferred {
                        self.push(
                            Diagnostic::warning(
                                &ctx.key,
                                format!("`${{{inner}}}`: {why}; the fallback is used instead"),
                            ),
                            ctx.pos,
                        );
                    }
                    return Ok(Outcome::Value(node));
                }
                Outcome::Kept => {
                    deferred.get_or_insert_with(|| "it is read from the cloud".into());
                }
                Outcome::Missing(missing) => {
                    first_missing.get_or_insert(missing);
                }
            }
        }
        if let Some(why) = deferred {
            self.push(
                Diagnostic::warning(&ctx.key, format!("`${{{inner}}}` is kept as text: {why}"))
                    .help("stratus cannot read it without the cloud; the text is passed through as written"),
                ctx.pos,
            );
            return Ok(Outcome::Kept);
        }
        Ok(Outcome::Missing(first_missing.unwrap_or(Missing {
            reason: "the variable is empty".into(),
            help: "write a source and an address, e.g. `${self:custom.name}`".into(),
        })))
    }

    fn literal(&self, value: Value, ctx: &Ctx) -> Node {
        Node::new(value, ctx.pos)
    }
}

/// A dotted address as path segments (`a.b.0` → `["a", "b", "0"]`); empty for the root.
fn path_of(address: &str) -> Vec<String> {
    if address.is_empty() {
        return Vec::new();
    }
    address.split('.').map(str::to_string).collect()
}

/// The node at `path` (list items by index).
pub fn node_at<'n>(root: &'n Node, path: &[String]) -> Option<&'n Node> {
    let mut node = root;
    for segment in path {
        node = match &node.value {
            Value::Map(entries) => &entries.iter().find(|e| e.key == *segment)?.value,
            Value::Seq(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn node_at_mut<'n>(root: &'n mut Node, path: &[String]) -> Option<&'n mut Node> {
    let mut node = root;
    for segment in path {
        node = match &mut node.value {
            Value::Map(entries) => &mut entries.iter_mut().find(|e| e.key == *segment)?.value,
            Value::Seq(items) => items.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

#[cfg(test)]
mod tests;
