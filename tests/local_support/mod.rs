//! Shared helpers for the local provider tests: services built in code, packages zipped here,
//! and the interpreters the tests need.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use stratus::model::{Event, Function, HttpEvent, ProviderKind, Runtime, Service};
use stratus::package::{Artifact, Packaged};
use stratus::providers::local::runner::find_on_path;

/// Fails (never skips) when python3 or node is missing.
pub fn require_interpreters() {
    assert!(
        find_on_path("python3").is_some(),
        "these tests run real handlers: install Python 3 (`apt install python3`) so `python3` is on PATH"
    );
    assert!(
        find_on_path("node").is_some(),
        "these tests run real handlers: install Node.js (`apt install nodejs`) so `node` is on PATH"
    );
}

/// A function with `handler` on `runtime`.
pub fn function(name: &str, handler: &str, runtime: &str) -> Function {
    Function {
        runtime: Some(Runtime::parse(runtime)),
        ..Function::new(name, Some(handler))
    }
}

/// An `httpApi` event.
pub fn http(method: &str, path: &str) -> Event {
    Event::Http(HttpEvent {
        source: "httpApi".into(),
        method: method.into(),
        path: path.into(),
        extra: Default::default(),
    })
}

/// A service named `name` (stage `dev`) rooted at `root` with `functions`.
pub fn service(root: &Path, name: &str, functions: Vec<Function>) -> Service {
    functions.into_iter().fold(
        Service::new(name, ProviderKind::Local, root),
        Service::with_function,
    )
}

/// Writes `files` (path, contents) under `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// Zips the whole service root (one artifact serving every function) into `out_dir`.
pub fn package(service: &Service, out_dir: &Path) -> Packaged {
    let mut files = Vec::new();
    walk(&service.root, &service.root, &mut files);
    std::fs::create_dir_all(out_dir).unwrap();
    let path = out_dir.join(format!("{}.zip", service.name));
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options =
        zip::write::SimpleFileOptions::default().last_modified_time(zip::DateTime::default());
    let mut unzipped = 0;
    for file in &files {
        let bytes = std::fs::read(service.root.join(file)).unwrap();
        unzipped += bytes.len() as u64;
        writer
            .start_file(file.to_string_lossy().replace('\\', "/"), options)
            .unwrap();
        writer.write_all(&bytes).unwrap();
    }
    writer.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    Packaged {
        artifacts: vec![Artifact {
            name: service.name.clone(),
            path,
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            unzipped_size: unzipped,
            entries: files.len(),
            functions: service.functions.keys().cloned().collect(),
        }],
        warnings: Vec::new(),
        dependencies: Vec::new(),
    }
}
