//! The function app package: `host.json`, and per function its folder with the function's
//! packaged code and a generated `function.json` (bindings from the events: `httpTrigger`
//! with methods, route and authLevel plus the `http` output; `timerTrigger` with an NCRONTAB
//! schedule; `scriptFile` and `entryPoint`). Handlers written for AWS get a generated shim
//! ([`shim_files`]) that the bindings point at.
//!
//! The zip is assembled deterministically from the per-function artifacts, so its sha256
//! changes only when some function's code or bindings change. Vendored Python packages are the
//! exception to "each artifact in its function's folder": the Python worker looks for them only
//! in [`PYTHON_PACKAGES`] at the app root, so each artifact's `.python_packages/` is lifted
//! there, shared by every function of the app (two functions needing different contents for
//! the same file is an error). A top-level `node_modules/` that every function shares is
//! lifted to the app root too (one copy instead of one per function).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value as Json, json};

use super::app::native_handlers;
use crate::model::{Event, Function, Language, Service};
use crate::package::writer::{EntrySource, ZipEntry, write_zip};
use crate::package::{GeneratedFile, Packaged};

/// Where the Python worker finds an app's own packages, relative to the app root
/// (`/home/site/wwwroot`): its launcher puts this directory on `PYTHONPATH`.
pub const PYTHON_PACKAGES: &str = ".python_packages/lib/site-packages";

/// The artifact directory that goes to the app root instead of the function's folder.
const APP_ROOT_DIR: &str = ".python_packages/";
/// An artifact's top-level Node packages, lifted to the app root when every function shares them.
const NODE_MODULES: &str = "node_modules/";

const PY_SHIM: &str = include_str!("shims/aws_handler.py");
const JS_SHIM: &str = include_str!("shims/aws_handler.js");

/// The shim's file name for `function` (one per function, so names never collide).
pub fn shim_name(function: &str, language: &Language) -> String {
    let ext = if *language == Language::Node {
        "js"
    } else {
        "py"
    };
    format!("__stratus_azure_{}.{ext}", function.replace('-', "_"))
}

/// The language of a function (its runtime's, else the provider's; Python when unknown).
pub fn language_of(service: &Service, function: &Function) -> Language {
    service
        .effective(function)
        .runtime
        .map(|r| r.language)
        .unwrap_or(Language::Python)
}

/// The generated shim of a function whose handler is written for AWS; none for native ones.
pub fn shim_files(service: &Service, function: &Function) -> Vec<GeneratedFile> {
    let Some(handler) = &function.handler else {
        return Vec::new();
    };
    if native_handlers(service) {
        return Vec::new();
    }
    let language = language_of(service, function);
    let template = if language == Language::Node {
        JS_SHIM
    } else {
        PY_SHIM
    };
    let contents = template
        .replace("__STRATUS_HANDLER__", handler)
        .replace("__STRATUS_FUNCTION__", &function.name);
    vec![GeneratedFile {
        path: shim_name(&function.name, &language),
        contents: contents.into_bytes(),
        executable: false,
    }]
}

/// An HTTP function's trigger settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// Lower-case methods; empty means any.
    pub methods: Vec<String>,
    /// The route (`hello`, `users/{id}`).
    pub route: String,
    /// `anonymous`, `function` or `admin`.
    pub auth_level: String,
}

fn setting<'a>(extra: &'a serde_json::Map<String, Json>, key: &str) -> Option<&'a str> {
    extra
        .get(key)
        .or_else(|| extra.get("x-azure-settings")?.get(key))
        .and_then(Json::as_str)
}

/// The HTTP trigger of a function: its `http` events merged; a function without events gets
/// one too (key-protected, at its own name), so `invoke` can reach it as Lambda's can.
pub fn http_trigger(function: &Function) -> Option<HttpTrigger> {
    let http: Vec<_> = function
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Http(h) => Some(h),
            _ => None,
        })
        .collect();
    if http.is_empty() {
        return function.events.is_empty().then(|| HttpTrigger {
            methods: vec!["post".into()],
            route: function.name.clone(),
            auth_level: "function".into(),
        });
    }
    let first = http[0];
    let route = setting(&first.extra, "route")
        .map(str::to_string)
        .unwrap_or_else(|| {
            let path = first.path.trim_matches('/').replace("{proxy+}", "{*proxy}");
            if path.is_empty() {
                function.name.clone()
            } else {
                path
            }
        });
    let auth_level = setting(&first.extra, "authLevel")
        .unwrap_or("anonymous")
        .to_ascii_lowercase();
    let mut methods: Vec<String> = Vec::new();
    for event in &http {
        if event.method == "ANY" {
            methods.clear();
            break;
        }
        let method = event.method.to_ascii_lowercase();
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    Some(HttpTrigger {
        methods,
        route,
        auth_level,
    })
}

