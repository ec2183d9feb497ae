//! Model values for the provider's unit tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value as Json;

use crate::model::{PackageSettings, ProviderKind, ProviderSettings, Runtime, Service};

/// A service named `svc`, stage `dev`, with these `provider` extra keys and no functions.
pub fn service(extra: &[(&str, Json)]) -> Service {
    Service {
        name: "svc".into(),
        stage: "dev".into(),
        region: None,
        framework_version: None,
        provider: ProviderSettings {
            name: ProviderKind::Openwhisk,
            runtime: Some(Runtime::parse("python:3")),
            memory_size: None,
            timeout: None,
            environment: BTreeMap::new(),
            tags: BTreeMap::new(),
            architecture: None,
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        },
        functions: IndexMap::new(),
        package: PackageSettings::default(),
        custom: Json::Null,
        plugins: vec![],
        resources: None,
        root: PathBuf::from("."),
        manifest: PathBuf::from("serverless.yml"),
        locations: BTreeMap::new(),
    }
}
