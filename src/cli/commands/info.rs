//! `stratus info`: what is deployed for this service and stage.

use super::Session;
use crate::cli::output::Style;

/// Prints the deployed functions, their settings and endpoints.
pub async fn run(session: &Session) -> anyhow::Result<()> {
    let loaded = session.load()?;
    let service = &loaded.service;
    let provider = session.provider(service)?;
    let info = provider.info(service).await?;
    session.out.result(&info, || {
        let mut text = format!(
            "service: {}\nstage: {}\nprovider: {}\n",
            info.service, info.stage, info.provider
        );
        if let Some(region) = &info.region {
            text.push_str(&format!("region: {region}\n"));
        }
        for (key, value) in &info.details {
            text.push_str(&format!("{key}: {value}\n"));
        }
        if info.functions.is_empty() {
            text.push_str("functions: none deployed (run `stratus deploy`)\n");
        } else {
            text.push_str("functions:\n");
        }
        for function in &info.functions {
            text.push_str(&format!(
                "  {}  {}\n",
                session.out.paint(Style::Bold, &function.name),
                session.out.paint(Style::Dim, &function.deployed_name)
            ));
            let mut facts = Vec::new();
            if let Some(runtime) = &function.runtime {
                facts.push(format!("runtime {runtime}"));
            }
            if let Some(memory) = function.memory_size {
                facts.push(format!("{memory} MB"));
            }
            if let Some(timeout) = function.timeout {
                facts.push(format!("timeout {timeout}s"));
            }
            if let Some(state) = &function.state {
                facts.push(state.clone());
            }
            if let Some(version) = &function.version {
                facts.push(format!("version {version}"));
            }
            if !facts.is_empty() {
                text.push_str(&format!("    {}\n", facts.join(", ")));
            }
            if let Some(sha) = &function.code_sha256 {
                text.push_str(&format!("    code sha256 {sha}\n"));
            }
            if let Some(modified) = &function.last_modified {
                text.push_str(&format!("    last deployed {modified}\n"));
            }
        }
        if !info.endpoints.is_empty() {
            text.push_str("endpoints:\n");
            for endpoint in &info.endpoints {
                text.push_str(&format!(
                    "  {:<6} {}  ({})\n",
                    endpoint.method, endpoint.url, endpoint.function
                ));
            }
        }
        text
    });
    Ok(())
}
