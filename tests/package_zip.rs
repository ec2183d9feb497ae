//! The zip itself: contents, fixed metadata, reproducibility, readable by other tools.

#![cfg(unix)]

mod package_support;

use std::fs;
use std::process::Command;

use package_support::*;

fn sample_tree(root: &std::path::Path) {
    write(
        root,
        "handler.py",
        b"def main(event, context):\n    return {'ok': True}\n",
    );
    write(root, "lib/util.py", &b"x = 1\n".repeat(1000));
    write(root, "bin/tool", b"#!/bin/sh\necho hi\n");
    chmod(root, "bin/tool", 0o750);
    write(root, "empty.txt", b"");
    write(root, ".git/HEAD", b"ref: refs/heads/main\n");
    write(root, "sub/.git/config", b"[core]\n");
    write(root, "worktree/.git", b"gitdir: /elsewhere\n");
    write(root, ".serverless/old.zip", b"old");
    write(root, ".stratus/other-function.zip", b"keep me");
}

#[test]
fn python_reads_back_every_file_with_fixed_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_tree(root);
    let service = service(root, &[("hello", "handler.main")]);
    let packaged = package(&request(&service));
    assert_eq!(packaged.artifacts.len(), 1);
    let artifact = &packaged.artifacts[0];
    assert_eq!(artifact.path, root.join(".stratus/demo.zip"));
    assert_eq!(artifact.functions, vec!["hello".to_string()]);
    assert_eq!(artifact.entries, 4);
    assert_eq!(artifact.unzipped_size, 50 + 6000 + 18);
    assert_eq!(artifact.size, fs::metadata(&artifact.path).unwrap().len());
    assert_eq!(
        artifact.sha256,
        stratus::package::sha256_file(&artifact.path).unwrap()
    );
    // Other artifacts in the output directory are left alone.
    assert_eq!(
        fs::read(root.join(".stratus/other-function.zip")).unwrap(),
        b"keep me"
    );

    let script = r#"
import sys, zipfile, os, json
root, path = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(path)
assert z.testzip() is None
out = []
for info in z.infolist():
    data = z.read(info)
    with open(os.path.join(root, info.filename), 'rb') as f:
        assert f.read() == data, info.filename
    out.append([info.filename, list(info.date_time), info.external_attr >> 16, info.create_system, info.compress_type, len(info.extra)])
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(root)
        .arg(&artifact.path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entries: Vec<(String, Vec<u32>, u32, u32, u32, u32)> =
        serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        ["bin/tool", "empty.txt", "handler.py", "lib/util.py"]
    );
    for (name, time, mode, system, method, extra) in &entries {
        assert_eq!(time, &vec![1980, 1, 1, 0, 0, 0], "{name}");
        let expected = if name == "bin/tool" {
            0o100755
        } else {
            0o100644
        };
        assert_eq!(*mode, expected, "{name}");
        assert_eq!(*system, 3, "{name}: made by Unix");
        assert_eq!(*method, 8, "{name}: deflate");
        assert_eq!(*extra, 0, "{name}: no extra fields");
    }

    let unzip = Command::new("unzip")
        .arg("-tq")
        .arg(&artifact.path)
        .output()
        .unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
}

#[test]
fn repackaging_gives_the_same_bytes_and_replaces_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_tree(root);
    let service = service(root, &[("hello", "handler.main")]);
    let first = package(&request(&service));
    let first_bytes = fs::read(&first.artifacts[0].path).unwrap();
    // Touch every file: new mtimes must not change the zip.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write(
        root,
        "handler.py",
        b"def main(event, context):\n    return {'ok': True}\n",
    );
    write(root, "lib/util.py", &b"x = 1\n".repeat(1000));
    let second = package(&request(&service));
    assert_eq!(first.artifacts[0].sha256, second.artifacts[0].sha256);
    assert_eq!(first_bytes, fs::read(&second.artifacts[0].path).unwrap());
    // No temporary or spill files are left behind.
    let leftovers: Vec<String> = fs::read_dir(root.join(".stratus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A changed file changes the hash.
    write(
        root,
        "handler.py",
        b"def main(event, context):\n    return {'ok': False}\n",
    );
    let third = package(&request(&service));
    assert_ne!(first.artifacts[0].sha256, third.artifacts[0].sha256);
}

#[test]
fn large_files_are_streamed_and_exact() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Above the in-memory limit: goes through a spill file. Mixed content, partly incompressible.
    let mut big = Vec::with_capacity(5 << 20);
    let mut state: u64 = 0x9E3779B97F4A7C15;
    while big.len() < (5 << 20) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if big.len() % (1 << 20) < (1 << 19) {
            big.extend_from_slice(&state.to_le_bytes());
        } else {
            big.extend_from_slice(b"compressible text line\n");
        }
    }
    write(root, "data/big.bin", &big);
    chmod(root, "data/big.bin", 0o755);
    write(root, "handler.py", b"def main(e, c):\n    return 1\n");
    let service = service(root, &[("hello", "handler.main")]);
    let packaged = package(&request(&service));
    let zip = &packaged.artifacts[0].path;
    assert_eq!(read_entry(zip, "data/big.bin"), big);
    assert_eq!(entry_mode(zip, "data/big.bin"), 0o100755);
    let bytes = fs::read(zip).unwrap();
    let again = package(&request(&service));
    assert_eq!(bytes, fs::read(&again.artifacts[0].path).unwrap());
    let unzip = Command::new("unzip").arg("-tq").arg(zip).output().unwrap();
    assert!(
        unzip.status.success(),
        "{}",
        String::from_utf8_lossy(&unzip.stdout)
    );
}

