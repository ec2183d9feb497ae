//! Shared by the CLI tests: a sandbox with a copy of the example service and its own local
//! state directory, and a way to run the real `stratus` binary in it.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// A temporary service directory and state directory.
pub struct Sandbox {
    dir: TempDir,
    state: TempDir,
    cache: TempDir,
}

impl Sandbox {
    /// The repository's `serverless.example.yml` (as `serverless.yml`) with its `example/` code.
    pub fn example() -> Sandbox {
        let sandbox = Sandbox::empty();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        fs::copy(
            repo.join("serverless.example.yml"),
            sandbox.path("serverless.yml"),
        )
        .unwrap();
        fs::create_dir_all(sandbox.path("example")).unwrap();
        for entry in fs::read_dir(repo.join("example")).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                fs::copy(
                    entry.path(),
                    sandbox.path("example").join(entry.file_name()),
                )
                .unwrap();
            }
        }
        sandbox
    }

    /// An empty directory.
    pub fn empty() -> Sandbox {
        require_tool("python3", "apt-get install python3");
        require_tool("node", "apt-get install nodejs");
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            state: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// A path inside the service directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file of the service.
    pub fn write(&self, relative: &str, contents: &str) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Reads a file of the service.
    pub fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.path(relative)).unwrap()
    }

    /// The sandbox's own dependency cache directory (`STRATUS_CACHE_DIR`).
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// `stratus ARGS` in the service directory, hermetic: no colour, its own state and
    /// dependency cache directories.
    pub fn stratus(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("stratus").unwrap();
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("STRATUS_STATE_DIR", self.state.path())
            .env("STRATUS_CACHE_DIR", self.cache.path())
            .env("NO_COLOR", "1")
            .env_remove("GREETING")
            .env_remove("CI");
        command
    }

    /// `stratus ARGS --provider local`.
    pub fn local(&self, args: &[&str]) -> Command {
        let mut command = self.stratus(args);
        command.args(["--provider", "local"]);
        command
    }

    /// The same as [`Sandbox::local`], as a std command (for long-running children).
    pub fn local_std(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("stratus"));
        command
            .args(args)
            .args(["--provider", "local"])
            .current_dir(self.dir.path())
            .env("STRATUS_STATE_DIR", self.state.path())
            .env("STRATUS_CACHE_DIR", self.cache.path())
            .env("NO_COLOR", "1")
            .env_remove("GREETING");
        command
    }

    /// Runs `stratus ARGS`, expects success, parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        parse(self.stratus(args).output().unwrap())
    }

    /// Runs `stratus ARGS --provider local`, expects success, parses stdout as JSON.
    pub fn json_local(&self, args: &[&str]) -> Value {
        parse(self.local(args).output().unwrap())
    }
}

/// The stdout of a run that must have succeeded (the failure message shows both streams).
pub fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "stratus failed: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` (blocking) on a blocking thread, so an in-process fake on the test's async
/// runtime keeps answering it.
pub async fn output_while_serving(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn parse(output: std::process::Output) -> Value {
    stdout_of(&output);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Fails the test (never skips it) when a peer the tests run is missing.
pub fn require_tool(tool: &str, install: &str) {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is required by the tests but is not installed: run `{install}` (scripts/test installs it)"
    );
}

/// The entry names of a zip, in archive order.
pub fn zip_names(path: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
}
