//! Node.js dependencies with npm: `npm ci` when a lockfile exists, else `npm install`, production
//! dependencies only unless `package.excludeDevDependencies: false`, in a scratch copy of
//! `package.json` (never in the user's tree), for the target's OS and CPU (`--os linux --cpu`),
//! without symlinks (`--no-bin-links --install-links`) so the result zips as plain files.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use anyhow::Context;

use super::Platform;
use super::resolve::Spec;
use super::tool;

/// Installs `spec`'s dependencies into `content` (a `node_modules` tree); `work` is scratch.
pub(crate) fn install(
    spec: &Spec,
    work: &Path,
    content: &Path,
    verbose: bool,
) -> anyhow::Result<()> {
    let build = work.join("build");
    fs::create_dir_all(&build).with_context(|| format!("cannot create {}", build.display()))?;
    let source_dir = spec.source_path.parent().unwrap_or(Path::new("."));
    let copy = |from: &Path, name: &str| -> anyhow::Result<()> {
        fs::copy(from, build.join(name))
            .with_context(|| format!("cannot copy {} for npm", from.display()))?;
        Ok(())
    };
    copy(&spec.source_path, "package.json")?;
    if let Some(lockfile) = &spec.lockfile
        && let Some(name) = lockfile.file_name().and_then(|name| name.to_str())
    {
        copy(lockfile, name)?;
    }
    let npmrc = source_dir.join(".npmrc");
    if npmrc.is_file() {
        copy(&npmrc, ".npmrc")?;
    }
    let verb = if spec.lockfile.is_some() {
        "ci"
    } else {
        "install"
    };
    let mut command = Command::new("npm");
    command
        .current_dir(&build)
        .arg(verb)
        .args([
            "--no-audit",
            "--no-fund",
            "--no-bin-links",
            "--install-links",
        ])
        .args(["--loglevel", "error"])
        .env("npm_config_update_notifier", "false");
    if spec.omit_dev {
        command.arg("--omit=dev");
    } else {
        command.arg("--include=dev");
    }
    if let Platform::Linux(arch) = spec.platform {
        command
            .args(["--os", "linux", "--libc", "glibc", "--cpu"])
            .arg(arch.npm_name());
    }
    let finished = match tool::run(&mut command, "npm", verbose) {
        Ok(finished) => finished,
        Err(error) if error.kind() == io::ErrorKind::NotFound => anyhow::bail!(
            "npm is not on PATH: stratus runs it to install the dependencies of {}; install Node.js with npm (e.g. `apt-get install nodejs npm`, or from nodejs.org)",
            spec.source
        ),
        Err(error) => return Err(error).context("cannot run npm"),
    };
    if !finished.success {
        return Err(failure(spec, verb, &finished.output));
    }
    let modules = build.join("node_modules");
    if modules.is_dir() {
        // npm's own bookkeeping; it names the registry and changes nothing at run time.
        let _ = fs::remove_file(modules.join(".package-lock.json"));
        fs::rename(&modules, content)
            .with_context(|| format!("cannot move {} into the cache", modules.display()))?;
    }
    Ok(())
}

/// The error for a failed npm run: its `npm error` lines, with what to do for the usual causes.
fn failure(spec: &Spec, verb: &str, output: &str) -> anyhow::Error {
    let errors: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("npm error") || line.starts_with("npm ERR!"))
        .collect();
    let help = if output
        .contains("can only install packages when your package.json and package-lock.json")
    {
        "package-lock.json does not match package.json: run `npm install` beside it to update the lockfile, then package again"
    } else if output.contains("E404") || output.contains("404 Not Found") {
        "a dependency does not exist in the registry: check its name and version in package.json"
    } else if output.contains("ETARGET") {
        "no version of a dependency matches the range in package.json: relax the range or pick a published version"
    } else if output.contains("ENOTFOUND")
        || output.contains("ECONNREFUSED")
        || output.contains("ETIMEDOUT")
    {
        "npm could not reach its registry: check the network and npm's registry setting (`npm config get registry`)"
    } else {
        "run the same npm command beside package.json to see the whole output, or package with -v"
    };
    let shown = if errors.is_empty() {
        tool::tail(output, 15)
    } else {
        errors
            .iter()
            .take(15)
            .map(|line| format!("    {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    anyhow::anyhow!(
        "npm {verb} failed for {} ({}):\n{shown}\n  help: {help}",
        spec.source,
        spec.platform
    )
}
