//! One module per command; this one holds what they share: loading the manifest, choosing
//! the provider, packaging for it.

mod completions;
mod create;
mod deploy;
mod info;
mod invoke;
mod logs;
mod package;
mod print;
mod remove;
mod serve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::output::Output;
use super::{Cli, Command, GlobalArgs};
use crate::manifest::{self, LoadOptions, Loaded};
use crate::model::Service;
use crate::package::Packaged;
use crate::package::deps::Progress;
use crate::providers::{self, Provider, Scope, Target, TargetOptions};

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Output::new(cli.global.json, cli.global.no_color, cli.global.verbose);
    crate::http::set_verbosity(cli.global.verbose);
    let session = Session {
        global: cli.global,
        out,
    };
    match cli.command {
        Command::Deploy(args) => deploy::deploy(&session, &args.functions).await,
        Command::Plan(args) => deploy::plan(&session, &args).await,
        Command::Package(args) => package::run(&session, &args),
        Command::Invoke(args) => invoke::run(&session, args).await,
        Command::Logs(args) => logs::run(&session, &args).await,
        Command::Info => info::run(&session).await,
        Command::Remove => remove::run(&session).await,
        Command::Print(args) => print::run(&session, &args),
        Command::Create(args) => create::run(&session, &args),
        Command::Serve(args) => serve::run(&session, &args).await,
        Command::Completions(args) => {
            completions::run(args.shell);
            Ok(())
        }
    }
}

/// What every command has: the global flags and the printer.
pub(crate) struct Session {
    pub global: GlobalArgs,
    pub out: Output,
}

impl Session {
    /// Loads the manifest with the command line's stage, region, params and environment,
    /// printing its warnings.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        let mut options = BTreeMap::new();
        if let Some(stage) = &self.global.stage {
            options.insert("stage".to_string(), stage.clone());
        }
        if let Some(region) = &self.global.region {
            options.insert("region".to_string(), region.clone());
        }
        if let Some(provider) = &self.global.provider {
            options.insert("provider".to_string(), provider.clone());
        }
        let loaded = manifest::load(&LoadOptions {
            config: self.global.config.clone(),
            cwd,
            stage: self.global.stage.clone(),
            region: self.global.region.clone(),
            params: self.global.params.clone(),
            options,
            env: std::env::vars().collect(),
        })?;
        self.out.warnings(&loaded.warnings);
        Ok(loaded)
    }

    /// The provider this command targets.
    pub fn provider(&self, service: &Service) -> anyhow::Result<Box<dyn Provider>> {
        providers::select(
            service,
            &TargetOptions {
                provider_override: self.global.provider.clone(),
            },
        )
    }

    /// The packaging rules of the target this command runs against (no credentials needed).
    pub fn target(&self, service: &Service) -> anyhow::Result<Box<dyn Target>> {
        providers::target_for(
            service,
            &TargetOptions {
                provider_override: self.global.provider.clone(),
            },
        )
    }

    /// Runs the target's model check; errors stop the command (exit 2), warnings print.
    pub fn check(
        &self,
        target: &dyn Target,
        service: &Service,
        scope: &Scope,
    ) -> anyhow::Result<()> {
        let mut diagnostics = target.check(service, scope);
        for diagnostic in &mut diagnostics.0 {
            if diagnostic.location.is_none()
                && let Some(key) = &diagnostic.key
            {
                diagnostic.location = service.locate(key).cloned();
            }
        }
        self.out.warnings(&diagnostics);
        if diagnostics.has_errors() {
            return Err(diagnostics.into());
        }
        Ok(())
    }

    /// Packages `service` for `target` into `out_dir` (default `.stratus/`), installing
    /// dependencies with a spinner saying what pip or npm is doing.
    pub fn package_for(
        &self,
        target: &dyn Target,
        service: &Service,
        scope: &Scope,
        out_dir: Option<PathBuf>,
    ) -> anyhow::Result<Packaged> {
        let out_dir = out_dir.unwrap_or_else(|| service.root.join(".stratus"));
        let mut request = providers::package_request(target, service, scope, out_dir)?;
        // With -v pip's and npm's own output goes to stderr, which a spinner would garble.
        let spinner = if self.global.verbose > 0 {
            None
        } else {
            self.out.spinner("Packaging")
        };
        request.dependencies.verbose = self.global.verbose > 0;
        if let Some(spinner) = &spinner {
            let spinner = spinner.clone();
            request.dependencies.progress = Some(Progress(Arc::new(move |message: &str| {
                spinner.set_message(message.to_string());
            })));
        } else if self.global.verbose > 0 {
            let out = self.out.clone();
            request.dependencies.progress = Some(Progress(Arc::new(move |message: &str| {
                out.status(message);
            })));
        }
        let packaged = crate::package::package(&request);
        if let Some(spinner) = spinner {
            spinner.finish_and_clear();
        }
        let packaged = packaged?;
        for warning in &packaged.warnings {
            self.out.diagnostic(warning);
        }
        Ok(packaged)
    }
}

/// Checks that every name in `functions` is a function of `service`.
pub(crate) fn scope_for(service: &Service, functions: &[String]) -> anyhow::Result<Scope> {
    for name in functions {
        if !service.functions.contains_key(name) {
            return Err(unknown_function(service, name));
        }
    }
    Ok(Scope {
        functions: (!functions.is_empty()).then(|| functions.to_vec()),
    })
}

/// The error for `-f NAME` when NAME is not in the manifest, with a suggestion.
pub(crate) fn unknown_function(service: &Service, name: &str) -> anyhow::Error {
    let known: Vec<&str> = service.functions.keys().map(String::as_str).collect();
    let suggestion = known
        .iter()
        .map(|k| (strsim::jaro_winkler(k, name), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    super::ExitWith {
        code: 2,
        message: format!(
            "no function `{name}` in service `{}`{suggestion}; its functions are: {}",
            service.name,
            if known.is_empty() {
                "(none)".to_string()
            } else {
                known.join(", ")
            }
        ),
    }
    .into()
}
