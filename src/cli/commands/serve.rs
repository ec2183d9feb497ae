//! `stratus serve`: the manifest's HTTP routes on 127.0.0.1, answered by the local deployment.

use super::Session;
use crate::cli::ServeArgs;
use crate::providers::local::LocalProvider;

/// Serves until Ctrl-C.
pub async fn run(session: &Session, args: &ServeArgs) -> anyhow::Result<()> {
    let loaded = session.load()?;
    let provider = LocalProvider::from_env()?;
    provider
        .serve(&loaded.service, args.port, &session.out)
        .await
}
