//! Python requirements with pip: `pip install --target` for the target's platform
//! (`--platform manylinux2014_<arch> --implementation cp --python-version X.Y
//! --only-binary=:all:`) or for this machine's `python3`; pip's failures turned into one clear
//! error each; the plugin's `slim` and `noDeploy` filters.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::Platform;
use super::resolve::{PythonFilters, Spec};
use super::tool;
use crate::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::model::Location;
use crate::package::walk::TreeFile;

/// The interpreter that runs pip (the one the local provider runs handlers with).
const PYTHON: &str = "python3";

/// Installs `spec`'s requirements into `content` (`work` holds scratch files).
pub(crate) fn install(
    spec: &Spec,
    work: &Path,
    content: &Path,
    verbose: bool,
) -> anyhow::Result<()> {
    let requirements = if spec.from_requirements_file {
        spec.source_path.clone()
    } else {
        let path = work.join("requirements.txt");
        fs::write(&path, &spec.requirements)
            .with_context(|| format!("cannot write {}", path.display()))?;
        path
    };
    let mut command = Command::new(PYTHON);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(["--no-compile", "--no-warn-script-location", "--target"])
        .arg(content)
        .arg("-r")
        .arg(&requirements)
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let (Platform::Linux(arch), Some(version)) = (spec.platform, &spec.python_version) {
        command
            .arg("--platform")
            .arg(format!("manylinux2014_{}", arch.wheel_name()))
            .args(["--implementation", "cp", "--python-version", version])
            .arg("--only-binary=:all:");
    }
    let finished = match tool::run(&mut command, "pip", verbose) {
        Ok(finished) => finished,
        Err(error) if error.kind() == io::ErrorKind::NotFound => anyhow::bail!(
            "{PYTHON} is not on PATH: stratus runs pip with it to install {}; install Python 3 with pip (e.g. `apt-get install python3 python3-pip`, `brew install python`)",
            spec.source
        ),
        Err(error) => return Err(error).context(format!("cannot run {PYTHON} -m pip")),
    };
    if finished.success {
        return Ok(());
    }
    Err(failure(spec, &finished.output))
}

/// The error for a failed pip run.
fn failure(spec: &Spec, output: &str) -> anyhow::Error {
    if output.contains("No module named pip") {
        return anyhow::anyhow!(
            "pip is not installed for {PYTHON}, which stratus needs to install {}; install it (e.g. `apt-get install python3-pip`, or `{PYTHON} -m ensurepip --user`)",
            spec.source
        );
    }
    let missing = output.lines().find_map(|line| {
        line.split_once("No matching distribution found for ")
            .map(|(_, rest)| rest.trim().to_string())
    });
    if let Some(requirement) = missing {
        let name = requirement_name(&requirement);
        let message;
        let help;
        match (spec.platform, &spec.python_version) {
            (Platform::Linux(arch), Some(version)) => {
                let platform = format!("manylinux2014_{}", arch.wheel_name());
                message = format!(
                    "pip found no wheel of `{requirement}` (from {}) for {platform} / CPython {version}: stratus installs binary wheels only, built for the platform that runs the function",
                    spec.source
                );
                help = format!(
                    "pin a version of {name} that publishes a {platform} wheel for Python {version} (see its files on pypi.org), or check the name; a package that only ships sources must be built on a Linux {} machine with Python {version} and vendored",
                    arch.wheel_name()
                );
            }
            _ => {
                message = format!(
                    "pip found no distribution of `{requirement}` for {PYTHON} on this machine"
                );
                help = format!("check the name and version of {name} in {}", spec.source);
            }
        }
        return Diagnostics(vec![Diagnostic {
            severity: Severity::Error,
            location: Some(requirement_location(spec, name)),
            key: None,
            message,
            help: Some(help),
        }])
        .into();
    }
    anyhow::anyhow!(
        "pip could not install {} for {}:\n{}",
        spec.source,
        spec.platform,
        tool::tail(output, 15)
    )
}

/// The distribution name of a requirement (`MarkupSafe==9.9` → `MarkupSafe`).
fn requirement_name(requirement: &str) -> &str {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(requirement.len());
    &requirement[..end]
}

/// Where `name` is required: its line in the requirements file, else the file itself.
fn requirement_location(spec: &Spec, name: &str) -> Location {
    let wanted = normalize(name);
    let line = spec
        .requirements
        .lines()
        .position(|line| normalize(requirement_name(line.trim())) == wanted)
        .map_or(1, |index| index + 1);
    Location {
        file: spec.source_path.clone(),
        line: if spec.from_requirements_file { line } else { 1 },
        column: 1,
    }
}

