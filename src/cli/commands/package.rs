//! `stratus package`: build the zips into `.stratus/`, no cloud calls.

use super::{Session, scope_for};
use crate::cli::PackageArgs;
use crate::cli::output::Style;

/// Packages the service for its target and prints each artifact with its sha256.
pub fn run(session: &Session, args: &PackageArgs) -> anyhow::Result<()> {
    let loaded = session.load()?;
    let service = &loaded.service;
    let scope = scope_for(service, &args.functions)?;
    // Packaging needs no credentials and no network: only the target's rules.
    let target = session.target(service)?;
    session.check(target.as_ref(), service, &scope)?;
    let packaged = session.package_for(target.as_ref(), service, &scope, args.out.clone())?;
    session.out.result(&packaged, || {
        let mut text = String::new();
        for build in &packaged.dependencies {
            text.push_str(&format!(
                "{} dependencies from {} for {}: {} files{} ({})\n",
                build.language,
                build.source,
                build.platform,
                build.files,
                if build.cached { ", cached" } else { "" },
                build.functions.join(", ")
            ));
        }
        for artifact in &packaged.artifacts {
            text.push_str(&format!(
                "{}  {}  {} bytes, {} files ({})\n",
                artifact.path.display(),
                session
                    .out
                    .paint(Style::Dim, &format!("sha256:{}", artifact.sha256)),
                artifact.size,
                artifact.entries,
                artifact.functions.join(", ")
            ));
        }
        text
    });
    Ok(())
}
