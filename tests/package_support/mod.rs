//! Shared helpers for the package tests: a hand-built `Service` and a tree builder.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use stratus::model::{
    Function, FunctionPackage, PackageSettings, ProviderKind, ProviderSettings, Runtime, Service,
};
use stratus::package::{PackageRequest, Packaged};

/// A service rooted at `root` with the given functions (name, handler).
pub fn service(root: &Path, functions: &[(&str, &str)]) -> Service {
    Service {
        name: "demo".into(),
        stage: "dev".into(),
        region: None,
        framework_version: None,
        provider: ProviderSettings {
            name: ProviderKind::Local,
            runtime: Some(Runtime::parse("python3.12")),
            memory_size: None,
            timeout: None,
            environment: BTreeMap::new(),
            tags: BTreeMap::new(),
            architecture: None,
            extra: Default::default(),
        },
        functions: functions
            .iter()
            .map(|(name, handler)| (name.to_string(), function(name, handler)))
            .collect(),
        package: PackageSettings::default(),
        custom: serde_json::Value::Null,
        plugins: vec![],
        resources: None,
        root: root.to_path_buf(),
        manifest: PathBuf::from("serverless.yml"),
        locations: BTreeMap::new(),
    }
}

/// A function with no package settings.
pub fn function(name: &str, handler: &str) -> Function {
    Function {
        name: name.into(),
        handler: Some(handler.into()),
        image: None,
        runtime: None,
        memory_size: None,
        timeout: None,
        description: None,
        environment: BTreeMap::new(),
        events: vec![],
        package: FunctionPackage::default(),
        extra: Default::default(),
    }
}

/// Writes `contents` at `root/rel`, creating parents.
pub fn write(root: &Path, rel: &str, contents: &[u8]) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

/// Sets a file's Unix mode.
pub fn chmod(root: &Path, rel: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

/// A request for all functions into `root/.stratus`.
pub fn request(service: &Service) -> PackageRequest<'_> {
    PackageRequest {
        service,
        out_dir: service.root.join(".stratus"),
        functions: None,
        generated: BTreeMap::new(),
        limits: None,
        dependencies: Default::default(),
    }
}

/// Packages and returns the result, panicking with the error chain on failure.
pub fn package(request: &PackageRequest<'_>) -> Packaged {
    stratus::package::package(request).unwrap_or_else(|error| panic!("package failed: {error:#}"))
}

/// The entry names of a zip, in stored order.
pub fn names(zip: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(fs::File::open(zip).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index_raw(i).unwrap().name().unwrap().to_string())
        .collect()
}

/// The contents of one entry.
pub fn read_entry(zip: &Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(fs::File::open(zip).unwrap()).unwrap();
    let mut entry = archive.by_name(name).unwrap();
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    bytes
}

/// The Unix mode of one entry.
pub fn entry_mode(zip: &Path, name: &str) -> u32 {
    let mut archive = zip::ZipArchive::new(fs::File::open(zip).unwrap()).unwrap();
    archive.by_name(name).unwrap().unix_mode().unwrap()
}
