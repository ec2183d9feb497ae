//! The variable sources: `self`, `opt`, `env`, `sls`, `param`, `file`, and the cloud-only
//! ones (`cf`, `ssm`, `s3`, `aws`, `construct`, `secrets`) that are kept as text.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::manifest::yaml::{self, Node, Value};

use super::{Ctx, Failed, Lookup, Missing, Resolver, node_at, path_of};

/// Sources only the cloud can answer: kept as text.
const CLOUD_SOURCES: &[&str] = &[
    "cf",
    "ssm",
    "s3",
    "aws",
    "construct",
    "secrets",
    "terraform",
];

fn missing(reason: impl Into<String>, help: impl Into<String>) -> Lookup {
    Lookup::Missing(Missing {
        reason: reason.into(),
        help: help.into(),
    })
}

fn text(value: &str, ctx: &Ctx) -> Lookup {
    let mut node = Node::new(Value::Str(value.to_string()), ctx.pos);
    node.resolved = true;
    Lookup::Found(node)
}

impl Resolver<'_> {
    /// Looks up one `source(param):address` reference.
    pub(super) fn lookup(
        &mut self,
        source: &str,
        param: Option<&str>,
        address: &str,
        ctx: &Ctx,
    ) -> Result<Lookup, Failed> {
        Ok(match source {
            "self" => match self.get_resolved(&path_of(address))? {
                Some(node) => Lookup::Found(node),
                // Serverless gives these two defaults before resolving.
                None if address == "provider.stage" => text(&self.stage()?, ctx),
                None if address == "provider.region" => text(&self.region()?, ctx),
                None => missing(
                    format!("the manifest has no `{address}`"),
                    format!(
                        "add `{address}` to the manifest, or a fallback: `${{self:{address}, 'value'}}`"
                    ),
                ),
            },
            "opt" => match self.option(address) {
                Some(value) => text(&value, ctx),
                None => missing(
                    format!("the option --{address} was not given"),
                    format!(
                        "pass `--{address} <value>`, or add a fallback: `${{opt:{address}, 'value'}}`"
                    ),
                ),
            },
            "env" => match self.options.env.get(address) {
                Some(value) => text(value, ctx),
                None => missing(
                    format!("the environment variable {address} is not set"),
                    format!(
                        "set the environment variable {address}, or add a fallback: `${{env:{address}, 'default'}}`"
                    ),
                ),
            },
            "sls" => match address {
                "stage" => text(&self.stage()?, ctx),
                "instanceId" => {
                    let stage = self.stage()?;
                    text(&self.instance_id(&stage), ctx)
                }
                _ => missing(
                    format!("unknown `sls` variable `{address}`"),
                    "use `${sls:stage}` or `${sls:instanceId}`",
                ),
            },
            "param" => self.param(address, ctx)?,
            "file" => self.file(param.unwrap_or_default(), address, ctx)?,
            "aws" if address == "region" => text(&self.region()?, ctx),
            "strToBool" => str_to_bool(param.unwrap_or_default(), ctx),
            source if CLOUD_SOURCES.contains(&source) => Lookup::Deferred(format!(
                "`{source}` values are read from the cloud at deploy time"
            )),
            other => missing(
                format!("unknown variable source `{other}`"),
                "use one of self, opt, env, sls, param, file, strToBool (cf, ssm, s3, aws are kept as text)",
            ),
        })
    }

    /// `--param`, then `params.<stage>`, then `params.default`.
    fn param(&mut self, name: &str, ctx: &Ctx) -> Result<Lookup, Failed> {
        if let Some((_, value)) = self.options.params.iter().rev().find(|(k, _)| k == name) {
            return Ok(text(value, ctx));
        }
        let stage = self.stage()?;
        for group in [stage.as_str(), "default"] {
            let path = vec!["params".to_string(), group.to_string(), name.to_string()];
            if let Some(node) = self.get_resolved(&path)? {
                return Ok(Lookup::Found(node));
            }
        }
        Ok(missing(
            format!(
                "no parameter `{name}`: not passed with --param, nor in params.{stage} or params.default"
            ),
            format!(
                "pass `--param {name}=<value>`, or add it under `params: {{ default: {{ {name}: ... }} }}`"
            ),
        ))
    }

    /// A stable id for this service directory and stage.
    fn instance_id(&self, stage: &str) -> String {
        let digest = Sha256::digest(format!("{}|{stage}", self.service_dir.display()));
        hex::encode(&digest[..8])
    }

    /// `${file(path):address}`: YAML/JSON files parsed (with their own variables resolved),
    /// any other file read as text; JavaScript cannot be run.
    fn file(&mut self, relative: &str, address: &str, ctx: &Ctx) -> Result<Lookup, Failed> {
        let relative = relative.trim().trim_matches(|c| c == '\'' || c == '"');
        if relative.is_empty() {
            return Ok(missing(
                "`file()` names no file",
                "write the path, e.g. `${file(./config.yml):key}`",
            ));
        }
        let absolute = normalize(&self.service_dir.join(relative));
        let extension = absolute
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if matches!(extension.as_str(), "js" | "cjs" | "mjs" | "ts") {
            return Ok(missing(
                format!("`{relative}` is JavaScript, which stratus cannot run"),
                "write the values to a .yml or .json file and reference that, or add a fallback",
            ));
        }
        let content = match self.file_cache.get(&absolute) {
            Some(Some(node)) => node.clone(),
            Some(None) => {
                self.push(
                    Diagnostic::error(
                        &ctx.key,
                        format!("`{relative}` includes itself through `${{file(...)}}`"),
                    )
                    .help("remove the `${file(...)}` cycle"),
                    ctx.pos,
                );
                return Err(Failed);
            }
            None => {
                let Ok(source) = std::fs::read_to_string(&absolute) else {
                    return Ok(missing(
                        format!(
                            "the file `{relative}` does not exist (looked for {})",
                            self.files.display_for(relative).display()
                        ),
                        format!(
                            "create `{relative}` next to the manifest, or add a fallback: `${{file({relative}), 'value'}}`"
                        ),
                    ));
                };
                self.file_cache.insert(absolute.clone(), None);
                let display = self.files.display_for(relative);
                let index = self.files.add(display);
                let mut node = if matches!(extension.as_str(), "yml" | "yaml" | "json") {
                    match yaml::parse(&source, index) {
                        Ok(node) => node,
                        Err(errors) => {
                            for error in errors {
                                self.push(
                                    Diagnostic::error(error.key, error.message).help(error.help),
                                    error.pos,
                                );
                            }
                            return Err(Failed);
                        }
                    }
                } else {
                    let mut node = Node::new(Value::Str(source), ctx.pos);
                    node.resolved = true;
                    node
                };
                let resolved = self.resolve_detached(&mut node, &ctx.key);
                self.file_cache.insert(absolute, Some(node.clone()));
                resolved?;
                node
            }
        };
        let path = path_of(address);
        Ok(match node_at(&content, &path) {
            Some(found) => Lookup::Found(found.clone()),
            None => missing(
                format!("`{relative}` has no `{address}`"),
                format!("add `{address}` to `{relative}`, or a fallback"),
            ),
        })
    }
}

/// `${strToBool(value)}`: `true`/`1` and `false`/`0` (any case) as a boolean.
fn str_to_bool(value: &str, ctx: &Ctx) -> Lookup {
    let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
    let parsed = match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    };
    match parsed {
        Some(b) => Lookup::Found(Node::new(Value::Bool(b), ctx.pos)),
        None => missing(
            format!("`{value}` is not true, false, 1 or 0"),
            "pass true, false, 1 or 0 to strToBool",
        ),
    }
}

/// Removes `.` and resolves `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
