//! `package.patterns`: which files of the service tree go into an artifact.
//!
//! Serverless semantics: every file starts included; the patterns are then applied in order
//! (the service's first, then the function's) and the last one that matches a file decides:
//! a plain glob includes it, a `!glob` excludes it. Globs are matched against the file's path
//! relative to the service root, with `/` separators; `*` stays within one directory and `**`
//! crosses directories. A pattern that names a directory (`node_modules`, `dist/`) also matches
//! everything under it. Legacy `include`/`exclude` arrive here already folded into patterns by
//! the manifest loader.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::diagnostic::Diagnostic;
use crate::model::Service;

/// Files Serverless never packages unless a pattern includes them again.
const DEFAULT_EXCLUDES: [&str; 5] = [
    ".gitignore",
    "**/.DS_Store",
    "npm-debug.log",
    "yarn-*.log",
    ".serverless_plugins",
];

/// One pattern as written, with the key path it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSource {
    /// The key path, e.g. `functions.hello.package.patterns.2`.
    pub key: String,
    /// The pattern as written.
    pub pattern: String,
}

impl PatternSource {
    /// The default excludes (as Serverless has them: the manifest itself, `.gitignore`,
    /// `.DS_Store`, npm/yarn logs, `.serverless_plugins`), then the service-wide patterns,
    /// in order. A later pattern can still include a default-excluded file.
    pub fn for_service(service: &Service) -> Vec<PatternSource> {
        let manifest = service
            .manifest
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let defaults = manifest
            .into_iter()
            .chain(DEFAULT_EXCLUDES.iter().map(|glob| glob.to_string()))
            .map(|glob| PatternSource {
                key: "package".to_string(),
                pattern: format!("!{glob}"),
            });
        defaults
            .chain(
                service
                    .package
                    .patterns
                    .iter()
                    .enumerate()
                    .map(|(index, pattern)| PatternSource {
                        key: format!("package.patterns.{index}"),
                        pattern: pattern.clone(),
                    }),
            )
            .collect()
    }

