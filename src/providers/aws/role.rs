//! The execution role: `{service}-{stage}-{region}-lambdaRole`, trusted by Lambda, with the
//! basic execution policy (CloudWatch Logs) attached and `provider.iam.role.statements` (plus
//! what polling the `sqs` / `stream` sources needs) as an inline policy — unless
//! `provider.iam.role` names an existing role, which is used as is.

use anyhow::Context;
use serde_json::{Value as Json, json};

use super::config::Clients;
use super::describe;
use super::functions::{TAG_SERVICE, TAG_STAGE};
use crate::model::Service;
use crate::providers::FieldChange;

/// The managed policy that lets a function write its logs.
pub const BASIC_EXECUTION_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
/// The name of stratus's inline policy on the role.
pub const INLINE_POLICY: &str = "stratus-statements";

/// Which role the functions run as.
#[derive(Debug, Clone, PartialEq)]
pub enum RoleSpec {
    /// `provider.iam.role: NAME_OR_ARN`: used as is, never changed or removed.
    Existing(String),
    /// The role stratus manages.
    Managed {
        /// `{service}-{stage}-{region}-lambdaRole`.
        name: String,
        /// `provider.iam.role.statements` (or the legacy `provider.iamRoleStatements`).
        statements: Vec<Json>,
    },
}

/// The role name stratus manages for this service, stage and region.
pub fn managed_name(service: &Service, region: &str) -> String {
    format!("{}-{}-{}-lambdaRole", service.name, service.stage, region)
}

/// The role the manifest asks for.
pub fn desired(service: &Service, region: &str) -> RoleSpec {
    let extra = &service.provider.extra;
    let role = extra.get("iam").and_then(|iam| iam.get("role"));
    if let Some(Json::String(existing)) = role {
        return RoleSpec::Existing(existing.clone());
    }
    let mut statements = role
        .and_then(|role| role.get("statements"))
        .or_else(|| extra.get("iamRoleStatements"))
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    // What Lambda needs to poll the manifest's queues and streams, as Serverless adds it.
    statements.extend(super::sources::role_statements(service));
    RoleSpec::Managed {
        name: managed_name(service, region),
        statements,
    }
}

fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

fn inline_policy(statements: &[Json]) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// Decodes the `%XX` escapes IAM puts in policy documents.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let pair = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(pair, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_policy(document: &str) -> Option<Json> {
    serde_json::from_str(document)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(document)).ok())
}

/// The managed role as it is: its ARN and inline statements, `None` when it does not exist.
pub async fn live(clients: &Clients, name: &str) -> anyhow::Result<Option<(String, Vec<Json>)>> {
    let role = match clients.iam.get_role().role_name(name).send().await {
        Ok(output) => output,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(describe(error)).with_context(|| format!("reading role {name}")),
    };
    let arn = role.role().map(|r| r.arn().to_string()).unwrap_or_default();
    let statements = match clients
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(INLINE_POLICY)
        .send()
        .await
    {
        Ok(policy) => parse_policy(policy.policy_document())
            .and_then(|doc| doc.get("Statement").cloned())
            .map(|statement| match statement {
                Json::Array(items) => items,
                other => vec![other],
            })
            .unwrap_or_default(),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Vec::new()
        }
        Err(error) => {
            return Err(describe(error))
                .with_context(|| format!("reading the inline policy of role {name}"));
        }
    };
    Ok(Some((arn, statements)))
}

/// What differs between the live statements and the desired ones.
pub fn diff(live: &[Json], desired: &[Json]) -> Vec<FieldChange> {
    if live == desired {
        return Vec::new();
    }
    let render = |s: &[Json]| (!s.is_empty()).then(|| Json::Array(s.to_vec()).to_string());
    vec![FieldChange::new(
        "iam.role.statements",
        render(live),
        render(desired),
    )]
}

/// Creates the managed role (trust policy, basic execution policy, inline statements).
pub async fn create(
    clients: &Clients,
    service: &Service,
    name: &str,
    statements: &[Json],
) -> anyhow::Result<String> {
    let tag = |key: &str, value: &str| {
        aws_sdk_iam::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .context("building an IAM tag")
    };
    let created = clients
        .iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust_policy())
        .description(format!(
            "Lambda execution role of {} ({}), managed by stratus",
            service.name, service.stage
        ))
        .tags(tag(TAG_SERVICE, &service.name)?)
        .tags(tag(TAG_STAGE, &service.stage)?)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating role {name}"))?;
    let arn = created
        .role()
        .map(|r| r.arn().to_string())
        .context("CreateRole answered without a role")?;
    clients
        .iam
        .attach_role_policy()
        .role_name(name)
        .policy_arn(BASIC_EXECUTION_POLICY)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("attaching the basic execution policy to role {name}"))?;
    update(clients, name, statements, &[]).await?;
    Ok(arn)
}

/// Replaces (or removes) the inline statements.
pub async fn update(
    clients: &Clients,
    name: &str,
    statements: &[Json],
    live: &[Json],
) -> anyhow::Result<()> {
    if !statements.is_empty() {
        clients
            .iam
            .put_role_policy()
            .role_name(name)
            .policy_name(INLINE_POLICY)
            .policy_document(inline_policy(statements))
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("writing the inline policy of role {name}"))?;
    } else if !live.is_empty() {
        clients
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(INLINE_POLICY)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("deleting the inline policy of role {name}"))?;
    }
    Ok(())
}

/// The ARN of an existing role named by ARN or by name.
pub async fn existing_arn(clients: &Clients, role: &str) -> anyhow::Result<String> {
    if role.starts_with("arn:") {
        return Ok(role.to_string());
    }
    let output = clients
        .iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("reading role {role} (provider.iam.role)"))?;
    output
        .role()
        .map(|r| r.arn().to_string())
        .with_context(|| format!("role {role} was not found (provider.iam.role)"))
}

/// Deletes the managed role if it exists and carries this service's and stage's tags.
pub async fn remove(clients: &Clients, service: &Service, name: &str) -> anyhow::Result<bool> {
    let tags = match clients.iam.list_role_tags().role_name(name).send().await {
        Ok(output) => output.tags().to_vec(),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(false);
        }
        Err(error) => return Err(describe(error)).with_context(|| format!("reading role {name}")),
    };
    let tagged = |key: &str, value: &str| tags.iter().any(|t| t.key() == key && t.value() == value);
    if !(tagged(TAG_SERVICE, &service.name) && tagged(TAG_STAGE, &service.stage)) {
        return Ok(false);
    }
    let inline = clients
        .iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(describe)?;
    for policy in inline.policy_names() {
        clients
            .iam
            .delete_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(describe)
            .with_context(|| format!("deleting policy {policy} of role {name}"))?;
    }
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .map_err(describe)?;
    for policy in attached.attached_policies() {
        if let Some(arn) = policy.policy_arn() {
            clients
                .iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("detaching {arn} from role {name}"))?;
        }
    }
    clients
        .iam
        .delete_role()
        .role_name(name)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("deleting role {name}"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_parse_plain_or_escaped() {
        let plain = r#"{"Statement":[{"Effect":"Allow"}]}"#;
        let escaped = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%7D%5D%7D";
        assert_eq!(parse_policy(plain), parse_policy(escaped));
        assert!(parse_policy(plain).is_some());
    }
}
