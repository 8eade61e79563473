//! File size (issue 10): `src/main.rs` stays a thin edge (at most [`MAIN_MAX`] lines), and no
//! non-test source file of the workspace (`src/`, `crates/*/src`) grows past [`FILE_MAX`] lines
//! unless its module doc says why in a `//! Size:` line. Test code does not count: `tests.rs`
//! files, files under a `tests/` directory, and a file's inline `#[cfg(test)] mod tests { … }`.
//!
//! Part of the layering tests (`tests/e2e/layering.rs`, which declares it); uses its file walk
//! and std only.

use std::path::{Path, PathBuf};

use super::{inline_test_modules, root, rust_files};

/// Lines a non-test source file may have without a `//! Size:` note.
const FILE_MAX: usize = 1000;
/// Lines `src/main.rs` may have (issue 10: parse, set up, dispatch).
const MAIN_MAX: usize = 150;

/// Lines of `text` that are not its inline tests module (with its `#[cfg(test)]` line).
fn non_test_lines(text: &str) -> usize {
    let tests: usize = inline_test_modules(text).iter().map(|n| n + 1).sum();
    text.lines().count().saturating_sub(tests)
}

/// Whether the module doc (the `//!` lines the file opens with) has a `//! Size:` line.
fn has_size_note(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .take_while(|l| l.starts_with("//!") || l.is_empty())
        .any(|l| l.starts_with("//! Size:"))
}

/// Whether `f` (relative to a `src/` directory) is test code kept in a file of its own.
fn is_test_file(f: &Path) -> bool {
    f.file_stem().is_some_and(|s| s == "tests") || f.components().any(|c| c.as_os_str() == "tests")
}

/// Every non-test source file under `src` over [`FILE_MAX`] lines without a `//! Size:` note,
/// as "path: N lines".
fn oversized(base: &Path, src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap_or(&f);
        if is_test_file(rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let n = non_test_lines(&text);
        if n > FILE_MAX && !has_size_note(&text) {
            let shown: PathBuf = f.strip_prefix(base).unwrap_or(&f).to_path_buf();
            out.push(format!("{}: {n} lines", shown.display()));
        }
    }
    out
}

#[test]
fn no_source_file_is_over_a_thousand_lines_without_saying_why() {
    let mut srcs = vec![root().join("src")];
    for krate in std::fs::read_dir(root().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            srcs.push(src);
        }
    }
    let bad: Vec<String> = srcs.iter().flat_map(|s| oversized(root(), s)).collect();
    assert!(
        bad.is_empty(),
        "non-test source files over {FILE_MAX} lines whose module doc has no `//! Size:` line \
         saying why they are one file (split them by concern, or add the note):\n{}",
        bad.join("\n")
    );
}

#[test]
fn main_rs_stays_a_thin_edge() {
    let text = std::fs::read_to_string(root().join("src/main.rs")).unwrap();
    let n = non_test_lines(&text);
    assert!(
        n <= MAIN_MAX,
        "src/main.rs has {n} lines (at most {MAIN_MAX}): move command logic to src/cli/"
    );
}

/// The check itself, on files written here: an oversized file without the note is named (its
/// inline tests not counted), one with the note, one at the limit and test files are not.
#[test]
fn the_size_check_names_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a/tests")).unwrap();
    let body = |n: usize| "fn f() {}\n".repeat(n);
    let write = |p: &str, s: String| std::fs::write(src.join(p), s).unwrap();
    write("big.rs", format!("//! Big.\n{}", body(FILE_MAX)));
    write(
        "noted.rs",
        format!("//! Noted.\n//!\n//! Size: one table.\n{}", body(FILE_MAX)),
    );
    // A note further down (not in the module doc) does not count.
    write(
        "late.rs",
        format!("//! Late.\n{}// Size: nope\n", body(FILE_MAX)),
    );
    write(
        "limit.rs",
        format!("//! At the limit.\n{}", body(FILE_MAX - 1)),
    );
    // Over the limit only with its inline tests.
    write(
        "inline.rs",
        format!(
            "//! Inline tests.\n{}#[cfg(test)]\nmod tests {{\n{}}}\n",
            body(FILE_MAX - 1),
            body(20)
        ),
    );
    write("a/tests.rs", body(FILE_MAX + 5));
    write("a/tests/more.rs", body(FILE_MAX + 5));
    let bad = oversized(dir.path(), &src);
    assert_eq!(
        bad,
        vec![
            format!("src/big.rs: {} lines", FILE_MAX + 1),
            format!("src/late.rs: {} lines", FILE_MAX + 2),
        ]
    );
}
