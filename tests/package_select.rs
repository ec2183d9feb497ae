//! What goes into which artifact: patterns, individually, generated files, prebuilt artifacts,
//! symlinks, secrets and size limits.

#![cfg(unix)]

mod package_support;

use std::fs;
use std::os::unix::fs::symlink;

use package_support::*;
use stratus::diagnostic::{Diagnostics, Severity};
use stratus::package::{GeneratedFile, SizeLimits};

fn two_function_tree(root: &std::path::Path) {
    write(root, "a/handler.py", b"def main(e, c): return 'a'\n");
    write(root, "b/handler.py", b"def main(e, c): return 'b'\n");
    write(root, "shared/util.py", b"U = 1\n");
    write(root, "tests/test_a.py", b"assert True\n");
    write(root, "README.md", b"# demo\n");
}

#[test]
fn service_patterns_exclude_and_reinclude_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_function_tree(root);
    write(root, "node_modules/left/index.js", b"x");
    write(root, "node_modules/kept/index.js", b"y");
    let mut service = service(root, &[("a", "a/handler.main"), ("b", "b/handler.main")]);
    // As the loader folds `exclude: [tests/**]` and `include: [...]` after `patterns`.
    service.package.patterns = vec![
        "!node_modules/**".into(),
        "node_modules/kept/**".into(),
        "!*.md".into(),
        "!tests/**".into(),
    ];
    let packaged = package(&request(&service));
    assert_eq!(packaged.artifacts.len(), 1);
    let artifact = &packaged.artifacts[0];
    assert_eq!(artifact.name, "demo");
    assert_eq!(artifact.functions, ["a", "b"]);
    assert_eq!(
        names(&artifact.path),
        [
            "a/handler.py",
            "b/handler.py",
            "node_modules/kept/index.js",
            "shared/util.py"
        ]
    );
    assert!(packaged.for_function("b").is_some());
}

#[test]
fn individually_gives_each_function_its_own_zip_with_its_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_function_tree(root);
    let mut service = service(root, &[("a", "a/handler.main"), ("b", "b/handler.main")]);
    service.package.individually = true;
    service.package.patterns = vec!["!**".into(), "shared/**".into()];
    service.functions["a"].package.patterns = vec!["a/**".into()];
    service.functions["b"].package.patterns = vec!["b/**".into()];
    let packaged = package(&request(&service));
    let names_of = |function: &str| names(&packaged.for_function(function).unwrap().path);
    assert_eq!(packaged.artifacts.len(), 2);
    assert_eq!(
        packaged.for_function("a").unwrap().path,
        root.join(".stratus/a.zip")
    );
    assert_eq!(names_of("a"), ["a/handler.py", "shared/util.py"]);
    assert_eq!(names_of("b"), ["b/handler.py", "shared/util.py"]);
    assert_ne!(
        packaged.for_function("a").unwrap().sha256,
        packaged.for_function("b").unwrap().sha256
    );
}

#[test]
fn one_function_individually_the_rest_share_and_scope_limits_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_function_tree(root);
    let mut service = service(
        root,
        &[
            ("a", "a/handler.main"),
            ("b", "b/handler.main"),
            ("c", "a/handler.main"),
        ],
    );
    service.functions["b"].package.individually = Some(true);
    service.functions["a"].package.patterns = vec!["!b/**".into()];
    let packaged = package(&request(&service));
    let shared = packaged.for_function("a").unwrap();
    assert_eq!(shared.name, "demo");
    assert_eq!(shared.functions, ["a", "c"]);
    assert_eq!(packaged.for_function("b").unwrap().name, "b");
    // Function patterns on a shared artifact are ignored, and said so.
    let warning = packaged
        .warnings
        .iter()
        .find(|w| w.key.as_deref() == Some("functions.a.package.patterns"))
        .expect("a warning about ignored function patterns");
    assert_eq!(warning.severity, Severity::Warning);
    assert!(names(&shared.path).contains(&"b/handler.py".to_string()));

    // Only `b`: one zip, and the existing demo.zip is kept as it was.
    fs::remove_file(root.join(".stratus/b.zip")).unwrap();
    let before = fs::read(root.join(".stratus/demo.zip")).unwrap();
    let mut req = request(&service);
    req.functions = Some(vec!["b".into()]);
    let only_b = package(&req);
    assert_eq!(only_b.artifacts.len(), 1);
    assert_eq!(only_b.artifacts[0].functions, ["b"]);
    assert!(root.join(".stratus/b.zip").is_file());
    assert_eq!(fs::read(root.join(".stratus/demo.zip")).unwrap(), before);

    req.functions = Some(vec!["nope".into()]);
    let error = stratus::package::package(&req).unwrap_err();
    assert!(error.downcast_ref::<Diagnostics>().is_some());
    assert!(error.to_string().contains("`nope`"), "{error}");
}

