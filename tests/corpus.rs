//! Loads every manifest of the real-world corpus (`../shared/corpus/serverless-examples/`).
//!
//! Each file is copied into a temporary directory together with the files its
//! `${file(...)}` references name, and loaded with the environment variables and options it
//! needs (listed below, per file). The few manifests that truly require a CLI option are
//! also loaded without it, and must fail naming that option.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stratus::manifest::{LoadError, LoadOptions, Loaded, load};
use stratus::model::{Event, ProviderKind};

fn corpus_dir() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/serverless-examples");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/corpus/serverless-examples")
}

/// What one manifest needs to load.
#[derive(Default)]
struct Needs {
    env: Vec<(&'static str, &'static str)>,
    options: Vec<(&'static str, &'static str)>,
    files: Vec<(String, String)>,
}

fn file(path: &str, content: &str) -> (String, String) {
    (path.to_string(), content.to_string())
}

/// The environment, options and files each manifest needs (everything else needs nothing).
fn needs(name: &str) -> Needs {
    let mut needs = Needs::default();
    match name.split("_serverless").next().unwrap_or(name) {
        "aws-dotnet-rest-api-with-dynamodb_src_DotNetServerless.Lambda" => needs.files.push(file(
            "env.configs.yml",
            "feature: todo\nenvironment: dev\nregion: us-east-1\naccountId: '123456789012'\ndynamoTable: todos\n",
        )),
        "aws-node-auth0-custom-authorizers-api" | "aws-python-auth0-custom-authorizers-api" => {
            needs.files.push(file("secrets.json", "{\"AUTH0_CLIENT_ID\": \"client\"}"));
            needs.files.push(file("public_key", "-----BEGIN CERTIFICATE-----\n"));
        }
        "aws-node-dynamic-image-resizer" => needs.options.push(("stage", "dev")),
        "aws-node-env-variables-encrypted-in-a-file" => {
            needs.files.push(file(
                "secrets.dev.yml",
                "SESSION_KEY: abc\nEMAIL_SERVICE_API_KEY: key\n",
            ));
        }
        "aws-node-graphql-and-rds" => {
            needs.files.push(file("secrets.json", "{\"ApiName\": \"graphql-rds\"}"));
            for resource in [
                "LambdaRole", "ServerlessInternetGateway", "ServerlessVPC", "ServerlessVPCGA",
                "ServerlessSubnetA", "ServerlessSubnetB", "ServerlessSubnetC", "ServerlessSubnetGroup",
                "ServerlessSecurityGroup", "RouteTablePublic", "RoutePublic",
                "RouteTableAssociationSubnetA", "RouteTableAssociationSubnetB",
                "RouteTableAssociationSubnetC", "AuroraRDSClusterParameter",
                "AuroraRDSInstanceParameter", "AuroraRDSCluster", "AuroraRDSInstance",
                "MySqlRDSInstance", "PostgreSqlRDSInstance",
            ] {
                needs.files.push(file(
                    &format!("resource/{resource}.yml"),
                    "Type: AWS::EC2::VPC\nProperties:\n  CidrBlock: !Ref Cidr\n",
                ));
            }
        }
        "aws-node-oauth-dropbox-api" => {
            needs.options.push(("stage", "dev"));
            needs.files.push(file(
                "config/dev.yml",
                "CLIENT_SECRET: s\nCLIENT_ID: i\nSTAGE: dev\nCALLBACK_URL: https://example.com/cb\n",
            ));
        }
        "aws-node-twitter-joke-bot" => needs.files.push(file(
            "dev.env.json",
            r#"{"JOKES_API_URL": "https://jokes", "TWITTER_CONSUMER_KEY": "k", "TWITTER_CONSUMER_SECRET": "s", "TWITTER_ACCESS_TOKEN_KEY": "t", "TWITTER_ACCESS_TOKEN_SECRET": "ts"}"#,
        )),
        "aws-node-typescript-apollo-lambda" => needs.env.push(("APOLLO_LAMBDA_KEY", "key")),
        "aws-node-vue-nuxt-ssr" => needs.files.push(file(
            "secrets.json",
            r#"{"DOMAIN": "example.com", "NODE_ENV": "production"}"#,
        )),
        "aws-python-rest-api-with-pymongo" => {
            for var in ["MONGO_DB_USER", "MONGO_DB_PASS", "MONGO_DB_NAME", "MONGO_DB_URL", "MONGO_COLLECTION_NAME"] {
                needs.env.push((var, "value"));
            }
        }
        "azure-node-typescript-servicebus-trigger-endpoint" => needs.options.push(("env", "dev")),
        "legacy_aws-clojure-gradle" | "legacy_aws-groovy-gradle" => needs.files.push(file(
            "build/build.json",
            "{\"distribution\": \"build/distributions/app.zip\", \"version\": \"1.0\"}",
        )),
        "legacy_knative-docker" => {
            needs.env.push(("DOCKER_HUB_USERNAME", "user"));
            needs.env.push(("DOCKER_HUB_PASSWORD", "pass"));
        }
        "legacy_twilio-nodejs" => {
            needs.env.push(("TWILIO_ACCOUNT_SID", "AC1"));
            needs.env.push(("TWILIO_AUTH_TOKEN", "token"));
        }
        "twilio-node-forward-call" => {
            needs.env.push(("TWILIO_ACCOUNT_SID", "AC1"));
            needs.env.push(("TWILIO_AUTH_TOKEN", "token"));
            needs.env.push(("MY_PHONE_NUMBER", "+10000000000"));
        }
        _ => {}
    }
    needs
}

