//! Walking the service tree: every candidate file with its zip path, size and executable bit.
//!
//! The walk happens once per `package` run and is shared by every artifact. It skips `.git`,
//! `.stratus` and `.serverless` entries (directories or files, at any depth) and the output
//! directory. Symlinks
//! are followed when they resolve inside the service directory (a file link stores the target's
//! content under the link's path); links that leave the service directory, broken links, loops
//! and names that are not UTF-8 are recorded as [`TreeProblem`]s, which become errors only if a
//! pattern would put them in an artifact (so `!node_modules/**` also silences problems there).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Directory names never packaged, wherever they are.
pub const ALWAYS_EXCLUDED: [&str; 3] = [".git", ".stratus", ".serverless"];

/// A regular file (or a symlink to one inside the service) found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// Zip path: relative to the service root, `/`-separated.
    pub rel: String,
    /// The file to read (the resolved target for a symlink).
    pub source: PathBuf,
    /// Size in bytes when walked.
    pub size: u64,
    /// Whether any executable bit is set.
    pub executable: bool,
}

/// Something the walk could not package, reported only if the patterns include it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeProblem {
    /// Zip path of the offending entry.
    pub rel: String,
    /// Whether it stands for a whole directory (a directory symlink, say).
    pub is_dir: bool,
    /// What is wrong and what to do, ready for the user.
    pub message: String,
}

/// The walked tree, files sorted by zip path.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// Packable files, sorted by `rel`.
    pub files: Vec<TreeFile>,
    /// Entries that cannot be packaged.
    pub problems: Vec<TreeProblem>,
}

/// Walks `root`, skipping [`ALWAYS_EXCLUDED`] directories and the directories in `skip`
/// (canonical paths, such as the output directory).
pub fn walk(root: &Path, skip: &[PathBuf]) -> anyhow::Result<Tree> {
    let canonical_root = fs::canonicalize(root)
        .with_context(|| format!("cannot open the service directory {}", root.display()))?;
    let mut tree = Tree::default();
    // (real directory, zip path prefix, real directories on the way down for loop detection)
    let mut stack: Vec<(PathBuf, String, Vec<PathBuf>)> = vec![(
        canonical_root.clone(),
        String::new(),
        vec![canonical_root.clone()],
    )];
    while let Some((dir, prefix, ancestors)) = stack.pop() {
        let entries = fs::read_dir(&dir)
            .with_context(|| format!("cannot list the directory {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tree.problems.push(TreeProblem {
                    rel: format!("{prefix}{}", name.to_string_lossy()),
                    is_dir: false,
                    message: format!(
                        "{} has a name that is not valid UTF-8, which a zip cannot carry portably; rename it or exclude it in package.patterns",
                        path.display()
                    ),
                });
                continue;
            };
            // `.git` may also be a file (worktrees, submodules): never packaged either.
            if ALWAYS_EXCLUDED.contains(&name) {
                continue;
            }
            let rel = format!("{prefix}{name}");
            let file_type = entry
                .file_type()
                .with_context(|| format!("cannot read the type of {}", path.display()))?;
            if file_type.is_dir() {
                if skip.contains(&path) {
                    continue;
                }
                let mut down = ancestors.clone();
                down.push(path.clone());
                stack.push((path, format!("{rel}/"), down));
            } else if file_type.is_file() {
                let metadata = fs::metadata(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                tree.files.push(TreeFile {
                    rel,
                    size: metadata.len(),
                    executable: is_executable(&metadata),
                    source: path,
                });
            } else if file_type.is_symlink() {
                follow_symlink(
                    &canonical_root,
                    &path,
                    rel,
                    &ancestors,
                    &mut stack,
                    &mut tree,
                );
            } else {
                tree.problems.push(TreeProblem {
                    rel,
                    is_dir: false,
                    message: format!(
                        "{} is not a regular file (a socket, pipe or device); exclude it in package.patterns",
                        path.display()
                    ),
                });
            }
        }
    }
    tree.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    tree.problems.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(tree)
}

/// Resolves the symlink at `path`: a file inside the root becomes a [`TreeFile`], a directory
/// inside the root is walked, anything else a [`TreeProblem`].
fn follow_symlink(
    root: &Path,
    path: &Path,
    rel: String,
    ancestors: &[PathBuf],
    stack: &mut Vec<(PathBuf, String, Vec<PathBuf>)>,
    tree: &mut Tree,
) {
    let written = fs::read_link(path)
        .map(|target| target.display().to_string())
        .unwrap_or_else(|_| "?".to_string());
    let target = match fs::canonicalize(path) {
        Ok(target) => target,
        Err(_) => {
            tree.problems.push(TreeProblem {
                rel,
                is_dir: false,
                message: format!(
                    "{} is a broken symlink (it points to {written}, which does not exist); fix or remove the link, or exclude it in package.patterns",
                    path.display()
                ),
            });
            return;
        }
    };
    let metadata = fs::metadata(&target);
    let is_dir = metadata.as_ref().is_ok_and(|m| m.is_dir());
    if !target.starts_with(root) {
        tree.problems.push(TreeProblem {
            rel,
            is_dir,
            message: format!(
                "{} is a symlink to {}, outside the service directory {}; packages only carry files of the service: copy the target into the service, or exclude the link in package.patterns",
                path.display(),
                target.display(),
                root.display()
            ),
        });
        return;
    }
    match metadata {
        Ok(metadata) if metadata.is_dir() => {
            if ancestors.iter().any(|ancestor| ancestor.starts_with(&target)) {
                tree.problems.push(TreeProblem {
                    rel,
                    is_dir: true,
                    message: format!(
                        "{} is a symlink to {written}, one of its own parent directories (a loop); remove the link or exclude it in package.patterns",
                        path.display()
                    ),
                });
                return;
            }
            let mut down = ancestors.to_vec();
            down.push(target.clone());
            stack.push((target, format!("{rel}/"), down));
        }
        Ok(metadata) if metadata.is_file() => tree.files.push(TreeFile {
            rel,
            size: metadata.len(),
            executable: is_executable(&metadata),
            source: target,
        }),
        _ => tree.problems.push(TreeProblem {
            rel,
            is_dir: false,
            message: format!(
                "{} is a symlink to {written}, which is not a regular file; exclude it in package.patterns",
                path.display()
            ),
        }),
    }
}

/// Whether a file has any executable bit (always false where modes do not exist).
#[cfg(unix)]
pub fn is_executable(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

/// Whether a file has any executable bit (always false where modes do not exist).
#[cfg(not(unix))]
pub fn is_executable(_metadata: &fs::Metadata) -> bool {
    false
}