#[test]
fn generated_files_are_added_and_override_user_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_function_tree(root);
    write(root, "bootstrap", b"user version");
    let service = service(root, &[("a", "a/handler.main"), ("b", "b/handler.main")]);
    let mut req = request(&service);
    let shim = GeneratedFile {
        path: "bootstrap".into(),
        contents: b"#!/bin/sh\nexec python3 shim.py\n".to_vec(),
        executable: true,
    };
    let only_a = GeneratedFile {
        path: "_stratus/a.json".into(),
        contents: b"{}".to_vec(),
        executable: false,
    };
    req.generated.insert("a".into(), vec![shim.clone(), only_a]);
    req.generated.insert("b".into(), vec![shim.clone()]);
    let packaged = package(&req);
    let zip = &packaged.artifacts[0].path;
    assert_eq!(read_entry(zip, "bootstrap"), shim.contents);
    assert_eq!(entry_mode(zip, "bootstrap"), 0o100755);
    assert_eq!(read_entry(zip, "_stratus/a.json"), b"{}");
    let listed = names(zip);
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);

    // Two functions sharing a zip with different files at one path: refused.
    let mut other = shim.clone();
    other.contents = b"different".to_vec();
    req.generated.insert("b".into(), vec![other]);
    let error = stratus::package::package(&req).unwrap_err();
    assert!(format!("{error:#}").contains("`bootstrap`"), "{error:#}");
}

#[test]
fn prebuilt_artifacts_are_hashed_not_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_function_tree(root);
    let mut service = service(root, &[("a", "a/handler.main"), ("b", "b/handler.main")]);
    // Build a zip to use as b's prebuilt artifact.
    let built = package(&request(&service));
    fs::copy(&built.artifacts[0].path, root.join("prebuilt.zip")).unwrap();
    service.functions["b"].package.artifact = Some("prebuilt.zip".into());
    let packaged = package(&request(&service));
    let b = packaged.for_function("b").unwrap();
    assert_eq!(b.path, root.join("prebuilt.zip"));
    assert_eq!(b.sha256, built.artifacts[0].sha256);
    assert_eq!(b.entries, built.artifacts[0].entries);
    assert_eq!(packaged.for_function("a").unwrap().functions, ["a"]);

    service.functions["b"].package.artifact = Some("missing.zip".into());
    let error = stratus::package::package(&request(&service)).unwrap_err();
    let diagnostics = error
        .downcast_ref::<Diagnostics>()
        .expect("a manifest error");
    assert_eq!(
        diagnostics.0[0].key.as_deref(),
        Some("functions.b.package.artifact")
    );
    assert!(diagnostics.0[0].message.contains("missing.zip"));

    service.functions["b"].package.artifact = None;
    service.package.artifact = Some("nothing-here.zip".into());
    let error = stratus::package::package(&request(&service)).unwrap_err();
    assert!(error.to_string().contains("package.artifact"), "{error}");
}