/// Manifests that cannot load without a CLI option, and the option.
const NEEDS_OPTION: &[(&str, &str)] = &[
    ("aws-node-dynamic-image-resizer_serverless.yml", "stage"),
    ("aws-node-oauth-dropbox-api_serverless.yml", "stage"),
    (
        "azure-node-typescript-servicebus-trigger-endpoint_serverless.yml",
        "env",
    ),
];

fn manifests() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("the corpus directory exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            name.ends_with("serverless.yml") || name.ends_with("serverless.yaml")
        })
        .collect();
    paths.sort();
    paths
}

/// Copies `path` and the files it needs into a temp dir and loads it.
fn load_corpus(path: &Path, with_options: bool) -> (tempfile::TempDir, Result<Loaded, LoadError>) {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    let needs = needs(name);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(path, dir.path().join(name)).expect("copy manifest");
    for (relative, content) in &needs.files {
        let target = dir.path().join(relative);
        std::fs::create_dir_all(target.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(target, content).expect("write needed file");
    }
    let mut options = LoadOptions {
        config: Some(PathBuf::from(name)),
        cwd: dir.path().to_path_buf(),
        env: needs
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..LoadOptions::default()
    };
    if with_options {
        options.options = needs
            .options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>();
        options.stage = options.options.get("stage").cloned();
    }
    let result = load(&options);
    (dir, result)
}

fn load_ok(name: &str) -> Loaded {
    let (_dir, result) = load_corpus(&corpus_dir().join(name), true);
    match result {
        Ok(loaded) => loaded,
        Err(error) => panic!("{name}: {error}"),
    }
}

#[test]
fn every_corpus_manifest_loads() {
    let paths = manifests();
    assert_eq!(paths.len(), 191, "the corpus has 191 manifests");
    let mut failures = Vec::new();
    for path in &paths {
        let (_dir, result) = load_corpus(path, true);
        if let Err(error) = result {
            failures.push(format!("{}: {error}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn printed_yaml_loads_back_to_the_same_document() {
    for path in manifests() {
        let (_dir, result) = load_corpus(&path, true);
        let loaded = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let printed = loaded.document.to_yaml();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("serverless.yml"), &printed).expect("write");
        let reloaded = load(&LoadOptions {
            cwd: dir.path().to_path_buf(),
            ..LoadOptions::default()
        })
        .unwrap_or_else(|e| {
            panic!(
                "{}: printed YAML does not load: {e}\n{printed}",
                path.display()
            )
        });
        assert_eq!(
            reloaded.document.to_json(),
            loaded.document.to_json(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn only_known_false_warnings_on_the_corpus() {
    let mut unknown = Vec::new();
    for path in manifests() {
        let (_dir, result) = load_corpus(&path, true);
        let loaded = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for warning in loaded.warnings.warnings() {
            if warning.message.starts_with("unknown key") {
                unknown.push(warning.key.clone().unwrap_or_default());
            }
        }
    }
    // `cors` directly under a function is not a Serverless key (it belongs on the event).
    assert_eq!(unknown, vec!["functions.auth.cors"]);
}

#[test]
fn manifests_that_need_an_option_say_which() {
    for (name, option) in NEEDS_OPTION {
        let (_dir, result) = load_corpus(&corpus_dir().join(name), false);
        let Err(LoadError::Invalid(diagnostics)) = result else {
            panic!("{name} should need --{option}");
        };
        let text = diagnostics.to_string();
        assert!(
            text.contains(&format!("the option --{option} was not given")),
            "{name}: {text}"
        );
        assert!(
            text.contains(&format!("help: pass `--{option} <value>`")),
            "{name}: {text}"
        );
    }
}

#[test]
fn rest_api_model() {
    let loaded = load_ok("aws-node-rest-api-with-dynamodb_serverless.yml");
    let service = &loaded.service;
    assert_eq!(service.name, "serverless-rest-api-with-dynamodb");
    assert_eq!(service.stage, "dev");
    assert_eq!(service.provider.name, ProviderKind::Aws);
    assert_eq!(service.functions.len(), 5);
    let get = &service.functions["get"];
    assert_eq!(get.handler.as_deref(), Some("todos/get.get"));
    let Event::Http(http) = &get.events[0] else {
        panic!("http event")
    };
    assert_eq!(
        (http.method.as_str(), http.path.as_str()),
        ("GET", "/todos/{id}")
    );
    assert_eq!(http.extra["cors"], serde_json::json!(true));
    assert_eq!(
        get.environment["DYNAMODB_TABLE"],
        "serverless-rest-api-with-dynamodb-dev"
    );
    let resource = loaded
        .document
        .select("provider.iam.role.statements.0.Resource")
        .expect("present")
        .to_json();
    assert_eq!(
        resource,
        "arn:aws:dynamodb:us-east-1:*:table/serverless-rest-api-with-dynamodb-dev"
    );
    let location = service.locate("functions.get.handler").expect("located");
    assert_eq!((location.line, location.column), (41, 5));
}

#[test]
fn openwhisk_google_and_azure_models() {
    let cron = load_ok("openwhisk-node-scheduled-cron_serverless.yml").service;
    assert_eq!(cron.provider.name, ProviderKind::Openwhisk);
    let Event::Schedule(schedule) = &cron.functions["cron"].events[0] else {
        panic!("schedule")
    };
    assert_eq!(schedule.expression, "cron(* * * * *)");
    assert_eq!(cron.plugins, vec!["serverless-openwhisk"]);

    let google = load_ok("google-python-simple-http-endpoint_serverless.yml").service;
    assert_eq!(google.provider.name, ProviderKind::Google);
    assert_eq!(google.provider.extra["project"], "<projectnamehere-1234>");
    assert_eq!(
        google.functions["currentTime"].handler.as_deref(),
        Some("endpoint")
    );
    assert!(
        matches!(&google.functions["currentTime"].events[0], Event::Http(h) if h.path == "/path" && h.method == "ANY")
    );
    assert_eq!(google.package.patterns[0], "!node_modules/**");

    let azure = load_ok("azure-node-simple-http-endpoint_serverless.yml").service;
    assert_eq!(azure.region.as_deref(), Some("West US"));
    let Event::Http(http) = &azure.functions["hello"].events[0] else {
        panic!("http")
    };
    assert_eq!((http.method.as_str(), http.path.as_str()), ("ANY", "/"));
    assert_eq!(http.extra["x-azure-settings"]["authLevel"], "anonymous");
}

#[test]
fn file_references_and_options_reach_the_model() {
    let loaded = load_ok("aws-node-oauth-dropbox-api_serverless.yml");
    assert_eq!(
        loaded.service.provider.environment["CALLBACK_URL"],
        "https://example.com/cb"
    );
    let graphql = load_ok("aws-node-graphql-and-rds_serverless.yml");
    assert_eq!(graphql.service.name, "graphql-rds");
    let vpc = graphql
        .document
        .select("resources.Resources.ServerlessVPC")
        .expect("present");
    assert_eq!(
        vpc.to_json()["Properties"]["CidrBlock"],
        serde_json::json!({"Ref": "Cidr"})
    );
}
