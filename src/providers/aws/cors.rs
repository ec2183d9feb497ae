//! CORS on the HTTP API: `provider.httpApi.cors` as Serverless writes it (`true`, or an object
//! with `allowedOrigins`, `allowedHeaders`, `allowedMethods`, `allowCredentials`,
//! `exposedResponseHeaders`, `maxAge`), turned into API Gateway's `CorsConfiguration`, checked
//! before any call, and compared with what is live so an unchanged setting writes nothing.

use std::collections::BTreeSet;

use aws_sdk_apigatewayv2::types::Cors;
use serde_json::Value as Json;

use super::events;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::Service;

/// Where the manifest sets it.
pub const KEY: &str = "provider.httpApi.cors";

/// Headers allowed by `cors: true`, as Serverless sets them.
const DEFAULT_HEADERS: [&str; 7] = [
    "Content-Type",
    "X-Amz-Date",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Security-Token",
    "X-Amz-User-Agent",
    "X-Amzn-Trace-Id",
];

/// The keys of the object form.
const KEYS: [&str; 6] = [
    "allowedOrigins",
    "allowedHeaders",
    "allowedMethods",
    "allowCredentials",
    "exposedResponseHeaders",
    "maxAge",
];

/// The CORS settings of the HTTP API, normalized for comparison (sets; header names in lower
/// case and methods in upper case, as API Gateway treats them).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsSpec {
    /// `Access-Control-Allow-Origin` values.
    pub origins: BTreeSet<String>,
    /// `Access-Control-Allow-Headers`.
    pub headers: BTreeSet<String>,
    /// `Access-Control-Allow-Methods`.
    pub methods: BTreeSet<String>,
    /// `Access-Control-Allow-Credentials`.
    pub credentials: bool,
    /// `Access-Control-Expose-Headers`.
    pub expose: BTreeSet<String>,
    /// `Access-Control-Max-Age`, seconds.
    pub max_age: Option<i32>,
}

impl CorsSpec {
    /// A one-line summary for plans.
    pub fn summary(&self) -> String {
        let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
        let mut text = format!(
            "origins={} methods={} headers={}",
            join(&self.origins),
            join(&self.methods),
            join(&self.headers)
        );
        if self.credentials {
            text.push_str(" credentials=true");
        }
        if !self.expose.is_empty() {
            text.push_str(&format!(" expose={}", join(&self.expose)));
        }
        if let Some(max_age) = self.max_age {
            text.push_str(&format!(" maxAge={max_age}"));
        }
        text
    }

    /// API Gateway's form.
    pub fn to_sdk(&self) -> Cors {
        Cors::builder()
            .set_allow_origins(Some(self.origins.iter().cloned().collect()))
            .set_allow_headers(Some(self.headers.iter().cloned().collect()))
            .set_allow_methods(Some(self.methods.iter().cloned().collect()))
            .allow_credentials(self.credentials)
            .set_expose_headers(
                (!self.expose.is_empty()).then(|| self.expose.iter().cloned().collect()),
            )
            .set_max_age(self.max_age)
            .build()
    }

    /// Reads API Gateway's form back.
    pub fn from_sdk(cors: &Cors) -> CorsSpec {
        CorsSpec {
            origins: cors.allow_origins().iter().cloned().collect(),
            headers: lower(cors.allow_headers().iter().map(String::as_str)),
            methods: upper(cors.allow_methods().iter().map(String::as_str)),
            credentials: cors.allow_credentials().unwrap_or(false),
            expose: lower(cors.expose_headers().iter().map(String::as_str)),
            max_age: cors.max_age(),
        }
    }
}

fn lower<'a>(items: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    items.map(str::to_ascii_lowercase).collect()
}

fn upper<'a>(items: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    items.map(str::to_ascii_uppercase).collect()
}

