//! `stratus create --template NAME`: a new service directory from `templates/`.

use std::path::PathBuf;

use anyhow::Context;

use super::Session;
use crate::cli::{CreateArgs, ExitWith};

/// The built-in templates: name, then (file name, contents) pairs.
const TEMPLATES: &[(&str, &[(&str, &str)])] = &[
    (
        "python",
        &[
            (
                "serverless.yml",
                include_str!("../../../templates/python/serverless.yml"),
            ),
            (
                "handler.py",
                include_str!("../../../templates/python/handler.py"),
            ),
            (
                "requirements.txt",
                include_str!("../../../templates/python/requirements.txt"),
            ),
        ],
    ),
    (
        "node",
        &[
            (
                "serverless.yml",
                include_str!("../../../templates/node/serverless.yml"),
            ),
            (
                "handler.js",
                include_str!("../../../templates/node/handler.js"),
            ),
            (
                "package.json",
                include_str!("../../../templates/node/package.json"),
            ),
        ],
    ),
];

/// Writes the template into a new (or empty) directory.
pub fn run(session: &Session, args: &CreateArgs) -> anyhow::Result<()> {
    let template = match args.template.as_str() {
        "python" | "aws-python" | "python3" => "python",
        "node" | "nodejs" | "aws-nodejs" | "aws-node" => "node",
        other => {
            let names: Vec<&str> = TEMPLATES.iter().map(|(name, _)| *name).collect();
            return Err(ExitWith {
                code: 2,
                message: format!(
                    "no template `{other}`; the templates are: {}",
                    names.join(", ")
                ),
            }
            .into());
        }
    };
    let files = TEMPLATES
        .iter()
        .find(|(name, _)| *name == template)
        .map(|(_, files)| *files)
        .unwrap_or_default();
    let name = args
        .name
        .clone()
        .or_else(|| {
            args.path
                .as_ref()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| format!("my-{template}-service"));
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return Err(ExitWith {
            code: 2,
            message: format!("`{name}` is not a valid service name: use letters, digits and dashes, starting with a letter (--name)"),
        }
        .into());
    }
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&name));
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ExitWith {
            code: 1,
            message: format!(
                "{} already exists and is not empty; choose another --path",
                dir.display()
            ),
        }
        .into());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (file, contents) in files {
        let path = dir.join(file);
        std::fs::write(&path, contents.replace("{{name}}", &name))
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
    }
    session.out.result(&written, || {
        format!(
            "created service `{name}` from template {template} in {}\nnext: cd {} && stratus deploy --provider local",
            dir.display(),
            dir.display()
        )
    });
    Ok(())
}
