//! HTTP events: one HTTP API (API Gateway v2) per service and stage with a route per `http` /
//! `httpApi` event and its CORS settings (`cors`), and function URLs (`url: true`). Schedules
//! are in `schedules`.
//!
//! Each is planned as its own change (api, route, trigger) and read back from what is live, so
//! a re-run converges like the functions do.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_apigatewayv2::types::{IntegrationType, ProtocolType};
use aws_sdk_lambda::types::FunctionUrlAuthType;

use super::config::Clients;
use super::cors::{self, CorsSpec};
use super::functions::{TAG_SERVICE, TAG_STAGE};
use super::{describe, found};
use crate::model::{Event, Function, Service};
use crate::providers::Endpoint;

/// One HTTP route the manifest asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// `GET /hello` (or `ANY /hello`).
    pub route_key: String,
    /// The function's manifest name.
    pub function: String,
}

/// The HTTP API's name for this service and stage.
pub fn api_name(service: &Service) -> String {
    format!("{}-{}", service.name, service.stage)
}

/// Every HTTP route of the manifest, in manifest order.
pub fn routes(service: &Service) -> Vec<RouteSpec> {
    let mut routes = Vec::new();
    for (name, function) in &service.functions {
        for event in &function.events {
            if let Event::Http(http) = event {
                let method = if http.method == "*" {
                    "ANY"
                } else {
                    &http.method
                };
                routes.push(RouteSpec {
                    route_key: format!("{method} {}", http.path),
                    function: name.clone(),
                });
            }
        }
    }
    routes
}

/// Whether the function asks for a function URL (`url: true` or `url: {...}`).
pub fn wants_url(function: &Function) -> bool {
    match function.extra.get("url") {
        Some(serde_json::Value::Bool(flag)) => *flag,
        Some(serde_json::Value::Object(_)) => true,
        _ => false,
    }
}

/// The live HTTP API of this service and stage.
#[derive(Debug, Clone, Default)]
pub struct LiveApi {
    /// API id.
    pub id: String,
    /// `https://{id}.execute-api.{region}.amazonaws.com`.
    pub endpoint: String,
    /// route key → (route id, function name the route's integration calls).
    pub routes: BTreeMap<String, (String, Option<String>)>,
    /// integration id → function ARN.
    pub integrations: BTreeMap<String, String>,
    /// Its CORS settings, when it has some.
    pub cors: Option<CorsSpec>,
}

/// Reads the HTTP API named for this service and stage, `None` when there is none.
pub async fn live_api(clients: &Clients, service: &Service) -> anyhow::Result<Option<LiveApi>> {
    let name = api_name(service);
    let mut token = None;
    let api = loop {
        let page = clients
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(describe)
            .context("listing HTTP APIs")?;
        let found = page.items().iter().find(|api| {
            api.name() == Some(name.as_str())
                && api.tags().is_none_or(|tags| {
                    tags.get(TAG_SERVICE).is_none_or(|s| s == &service.name)
                        && tags.get(TAG_STAGE).is_none_or(|s| s == &service.stage)
                })
        });
        if let Some(api) = found {
            break api.clone();
        }
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(None),
        }
    };
    let id = api.api_id().unwrap_or_default().to_string();
    let mut live = LiveApi {
        endpoint: api.api_endpoint().unwrap_or_default().to_string(),
        id: id.clone(),
        cors: api.cors_configuration().map(CorsSpec::from_sdk),
        ..LiveApi::default()
    };
    let integrations = clients
        .apigw
        .get_integrations()
        .api_id(&id)
        .send()
        .await
        .map_err(describe)
        .context("listing the HTTP API's integrations")?;
    for integration in integrations.items() {
        if let (Some(iid), Some(uri)) =
            (integration.integration_id(), integration.integration_uri())
        {
            live.integrations.insert(iid.to_string(), uri.to_string());
        }
    }
    let routes = clients
        .apigw
        .get_routes()
        .api_id(&id)
        .send()
        .await
        .map_err(describe)
        .context("listing the HTTP API's routes")?;
    for route in routes.items() {
        let function = route
            .target()
            .and_then(|t| t.strip_prefix("integrations/"))
            .and_then(|iid| live.integrations.get(iid))
            .map(|arn| arn_function_name(arn).to_string());
        live.routes.insert(
            route.route_key().unwrap_or_default().to_string(),
            (route.route_id().unwrap_or_default().to_string(), function),
        );
    }
    Ok(Some(live))
}

/// `arn:aws:lambda:r:1:function:name` → `name` (a plain name stays as is).
pub fn arn_function_name(arn: &str) -> &str {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        [_, _, _, _, _, "function", name, ..] => name,
        _ => arn,
    }
}

/// The function URL of `deployed`, when it has one.
pub async fn live_url(clients: &Clients, deployed: &str) -> anyhow::Result<Option<String>> {
    let answer = clients
        .lambda
        .get_function_url_config()
        .function_name(deployed)
        .send()
        .await;
    Ok(found(answer)
        .with_context(|| format!("reading the URL config of {deployed}"))?
        .map(|output| output.function_url().to_string()))
}