/// An AWS `rate(...)` / `cron(...)` expression or an NCRONTAB as Azure's six-field NCRONTAB.
pub fn ncrontab(expression: &str) -> Result<String, String> {
    let expression = expression.trim();
    if let Some(rate) = expression
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let mut words = rate.split_whitespace();
        let n: u32 = words
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("`{expression}` has no number"))?;
        let unit = words.next().unwrap_or("").trim_end_matches('s');
        return match unit {
            "minute" => Ok(format!("0 */{n} * * * *")),
            "hour" => Ok(format!("0 0 */{n} * * *")),
            "day" => Ok(format!("0 0 0 */{n} * *")),
            _ => Err(format!("`{expression}`: unknown unit `{unit}`")),
        };
    }
    if let Some(cron) = expression
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "`{expression}` does not have AWS's six cron fields"
            ));
        }
        let f = |s: &str| {
            if s == "?" {
                "*".to_string()
            } else {
                s.to_string()
            }
        };
        return Ok(format!(
            "0 {} {} {} {} {}",
            f(fields[0]),
            f(fields[1]),
            f(fields[2]),
            f(fields[3]),
            f(fields[4])
        ));
    }
    match expression.split_whitespace().count() {
        6 => Ok(expression.to_string()),
        5 => Ok(format!("0 {expression}")),
        _ => Err(format!(
            "`{expression}` is neither rate(...), cron(...) nor an NCRONTAB expression"
        )),
    }
}

/// The `function.json` of a function.
pub fn function_json(service: &Service, function: &Function) -> anyhow::Result<Json> {
    let language = language_of(service, function);
    let (script, entry) = if native_handlers(service) {
        let (file, entry) = function.handler_parts().with_context(|| {
            format!("functions.{}.handler is not `file.function`", function.name)
        })?;
        let ext = if language == Language::Node {
            "js"
        } else {
            "py"
        };
        (format!("{file}.{ext}"), entry.to_string())
    } else {
        let entry = if language == Language::Node {
            ""
        } else {
            "main"
        };
        (shim_name(&function.name, &language), entry.to_string())
    };
    let mut bindings = Vec::new();
    if let Some(trigger) = http_trigger(function) {
        let mut binding = json!({
            "authLevel": trigger.auth_level,
            "type": "httpTrigger",
            "direction": "in",
            "name": "req",
            "route": trigger.route,
        });
        if !trigger.methods.is_empty() {
            binding["methods"] = json!(trigger.methods);
        }
        bindings.push(binding);
        let out = if language == Language::Node {
            "res"
        } else {
            "$return"
        };
        bindings.push(json!({"type": "http", "direction": "out", "name": out}));
    }
    for event in &function.events {
        if let Event::Schedule(schedule) = event {
            let cron = ncrontab(&schedule.expression)
                .map_err(|e| anyhow::anyhow!("functions.{}: {e}", function.name))?;
            bindings.push(json!({
                "type": "timerTrigger",
                "direction": "in",
                "name": "timer",
                "schedule": cron,
            }));
            break;
        }
    }
    let mut doc = json!({ "scriptFile": script, "bindings": bindings });
    if !entry.is_empty() {
        doc["entryPoint"] = json!(entry);
    }
    Ok(doc)
}

/// `host.json`: extension bundle v4 and the longest function timeout.
pub fn host_json(service: &Service) -> Json {
    let timeout = service
        .functions
        .values()
        .map(|f| service.effective(f).timeout)
        .max()
        .unwrap_or(crate::model::DEFAULT_TIMEOUT_S);
    let (h, m, s) = (timeout / 3600, (timeout / 60) % 60, timeout % 60);
    json!({
        "version": "2.0",
        "functionTimeout": format!("{h:02}:{m:02}:{s:02}"),
        "extensionBundle": {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            "version": "[4.*, 5.0.0)"
        },
        "logging": {"logLevel": {"default": "Information"}}
    })
}

/// The app package built from the per-function artifacts.
#[derive(Debug, Clone)]
pub struct AppPackage {
    /// Where it was written.
    pub path: PathBuf,
    /// Its sha256.
    pub sha256: String,
}

fn read_zip(path: &Path) -> anyhow::Result<Vec<ZipFile>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        if entry.is_dir() {
            continue;
        }
        let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let name = entry.name()?.to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        out.push((name, bytes, executable));
    }
    Ok(out)
}

/// Two functions whose vendored Python packages disagree on `file`.
fn conflict(first: &str, second: &str, file: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "functions `{first}` and `{second}` need different contents for {file}, but an Azure function app has one {PYTHON_PACKAGES} for all its functions\n  help: give them the same Python requirements (one requirements.txt at the service root), or deploy them as separate services"
    )
}