    /// A function's own patterns, in order (applied after the service's).
    pub fn for_function(service: &Service, function: &str) -> Vec<PatternSource> {
        service
            .functions
            .get(function)
            .map(|f| {
                f.package
                    .patterns
                    .iter()
                    .enumerate()
                    .map(|(index, pattern)| PatternSource {
                        key: format!("functions.{function}.package.patterns.{index}"),
                        pattern: pattern.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Compiled patterns: answers "is this file in the artifact?".
#[derive(Debug, Clone)]
pub struct Patterns {
    set: GlobSet,
    /// For each glob in `set`, whether its pattern includes (`true`) or excludes (`false`).
    includes: Vec<bool>,
}

impl Patterns {
    /// Compiles `sources` in order. A pattern that is not a valid glob is an error naming its
    /// key path and where it was written in the manifest.
    pub fn compile(service: &Service, sources: &[PatternSource]) -> Result<Patterns, Diagnostic> {
        let mut builder = GlobSetBuilder::new();
        let mut includes = Vec::new();
        for source in sources {
            let (include, body) = match source.pattern.trim().strip_prefix('!') {
                Some(rest) => (false, rest.trim()),
                None => (true, source.pattern.trim()),
            };
            let body = body.strip_prefix("./").unwrap_or(body);
            let body = body.trim_end_matches('/');
            if body.is_empty() {
                return Err(Diagnostic::error(
                    &source.key,
                    format!("`{}` is not a pattern: it names no file", source.pattern),
                )
                .at(service.locate(&source.key).cloned())
                .help("write a glob such as `src/**` or `!tests/**`, or remove the entry"));
            }
            // The glob itself, and the same glob as a directory (everything under it).
            let mut globs = vec![body.to_string()];
            if !body.ends_with("**") {
                globs.push(format!("{body}/**"));
            }
            for glob in globs {
                let compiled = GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|error| {
                        Diagnostic::error(
                            &source.key,
                            format!("`{}` is not a valid glob: {error}", source.pattern),
                        )
                        .at(service.locate(&source.key).cloned())
                        .help("fix the glob (`*` within a directory, `**` across directories, `!` first to exclude)")
                    })?;
                builder.add(compiled);
                includes.push(include);
            }
        }
        let set = builder.build().map_err(|error| {
            Diagnostic::error(
                "package.patterns",
                format!("cannot compile the patterns: {error}"),
            )
        })?;
        Ok(Patterns { set, includes })
    }

    /// Whether the file at `path` (relative, `/`-separated) is packaged: the last matching
    /// pattern decides; no match means included.
    pub fn includes(&self, path: &str) -> bool {
        match self.set.matches(path).into_iter().max() {
            Some(index) => self.includes[index],
            None => true,
        }
    }

    /// Whether anything under the directory `dir` could be packaged (used for directory-level
    /// problems such as a symlink pointing outside the service): true unless both the
    /// directory and a hypothetical file inside it are excluded.
    pub fn may_include_under(&self, dir: &str) -> bool {
        self.includes(dir) || self.includes(&format!("{dir}/_any_file"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PackageSettings, ProviderKind, ProviderSettings};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn service(patterns: &[&str]) -> Service {
        Service {
            name: "s".into(),
            stage: "dev".into(),
            region: None,
            framework_version: None,
            provider: ProviderSettings {
                name: ProviderKind::Local,
                runtime: None,
                memory_size: None,
                timeout: None,
                environment: BTreeMap::new(),
                tags: BTreeMap::new(),
                architecture: None,
                extra: Default::default(),
            },
            functions: Default::default(),
            package: PackageSettings {
                patterns: patterns.iter().map(|p| p.to_string()).collect(),
                ..PackageSettings::default()
            },
            custom: serde_json::Value::Null,
            plugins: vec![],
            resources: None,
            root: PathBuf::from("."),
            manifest: PathBuf::from("serverless.yml"),
            locations: BTreeMap::new(),
        }
    }

    fn compile(patterns: &[&str]) -> Patterns {
        let service = service(patterns);
        Patterns::compile(&service, &PatternSource::for_service(&service)).unwrap()
    }

    #[test]
    fn no_patterns_include_everything() {
        let patterns = compile(&[]);
        assert!(patterns.includes("handler.py"));
        assert!(patterns.includes("deep/down/file.txt"));
    }

    #[test]
    fn bang_excludes_and_later_patterns_win() {
        let patterns = compile(&["!node_modules/**", "node_modules/keep/**", "!**/*.md"]);
        assert!(!patterns.includes("node_modules/left/index.js"));
        assert!(patterns.includes("node_modules/keep/index.js"));
        assert!(!patterns.includes("node_modules/keep/README.md"));
        assert!(!patterns.includes("README.md"));
        assert!(patterns.includes("handler.js"));
    }

    #[test]
    fn order_matters() {
        let excluded_last = compile(&["src/**", "!src/**"]);
        assert!(!excluded_last.includes("src/a.py"));
        let included_last = compile(&["!src/**", "src/**"]);
        assert!(included_last.includes("src/a.py"));
    }

    #[test]
    fn exclude_everything_then_include_some() {
        let patterns = compile(&["!**", "handler.py", "lib/**"]);
        assert!(patterns.includes("handler.py"));
        assert!(patterns.includes("lib/util/x.py"));
        assert!(!patterns.includes("tests/test_x.py"));
        assert!(!patterns.includes("other.py"));
    }

    #[test]
    fn leading_dot_slash_is_ignored() {
        // As written in real manifests: `exclude: [./**]`, `include: [./bin/**]`.
        let patterns = compile(&["!./**", "./bin/**", "./src/App.ts"]);
        assert!(patterns.includes("bin/get"));
        assert!(patterns.includes("src/App.ts"));
        assert!(!patterns.includes("src/other.ts"));
        assert!(!patterns.includes("package.json"));
    }

    #[test]
    fn star_stays_in_one_directory() {
        let patterns = compile(&["!*.txt"]);
        assert!(!patterns.includes("notes.txt"));
        assert!(patterns.includes("docs/notes.txt"));
        let deep = compile(&["!**/*.txt"]);
        assert!(!deep.includes("docs/notes.txt"));
    }

    #[test]
    fn directory_names_cover_their_contents() {
        let patterns = compile(&["!tests", "!./docs/"]);
        assert!(!patterns.includes("tests/unit/test_a.py"));
        assert!(!patterns.includes("docs/index.md"));
        assert!(patterns.includes("testsuite.py"));
        assert!(!patterns.may_include_under("tests"));
        assert!(patterns.may_include_under("src"));
    }

    #[test]
    fn legacy_include_exclude_fold_in_order() {
        // exclude: [secrets/**] then include: [secrets/public.txt], as the loader folds them.
        let patterns = compile(&["!secrets/**", "secrets/public.txt"]);
        assert!(!patterns.includes("secrets/private.key"));
        assert!(patterns.includes("secrets/public.txt"));
    }

    #[test]
    fn function_patterns_apply_after_the_service_ones() {
        let mut svc = service(&["!lib/**"]);
        let function = crate::model::Function {
            name: "f".into(),
            handler: Some("h.main".into()),
            image: None,
            runtime: None,
            memory_size: None,
            timeout: None,
            description: None,
            environment: BTreeMap::new(),
            events: vec![],
            package: crate::model::FunctionPackage {
                patterns: vec!["lib/shared/**".into()],
                ..Default::default()
            },
            extra: Default::default(),
        };
        svc.functions.insert("f".into(), function);
        let mut sources = PatternSource::for_service(&svc);
        sources.extend(PatternSource::for_function(&svc, "f"));
        assert_eq!(
            sources.last().map(|s| s.key.as_str()),
            Some("functions.f.package.patterns.0")
        );
        let patterns = Patterns::compile(&svc, &sources).unwrap();
        assert!(patterns.includes("lib/shared/a.py"));
        assert!(!patterns.includes("lib/other/a.py"));
    }

    #[test]
    fn the_manifest_and_serverless_defaults_are_left_out_unless_included_again() {
        let mut svc = service(&[]);
        svc.manifest = "serverless.yml".into();
        let patterns = Patterns::compile(&svc, &PatternSource::for_service(&svc)).unwrap();
        assert!(!patterns.includes("serverless.yml"));
        assert!(!patterns.includes("src/.DS_Store"));
        assert!(!patterns.includes("yarn-error.log"));
        assert!(patterns.includes("handler.py"));
        let mut svc = service(&["serverless.yml"]);
        svc.manifest = "serverless.yml".into();
        let patterns = Patterns::compile(&svc, &PatternSource::for_service(&svc)).unwrap();
        assert!(patterns.includes("serverless.yml"));
    }

    #[test]
    fn invalid_globs_name_their_key() {
        let svc = service(&["ok/**", "bad/[z-a"]);
        let error = Patterns::compile(&svc, &PatternSource::for_service(&svc)).unwrap_err();
        assert_eq!(error.key.as_deref(), Some("package.patterns.1"));
        assert!(error.message.contains("bad/[z-a"), "{}", error.message);
        let empty = service(&["!"]);
        let error = Patterns::compile(&empty, &PatternSource::for_service(&empty)).unwrap_err();
        assert_eq!(error.key.as_deref(), Some("package.patterns.0"));
    }
}