#[test]
fn an_output_directory_inside_the_service_is_not_packaged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "handler.py", b"x");
    write(root, "build/artifacts/stale.zip", b"old");
    let service = service(root, &[("hello", "handler.main")]);
    let mut req = request(&service);
    req.out_dir = root.join("build/artifacts");
    let packaged = package(&req);
    assert_eq!(names(&packaged.artifacts[0].path), ["handler.py"]);
}

#[test]
fn extract_restores_files_and_the_executable_bit() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sample_tree(root);
    let service = service(root, &[("hello", "handler.main")]);
    let packaged = package(&request(&service));
    let dest = tempfile::tempdir().unwrap();
    stratus::package::extract(&packaged.artifacts[0].path, dest.path()).unwrap();
    assert_eq!(
        fs::read(dest.path().join("lib/util.py")).unwrap(),
        fs::read(root.join("lib/util.py")).unwrap()
    );
    let mode = |rel: &str| {
        fs::metadata(dest.path().join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("handler.py"), 0o644);
    assert!(dest.path().join("empty.txt").is_file());
}

#[test]
fn extract_refuses_entries_that_escape() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.zip");
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1], 'w')\nz.writestr('ok.txt', 'fine')\nz.writestr(sys.argv[2], 'gotcha')\nz.close()\n";
    for name in ["../escaped.txt", "/abs.txt", "a/../../escaped.txt"] {
        let status = Command::new("python3")
            .args(["-c", script])
            .arg(&evil)
            .arg(name)
            .status()
            .unwrap();
        assert!(status.success());
        let dest = dir.path().join("dest/inner");
        let error = stratus::package::extract(&evil, &dest).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("outside the destination"), "{name}: {text}");
        assert!(!dir.path().join("dest/escaped.txt").exists());
        assert!(!dir.path().join("escaped.txt").exists());
    }
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    use stratus::package::writer::{EntrySource, ZipEntry, write_zip};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("previous.zip"), b"previous").unwrap();
    // Many entries so workers are busy when the missing one fails; one of them is large.
    let big = vec![7u8; 3 << 20];
    let mut entries: Vec<ZipEntry<'_>> = (0..200)
        .map(|i| ZipEntry {
            name: format!("f{i:03}.txt"),
            source: EntrySource::Memory(b"some text"),
            size: 9,
            executable: false,
        })
        .collect();
    entries.push(ZipEntry {
        name: "g-big.bin".into(),
        source: EntrySource::Memory(&big),
        size: big.len() as u64,
        executable: false,
    });
    entries.push(ZipEntry {
        name: "h-missing.txt".into(),
        source: EntrySource::Disk(dir.path().join("does-not-exist.txt")),
        size: 10,
        executable: false,
    });
    let error = write_zip(&entries, &out.join("previous.zip")).unwrap_err();
    assert!(
        format!("{error:#}").contains("does-not-exist.txt"),
        "{error:#}"
    );
    let left: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["previous.zip"]);
    assert_eq!(fs::read(out.join("previous.zip")).unwrap(), b"previous");

    // Out-of-order entries are refused before anything is written.
    entries.swap(0, 1);
    assert!(write_zip(&entries, &out.join("x.zip")).is_err());
    assert!(!out.join("x.zip").exists());
}
