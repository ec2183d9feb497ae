//! Packaging as `stratus package` does it (the target's check, then the zips with its generated
//! files and dependencies), for the tests that drive a provider in-process. Installed
//! dependencies go to a temporary cache, never the user's.

#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use stratus::model::Service;
use stratus::package::Packaged;
use stratus::providers::{Scope, Target};
use tempfile::TempDir;

/// One dependency cache for the whole test binary.
pub fn shared_cache() -> &'static Path {
    static CACHE: OnceLock<TempDir> = OnceLock::new();
    CACHE.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// Checks `service` for `target` (a check error fails the test) and packages every function
/// into `<service root>/.stratus`, with dependencies cached in `cache`.
pub fn package(target: &dyn Target, service: &Service, cache: &Path) -> anyhow::Result<Packaged> {
    let scope = Scope::default();
    let diagnostics = target.check(service, &scope);
    assert!(!diagnostics.has_errors(), "check: {diagnostics}");
    let mut request = stratus::providers::package_request(
        target,
        service,
        &scope,
        service.root.join(".stratus"),
    )?;
    request.dependencies.cache_dir = Some(cache.to_path_buf());
    stratus::package::package(&request)
}
