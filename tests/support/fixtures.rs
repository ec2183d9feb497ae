//! Builders for the aws tests: services constructed directly (no manifest loader needed) and
//! real zip artifacts with their sha256, as the packager would produce them.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Value, json};
use sha2::Digest;
use stratus::model::{
    Event, Function, FunctionPackage, HttpEvent, PackageSettings, ProviderKind, ProviderSettings,
    Runtime, ScheduleEvent, Service,
};
use stratus::package::{Artifact, Packaged};

/// The region the services deploy to.
pub const REGION: &str = "us-east-1";

pub fn function(name: &str, events: Vec<Event>) -> Function {
    let mut environment = BTreeMap::new();
    environment.insert("TABLE".to_string(), format!("{name}-table"));
    environment.insert("API_TOKEN".to_string(), "s3cret-v1".to_string());
    Function {
        name: name.to_string(),
        handler: Some("handler.main".to_string()),
        image: None,
        runtime: None,
        memory_size: None,
        timeout: None,
        description: Some(format!("the {name} function")),
        environment,
        events,
        package: FunctionPackage::default(),
        extra: Default::default(),
    }
}

pub fn http(method: &str, path: &str) -> Event {
    Event::Http(HttpEvent {
        source: "httpApi".to_string(),
        method: method.to_string(),
        path: path.to_string(),
        extra: Default::default(),
    })
}

pub fn schedule(expression: &str) -> Event {
    Event::Schedule(ScheduleEvent {
        expression: expression.to_string(),
        enabled: true,
        input: Some(json!({"source": "timer"})),
    })
}

/// An event stratus keeps as written (`s3`, `sqs`, `eventBridge`...).
pub fn other(kind: &str, config: serde_json::Value) -> Event {
    Event::Other {
        kind: kind.to_string(),
        config,
    }
}

/// Replaces the events of `function` in `service`.
pub fn set_events(service: &mut Service, function: &str, events: Vec<Event>) {
    service.functions.get_mut(function).unwrap().events = events;
}

pub fn service(name: &str, functions: Vec<Function>) -> Service {
    Service {
        name: name.to_string(),
        stage: "dev".to_string(),
        region: Some(REGION.to_string()),
        framework_version: None,
        provider: ProviderSettings {
            name: ProviderKind::Aws,
            runtime: Some(Runtime::parse("python3.12")),
            memory_size: Some(128),
            timeout: Some(10),
            environment: BTreeMap::new(),
            tags: BTreeMap::from([("team".to_string(), "core".to_string())]),
            architecture: None,
            extra: Default::default(),
        },
        functions: functions
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect::<IndexMap<_, _>>(),
        package: PackageSettings::default(),
        custom: Value::Null,
        plugins: vec![],
        resources: None,
        root: PathBuf::from("."),
        manifest: PathBuf::from("serverless.yml"),
        locations: BTreeMap::new(),
    }
}

/// Writes a zip holding `handler.py` with `source` (plus `padding` incompressible bytes).
pub fn zip(dir: &Path, file: &str, source: &str, padding: usize) -> Artifact {
    let path = dir.join(file);
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    writer.start_file("handler.py", options).unwrap();
    writer.write_all(source.as_bytes()).unwrap();
    if padding > 0 {
        writer.start_file("blob.bin", options).unwrap();
        let mut state: u64 = 0x9e3779b97f4a7c15;
        let mut chunk = Vec::with_capacity(padding);
        while chunk.len() < padding {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.extend_from_slice(&state.to_le_bytes());
        }
        writer.write_all(&chunk[..padding]).unwrap();
    }
    writer.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    Artifact {
        name: file.to_string(),
        path,
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        unzipped_size: (source.len() + padding) as u64,
        entries: 1 + usize::from(padding > 0),
        functions: vec![],
    }
}

/// One artifact per function of `service`, each with `version` in its code.
pub fn package(dir: &Path, service: &Service, version: &str) -> Packaged {
    let artifacts = service
        .functions
        .keys()
        .map(|name| {
            let source = format!("def main(event, context):\n    return '{name} {version}'\n");
            let mut artifact = zip(dir, &format!("{name}-{version}.zip"), &source, 0);
            artifact.functions = vec![name.clone()];
            artifact
        })
        .collect();
    Packaged {
        artifacts,
        warnings: vec![],
        dependencies: vec![],
    }
}
