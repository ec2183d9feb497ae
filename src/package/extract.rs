//! Safe extraction of an artifact into a directory (the local provider's "deploy").
//!
//! Entries with absolute paths, `..` components, drive prefixes or backslashes are refused,
//! as are symlink entries; directories are created as needed; a file's executable bit is
//! restored from its Unix mode.

use std::fs::{self, File};
use std::io;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

/// Extracts every entry of the zip at `zip_path` under `dest_dir` (created if missing).
pub fn extract(zip_path: &Path, dest_dir: &Path) -> anyhow::Result<()> {
    let file =
        File::open(zip_path).with_context(|| format!("cannot open {}", zip_path.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a readable zip", zip_path.display()))?;
    fs::create_dir_all(dest_dir)
        .with_context(|| format!("cannot create {}", dest_dir.display()))?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .with_context(|| format!("cannot read entry {index} of {}", zip_path.display()))?;
        let name = entry
            .name()
            .with_context(|| {
                format!(
                    "entry {index} of {} has an unreadable name",
                    zip_path.display()
                )
            })?
            .to_string();
        let relative = safe_relative_path(&name).with_context(|| {
            format!(
                "{} holds the entry `{name}`, which would land outside the destination; rebuild the artifact with relative paths",
                zip_path.display()
            )
        })?;
        if entry.is_symlink() {
            anyhow::bail!(
                "{} holds `{name}`, a symlink; artifacts must carry regular files only",
                zip_path.display()
            );
        }
        let target = dest_dir.join(&relative);
        if entry.is_dir() {
            fs::create_dir_all(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mut out =
            File::create(&target).with_context(|| format!("cannot write {}", target.display()))?;
        io::copy(&mut entry, &mut out)
            .with_context(|| format!("cannot extract `{name}` from {}", zip_path.display()))?;
        set_mode(&target, entry.unix_mode())?;
    }
    Ok(())
}

/// `name` as a relative path of normal components, or an error saying why not.
fn safe_relative_path(name: &str) -> anyhow::Result<PathBuf> {
    if name.contains('\\') {
        anyhow::bail!("backslashes are not allowed in zip paths");
    }
    if name.starts_with('/') {
        anyhow::bail!("absolute paths are not allowed");
    }
    let mut path = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => anyhow::bail!("`..` is not allowed in zip paths"),
            Component::RootDir | Component::Prefix(_) => {
                anyhow::bail!("absolute paths are not allowed")
            }
        }
    }
    if path.as_os_str().is_empty() {
        anyhow::bail!("the entry has an empty name");
    }
    Ok(path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: Option<u32>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let executable = mode.is_some_and(|mode| mode & 0o111 != 0);
    let permissions = fs::Permissions::from_mode(if executable { 0o755 } else { 0o644 });
    fs::set_permissions(path, permissions)
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: Option<u32>) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::safe_relative_path;

    #[test]
    fn unsafe_names_are_refused() {
        for name in ["/etc/passwd", "../x", "a/../../x", "a\\b", "", "./"] {
            assert!(safe_relative_path(name).is_err(), "{name}");
        }
        assert_eq!(
            safe_relative_path("./a/b.txt").unwrap(),
            std::path::PathBuf::from("a/b.txt")
        );
    }
}
