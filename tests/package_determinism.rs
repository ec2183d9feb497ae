//! Property: the same tree gives byte-identical zips whatever the order files were created in
//! and whatever their timestamps.

#![cfg(unix)]

mod package_support;

use std::fs;
use std::time::{Duration, SystemTime};

use package_support::*;
use proptest::prelude::*;

/// A small tree: (path, contents, executable).
fn tree_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>, bool)>> {
    let path = prop::collection::vec("[a-z]{1,6}", 1..4).prop_map(|parts| parts.join("/"));
    let contents = prop::collection::vec(any::<u8>(), 0..3000);
    prop::collection::btree_map(path, (contents, any::<bool>()), 1..12).prop_map(|map| {
        // Drop paths that are a prefix directory of another (a file cannot also be a directory).
        let keys: Vec<String> = map.keys().cloned().collect();
        map.into_iter()
            .filter(|(path, _)| {
                !keys
                    .iter()
                    .any(|other| other.starts_with(&format!("{path}/")))
            })
            .map(|(path, (contents, executable))| (path, contents, executable))
            .collect()
    })
}

fn build(
    files: &[(String, Vec<u8>, bool)],
    order: &[usize],
    mtime_offset: u64,
) -> (Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (n, &index) in order.iter().enumerate() {
        let (path, contents, executable) = &files[index];
        write(root, path, contents);
        chmod(root, path, if *executable { 0o775 } else { 0o600 });
        let when = SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_000_000 + mtime_offset * 7919 + n as u64);
        fs::File::options()
            .write(true)
            .open(root.join(path))
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let service = service(root, &[("hello", "handler.main")]);
    let packaged = package(&request(&service));
    let bytes = fs::read(&packaged.artifacts[0].path).unwrap();
    (bytes, packaged.artifacts[0].sha256.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn same_tree_same_bytes(files in tree_strategy(), seed in any::<u64>()) {
        prop_assume!(!files.is_empty());
        let forward: Vec<usize> = (0..files.len()).collect();
        let mut shuffled = forward.clone();
        // A deterministic shuffle from the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let (first, first_hash) = build(&files, &forward, 0);
        let (second, second_hash) = build(&files, &shuffled, seed % 1000 + 1);
        prop_assert_eq!(&first_hash, &second_hash);
        prop_assert!(first == second);

        // And what is inside is exactly the tree, with the executable bits.
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("a.zip");
        fs::write(&zip_path, &first).unwrap();
        let mut expected: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        expected.sort();
        prop_assert_eq!(names(&zip_path), expected);
        for (path, contents, executable) in &files {
            prop_assert_eq!(&read_entry(&zip_path, path), contents);
            let mode = entry_mode(&zip_path, path);
            prop_assert_eq!(mode, if *executable { 0o100755 } else { 0o100644 });
        }
    }
}
