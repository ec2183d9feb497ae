//! Lambda functions: the desired spec, the live state, the field-by-field diff, and the calls
//! that create, update, wait on and delete a function.
//!
//! The code is compared by hash only: Lambda's `CodeSha256` is the base64 sha256 of the zip,
//! the packager's is hex, so an unchanged zip is never uploaded again. Configuration calls are
//! made only for fields that differ.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, LastUpdateStatus, State};
use base64::Engine;

use super::check::lambda_runtime;
use super::config::Clients;
use super::{describe, found};
use crate::model::Service;
use crate::package::Packaged;
use crate::providers::FieldChange;

/// The tag naming the service a resource belongs to.
pub const TAG_SERVICE: &str = "stratus:service";
/// The tag naming the stage a resource belongs to.
pub const TAG_STAGE: &str = "stratus:stage";

/// How long a function may take to become active or finish an update.
const WAIT_LIMIT: Duration = Duration::from_secs(300);
/// How long to retry a create while a new role propagates through IAM.
const ROLE_PROPAGATION_LIMIT: Duration = Duration::from_secs(90);

/// What a function should look like on Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Manifest name.
    pub name: String,
    /// `{service}-{stage}-{function}`.
    pub deployed_name: String,
    /// Lambda runtime id.
    pub runtime: String,
    /// `file.function`.
    pub handler: String,
    /// MB.
    pub memory_size: i32,
    /// Seconds.
    pub timeout: i32,
    /// Empty when none.
    pub description: String,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Tags, including `stratus:service` and `stratus:stage`.
    pub tags: BTreeMap<String, String>,
    /// `x86_64` / `arm64`, when the manifest says.
    pub architecture: Option<String>,
    /// The zip.
    pub artifact: PathBuf,
    /// Zip size in bytes.
    pub artifact_size: u64,
    /// sha256 of the zip, hex (the packager's form).
    pub sha256_hex: String,
    /// sha256 of the zip, base64 (Lambda's `CodeSha256` form).
    pub code_sha256: String,
}

