//! Publishing the app package with the SCM site's one-deploy endpoint
//! (`POST https://{scm host}/api/publish?RemoteBuild=false`, zip body, bearer token) and
//! following the deployment until it succeeds or fails; a failure shows the deployment's log.

use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::{StatusCode, Url};
use serde_json::Value as Json;

use super::arm::ArmClient;
use crate::http::{self, Idempotency};

/// Kudu's deployment status codes: 3 failed, 4 succeeded.
const FAILED: i64 = 3;
const SUCCEEDED: i64 = 4;
/// The longest a deployment is followed.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The SCM (Kudu) host of an app record: the `hostNameSslStates` entry whose `hostType` is
/// `Repository`.
pub fn scm_host(app: &Json) -> Option<String> {
    app.pointer("/properties/hostNameSslStates")?
        .as_array()?
        .iter()
        .find(|state| state.get("hostType").and_then(Json::as_str) == Some("Repository"))?
        .get("name")
        .and_then(Json::as_str)
        .map(str::to_string)
}

/// Uploads `zip` to the app's SCM site and waits for the deployment.
pub async fn publish(arm: &ArmClient, scm: &Url, zip: Vec<u8>) -> anyhow::Result<()> {
    let mut url = scm
        .join("api/publish")
        .context("building the publish URL")?;
    url.query_pairs_mut().append_pair("RemoteBuild", "false");
    let token = arm.credential().token(arm.scope()).await?;
    let request = arm
        .http()
        .inner()
        .post(url.clone())
        .bearer_auth(&token)
        .header("content-type", "application/zip")
        .body(zip);
    // Publishing the same package twice is harmless: safe to retry.
    let response = arm.http().send(request, Idempotency::Safe).await?;
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .and_then(|l| Url::parse(l).or_else(|_| scm.join(l)).ok());
    let response = http::error_for_status(response, "POST")
        .await
        .context("publishing the app package")?;
    drop(response);
    if status == StatusCode::OK && location.is_none() {
        return Ok(());
    }
    let status_url = match location {
        Some(url) => url,
        None => scm.join("api/deployments/latest")?,
    };
    follow(arm, scm, &status_url).await
}

async fn follow(arm: &ArmClient, scm: &Url, status_url: &Url) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        anyhow::ensure!(
            started.elapsed() < DEPLOY_TIMEOUT,
            "the deployment was still running after {} minutes; check it with `stratus info`",
            DEPLOY_TIMEOUT.as_secs() / 60
        );
        let record = get_json(arm, status_url).await?;
        let status = record.get("status").and_then(Json::as_i64).unwrap_or(0);
        let complete = record
            .get("complete")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        if status == SUCCEEDED {
            return Ok(());
        }
        if status == FAILED || (complete && status != SUCCEEDED) {
            let id = record.get("id").and_then(Json::as_str).unwrap_or("latest");
            let log = scm
                .join(&format!("api/deployments/{id}/log"))
                .ok()
                .map(|url| async move { get_json(arm, &url).await.ok() });
            let lines = match log {
                Some(log) => log.await,
                None => None,
            };
            let lines: Vec<String> = lines
                .and_then(|l| l.as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|entry| entry.get("message").and_then(Json::as_str))
                .map(|line| format!("    {}", http::redact(line)))
                .collect();
            let text = record
                .get("status_text")
                .and_then(Json::as_str)
                .unwrap_or("failed");
            anyhow::bail!(
                "the deployment {id} failed: {text}\n  deployment log:\n{}",
                if lines.is_empty() {
                    "    (empty)".to_string()
                } else {
                    lines.join("\n")
                }
            );
        }
        tokio::time::sleep(arm.poll_interval).await;
    }
}

async fn get_json(arm: &ArmClient, url: &Url) -> anyhow::Result<Json> {
    let token = arm.credential().token(arm.scope()).await?;
    let request = arm.http().inner().get(url.clone()).bearer_auth(&token);
    let response = arm.http().send(request, Idempotency::ByMethod).await?;
    let response = http::error_for_status(response, "GET").await?;
    response
        .json()
        .await
        .context("reading the deployment status")
}
