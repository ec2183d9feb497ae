//! Which artifacts a request needs: one service-wide zip, one zip per function packaged
//! individually, or a prebuilt `package.artifact` to report as is.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::PackageRequest;
use super::patterns::PatternSource;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::Service;

/// One artifact to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactPlan {
    /// Zip the service tree.
    Build {
        /// Service name (shared) or function name (individually); the file is `<name>.zip`.
        name: String,
        /// The functions it serves, in manifest order.
        functions: Vec<String>,
        /// The patterns in force, in order.
        patterns: Vec<PatternSource>,
    },
    /// A prebuilt zip named by `package.artifact`.
    Prebuilt {
        /// Service or function name.
        name: String,
        /// The functions it serves.
        functions: Vec<String>,
        /// The zip, resolved against the service root.
        path: PathBuf,
        /// The key that named it (`package.artifact`, `functions.f.package.artifact`).
        key: String,
    },
}

impl ArtifactPlan {
    /// The artifact's name.
    pub fn name(&self) -> &str {
        match self {
            ArtifactPlan::Build { name, .. } | ArtifactPlan::Prebuilt { name, .. } => name,
        }
    }
}

/// Whether `function` is packaged on its own.
fn individually(service: &Service, function: &str) -> bool {
    service
        .functions
        .get(function)
        .and_then(|f| f.package.individually)
        .unwrap_or(service.package.individually)
}

/// The artifacts `request` needs, in a stable order (the service-wide one first).
pub fn plan_artifacts(request: &PackageRequest<'_>) -> anyhow::Result<Vec<ArtifactPlan>> {
    let service = request.service;
    let scope: Vec<&str> = match &request.functions {
        None => service.functions.keys().map(String::as_str).collect(),
        Some(wanted) => {
            let mut problems = Diagnostics::default();
            for name in wanted {
                if !service.functions.contains_key(name) {
                    let known: Vec<&str> = service.functions.keys().map(String::as_str).collect();
                    problems.push(
                        Diagnostic::error("functions", format!("no function named `{name}`"))
                            .help(format!("the manifest defines: {}", known.join(", "))),
                    );
                }
            }
            if problems.has_errors() {
                return Err(problems.into());
            }
            service
                .functions
                .keys()
                .filter(|name| wanted.contains(name))
                .map(String::as_str)
                .collect()
        }
    };
    let mut plans = Vec::new();
    let mut shared = Vec::new();
    let mut own = Vec::new();
    for name in scope {
        let function = &service.functions[name];
        if let Some(artifact) = &function.package.artifact {
            own.push(ArtifactPlan::Prebuilt {
                name: name.to_string(),
                functions: vec![name.to_string()],
                path: service.root.join(artifact),
                key: format!("functions.{name}.package.artifact"),
            });
        } else if individually(service, name) {
            let mut patterns = PatternSource::for_service(service);
            patterns.extend(PatternSource::for_function(service, name));
            own.push(ArtifactPlan::Build {
                name: name.to_string(),
                functions: vec![name.to_string()],
                patterns,
            });
        } else {
            shared.push(name.to_string());
        }
    }
    if !shared.is_empty() {
        plans.push(match &service.package.artifact {
            Some(artifact) => ArtifactPlan::Prebuilt {
                name: service.name.clone(),
                functions: shared,
                path: service.root.join(artifact),
                key: "package.artifact".to_string(),
            },
            None => ArtifactPlan::Build {
                name: service.name.clone(),
                functions: shared,
                patterns: PatternSource::for_service(service),
            },
        });
    }
    plans.extend(own);
    let mut seen = BTreeSet::new();
    for plan in &plans {
        if matches!(plan, ArtifactPlan::Build { .. }) && !seen.insert(plan.name().to_string()) {
            let key = format!("functions.{}", plan.name());
            let problem = Diagnostic::error(
                &key,
                format!(
                    "the function `{}` is packaged individually into `{}.zip`, the name of the service-wide artifact",
                    plan.name(),
                    plan.name()
                ),
            )
            .at(service.locate(&key).cloned())
            .help("rename the function, or package every function individually");
            return Err(Diagnostics(vec![problem]).into());
        }
    }
    Ok(plans)
}
