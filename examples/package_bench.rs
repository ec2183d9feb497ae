//! Packages a directory the way `stratus package` does, for `scripts/bench`.
//!
//! Usage: `package_bench <service dir> [out dir]`. Builds the `Service` by hand (service
//! `bench`, one function `main` with handler `handler.main`) so the benchmark measures the
//! packager alone, then prints each artifact with its size and sha256.

use std::collections::BTreeMap;
use std::path::PathBuf;

use stratus::model::{
    Function, FunctionPackage, PackageSettings, ProviderKind, ProviderSettings, Runtime, Service,
};
use stratus::package::{PackageRequest, package};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let root = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: package_bench <service dir> [out dir]"))?,
    );
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".stratus"));
    let function = Function {
        name: "main".into(),
        handler: Some("handler.main".into()),
        image: None,
        runtime: None,
        memory_size: None,
        timeout: None,
        description: None,
        environment: BTreeMap::new(),
        events: vec![],
        package: FunctionPackage::default(),
        extra: Default::default(),
    };
    let service = Service {
        name: "bench".into(),
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
        functions: [("main".to_string(), function)].into_iter().collect(),
        package: PackageSettings::default(),
        custom: serde_json::Value::Null,
        plugins: vec![],
        resources: None,
        manifest: root.join("serverless.yml"),
        root,
        locations: BTreeMap::new(),
    };
    let packaged = package(&PackageRequest {
        service: &service,
        out_dir,
        functions: None,
        generated: BTreeMap::new(),
        limits: None,
        dependencies: Default::default(),
    })?;
    for artifact in &packaged.artifacts {
        println!(
            "{}  sha256:{}  {} bytes, {} files",
            artifact.path.display(),
            artifact.sha256,
            artifact.size,
            artifact.entries
        );
    }
    for warning in &packaged.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