/// Lets `principal` invoke the function; an identical statement already there is fine.
pub async fn allow_invoke(
    clients: &Clients,
    deployed: &str,
    statement: &str,
    principal: &str,
    source_arn: Option<&str>,
    url: bool,
) -> anyhow::Result<()> {
    let mut request = clients
        .lambda
        .add_permission()
        .function_name(deployed)
        .statement_id(statement)
        .principal(principal)
        .set_source_arn(source_arn.map(str::to_string));
    request = if url {
        request
            .action("lambda:InvokeFunctionUrl")
            .function_url_auth_type(FunctionUrlAuthType::None)
    } else {
        request.action("lambda:InvokeFunction")
    };
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_conflict_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(describe(error))
            .with_context(|| format!("allowing {principal} to invoke {deployed}")),
    }
}

/// Creates the HTTP API with its `$default` auto-deployed stage; answers the live API.
pub async fn create_api(clients: &Clients, service: &Service) -> anyhow::Result<LiveApi> {
    let name = api_name(service);
    let api = clients
        .apigw
        .create_api()
        .name(&name)
        .protocol_type(ProtocolType::Http)
        .set_cors_configuration(cors::desired(service).map(|cors| cors.to_sdk()))
        .tags(TAG_SERVICE, &service.name)
        .tags(TAG_STAGE, &service.stage)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating HTTP API {name}"))?;
    let id = api.api_id().unwrap_or_default().to_string();
    clients
        .apigw
        .create_stage()
        .api_id(&id)
        .stage_name("$default")
        .auto_deploy(true)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating the $default stage of HTTP API {name}"))?;
    Ok(LiveApi {
        id,
        endpoint: api.api_endpoint().unwrap_or_default().to_string(),
        cors: api.cors_configuration().map(CorsSpec::from_sdk),
        ..LiveApi::default()
    })
}

/// Sets the live API's CORS settings to what the manifest says (removing them when it says none).
pub async fn put_cors(clients: &Clients, service: &Service, api_id: &str) -> anyhow::Result<()> {
    match cors::desired(service) {
        Some(cors) => {
            clients
                .apigw
                .update_api()
                .api_id(api_id)
                .cors_configuration(cors.to_sdk())
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("setting CORS on HTTP API {api_id}"))?;
        }
        None => {
            clients
                .apigw
                .delete_cors_configuration()
                .api_id(api_id)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("removing CORS from HTTP API {api_id}"))?;
        }
    }
    Ok(())
}

/// Points `route_key` at `function_arn` (creating the integration and route as needed).
pub async fn put_route(
    clients: &Clients,
    api: &mut LiveApi,
    route_key: &str,
    function_arn: &str,
) -> anyhow::Result<()> {
    let existing = api
        .integrations
        .iter()
        .find(|(_, uri)| uri.as_str() == function_arn)
        .map(|(id, _)| id.clone());
    let integration = match existing {
        Some(id) => id,
        None => {
            let created = clients
                .apigw
                .create_integration()
                .api_id(&api.id)
                .integration_type(IntegrationType::AwsProxy)
                .integration_uri(function_arn)
                .payload_format_version("2.0")
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("creating the integration for {route_key}"))?;
            let id = created.integration_id().unwrap_or_default().to_string();
            api.integrations
                .insert(id.clone(), function_arn.to_string());
            id
        }
    };
    let target = format!("integrations/{integration}");
    match api.routes.get(route_key) {
        Some((route_id, _)) => {
            clients
                .apigw
                .update_route()
                .api_id(&api.id)
                .route_id(route_id)
                .target(target)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("updating route {route_key}"))?;
        }
        None => {
            let created = clients
                .apigw
                .create_route()
                .api_id(&api.id)
                .route_key(route_key)
                .target(target)
                .send()
                .await
                .map_err(describe)
                .with_context(|| format!("creating route {route_key}"))?;
            api.routes.insert(
                route_key.to_string(),
                (created.route_id().unwrap_or_default().to_string(), None),
            );
        }
    }
    let account = function_arn.split(':').nth(4).unwrap_or("*");
    let source = format!(
        "arn:aws:execute-api:{}:{account}:{}/*",
        clients.region, api.id
    );
    allow_invoke(
        clients,
        arn_function_name(function_arn),
        &format!("stratus-http-api-{}", api.id),
        "apigateway.amazonaws.com",
        Some(&source),
        false,
    )
    .await
}

/// Gives `deployed` a public function URL; answers it.
pub async fn create_url(clients: &Clients, deployed: &str) -> anyhow::Result<String> {
    let created = clients
        .lambda
        .create_function_url_config()
        .function_name(deployed)
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("creating the function URL of {deployed}"))?;
    allow_invoke(clients, deployed, "stratus-function-url", "*", None, true).await?;
    Ok(created.function_url().to_string())
}

/// Removes the function URL of `deployed`.
pub async fn delete_url(clients: &Clients, deployed: &str) -> anyhow::Result<()> {
    clients
        .lambda
        .delete_function_url_config()
        .function_name(deployed)
        .send()
        .await
        .map_err(describe)
        .with_context(|| format!("deleting the function URL of {deployed}"))?;
    Ok(())
}

/// Endpoints of the live API's routes, by the function each calls (`prefix` + manifest name).
pub fn api_endpoints(service: &Service, api: &LiveApi) -> Vec<Endpoint> {
    let prefix = format!("{}-{}-", service.name, service.stage);
    api.routes
        .iter()
        .filter_map(|(key, (_, function))| {
            let function = function.as_deref()?.strip_prefix(&prefix)?.to_string();
            let (method, path) = key.split_once(' ')?;
            Some(Endpoint {
                function,
                method: method.to_string(),
                url: format!("{}{}", api.endpoint.trim_end_matches('/'), path),
            })
        })
        .collect()
}
