//! Unit tests of variable resolution: every source, fallbacks, chains, nesting, mixed
//! strings, kept types, cycles and cloud-only sources.

use std::path::{Path, PathBuf};

use super::*;
use crate::manifest::document::to_json;
use crate::manifest::yaml::parse;
use serde_json::{Value as Json, json};

fn options() -> LoadOptions {
    LoadOptions {
        cwd: PathBuf::from("."),
        ..LoadOptions::default()
    }
}

fn resolve_in(text: &str, options: &LoadOptions, dir: &Path) -> (Json, Diagnostics) {
    let mut files = Files::default();
    let index = files.add(PathBuf::from("serverless.yml"));
    let root = parse(text, index).expect("valid YAML");
    let resolver = Resolver::new(root, &mut files, options, dir.to_path_buf());
    let (root, diagnostics) = resolver.run();
    (to_json(&root), diagnostics)
}

fn resolve_with(text: &str, options: &LoadOptions) -> (Json, Diagnostics) {
    resolve_in(text, options, Path::new("."))
}

fn resolve(text: &str) -> Json {
    let (json, diagnostics) = resolve_with(text, &options());
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    json
}

fn errors(text: &str, options: &LoadOptions) -> Vec<String> {
    let (_, diagnostics) = resolve_with(text, options);
    diagnostics.errors().map(ToString::to_string).collect()
}

#[test]
fn self_references_keep_their_type_and_follow_chains() {
    let json = resolve(
        "custom:\n  mem: 512\n  on: true\n  list: [a, b]\n  alias: ${self:custom.mem}\n  chain: ${self:custom.alias}\nprovider:\n  memorySize: ${self:custom.chain}\n  flag: ${self:custom.on}\n  items: ${self:custom.list}\n  first: ${self:custom.list.0}\n",
    );
    assert_eq!(json["provider"]["memorySize"], json!(512));
    assert_eq!(json["provider"]["flag"], json!(true));
    assert_eq!(json["provider"]["items"], json!(["a", "b"]));
    assert_eq!(json["provider"]["first"], json!("a"));
}

#[test]
fn mixed_strings_are_stringified() {
    let json =
        resolve("service: app\ncustom:\n  n: 3\n  name: ${self:service}-${self:custom.n}-x\n");
    assert_eq!(json["custom"]["name"], json!("app-3-x"));
}

#[test]
fn opt_env_and_sls_sources() {
    let mut options = options();
    options.stage = Some("prod".into());
    options.options.insert("flag".into(), "on".into());
    options.env.insert("HOME_URL".into(), "https://x".into());
    let (json, diagnostics) = resolve_with(
        "provider:\n  stage: dev\ncustom:\n  a: ${opt:stage}\n  b: ${opt:flag}\n  c: ${env:HOME_URL}\n  d: ${sls:stage}\n  e: ${sls:instanceId}\n",
        &options,
    );
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    assert_eq!(json["custom"]["a"], json!("prod"));
    assert_eq!(json["custom"]["b"], json!("on"));
    assert_eq!(json["custom"]["c"], json!("https://x"));
    assert_eq!(json["custom"]["d"], json!("prod"));
    assert_eq!(json["custom"]["e"].as_str().map(str::len), Some(16));
}

#[test]
fn sls_stage_reads_provider_stage_then_defaults_to_dev() {
    let json = resolve("provider:\n  stage: qa\ncustom:\n  s: ${sls:stage}\n");
    assert_eq!(json["custom"]["s"], json!("qa"));
    let json = resolve("custom:\n  s: ${sls:stage}\n  t: ${self:provider.stage}\n");
    assert_eq!(json["custom"]["s"], json!("dev"));
    assert_eq!(json["custom"]["t"], json!("dev"));
}

