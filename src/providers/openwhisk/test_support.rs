//! Model values for the provider's unit tests.

use std::path::PathBuf;

use serde_json::Value as Json;

use crate::model::{ProviderKind, Runtime, Service};

/// A service named `svc`, stage `dev`, with these `provider` extra keys and no functions.
pub fn service(extra: &[(&str, Json)]) -> Service {
    let mut service = Service::new("svc", ProviderKind::Openwhisk, "");
    service.root = PathBuf::from(".");
    service.manifest = PathBuf::from("serverless.yml");
    service.provider.runtime = Some(Runtime::parse("python:3"));
    service.provider.extra = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    service
}
