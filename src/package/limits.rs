//! Size limit warnings: said before the cloud refuses an upload, with what takes the room.

use std::collections::BTreeMap;

use super::{Artifact, SizeLimits};
use crate::diagnostic::Diagnostic;
use crate::model::Service;

/// AWS Lambda's limits: 50 MB zipped for a direct upload, 250 MB unzipped.
pub const LAMBDA_LIMITS: SizeLimits = SizeLimits {
    zipped: 50 * MB,
    unzipped: 250 * MB,
};

const MB: u64 = 1024 * 1024;

/// Share of a limit from which a warning says it is close (percent).
const NEAR_PERCENT: u64 = 90;

/// `bytes` as `12.3 MB`.
pub fn human(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / MB as f64)
}

/// The key path an artifact's package settings live at.
fn package_key(artifact: &Artifact, service: &Service) -> String {
    if artifact.name == service.name && artifact.functions.len() != 1 {
        "package".to_string()
    } else {
        match artifact.functions.first() {
            Some(function) if artifact.name == *function => format!("functions.{function}.package"),
            _ => "package".to_string(),
        }
    }
}

/// What a zip path counts toward in a size report: its top-level file or directory, except that
/// installed dependencies count per package (`node_modules/@scope/name/`,
/// `.python_packages/lib/site-packages/numpy/`), so the report names the heavy dependency.
fn contributor(path: &str) -> String {
    const SITE: &str = ".python_packages/lib/site-packages/";
    let (base, rest) = if let Some(index) = path.rfind("node_modules/") {
        path.split_at(index + "node_modules/".len())
    } else if let Some(rest) = path.strip_prefix(SITE) {
        (SITE, rest)
    } else {
        ("", path)
    };
    let mut parts = rest.splitn(3, '/');
    let first = parts.next().unwrap_or("");
    match (
        first.starts_with('@') && !base.is_empty(),
        parts.next(),
        parts.next(),
    ) {
        (true, Some(name), Some(_)) => format!("{base}{first}/{name}/"),
        (_, Some(_), _) => format!("{base}{first}/"),
        _ => format!("{base}{first}"),
    }
}

/// The five largest contributors among `files` (zip path, size); see [`contributor`].
pub fn largest_contributors(files: &[(String, u64)]) -> String {
    let mut by_top: BTreeMap<String, u64> = BTreeMap::new();
    for (path, size) in files {
        *by_top.entry(contributor(path)).or_default() += size;
    }
    let mut ranked: Vec<(String, u64)> = by_top.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
        .iter()
        .take(5)
        .map(|(path, size)| format!("{path} ({})", human(*size)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Warnings for `artifact` against `limits`; `files` lists its entries (zip path, size).
pub fn check(
    artifact: &Artifact,
    files: &[(String, u64)],
    limits: SizeLimits,
    service: &Service,
) -> Vec<Diagnostic> {
    let key = package_key(artifact, service);
    let location = service.locate(&key).cloned();
    let file = artifact
        .path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| artifact.name.clone());
    let mut warnings = Vec::new();
    if artifact.size > limits.zipped {
        warnings.push(
            Diagnostic::warning(
                &key,
                format!(
                    "{file} is {} zipped, over the {} the target accepts in a direct upload",
                    human(artifact.size),
                    human(limits.zipped)
                ),
            )
            .at(location.clone())
            .help("it has to go through object storage (S3 for Lambda) first, which is slower; leave out what the code does not need with `!` entries in package.patterns"),
        );
    } else if artifact.size * 100 > limits.zipped * NEAR_PERCENT {
        warnings.push(
            Diagnostic::warning(
                &key,
                format!(
                    "{file} is {} zipped, close to the {} the target accepts in a direct upload",
                    human(artifact.size),
                    human(limits.zipped)
                ),
            )
            .at(location.clone())
            .help("leave out what the code does not need with `!` entries in package.patterns"),
        );
    }
    let contributors = largest_contributors(files);
    if artifact.unzipped_size > limits.unzipped {
        warnings.push(
            Diagnostic::warning(
                &key,
                format!(
                    "{file} is {} unzipped, over the {} the target allows: the deploy will be refused; largest: {contributors}",
                    human(artifact.unzipped_size),
                    human(limits.unzipped)
                ),
            )
            .at(location)
            .help("exclude what the code does not need (tests, docs) with `!` entries in package.patterns, drop dependencies the platform provides with custom.pythonRequirements.noDeploy (or `slim: true`), or package functions individually"),
        );
    } else if artifact.unzipped_size * 100 > limits.unzipped * NEAR_PERCENT {
        warnings.push(
            Diagnostic::warning(
                &key,
                format!(
                    "{file} is {} unzipped, close to the {} the target allows; largest: {contributors}",
                    human(artifact.unzipped_size),
                    human(limits.unzipped)
                ),
            )
            .at(location)
            .help("exclude what the code does not need with `!` entries in package.patterns"),
        );
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contributors_are_ranked_by_size_with_dependencies_per_package() {
        let files = vec![
            ("node_modules/a/x.js".to_string(), 70 * MB),
            ("node_modules/a/y.js".to_string(), 40 * MB),
            ("node_modules/@aws/sdk/z.js".to_string(), 20 * MB),
            (
                ".python_packages/lib/site-packages/numpy/core.so".to_string(),
                30 * MB,
            ),
            ("data.bin".to_string(), 100 * MB),
            ("src/handler.js".to_string(), 1_000),
        ];
        let text = largest_contributors(&files);
        assert!(
            text.starts_with(
                "node_modules/a/ (110.0 MB), data.bin (100.0 MB), \
                 .python_packages/lib/site-packages/numpy/ (30.0 MB), node_modules/@aws/sdk/ (20.0 MB), src/"
            ),
            "{text}"
        );
    }
}
