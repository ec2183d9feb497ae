//! `stratus print`: the manifest with every variable resolved, as YAML or JSON.

use super::Session;
use crate::cli::{ExitWith, PrintArgs};

/// Prints the resolved manifest, or the part at `--path`.
pub fn run(session: &Session, args: &PrintArgs) -> anyhow::Result<()> {
    let loaded = session.load()?;
    let document = match &args.path {
        None => loaded.document,
        Some(path) => loaded.document.select(path).ok_or_else(|| ExitWith {
            code: 2,
            message: format!(
                "the manifest has no key `{path}`\n  help: `stratus print` shows the whole resolved manifest"
            ),
        })?,
    };
    session
        .out
        .result(&document.to_json(), || document.to_yaml());
    Ok(())
}