#[test]
fn params_come_from_the_cli_then_the_stage_then_default() {
    let text = "params:\n  prod:\n    size: 2\n  default:\n    size: 1\n    name: base\ncustom:\n  size: ${param:size}\n  name: ${param:name}\n";
    let json = resolve(text);
    assert_eq!(json["custom"]["size"], json!(1));
    let mut options = options();
    options.stage = Some("prod".into());
    let (json, _) = resolve_with(text, &options);
    assert_eq!(json["custom"]["size"], json!(2));
    assert_eq!(json["custom"]["name"], json!("base"));
    options.params.push(("name".into(), "cli".into()));
    let (json, _) = resolve_with(text, &options);
    assert_eq!(json["custom"]["name"], json!("cli"));
}

#[test]
fn fallbacks_literals_and_chains() {
    let json = resolve(
        "custom:\n  a: ${env:NOPE, 'text'}\n  b: ${env:NOPE, 42}\n  c: ${opt:x, env:Y, self:custom.a}\n  d: ${env:NOPE, true}\n  e: ${env:NOPE, \"\"}\n  f: ${env:NOPE, ${self:custom.b}}\n  g: ${env:NOPE, null, 'last'}\n",
    );
    assert_eq!(json["custom"]["a"], json!("text"));
    assert_eq!(json["custom"]["b"], json!(42));
    assert_eq!(json["custom"]["c"], json!("text"));
    assert_eq!(json["custom"]["d"], json!(true));
    assert_eq!(json["custom"]["e"], json!(""));
    assert_eq!(json["custom"]["f"], json!(42));
    assert_eq!(json["custom"]["g"], Json::Null);
}

#[test]
fn str_to_bool_turns_text_into_a_boolean() {
    let mut options = options();
    options.env.insert("FLAG".into(), "TRUE".into());
    let (json, diagnostics) = resolve_with(
        "custom:\n  a: ${strToBool(${env:FLAG})}\n  b: ${strToBool(0)}\n",
        &options,
    );
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    assert_eq!(json["custom"]["a"], json!(true));
    assert_eq!(json["custom"]["b"], json!(false));
}

#[test]
fn nested_variables_resolve_inside_out() {
    let mut options = options();
    options.stage = Some("prod".into());
    options.env.insert("prod_URL".into(), "https://prod".into());
    let (json, diagnostics) = resolve_with(
        "custom:\n  url: ${env:${opt:stage}_URL}\n  sizes:\n    prod: 3\n  size: ${self:custom.sizes.${sls:stage}}\n",
        &options,
    );
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    assert_eq!(json["custom"]["url"], json!("https://prod"));
    assert_eq!(json["custom"]["size"], json!(3));
}

