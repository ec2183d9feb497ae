//! Dependencies, end to end with the real binary and the real pip and npm (from the registries
//! this machine reaches): a function importing a pure-Python package, one with compiled wheels
//! and a Node package deploys to the local provider and answers; cloud targets get the wheels of
//! *their* platform whatever this machine is; the cache makes a second run start no pip or npm
//! (counted by wrappers on PATH); two clean builds give identical zips; bad input fails clearly
//! and leaves the last package alone.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{Sandbox, stdout_of, zip_names};
use serde_json::Value;
use tempfile::TempDir;

const REQUIREMENTS: &str = "markupsafe==3.0.2\nsix==1.16.0\n";

const HANDLER_PY: &str = r#"import markupsafe
import six


def main(event, context):
    return {
        "escaped": str(markupsafe.escape(event.get("text", "<b>"))),
        "six": six.__version__,
        "compiled": markupsafe._escape_inner.__module__,
    }
"#;

const PACKAGE_JSON: &str = r#"{
  "name": "deps-test",
  "version": "1.0.0",
  "dependencies": { "is-number": "7.0.0" },
  "devDependencies": { "is-odd": "3.0.1" }
}
"#;

const HANDLER_JS: &str = r#"const isNumber = require("is-number");
exports.handler = async (event) => ({ isNumber: isNumber(event.n) });
"#;

/// A service with a Python function (requirements.txt) and a Node function (package.json).
fn service(manifest: &str) -> Sandbox {
    let sandbox = Sandbox::empty();
    common::require_tool("npm", "apt-get install npm");
    sandbox.write("serverless.yml", manifest);
    sandbox.write("requirements.txt", REQUIREMENTS);
    sandbox.write("handler.py", HANDLER_PY);
    sandbox.write("package.json", PACKAGE_JSON);
    sandbox.write("index.js", HANDLER_JS);
    sandbox
}

const LOCAL_MANIFEST: &str = "service: deps
provider:
  name: aws
  runtime: python3.12
functions:
  py:
    handler: handler.main
  js:
    handler: index.handler
    runtime: nodejs20.x
";

/// `python3` and `npm` wrappers that log each run to a file, then run the real tool.
struct CountingTools {
    dir: TempDir,
}