/// The manifest's `provider.httpApi.cors`, `None` when it is absent or `false`. Malformed
/// values are reported by [`check`] and read here as absent.
pub fn desired(service: &Service) -> Option<CorsSpec> {
    let value = service.provider.extra.get("httpApi")?.get("cors")?;
    let object = match value {
        Json::Bool(true) => serde_json::Map::new(),
        Json::Object(object) => object.clone(),
        _ => return None,
    };
    let list = |key: &str| -> Option<Vec<String>> {
        match object.get(key)? {
            Json::String(one) => Some(vec![one.clone()]),
            Json::Array(items) => Some(
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            _ => None,
        }
    };
    let route_methods = || {
        let mut methods: BTreeSet<String> = events::routes(service)
            .iter()
            .filter_map(|route| route.route_key.split_once(' '))
            .map(|(method, _)| if method == "ANY" { "*" } else { method }.to_string())
            .collect();
        methods.insert("OPTIONS".to_string());
        if methods.contains("*") {
            methods = BTreeSet::from(["*".to_string()]);
        }
        methods
    };
    Some(CorsSpec {
        origins: list("allowedOrigins")
            .unwrap_or_else(|| vec!["*".to_string()])
            .into_iter()
            .collect(),
        headers: lower(
            list("allowedHeaders")
                .unwrap_or_else(|| DEFAULT_HEADERS.iter().map(|h| h.to_string()).collect())
                .iter()
                .map(String::as_str),
        ),
        methods: match list("allowedMethods") {
            Some(methods) => upper(methods.iter().map(String::as_str)),
            None => route_methods(),
        },
        credentials: object
            .get("allowCredentials")
            .and_then(Json::as_bool)
            .unwrap_or(false),
        expose: lower(
            list("exposedResponseHeaders")
                .unwrap_or_default()
                .iter()
                .map(String::as_str),
        ),
        max_age: object
            .get("maxAge")
            .and_then(Json::as_i64)
            .and_then(|age| i32::try_from(age).ok()),
    })
}

/// Problems with `provider.httpApi.cors`, each naming its key.
pub fn check(service: &Service) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    let Some(value) = service
        .provider
        .extra
        .get("httpApi")
        .and_then(|api| api.get("cors"))
    else {
        return diagnostics;
    };
    let object = match value {
        Json::Bool(_) => return diagnostics,
        Json::Object(object) => object,
        _ => {
            diagnostics.push(
                Diagnostic::error(KEY, "expected true, false or a mapping of CORS settings").help(
                    "write `cors: true`, or e.g. `cors: {allowedOrigins: ['https://example.com']}`",
                ),
            );
            return diagnostics;
        }
    };
    for (key, value) in object {
        let path = format!("{KEY}.{key}");
        let problem = match key.as_str() {
            "allowedOrigins" | "allowedHeaders" | "allowedMethods" | "exposedResponseHeaders" => {
                let ok = value.is_string()
                    || value
                        .as_array()
                        .is_some_and(|items| items.iter().all(Json::is_string));
                (!ok).then_some("expected a list of strings")
            }
            "allowCredentials" => (!value.is_boolean()).then_some("expected true or false"),
            "maxAge" => {
                let ok = value
                    .as_i64()
                    .is_some_and(|age| (0..=86_400).contains(&age));
                (!ok).then_some("expected seconds, from 0 to 86400")
            }
            _ => {
                diagnostics.push(
                    Diagnostic::warning(&path, format!("`{key}` is not a CORS setting; ignored"))
                        .help(format!("the settings are {}", KEYS.join(", "))),
                );
                None
            }
        };
        if let Some(problem) = problem {
            diagnostics.push(Diagnostic::error(&path, problem));
        }
    }
    let credentials = object.get("allowCredentials").and_then(Json::as_bool) == Some(true);
    let any_origin = match object.get("allowedOrigins") {
        None => true,
        Some(Json::String(origin)) => origin == "*",
        Some(Json::Array(items)) => items.iter().any(|item| item.as_str() == Some("*")),
        _ => false,
    };
    if credentials && any_origin {
        diagnostics.push(
            Diagnostic::error(
                format!("{KEY}.allowCredentials"),
                "API Gateway refuses allowCredentials with the origin `*`",
            )
            .help("list the allowed origins in allowedOrigins"),
        );
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, Function, HttpEvent, ProviderKind};

    fn service(cors: Json) -> Service {
        let mut service = Service::new("api", ProviderKind::Aws, std::path::PathBuf::from("."));
        service
            .provider
            .extra
            .insert("httpApi".into(), serde_json::json!({ "cors": cors }));
        let mut function = Function::new("hello", Some("h.main"));
        function.events.push(Event::Http(HttpEvent {
            source: "httpApi".into(),
            method: "GET".into(),
            path: "/hello".into(),
            extra: Default::default(),
        }));
        service.with_function(function)
    }

    #[test]
    fn true_takes_serverless_defaults_and_the_routes_methods() {
        let spec = desired(&service(Json::Bool(true))).unwrap();
        assert_eq!(spec.origins, BTreeSet::from(["*".to_string()]));
        assert_eq!(
            spec.methods,
            BTreeSet::from(["GET".to_string(), "OPTIONS".to_string()])
        );
        assert!(spec.headers.contains("authorization"));
        assert!(!spec.credentials);
        assert!(desired(&service(Json::Bool(false))).is_none());
        // The SDK round trip compares equal (no spurious update).
        assert_eq!(CorsSpec::from_sdk(&spec.to_sdk()), spec);
    }

    #[test]
    fn bad_settings_are_errors_naming_the_key() {
        let bad = service(serde_json::json!({
            "allowedOrigins": 3,
            "maxAge": -1,
            "allowCredentials": true,
            "color": "red"
        }));
        let diagnostics = check(&bad);
        let keys: Vec<&str> = diagnostics
            .0
            .iter()
            .filter_map(|d| d.key.as_deref())
            .collect();
        assert!(
            keys.contains(&"provider.httpApi.cors.allowedOrigins"),
            "{keys:?}"
        );
        assert!(keys.contains(&"provider.httpApi.cors.maxAge"), "{keys:?}");
        assert!(keys.contains(&"provider.httpApi.cors.color"), "{keys:?}");
        let good = service(serde_json::json!({
            "allowedOrigins": ["https://example.com"],
            "allowCredentials": true,
            "maxAge": 600
        }));
        assert!(!check(&good).has_errors(), "{}", check(&good));
        let credentials_with_any = service(serde_json::json!({"allowCredentials": true}));
        assert!(check(&credentials_with_any).has_errors());
    }
}
