//! The fake Google Cloud's "Cloud Build": what a create or update operation does before the
//! function can serve. Like Google's buildpacks, it extracts the uploaded source and installs
//! the dependencies the source declares at its root — `requirements.txt` (Python:
//! `pip install -r requirements.txt --target <build>/site`, put on `PYTHONPATH` at run time)
//! or a `package.json` with `dependencies` (Node.js: `npm install --omit=dev` in the source
//! dir). A failing install ends the operation in error with the installer's last lines. Also
//! where the fake finds its peers: the Python with the PyPI Functions Framework and the npm
//! Functions Framework.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The Python that runs the Functions Framework: `STRATUS_TEST_PYTHON` or `<repo>/.venv`.
pub fn python() -> PathBuf {
    std::env::var_os("STRATUS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// The npm peers (`node_modules` holding `@google-cloud/functions-framework`):
/// `STRATUS_TEST_NODE_PEERS` or `<repo>/tests/peers/node_modules`.
pub fn node_peers() -> PathBuf {
    std::env::var_os("STRATUS_TEST_NODE_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/node_modules")
        })
}

/// The npm Functions Framework's own command-line entry.
pub fn node_framework() -> PathBuf {
    node_peers().join("@google-cloud/functions-framework/build/src/main.js")
}

/// The preload that pins the npm framework's `listen(port)` to 127.0.0.1.
pub fn loopback_preload() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/loopback.cjs")
}

/// Fails (never skips) when either Functions Framework is not installed.
pub fn require_functions_frameworks() {
    let python = python();
    let ok = std::process::Command::new(&python)
        .args(["-c", "import functions_framework"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the GCP tests need Google's Functions Framework in {}: run `scripts/peers` (or \
         `scripts/test`), or `python3 -m venv .venv && .venv/bin/pip install -r \
         tests/peers/requirements-gcp.txt` (or set STRATUS_TEST_PYTHON)",
        python.display()
    );
    let framework = node_framework();
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        node && framework.is_file(),
        "the GCP tests need node and Google's npm Functions Framework at {}: run \
         `scripts/peers` (it runs `npm ci` in tests/peers), or set STRATUS_TEST_NODE_PEERS to a \
         node_modules holding @google-cloud/functions-framework",
        framework.display()
    );
}

/// One build of an uploaded source for a runtime: its directory and how it ended.
pub struct Build {
    /// Holds `code/` (the extracted source, with `node_modules` for Node) and `site/`.
    pub dir: tempfile::TempDir,
    /// `None` while it runs; then `Ok` or the failure's message.
    pub result: Mutex<Option<Result<(), String>>>,
}

impl Build {
    /// A build about to run.
    pub fn new() -> std::io::Result<Build> {
        Ok(Build {
            dir: tempfile::tempdir()?,
            result: Mutex::new(None),
        })
    }

    /// The extracted source.
    pub fn code(&self) -> PathBuf {
        self.dir.path().join("code")
    }

    /// Where Python dependencies are installed.
    pub fn site(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    /// How it ended, `None` while it runs.
    pub fn outcome(&self) -> Option<Result<(), String>> {
        self.result.lock().unwrap().clone()
    }

    /// Extracts `zip` and installs what the source declares for `runtime`; records the outcome.
    pub async fn run(&self, zip: Vec<u8>, runtime: &str) {
        let outcome = self.steps(zip, runtime).await;
        *self.result.lock().unwrap() = Some(outcome);
    }

    async fn steps(&self, zip: Vec<u8>, runtime: &str) -> Result<(), String> {
        let zip_path = self.dir.path().join("source.zip");
        std::fs::write(&zip_path, zip).map_err(|e| e.to_string())?;
        let code = self.code();
        stratus::package::extract(&zip_path, &code).map_err(|e| format!("{e:#}"))?;
        std::fs::create_dir_all(self.site()).map_err(|e| e.to_string())?;
        if runtime.starts_with("python") && code.join("requirements.txt").is_file() {
            let site = self.site();
            let mut command = tokio::process::Command::new(python());
            command.current_dir(&code).args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
                "-r",
                "requirements.txt",
                "--target",
            ]);
            command.arg(&site);
            return install(command, "pip").await;
        }
        if runtime.starts_with("nodejs") && declares_dependencies(&code) {
            let mut command = tokio::process::Command::new("npm");
            command.current_dir(&code).args([
                "install",
                "--omit=dev",
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--loglevel=error",
            ]);
            return install(command, "npm").await;
        }
        Ok(())
    }
}

fn declares_dependencies(code: &Path) -> bool {
    std::fs::read(code.join("package.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|package| {
            package
                .get("dependencies")?
                .as_object()
                .map(|d| !d.is_empty())
        })
        .unwrap_or(false)
}

async fn install(mut command: tokio::process::Command, tool: &str) -> Result<(), String> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines[lines.len().saturating_sub(5)..].join("\n");
    Err(format!(
        "Build failed: {tool} install exited with {}: {last}",
        output.status
    ))
}