#[test]
fn cloudformation_text_passes_through() {
    let json = resolve(
        "service: s\nr:\n  a: !Sub 'arn:${AWS::Partition}:s3:::${Bucket}/${self:service}'\n  b: '${AWS::Region}'\n",
    );
    assert_eq!(
        json["r"]["a"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/s"})
    );
    assert_eq!(json["r"]["b"], json!("${AWS::Region}"));
}

#[test]
fn cloud_sources_are_kept_with_a_warning() {
    let (json, diagnostics) = resolve_with(
        "provider:\n  region: eu-west-1\ncustom:\n  t: ${ssm:/token}\n  u: pre-${cf:stack.Out}\n  v: ${ssm:/x, 'fallback'}\n  r: ${aws:region}\n",
        &options(),
    );
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    assert_eq!(json["custom"]["t"], json!("${ssm:/token}"));
    assert_eq!(json["custom"]["u"], json!("pre-${cf:stack.Out}"));
    assert_eq!(json["custom"]["v"], json!("fallback"));
    assert_eq!(json["custom"]["r"], json!("eu-west-1"));
    assert_eq!(diagnostics.warnings().count(), 3);
}

#[test]
fn cycles_are_errors_naming_the_chain() {
    let errors = errors(
        "custom:\n  a: ${self:custom.b}\n  b: ${self:custom.a}\n",
        &options(),
    );
    assert_eq!(
        errors,
        vec![
            "serverless.yml:2:6: custom.a: variable cycle: custom.a → custom.b → custom.a\n  help: break the cycle: a value cannot depend on itself through `${self:...}` or `${param:...}`"
        ]
    );
}

#[test]
fn missing_values_name_the_fix() {
    let errors = errors(
        "custom:\n  a: ${env:MISSING}\n  b: x-${opt:color}\n  c: ${foo:bar}\n",
        &options(),
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert_eq!(
        errors[0],
        "serverless.yml:2:6: custom.a: cannot resolve `${env:MISSING}`: the environment variable MISSING is not set\n  help: set the environment variable MISSING, or add a fallback: `${env:MISSING, 'default'}`"
    );
    assert!(
        errors[1].contains("the option --color was not given"),
        "{}",
        errors[1]
    );
    assert!(errors[1].contains("pass `--color <value>`"));
    assert!(
        errors[2].contains("unknown variable source `foo`"),
        "{}",
        errors[2]
    );
}

#[test]
fn a_map_inside_text_is_an_error() {
    let errors = errors(
        "custom:\n  m: {a: 1}\n  t: x-${self:custom.m}\n",
        &options(),
    );
    assert!(
        errors[0].contains("gives a mapping, which cannot be written inside text"),
        "{errors:?}"
    );
}

#[test]
fn files_yaml_json_text_and_their_own_variables() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("config")).expect("mkdir");
    std::fs::write(
        dir.path().join("config/dev.yml"),
        "db:\n  host: h\n  port: 5432\nname: ${self:service}-db\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("x.json"), "{\"a\": {\"b\": [1, 2]}}").expect("write");
    std::fs::write(dir.path().join("key.pem"), "KEY\n").expect("write");
    let (json, diagnostics) = resolve_in(
        "service: app\ncustom:\n  port: ${file(./config/${sls:stage}.yml):db.port}\n  all: ${file(./config/dev.yml)}\n  b: ${file(x.json):a.b.1}\n  key: ${file(./key.pem)}\n  none: ${file(./missing.yml):a, 'fb'}\n  js: ${file(./x.js):a, 'nojs'}\n",
        &options(),
        dir.path(),
    );
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    assert_eq!(json["custom"]["port"], json!(5432));
    assert_eq!(json["custom"]["all"]["name"], json!("app-db"));
    assert_eq!(json["custom"]["b"], json!(2));
    assert_eq!(json["custom"]["key"], json!("KEY\n"));
    assert_eq!(json["custom"]["none"], json!("fb"));
    assert_eq!(json["custom"]["js"], json!("nojs"));
}

#[test]
fn missing_file_and_javascript_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, diagnostics) = resolve_in(
        "custom:\n  a: ${file(./nope.yml):x}\n  b: ${file(./conf.js):x}\n",
        &options(),
        dir.path(),
    );
    let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
    assert!(errors[0].starts_with("serverless.yml:2:6: custom.a: cannot resolve `${file(./nope.yml):x}`: the file `./nope.yml` does not exist"), "{errors:?}");
    assert!(
        errors[1].contains("`./conf.js` is JavaScript, which stratus cannot run"),
        "{errors:?}"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Text without `${` is never changed.
        #[test]
        fn text_without_variables_is_unchanged(text in "[ !#%-\\[\\]-~]{0,40}") {
            let yaml = format!("custom:\n  t: \"{text}\"\n");
            let (json, diagnostics) = resolve_with(&yaml, &options());
            prop_assert!(!diagnostics.has_errors());
            prop_assert_eq!(&json["custom"]["t"], &json!(text));
        }

        /// An environment value is taken as is, even when it looks like a variable.
        #[test]
        fn environment_values_are_not_resolved_again(value in "[ -~]{0,30}") {
            let mut options = options();
            options.env.insert("V".into(), value.clone());
            let (json, diagnostics) = resolve_with("custom:\n  a: ${env:V}\n  b: x-${env:V}\n", &options);
            prop_assert!(!diagnostics.has_errors());
            prop_assert_eq!(&json["custom"]["a"], &json!(value.clone()));
            prop_assert_eq!(&json["custom"]["b"], &json!(format!("x-{value}")));
        }
    }
}
