//! `stratus deploy` and `stratus plan`: package, diff with what is live, and (deploy) apply.

use serde::Serialize;

use super::{Session, scope_for};
use crate::cli::output::Style;
use crate::cli::{ExitWith, PlanArgs};
use crate::model::Service;
use crate::package::Packaged;
use crate::providers::{Applied, Plan, Provider};

/// Everything `plan` and `deploy` share: the loaded service, its provider and its artifacts.
struct Prepared {
    service: Service,
    provider: Box<dyn Provider>,
    packaged: Packaged,
    plan: Plan,
}

async fn prepare(session: &Session, functions: &[String]) -> anyhow::Result<Prepared> {
    let loaded = session.load()?;
    let service = loaded.service;
    let scope = scope_for(&service, functions)?;
    // The manifest is checked before credentials are looked for: its problems come first.
    session.check(session.target(&service)?.as_ref(), &service, &scope)?;
    let provider = session.provider(&service)?;
    let packaged = session.package_for(provider.target(), &service, &scope, None)?;
    let spinner = session.out.spinner("Reading what is deployed");
    let plan = provider.plan(&service, &packaged, &scope).await;
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    Ok(Prepared {
        service,
        provider,
        packaged,
        plan: plan?,
    })
}

/// `stratus plan`: prints the diff; with `--detailed-exitcode` exits 2 when there are changes.
pub async fn plan(session: &Session, args: &PlanArgs) -> anyhow::Result<()> {
    let prepared = prepare(session, &args.functions).await?;
    let plan = &prepared.plan;
    session.out.result(plan, || session.out.render_plan(plan));
    if args.detailed_exitcode && plan.has_changes() {
        return Err(ExitWith {
            code: 2,
            message: String::new(),
        }
        .into());
    }
    Ok(())
}

#[derive(Serialize)]
struct DeployReport<'a> {
    plan: &'a Plan,
    applied: &'a Applied,
}

/// `stratus deploy`: package, plan, apply, print the endpoints.
pub async fn deploy(session: &Session, functions: &[String]) -> anyhow::Result<()> {
    let prepared = prepare(session, functions).await?;
    let Prepared {
        service,
        provider,
        packaged,
        plan,
    } = &prepared;
    if !session.out.is_json() {
        eprintln!("{}", session.out.render_plan(plan));
    }
    let spinner = plan
        .has_changes()
        .then(|| session.out.spinner("Applying"))
        .flatten();
    let applied = provider.apply(service, packaged, plan).await;
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let applied = applied?;
    session.out.result(
        &DeployReport {
            plan,
            applied: &applied,
        },
        || {
            let mut text = String::new();
            if plan.has_changes() {
                text.push_str(&format!(
                    "{} {} ({} change(s) applied, stage {}).\n",
                    session.out.paint(Style::Green, "Deployed"),
                    service.name,
                    applied.done.len(),
                    service.stage
                ));
            } else {
                text.push_str(&format!(
                    "{} is up to date (stage {}); nothing was changed.\n",
                    service.name, service.stage
                ));
            }
            if !applied.endpoints.is_empty() {
                text.push_str("endpoints:\n");
                for endpoint in &applied.endpoints {
                    text.push_str(&format!(
                        "  {:<6} {}  ({})\n",
                        endpoint.method, endpoint.url, endpoint.function
                    ));
                }
            }
            text
        },
    );
    Ok(())
}