#[test]
fn symlinks_inside_are_followed_outside_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("svc");
    let outside = dir.path().join("outside");
    write(&outside, "secret.txt", b"not yours");
    write(&root, "handler.py", b"x");
    write(&root, "real/data.txt", b"data");
    symlink("real/data.txt", root.join("link.txt")).unwrap();
    symlink("real", root.join("linked-dir")).unwrap();
    let service = service(&root, &[("hello", "handler.main")]);
    let packaged = package(&request(&service));
    let zip = &packaged.artifacts[0].path;
    assert_eq!(
        names(zip),
        [
            "handler.py",
            "link.txt",
            "linked-dir/data.txt",
            "real/data.txt"
        ]
    );
    assert_eq!(read_entry(zip, "link.txt"), b"data");

    symlink(outside.join("secret.txt"), root.join("escape.txt")).unwrap();
    let error = stratus::package::package(&request(&service)).unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("escape.txt") && text.contains("outside the service directory"),
        "{text}"
    );
    assert!(text.contains("secret.txt"), "names the target: {text}");

    // Excluding the link makes it fine.
    let mut excluded = service.clone();
    excluded.package.patterns = vec!["!escape.txt".into()];
    package(&request(&excluded));

    fs::remove_file(root.join("escape.txt")).unwrap();
    symlink(&outside, root.join("escape-dir")).unwrap();
    let error = stratus::package::package(&request(&service)).unwrap_err();
    assert!(format!("{error:#}").contains("escape-dir"), "{error:#}");
    fs::remove_file(root.join("escape-dir")).unwrap();

    symlink("does-not-exist", root.join("broken")).unwrap();
    let error = stratus::package::package(&request(&service)).unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("broken symlink") && text.contains("does-not-exist"),
        "{text}"
    );
    fs::remove_file(root.join("broken")).unwrap();

    symlink("..", root.join("real/loop")).unwrap();
    let error = stratus::package::package(&request(&service)).unwrap_err();
    assert!(format!("{error:#}").contains("loop"), "{error:#}");
}

#[test]
fn files_that_look_like_secrets_are_warned_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "handler.py", b"x");
    write(root, ".env", b"TOKEN=do-not-print-me");
    write(root, "certs/server.pem", b"-----BEGIN PRIVATE KEY-----");
    write(root, ".env.example", b"TOKEN=");
    let mut service = service(root, &[("a", "handler.main"), ("b", "handler.main")]);
    service.package.individually = true;
    let packaged = package(&request(&service));
    let warnings: Vec<String> = packaged.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(
        warnings[0].contains("`.env`") && warnings[0].contains("a.zip, b.zip"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("add \"!.env\" to package.patterns"),
        "{}",
        warnings[0]
    );
    assert!(warnings[1].contains("certs/server.pem"), "{}", warnings[1]);
    assert!(warnings.iter().all(|w| !w.contains("do-not-print-me")));

    service.package.patterns = vec!["!.env".into(), "!**/*.pem".into()];
    assert!(package(&request(&service)).warnings.is_empty());
}

#[test]
fn size_limits_warn_with_the_largest_contributors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "handler.py", b"x");
    write(root, "vendor/big.txt", &b"abcdefgh".repeat(20_000));
    write(root, "data.txt", &b"12345678".repeat(5_000));
    let service = service(root, &[("hello", "handler.main")]);
    let mut req = request(&service);
    req.limits = Some(SizeLimits {
        zipped: 100,
        unzipped: 100_000,
    });
    let packaged = package(&req);
    let text: Vec<String> = packaged.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(text.len(), 2, "{text:#?}");
    assert!(
        text[0].contains("zipped") && text[0].contains("direct upload"),
        "{}",
        text[0]
    );
    assert!(text[1].contains("unzipped"), "{}", text[1]);
    let vendor = text[1].find("vendor/").expect("names vendor/");
    let data = text[1].find("data.txt").expect("names data.txt");
    assert!(vendor < data, "largest first: {}", text[1]);

    req.limits = Some(SizeLimits {
        zipped: 1 << 30,
        unzipped: 1 << 30,
    });
    assert!(package(&req).warnings.is_empty());
}

#[test]
fn patterns_that_leave_nothing_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "handler.py", b"x");
    let mut service = service(root, &[("hello", "handler.main")]);
    service.package.patterns = vec!["!**".into()];
    let error = stratus::package::package(&request(&service)).unwrap_err();
    assert!(error.to_string().contains("would be empty"), "{error}");
}

#[test]
fn a_handler_left_out_by_the_patterns_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_function_tree(root);
    let mut service = service(root, &[("a", "a/handler.main"), ("b", "b/handler.main")]);
    service.package.patterns = vec!["!b/**".into()];
    let packaged = package(&request(&service));
    let keys: Vec<&str> = packaged
        .warnings
        .iter()
        .filter_map(|w| w.key.as_deref())
        .collect();
    assert_eq!(keys, ["functions.b.handler"]);
    assert!(packaged.warnings[0].message.contains("`b/handler.py`"));
}