impl CountingTools {
    fn new() -> CountingTools {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["python3", "npm"] {
            let real = which(tool).unwrap_or_else(|| panic!("{tool} is not on PATH"));
            let script = format!(
                "#!/bin/sh\necho \"{tool} $*\" >> \"{}\"\nexec \"{}\" \"$@\"\n",
                dir.path().join("runs.log").display(),
                real.display()
            );
            let path = dir.path().join(tool);
            fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        CountingTools { dir }
    }

    /// PATH with the wrappers first.
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    /// How many pip installs and npm runs were started.
    fn runs(&self) -> (usize, usize) {
        let log = fs::read_to_string(self.dir.path().join("runs.log")).unwrap_or_default();
        let pip = log
            .lines()
            .filter(|line| line.starts_with("python3 -m pip install"))
            .count();
        let npm = log.lines().filter(|line| line.starts_with("npm ")).count();
        (pip, npm)
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(tool))
        .find(|path| path.is_file())
}

/// `stratus --json package ARGS` with PATH set; the parsed answer.
fn package(sandbox: &Sandbox, path: &str, args: &[&str]) -> Value {
    let mut command = sandbox.stratus(&["--json", "package"]);
    command.args(args).env("PATH", path);
    let output = command.output().unwrap();
    serde_json::from_str(&stdout_of(&output)).unwrap()
}

/// `stratus package --provider aws ARGS` with PATH set, which must fail; its stderr.
fn failing_package(sandbox: &Sandbox, path: &std::ffi::OsStr, args: &[&str]) -> String {
    let mut command = sandbox.stratus(&["package", "--provider", "aws"]);
    let output = command.args(args).env("PATH", path).output().unwrap();
    assert!(!output.status.success(), "package should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn artifact_sha(answer: &Value, name: &str) -> String {
    answer["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|artifact| artifact["name"] == name)
        .unwrap_or_else(|| panic!("no artifact {name} in {answer}"))["sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn dependencies_install_for_the_local_provider_and_the_functions_answer() {
    let sandbox = service(LOCAL_MANIFEST);
    let tools = CountingTools::new();
    let path = tools.path();
    let mut deploy = sandbox.local(&["deploy"]);
    deploy.env("PATH", &path);
    stdout_of(&deploy.output().unwrap());
    assert_eq!(
        tools.runs(),
        (1, 1),
        "one pip and one npm run on the first deploy"
    );

    let answer: Value = serde_json::from_str(&stdout_of(
        &sandbox
            .local(&["invoke", "-f", "py", "--data", r#"{"text": "<i>"}"#])
            .output()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(answer["escaped"], "&lt;i&gt;");
    assert_eq!(answer["six"], "1.16.0");
    assert_eq!(
        answer["compiled"], "markupsafe._speedups",
        "the compiled extension for this machine was installed and loaded"
    );
    let answer: Value = serde_json::from_str(&stdout_of(
        &sandbox
            .local(&["invoke", "-f", "js", "--data", r#"{"n": 7}"#])
            .output()
            .unwrap(),
    ))
    .unwrap();
    assert_eq!(answer["isNumber"], true);

    let names = zip_names(&sandbox.path(".stratus/deps.zip"));
    assert!(names.contains(&"node_modules/is-number/index.js".to_string()));
    assert!(
        !names
            .iter()
            .any(|name| name.starts_with("node_modules/is-odd/")),
        "devDependencies are left out: {names:?}"
    );
    assert!(names.contains(&"six.py".to_string()));

    // Nothing changed: no pip, no npm, the same bytes.
    let first = package(&sandbox, &path, &["--provider", "local"]);
    let second = package(&sandbox, &path, &["--provider", "local"]);
    assert_eq!(
        tools.runs(),
        (1, 1),
        "the cache answered: no pip or npm run"
    );
    assert_eq!(artifact_sha(&first, "deps"), artifact_sha(&second, "deps"));
    for build in second["dependencies"].as_array().unwrap() {
        assert_eq!(build["cached"], true, "{build}");
    }
    // A requirements change installs again, the Node set stays cached.
    sandbox.write("requirements.txt", "markupsafe==3.0.2\nsix==1.17.0\n");
    let third = package(&sandbox, &path, &["--provider", "local"]);
    assert_eq!(tools.runs(), (2, 1));
    let languages: Vec<(String, bool)> = third["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["language"].as_str().unwrap().to_string(),
                b["cached"] == true,
            )
        })
        .collect();
    assert!(languages.contains(&("python".to_string(), false)));
    assert!(languages.contains(&("node".to_string(), true)));
}

#[test]
fn invoke_local_runs_the_working_tree_with_its_dependencies() {
    let sandbox = service(LOCAL_MANIFEST);
    for (function, data, field, expected) in [
        (
            "py",
            r#"{"text": "&"}"#,
            "escaped",
            serde_json::json!("&amp;"),
        ),
        ("js", r#"{"n": "x"}"#, "isNumber", serde_json::json!(false)),
    ] {
        let output = sandbox
            .stratus(&["invoke", "local", "-f", function, "--data", data])
            .output()
            .unwrap();
        let answer: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
        assert_eq!(answer[field], expected, "{function}: {answer}");
    }
    assert!(
        !sandbox.path("node_modules").exists(),
        "nothing is installed into the working tree"
    );
}

#[test]
fn cloud_targets_get_the_wheels_of_their_platform_whatever_this_machine_is() {
    let sandbox = service(
        "service: wheels
provider:
  name: aws
  runtime: python3.12
package:
  individually: true
functions:
  onArm:
    handler: handler.main
    architecture: arm64
  onIntel:
    handler: handler.main
    runtime: python3.13
",
    );
    let path = std::env::var("PATH").unwrap();
    let answer = package(&sandbox, &path, &["--provider", "aws"]);
    let arm = zip_names(&sandbox.path(".stratus/onArm.zip"));
    let intel = zip_names(&sandbox.path(".stratus/onIntel.zip"));
    assert!(
        arm.contains(&"markupsafe/_speedups.cpython-312-aarch64-linux-gnu.so".to_string()),
        "{arm:?}"
    );
    assert!(
        intel.contains(&"markupsafe/_speedups.cpython-313-x86_64-linux-gnu.so".to_string()),
        "{intel:?}"
    );
    assert!(!arm.iter().any(|name| name.contains("x86_64")));
    let platforms: Vec<String> = answer["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["platform"].to_string())
        .collect();
    assert_eq!(platforms.len(), 2, "two distinct sets: {answer}");
}

#[test]
fn two_clean_builds_give_byte_identical_zips() {
    let sandbox = service(LOCAL_MANIFEST);
    let path = std::env::var("PATH").unwrap();
    let first = package(&sandbox, &path, &["--provider", "aws"]);
    fs::remove_dir_all(sandbox.path(".stratus")).unwrap();
    let other_cache = tempfile::tempdir().unwrap();
    let mut command = sandbox.stratus(&["--json", "package", "--provider", "aws"]);
    command.env("STRATUS_CACHE_DIR", other_cache.path());
    let second: Value = serde_json::from_str(&stdout_of(&command.output().unwrap())).unwrap();
    for build in second["dependencies"].as_array().unwrap() {
        assert_eq!(build["cached"], false, "a clean cache: {build}");
    }
    assert_eq!(artifact_sha(&first, "deps"), artifact_sha(&second, "deps"));
}

#[test]
fn a_requirement_without_a_wheel_for_the_target_fails_clearly_and_changes_nothing() {
    let sandbox = service(LOCAL_MANIFEST);
    let path = std::env::var("PATH").unwrap();
    let before = package(&sandbox, &path, &["--provider", "aws"]);
    // docopt publishes a source distribution only: no manylinux wheel exists.
    sandbox.write("requirements.txt", "six==1.16.0\ndocopt==0.6.2\n");
    let stderr = failing_package(&sandbox, &std::env::var_os("PATH").unwrap(), &[]);
    assert!(stderr.contains("docopt==0.6.2"), "{stderr}");
    assert!(stderr.contains("manylinux2014_x86_64"), "{stderr}");
    assert!(stderr.contains("requirements.txt:2:1"), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    // The previous zip is untouched and no half-built cache entry is left.
    let zip = sandbox.path(".stratus/deps.zip");
    let sha = stratus::package::sha256_file(&zip).unwrap();
    assert_eq!(sha, artifact_sha(&before, "deps"));
    let leftovers: Vec<String> = fs::read_dir(sandbox.cache_dir().join("deps"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn npm_failures_and_missing_tools_say_what_to_do() {
    let sandbox = service(LOCAL_MANIFEST);
    sandbox.write(
        "package.json",
        r#"{"name": "x", "version": "1.0.0", "dependencies": {"stratus-surely-no-such-package-zz": "1.0.0"}}"#,
    );
    let path = std::env::var_os("PATH").unwrap();
    let stderr = failing_package(&sandbox, &path, &["-f", "js"]);
    assert!(
        stderr.contains("npm install failed for package.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stratus-surely-no-such-package-zz"),
        "{stderr}"
    );
    assert!(!sandbox.path(".stratus/deps.zip").exists());

    // A PATH with python3 only: npm is missing, and the error says how to install it.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(which("python3").unwrap(), bin.path().join("python3")).unwrap();
    sandbox.write("package.json", PACKAGE_JSON);
    let stderr = failing_package(&sandbox, bin.path().as_os_str(), &["-f", "js"]);
    assert!(stderr.contains("npm is not on PATH"), "{stderr}");
    assert!(stderr.contains("install Node.js with npm"), "{stderr}");
    // And with an empty PATH, python3 is missing for the Python function.
    let empty = tempfile::tempdir().unwrap();
    let stderr = failing_package(&sandbox, empty.path().as_os_str(), &["-f", "py"]);
    assert!(stderr.contains("python3 is not on PATH"), "{stderr}");
}

#[test]
fn plugin_settings_slim_no_deploy_and_dev_dependencies_are_honoured() {
    let sandbox = service(&format!(
        "{LOCAL_MANIFEST}package:
  excludeDevDependencies: false
custom:
  pythonRequirements:
    slim: true
    noDeploy:
      - six
    dockerizePip: true
"
    ));
    let output = sandbox
        .stratus(&["package", "--provider", "aws"])
        .output()
        .unwrap();
    stdout_of(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("custom.pythonRequirements.dockerizePip") && stderr.contains("ignores"),
        "{stderr}"
    );
    let names = zip_names(&sandbox.path(".stratus/deps.zip"));
    assert!(
        !names.contains(&"six.py".to_string()),
        "noDeploy: {names:?}"
    );
    assert!(
        !names.iter().any(|name| name.ends_with("/RECORD")),
        "slim: {names:?}"
    );
    assert!(names.iter().any(|name| name.starts_with("markupsafe/")));
    assert!(
        names.contains(&"node_modules/is-odd/index.js".to_string()),
        "excludeDevDependencies: false keeps devDependencies: {names:?}"
    );
}

#[test]
fn pyproject_dependencies_and_requirements_beside_the_handler_are_found() {
    let sandbox = Sandbox::empty();
    sandbox.write(
        "serverless.yml",
        "service: nested
provider:
  name: aws
  runtime: python3.12
package:
  individually: true
functions:
  api:
    handler: api/handler.main
  worker:
    handler: worker.main
",
    );
    sandbox.write("api/handler.py", HANDLER_PY);
    sandbox.write("api/requirements.txt", "six==1.16.0\n");
    sandbox.write("worker.py", "def main(event, context):\n    return 1\n");
    sandbox.write(
        "pyproject.toml",
        "[project]\nname = \"nested\"\nversion = \"1\"\ndependencies = [\"markupsafe==3.0.2\"]\n",
    );
    let path = std::env::var("PATH").unwrap();
    let answer = package(&sandbox, &path, &["--provider", "aws"]);
    let api = zip_names(&sandbox.path(".stratus/api.zip"));
    let worker = zip_names(&sandbox.path(".stratus/worker.zip"));
    assert!(api.contains(&"six.py".to_string()), "{api:?}");
    assert!(!api.iter().any(|name| name.starts_with("markupsafe/")));
    assert!(
        worker.iter().any(|name| name.starts_with("markupsafe/")),
        "{worker:?}"
    );
    let sources: Vec<&str> = answer["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].as_str().unwrap())
        .collect();
    assert!(sources.contains(&"api/requirements.txt"), "{sources:?}");
    assert!(sources.contains(&"pyproject.toml"), "{sources:?}");
}

/// Packages `sandbox` through the library with every function's dependencies handled as
/// `target` says (what a provider's `dependencies()` answers).
fn package_for_target(
    sandbox: &Sandbox,
    target: stratus::package::deps::DependencyTarget,
) -> stratus::package::Packaged {
    use stratus::manifest::{self, LoadOptions};
    use stratus::package::deps::DependencyOptions;
    let loaded = manifest::load(&LoadOptions {
        config: None,
        cwd: sandbox.path(""),
        stage: None,
        region: None,
        params: Vec::new(),
        options: Default::default(),
        env: Default::default(),
    })
    .unwrap();
    let service = &loaded.service;
    let targets = service
        .functions
        .keys()
        .map(|name| (name.clone(), target.clone()))
        .collect();
    stratus::package::package(&stratus::package::PackageRequest {
        service,
        out_dir: sandbox.path(".stratus"),
        functions: None,
        generated: Default::default(),
        limits: None,
        dependencies: DependencyOptions {
            targets,
            cache_dir: Some(sandbox.cache_dir().to_path_buf()),
            ..Default::default()
        },
    })
    .unwrap_or_else(|error| panic!("{error:#}"))
}

#[test]
fn azure_gets_python_packages_in_its_worker_layout() {
    use stratus::package::deps::{Arch, DependencyTarget, Platform};
    let sandbox = service(LOCAL_MANIFEST);
    package_for_target(
        &sandbox,
        DependencyTarget::Vendor {
            platform: Platform::Linux(Arch::X86_64),
            python_dir: ".python_packages/lib/site-packages".to_string(),
        },
    );
    let names = zip_names(&sandbox.path(".stratus/deps.zip"));
    assert!(names.contains(&".python_packages/lib/site-packages/six.py".to_string()));
    assert!(names.contains(&".python_packages/lib/site-packages/markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so".to_string()));
    assert!(names.contains(&"node_modules/is-number/index.js".to_string()));
    assert!(!names.contains(&"six.py".to_string()));
}

#[test]
fn a_platform_that_builds_itself_gets_its_requirements_file_at_the_root() {
    use stratus::package::deps::DependencyTarget;
    let sandbox = Sandbox::empty();
    sandbox.write(
        "serverless.yml",
        "service: remote
provider:
  name: google
  runtime: python312
functions:
  hello:
    handler: hello
",
    );
    sandbox.write("main.py", "def hello(request):\n    return 'hi'\n");
    sandbox.write(
        "pyproject.toml",
        "[project]\nname = \"remote\"\nversion = \"1\"\ndependencies = [\"six==1.16.0\", \"markupsafe>=2\"]\n",
    );
    let packaged = package_for_target(&sandbox, DependencyTarget::Remote);
    assert!(
        packaged.dependencies.is_empty(),
        "nothing installed by stratus"
    );
    let zip = sandbox.path(".stratus/remote.zip");
    let names = zip_names(&zip);
    assert!(!names.contains(&"six.py".to_string()), "{names:?}");
    let mut archive = zip::ZipArchive::new(fs::File::open(&zip).unwrap()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("requirements.txt").unwrap(), &mut text)
        .unwrap();
    assert_eq!(text, "six==1.16.0\nmarkupsafe>=2\n");
}
