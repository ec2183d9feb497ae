//! `stratus remove`: delete what this service and stage deployed, after a confirmation.

use std::io::{BufRead, IsTerminal, Write};

use super::Session;
use crate::cli::ExitWith;

/// Confirms (on a terminal, unless `--yes`), removes, and lists what was deleted.
pub async fn run(session: &Session) -> anyhow::Result<()> {
    let loaded = session.load()?;
    let service = &loaded.service;
    let provider = session.provider(service)?;
    if !session.global.yes {
        if !std::io::stdin().is_terminal() {
            return Err(ExitWith {
                code: 2,
                message: format!(
                    "refusing to remove {} (stage {}) without confirmation: pass --yes",
                    service.name, service.stage
                ),
            }
            .into());
        }
        eprint!(
            "Remove everything deployed for {} stage {} on {}? [y/N] ",
            service.name,
            service.stage,
            provider.kind()
        );
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(ExitWith {
                code: 1,
                message: "nothing removed".into(),
            }
            .into());
        }
    }
    let removed = provider.remove(service).await?;
    session.out.result(&removed, || {
        if removed.is_empty() {
            return format!(
                "nothing deployed for {} stage {}: nothing removed",
                service.name, service.stage
            );
        }
        let mut text = format!("removed from {} stage {}:\n", service.name, service.stage);
        for item in &removed {
            text.push_str(&format!("  - {} {}\n", item.kind.label(), item.name));
        }
        text
    });
    Ok(())
}