/// Converts the packager's hex sha256 into Lambda's base64 `CodeSha256`.
pub fn code_sha256(hex_digest: &str) -> anyhow::Result<String> {
    let bytes = hex::decode(hex_digest)
        .with_context(|| format!("artifact hash `{hex_digest}` is not hex"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The desired spec of function `name` (checked beforehand by `check`).
pub fn desired(service: &Service, packaged: &Packaged, name: &str) -> anyhow::Result<FunctionSpec> {
    let function = service
        .functions
        .get(name)
        .with_context(|| format!("function `{name}` is not in the manifest"))?;
    let settings = service.effective(function);
    let runtime = settings
        .runtime
        .as_ref()
        .with_context(|| format!("functions.{name}: no runtime is set"))?;
    let runtime = lambda_runtime(runtime).map_err(|message| anyhow::anyhow!(message))?;
    let artifact = packaged.for_function(name).with_context(|| {
        format!("no package was built for function `{name}`; run `stratus package` to see why")
    })?;
    let mut tags = service.provider.tags.clone();
    tags.insert(TAG_SERVICE.to_string(), service.name.clone());
    tags.insert(TAG_STAGE.to_string(), service.stage.clone());
    Ok(FunctionSpec {
        name: name.to_string(),
        deployed_name: service.deployed_name(name),
        runtime,
        handler: function.handler.clone().unwrap_or_default(),
        memory_size: settings.memory_size as i32,
        timeout: settings.timeout as i32,
        description: function.description.clone().unwrap_or_default(),
        environment: function.environment.clone(),
        tags,
        architecture: service.provider.architecture.clone(),
        artifact: artifact.path.clone(),
        artifact_size: artifact.size,
        sha256_hex: artifact.sha256.clone(),
        code_sha256: code_sha256(&artifact.sha256)?,
    })
}

/// A function as it is on Lambda.
#[derive(Debug, Clone, Default)]
pub struct LiveFunction {
    /// ARN.
    pub arn: String,
    /// Runtime id.
    pub runtime: Option<String>,
    /// Handler.
    pub handler: Option<String>,
    /// MB.
    pub memory_size: Option<i32>,
    /// Seconds.
    pub timeout: Option<i32>,
    /// Description ("" when none).
    pub description: String,
    /// Role ARN.
    pub role: Option<String>,
    /// Environment variables.
    pub environment: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Architectures.
    pub architecture: Option<String>,
    /// `CodeSha256` (base64).
    pub code_sha256: Option<String>,
    /// `LastModified`.
    pub last_modified: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `State`.
    pub state: Option<String>,
}

/// Reads function `deployed_name`, `None` when it does not exist.
pub async fn live(clients: &Clients, deployed_name: &str) -> anyhow::Result<Option<LiveFunction>> {
    let answer = clients
        .lambda
        .get_function()
        .function_name(deployed_name)
        .send()
        .await;
    let Some(output) = found(answer).with_context(|| format!("reading {deployed_name}"))? else {
        return Ok(None);
    };
    let config = output
        .configuration()
        .with_context(|| format!("GetFunction {deployed_name} answered without configuration"))?;
    Ok(Some(LiveFunction {
        arn: config.function_arn().unwrap_or_default().to_string(),
        runtime: config.runtime().map(|r| r.as_str().to_string()),
        handler: config.handler().map(str::to_string),
        memory_size: config.memory_size(),
        timeout: config.timeout(),
        description: config.description().unwrap_or_default().to_string(),
        role: config.role().map(str::to_string),
        environment: config
            .environment()
            .and_then(|e| e.variables())
            .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        tags: output
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        architecture: config
            .architectures()
            .first()
            .map(|a| a.as_str().to_string()),
        code_sha256: config.code_sha256().map(str::to_string),
        last_modified: config.last_modified().map(str::to_string),
        version: config.version().map(str::to_string),
        state: config.state().map(|s| s.as_str().to_string()),
    }))
}

/// Whether an environment variable's value must never be shown.
pub fn is_sensitive(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
        "AUTH",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

/// The fields of `live` that differ from `spec`; `role` is the role the function should run as.
pub fn diff(spec: &FunctionSpec, live: &LiveFunction, role: &str) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    if live.code_sha256.as_deref() != Some(spec.code_sha256.as_str()) {
        fields.push(FieldChange::new(
            "code",
            live.code_sha256.as_deref(),
            Some(&spec.code_sha256),
        ));
    }
    if live.runtime.as_deref() != Some(spec.runtime.as_str()) {
        fields.push(FieldChange::new(
            "runtime",
            live.runtime.as_deref(),
            Some(&spec.runtime),
        ));
    }
    if live.handler.as_deref() != Some(spec.handler.as_str()) {
        fields.push(FieldChange::new(
            "handler",
            live.handler.as_deref(),
            Some(&spec.handler),
        ));
    }
    if live.memory_size != Some(spec.memory_size) {
        fields.push(FieldChange::new(
            "memorySize",
            live.memory_size,
            Some(spec.memory_size),
        ));
    }
    if live.timeout != Some(spec.timeout) {
        fields.push(FieldChange::new(
            "timeout",
            live.timeout,
            Some(spec.timeout),
        ));
    }
    if live.description != spec.description {
        fields.push(FieldChange::new(
            "description",
            Some(&live.description).filter(|d| !d.is_empty()),
            Some(&spec.description).filter(|d| !d.is_empty()),
        ));
    }
    let live_role_name = live.role.as_deref().map(role_name);
    if live_role_name != Some(role_name(role)) {
        fields.push(FieldChange::new("role", live.role.as_deref(), Some(role)));
    }
    if let Some(architecture) = &spec.architecture
        && live.architecture.as_deref() != Some(architecture.as_str())
    {
        fields.push(FieldChange::new(
            "architecture",
            live.architecture.as_deref(),
            Some(architecture),
        ));
    }
    let keys: std::collections::BTreeSet<&String> = live
        .environment
        .keys()
        .chain(spec.environment.keys())
        .collect();
    for key in keys {
        let (old, new) = (live.environment.get(key), spec.environment.get(key));
        if old != new {
            let change = FieldChange::new(format!("environment.{key}"), old, new);
            fields.push(if is_sensitive(key) {
                change.sensitive()
            } else {
                change
            });
        }
    }
    for (key, value) in &spec.tags {
        if live.tags.get(key) != Some(value) {
            fields.push(FieldChange::new(
                format!("tags.{key}"),
                live.tags.get(key),
                Some(value),
            ));
        }
    }
    for (key, value) in &live.tags {
        if !spec.tags.contains_key(key) {
            fields.push(FieldChange::new(
                format!("tags.{key}"),
                Some(value),
                None::<&str>,
            ));
        }
    }
    fields
}

/// The name part of a role ARN (`arn:aws:iam::1:role/path/name` → `name`), or the name itself.
pub fn role_name(role: &str) -> &str {
    role.rsplit('/').next().unwrap_or(role)
}

/// Where the code comes from: the zip bytes, or an object in the deployment bucket.
#[derive(Debug, Clone)]
pub enum CodeSource {
    /// Sent in the request.
    Zip(Vec<u8>),
    /// Uploaded to S3 first.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(
            spec.environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ))
        .build()
}

/// Creates the function (retrying while a new role propagates) and waits until it is active.
pub async fn create(
    clients: &Clients,
    spec: &FunctionSpec,
    role: &str,
    code: CodeSource,
) -> anyhow::Result<String> {
    let code = match code {
        CodeSource::Zip(bytes) => FunctionCode::builder().zip_file(Blob::new(bytes)).build(),
        CodeSource::S3 { bucket, key } => FunctionCode::builder()
            .s3_bucket(bucket)
            .s3_key(key)
            .build(),
    };
    let started = Instant::now();
    let arn = loop {
        let mut request = clients
            .lambda
            .create_function()
            .function_name(&spec.deployed_name)
            .runtime(spec.runtime.as_str().into())
            .handler(&spec.handler)
            .role(role)
            .memory_size(spec.memory_size)
            .timeout(spec.timeout)
            .description(&spec.description)
            .environment(environment(spec))
            .set_tags(Some(spec.tags.clone().into_iter().collect()))
            .code(code.clone());
        if let Some(architecture) = &spec.architecture {
            request = request.architectures(Architecture::from(architecture.as_str()));
        }
        match request.send().await {
            Ok(output) => break output.function_arn().unwrap_or_default().to_string(),
            Err(error) => {
                let propagating = error.as_service_error().is_some_and(|e| {
                    e.is_invalid_parameter_value_exception()
                        && e.meta()
                            .message()
                            .is_some_and(|m| m.contains("cannot be assumed"))
                });
                if propagating && started.elapsed() < ROLE_PROPAGATION_LIMIT {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    continue;
                }
                return Err(describe(error))
                    .with_context(|| format!("creating {}", spec.deployed_name));
            }
        }
    };
    wait_ready(clients, &spec.deployed_name).await?;
    Ok(arn)
}

/// Brings an existing function in line with `spec`, touching only the `fields` that differ.
pub async fn update(
    clients: &Clients,
    spec: &FunctionSpec,
    live_arn: &str,
    fields: &[FieldChange],
    role: &str,
    code: Option<CodeSource>,
) -> anyhow::Result<()> {
    let name = &spec.deployed_name;
    if let Some(code) = code {
        let mut request = clients.lambda.update_function_code().function_name(name);
        request = match code {
            CodeSource::Zip(bytes) => request.zip_file(Blob::new(bytes)),
            CodeSource::S3 { bucket, key } => request.s3_bucket(bucket).s3_key(key),
        };
        if let Some(architecture) = &spec.architecture {
            request = request.architectures(Architecture::from(architecture.as_str()));
        }
        request
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("uploading the code of {name}"))?;
        wait_ready(clients, name).await?;
    }
    let configuration_changed = fields.iter().any(|f| {
        !matches!(f.field.as_str(), "code" | "architecture") && !f.field.starts_with("tags.")
    });
    if configuration_changed {
        clients
            .lambda
            .update_function_configuration()
            .function_name(name)
            .runtime(spec.runtime.as_str().into())
            .handler(&spec.handler)
            .role(role)
            .memory_size(spec.memory_size)
            .timeout(spec.timeout)
            .description(&spec.description)
            .environment(environment(spec))
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("updating the configuration of {name}"))?;
        wait_ready(clients, name).await?;
    }
    let mut tag = HashMap::new();
    let mut untag = Vec::new();
    for field in fields {
        if let Some(key) = field.field.strip_prefix("tags.") {
            match &field.new {
                Some(value) => {
                    tag.insert(key.to_string(), value.clone());
                }
                None => untag.push(key.to_string()),
            }
        }
    }
    if !tag.is_empty() {
        clients
            .lambda
            .tag_resource()
            .resource(live_arn)
            .set_tags(Some(tag))
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("tagging {name}"))?;
    }
    if !untag.is_empty() {
        clients
            .lambda
            .untag_resource()
            .resource(live_arn)
            .set_tag_keys(Some(untag))
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("untagging {name}"))?;
    }
    Ok(())
}