/// A distribution name as PEP 503 compares them.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut last_dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !last_dash {
                out.push('-');
            }
            last_dash = true;
        } else {
            out.push(c.to_ascii_lowercase());
            last_dash = false;
        }
    }
    out
}

/// The installed files to leave out under `filters`: `slim` drops `__pycache__`, `*.pyc` /
/// `*.pyo`, `tests` directories and dist-info `RECORD` files; `noDeploy` drops every file a
/// named distribution's `RECORD` lists.
pub(crate) fn excluded(filters: &PythonFilters, files: &[TreeFile]) -> BTreeSet<String> {
    let mut excluded = BTreeSet::new();
    if filters.slim {
        for file in files {
            let parts: Vec<&str> = file.rel.split('/').collect();
            let in_dir = |name: &str| parts[..parts.len() - 1].contains(&name);
            let dist_record =
                parts.len() == 2 && parts[0].ends_with(".dist-info") && parts[1] == "RECORD";
            if in_dir("__pycache__")
                || in_dir("tests")
                || file.rel.ends_with(".pyc")
                || file.rel.ends_with(".pyo")
                || dist_record
            {
                excluded.insert(file.rel.clone());
            }
        }
    }
    if !filters.no_deploy.is_empty() {
        let wanted: BTreeSet<String> = filters
            .no_deploy
            .iter()
            .map(|name| normalize(name))
            .collect();
        for file in files {
            let Some((dir, "RECORD")) = file.rel.split_once('/') else {
                continue;
            };
            let Some(stem) = dir.strip_suffix(".dist-info") else {
                continue;
            };
            let name = stem.rsplit_once('-').map_or(stem, |(name, _)| name);
            if !wanted.contains(&normalize(name)) {
                continue;
            }
            let record = fs::read_to_string(&file.source).unwrap_or_default();
            for line in record.lines() {
                let path = line.split(',').next().unwrap_or("").trim();
                if !path.is_empty() && !path.split('/').any(|part| part == "..") {
                    excluded.insert(path.to_string());
                }
            }
            excluded.insert(file.rel.clone());
        }
    }
    excluded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_as_pep_503_does() {
        assert_eq!(normalize("MarkupSafe"), "markupsafe");
        assert_eq!(normalize("zope.interface"), normalize("Zope_Interface"));
        assert_eq!(
            requirement_name("MarkupSafe==9.9 ; python_version>'3'"),
            "MarkupSafe"
        );
        assert_eq!(requirement_name("six"), "six");
    }

    #[test]
    fn slim_and_no_deploy_leave_out_what_they_name() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("RECORD");
        fs::write(
            &record,
            "boto3/__init__.py,sha256=x,10\nboto3/session.py,,\n../../bin/x,,\n",
        )
        .unwrap();
        let file = |rel: &str, path: &Path| TreeFile {
            rel: rel.to_string(),
            source: path.to_path_buf(),
            size: 1,
            executable: false,
        };
        let files = vec![
            file("boto3-1.0.dist-info/RECORD", &record),
            file("boto3/__init__.py", &record),
            file("six.py", &record),
            file("pkg/__pycache__/a.cpython-312.pyc", &record),
            file("pkg/tests/test_a.py", &record),
            file("pkg/core.py", &record),
        ];
        let slim = excluded(
            &PythonFilters {
                slim: true,
                no_deploy: Vec::new(),
            },
            &files,
        );
        assert!(slim.contains("pkg/__pycache__/a.cpython-312.pyc"));
        assert!(slim.contains("pkg/tests/test_a.py"));
        assert!(slim.contains("boto3-1.0.dist-info/RECORD"));
        assert!(!slim.contains("pkg/core.py"));
        let no_deploy = excluded(
            &PythonFilters {
                slim: false,
                no_deploy: vec!["Boto3".to_string()],
            },
            &files,
        );
        assert!(no_deploy.contains("boto3/__init__.py"));
        assert!(no_deploy.contains("boto3/session.py"));
        assert!(no_deploy.contains("boto3-1.0.dist-info/RECORD"));
        assert!(!no_deploy.contains("six.py"));
        assert!(!no_deploy.iter().any(|path| path.contains("..")));
    }
}
