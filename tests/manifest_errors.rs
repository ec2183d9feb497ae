//! Broken manifests in `tests/fixtures/manifests/`: every error names
//! `file:line:column`, the key path, what is wrong and what to do.

use std::path::{Path, PathBuf};

use stratus::manifest::{LoadError, LoadOptions, Loaded, load};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifests")
}

fn options(name: &str) -> LoadOptions {
    LoadOptions {
        config: Some(name.into()),
        cwd: fixtures(),
        ..LoadOptions::default()
    }
}

/// The errors of a manifest that must fail, one string per error.
fn errors(name: &str) -> Vec<String> {
    match load(&options(name)) {
        Ok(_) => panic!("{name} should not load"),
        Err(LoadError::Invalid(diagnostics)) => {
            diagnostics.errors().map(ToString::to_string).collect()
        }
        Err(other) => panic!("{name}: expected diagnostics, got {other}"),
    }
}

fn loaded(name: &str) -> Loaded {
    load(&options(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn bad_yaml_points_at_the_syntax_error() {
    assert_eq!(
        errors("bad-yaml.yml"),
        vec![
            "bad-yaml.yml:5:10: invalid YAML: illegal placement of ':' indicator\n  help: fix the YAML syntax here (an unclosed `[`, `{` or quote on a line above can also cause this)"
        ]
    );
}

#[test]
fn wrong_types_are_all_reported() {
    assert_eq!(
        errors("wrong-type.yml"),
        vec![
            "wrong-type.yml:5:12: provider.timeout: expected a whole number, found a string `abc`\n  help: write the timeout in seconds, e.g. `timeout: 10`",
            "wrong-type.yml:9:17: functions.hello.memorySize: expected a whole number, found a list\n  help: write the memory in MB, e.g. `memorySize: 512`",
        ]
    );
}

#[test]
fn unknown_variable_source() {
    assert_eq!(
        errors("unknown-source.yml"),
        vec![
            "unknown-source.yml:5:12: provider.environment.TOKEN: cannot resolve `${vault:secret/token}`: unknown variable source `vault`\n  help: use one of self, opt, env, sls, param, file, strToBool (cf, ssm, s3, aws are kept as text)"
        ]
    );
}

#[test]
fn variable_cycle_names_the_chain() {
    assert_eq!(
        errors("cycle.yml"),
        vec![
            "cycle.yml:5:6: custom.a: variable cycle: custom.a → custom.b → custom.a\n  help: break the cycle: a value cannot depend on itself through `${self:...}` or `${param:...}`"
        ]
    );
}

#[test]
fn missing_file() {
    assert_eq!(
        errors("missing-file.yml"),
        vec![
            "missing-file.yml:4:9: custom: cannot resolve `${file(./missing.yml)}`: the file `./missing.yml` does not exist (looked for missing.yml)\n  help: create `./missing.yml` next to the manifest, or add a fallback: `${file(./missing.yml), 'value'}`"
        ]
    );
}

#[test]
fn missing_handler() {
    assert_eq!(
        errors("missing-handler.yml"),
        vec![
            "missing-handler.yml:6:3: functions.hello: the function has no `handler`\n  help: add `handler: handler.hello` (file `handler`, function `hello`) under `functions.hello`"
        ]
    );
}

#[test]
fn duplicate_key() {
    assert_eq!(
        errors("duplicate-key.yml"),
        vec![
            "duplicate-key.yml:7:3: functions.hello: duplicate key `hello` (first written at line 5)\n  help: remove or rename one of the two"
        ]
    );
}

#[test]
fn unknown_keys_warn_with_did_you_mean() {
    let loaded = loaded("unknown-keys.yml");
    let warnings: Vec<String> = loaded
        .warnings
        .warnings()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        vec![
            "unknown-keys.yml:6:1: funtions: unknown key `funtions`\n  help: did you mean `functions`?",
            "unknown-keys.yml:5:3: provider.memorysize: unknown key `memorysize`\n  help: did you mean `memorySize`?",
            "unknown-keys.yml:10:5: functions.hello.timout: unknown key `timout`\n  help: did you mean `timeout`?",
        ]
    );
}

#[test]
fn a_missing_config_file_and_directory_are_reported() {
    let error = load(&options("nope.yml")).expect_err("fails");
    assert!(
        error.to_string().starts_with("cannot read nope.yml"),
        "{error}"
    );
    let error = load(&LoadOptions {
        cwd: fixtures().join("nowhere"),
        ..LoadOptions::default()
    })
    .expect_err("fails");
    assert!(matches!(error, LoadError::NotFound { .. }));
}