/// Waits until the function is `Active` and its last update `Successful`.
pub async fn wait_ready(clients: &Clients, name: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let config = clients
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("waiting for {name}"))?;
        match (config.state(), config.last_update_status()) {
            (Some(State::Failed), _) => anyhow::bail!(
                "{name} failed to become active: {}",
                config.state_reason().unwrap_or("no reason given")
            ),
            (_, Some(LastUpdateStatus::Failed)) => anyhow::bail!(
                "the last update of {name} failed: {}",
                config
                    .last_update_status_reason()
                    .unwrap_or("no reason given")
            ),
            (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => {}
            _ => return Ok(()),
        }
        if started.elapsed() > WAIT_LIMIT {
            anyhow::bail!(
                "{name} was still not ready after {} s; run the deploy again later",
                WAIT_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The deployed functions of this service and stage: (manifest name, deployed name, ARN).
pub async fn list_deployed(
    clients: &Clients,
    service: &Service,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let prefix = format!("{}-{}-", service.name, service.stage);
    let mut found = Vec::new();
    let mut pages = clients.lambda.list_functions().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(describe).context("listing Lambda functions")?;
        for function in page.functions() {
            let (Some(name), Some(arn)) = (function.function_name(), function.function_arn())
            else {
                continue;
            };
            let Some(short) = name.strip_prefix(&prefix) else {
                continue;
            };
            let tags = clients
                .lambda
                .list_tags()
                .resource(arn)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("reading the tags of {name}"))?;
            let tags = tags.tags();
            let ours = tags.is_some_and(|t| {
                t.get(TAG_SERVICE) == Some(&service.name)
                    && t.get(TAG_STAGE) == Some(&service.stage)
            });
            if ours {
                found.push((short.to_string(), name.to_string(), arn.to_string()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Deletes a function (already gone counts as deleted).
pub async fn delete(clients: &Clients, deployed_name: &str) -> anyhow::Result<()> {
    super::buckets::detach(clients, deployed_name).await?;
    super::sources::delete_all(clients, deployed_name).await?;
    let answer = clients
        .lambda
        .delete_function()
        .function_name(deployed_name)
        .send()
        .await;
    found(answer).with_context(|| format!("deleting {deployed_name}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_hash_becomes_lambda_code_sha256() {
        // sha256("") in hex and in Lambda's base64 form.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            code_sha256(hex).unwrap(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(code_sha256("not hex").is_err());
    }

    #[test]
    fn secret_looking_names_are_sensitive() {
        assert!(is_sensitive("API_TOKEN"));
        assert!(is_sensitive("db_password"));
        assert!(!is_sensitive("TABLE"));
        assert_eq!(role_name("arn:aws:iam::1:role/x/y-role"), "y-role");
    }
}