/// Checks, before anything is written, that the vendored Python packages of the packaged
/// functions can share the app root: no file of `.python_packages/` differs between two
/// artifacts (compared by size and CRC-32, read from the zips' directories).
pub fn check_python_packages(packaged: &Packaged) -> anyhow::Result<()> {
    let mut seen: BTreeMap<String, (u64, u32, String)> = BTreeMap::new();
    for artifact in &packaged.artifacts {
        let owner = artifact
            .functions
            .first()
            .cloned()
            .unwrap_or_else(|| artifact.name.clone());
        let file = std::fs::File::open(&artifact.path)
            .with_context(|| format!("opening {}", artifact.path.display()))?;
        let mut archive = zip::ZipArchive::new(file)
            .with_context(|| format!("reading {}", artifact.path.display()))?;
        for index in 0..archive.len() {
            let entry = archive.by_index_raw(index)?;
            let name = entry.name()?.to_string();
            if entry.is_dir() || !name.starts_with(APP_ROOT_DIR) {
                continue;
            }
            let summary = (entry.size(), entry.crc32());
            match seen.get(&name) {
                None => {
                    seen.insert(name, (summary.0, summary.1, owner.clone()));
                }
                Some((size, crc, first)) if (*size, *crc) != summary => {
                    return Err(conflict(first, &owner, &name));
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// One file of an artifact: name, contents, executable.
type ZipFile = (String, Vec<u8>, bool);

/// Whether every function that carries a top-level `node_modules/` carries the same one: then
/// one copy goes to the app root, where `require` finds it from every function's folder (Node
/// looks in the parent directories), instead of one per function. Different sets stay in their
/// functions' folders.
fn node_modules_shared(contents: &[(&Function, Vec<ZipFile>)]) -> bool {
    let sets: Vec<Vec<&ZipFile>> = contents
        .iter()
        .map(|(_, files)| {
            files
                .iter()
                .filter(|(name, _, _)| name.starts_with(NODE_MODULES))
                .collect::<Vec<_>>()
        })
        .filter(|set| !set.is_empty())
        .collect();
    !sets.is_empty() && sets.windows(2).all(|pair| pair[0] == pair[1])
}

/// Builds the app zip (next to the artifacts) from every function of `service`.
pub fn build_app_package(service: &Service, packaged: &Packaged) -> anyhow::Result<AppPackage> {
    let mut files: Vec<(String, Vec<u8>, bool)> = vec![(
        "host.json".into(),
        serde_json::to_vec_pretty(&host_json(service))?,
        false,
    )];
    let mut contents: Vec<(&Function, Vec<ZipFile>)> = Vec::new();
    for function in service.functions.values() {
        let artifact = packaged.for_function(&function.name).with_context(|| {
            format!(
                "function {} has no package; package the whole service",
                function.name
            )
        })?;
        contents.push((function, read_zip(&artifact.path)?));
    }
    let lift_node = node_modules_shared(&contents);
    // Paths lifted to the app root -> (contents, executable, the first function carrying it).
    let mut shared: BTreeMap<String, (Vec<u8>, bool, String)> = BTreeMap::new();
    for (function, zip) in contents {
        for (name, bytes, executable) in zip {
            let to_root =
                name.starts_with(APP_ROOT_DIR) || (lift_node && name.starts_with(NODE_MODULES));
            if !to_root {
                files.push((format!("{}/{name}", function.name), bytes, executable));
                continue;
            }
            match shared.get(&name) {
                None => {
                    shared.insert(name, (bytes, executable, function.name.clone()));
                }
                Some((first, _, owner)) if *first != bytes => {
                    return Err(conflict(owner, &function.name, &name));
                }
                Some(_) => {}
            }
        }
        files.push((
            format!("{}/function.json", function.name),
            serde_json::to_vec_pretty(&function_json(service, function)?)?,
            false,
        ));
    }
    files.extend(
        shared
            .into_iter()
            .map(|(name, (bytes, executable, _))| (name, bytes, executable)),
    );
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    let entries: Vec<ZipEntry<'_>> = files
        .iter()
        .map(|(name, bytes, executable)| ZipEntry {
            name: name.clone(),
            source: EntrySource::Memory(bytes),
            size: bytes.len() as u64,
            executable: *executable,
        })
        .collect();
    let dir = packaged
        .artifacts
        .first()
        .and_then(|a| a.path.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| service.root.join(".stratus"));
    let path = dir.join(format!("{}-azure-app.zip", service.name));
    let written = write_zip(&entries, &path)?;
    Ok(AppPackage {
        path,
        sha256: written.sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_become_ncrontab() {
        assert_eq!(ncrontab("rate(5 minutes)").unwrap(), "0 */5 * * * *");
        assert_eq!(ncrontab("rate(1 hour)").unwrap(), "0 0 */1 * * *");
        assert_eq!(ncrontab("cron(0 12 * * ? *)").unwrap(), "0 0 12 * * *");
        assert_eq!(ncrontab("0 */5 * * * *").unwrap(), "0 */5 * * * *");
        assert!(ncrontab("whenever").is_err());
    }
}
