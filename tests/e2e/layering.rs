//! The dependency rules of architecture.md §2 and issue 10, checked on the real use graph of the
//! sources: [`usegraph`] parses every file of a crate with `syn` and resolves each `use` tree
//! (grouped and nested braces, `self`/`super`/`crate`, renames, globs) and each path written out
//! in code, types or macro bodies to the module, and so the file, it lands in (following
//! `pub use` re-exports to the file that defines the item).
//!
//! * Service modules (`session`, `api`, `auth`, `audio`, `player`, `connect`, `services`,
//!   `daemon`, `control`, `art`) never reach `ratatui`, `crossterm`, `crate::ui` or
//!   `crate::app`, not even through another module.
//! * No import cycles between the files of a crate (the client library, the binary, the
//!   simulator); a cycle fails the test with its files and the path behind each edge. A module
//!   file declaring, wiring and re-exporting its own submodules is not a dependency on them
//!   (that is what a parent module is); a submodule using its parent's items is.
//! * `audio` never imports `player`; `keymap` never imports `app`.
//! * `tonearm-sim` never depends on `tonearm` (its manifest, read through `cargo metadata`, and
//!   its paths).
//! * One layout for in-tree tests: a file's tests sit at its end in `#[cfg(test)] mod tests {
//!   … }` while they are short (under 250 lines); longer ones move to `foo/tests.rs`, declared
//!   by `#[cfg(test)] mod tests;` in `foo.rs`; tests that need several files live in
//!   `foo/tests.rs` declaring `foo/tests/*.rs` (shared test helpers live there too). No other
//!   names (`*_tests.rs`, `tests_*.rs`, `proptests.rs`, `testutil.rs`).
//! * File size ([`size`]): `src/main.rs` at most 150 lines; no non-test source file over 1,000
//!   lines without a `//! Size:` line in its module doc saying why.

mod size;
mod usegraph;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use usegraph::{cycles, Crate};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The client library's use graph.
fn client() -> Crate {
    Crate::load(&root().join("src/lib.rs"))
}

const SERVICES: &[&str] = &[
    "session", "api", "auth", "audio", "player", "connect", "services", "daemon", "control", "art",
    "guests",
];

/// Whether `module` is `top` or inside it.
fn within(module: &str, top: &str) -> bool {
    module == top || module.starts_with(&format!("{top}::"))
}

/// The module a file holds (the outermost one written in it).
fn modules_by_file(c: &Crate) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for (m, f) in &c.modules {
        let e = out.entry(c.rel(f)).or_insert_with(|| m.clone());
        if m.len() < e.len() {
            *e = m.clone();
        }
    }
    out
}

/// File edges that are dependencies: all but a module's file towards its own submodules'.
fn dependency_edges(c: &Crate) -> BTreeMap<(PathBuf, PathBuf), String> {
    let module_of = modules_by_file(c);
    c.file_edges()
        .into_iter()
        .filter(|((from, to), _)| {
            let (f, t) = (&module_of[from], &module_of[to]);
            !(f.is_empty() || t.starts_with(&format!("{f}::")))
        })
        .collect()
}

/// Fails naming every cycle not in `known` (each a sorted list of files), with the path that
/// makes each edge.
fn assert_acyclic(name: &str, c: &Crate, known: &[&[&str]]) {
    let edges = dependency_edges(c);
    let set: BTreeSet<(PathBuf, PathBuf)> = edges.keys().cloned().collect();
    let mut report = String::new();
    for cycle in cycles(&set) {
        let files: Vec<String> = cycle.iter().map(|p| p.display().to_string()).collect();
        if known.iter().any(|k| *k == files.as_slice()) {
            continue;
        }
        report.push_str(&format!("\n{name}: import cycle between {files:?}:\n"));
        for ((from, to), path) in &edges {
            if cycle.contains(from) && cycle.contains(to) {
                report.push_str(&format!(
                    "  {} -> {}  ({path})\n",
                    from.display(),
                    to.display()
                ));
            }
        }
    }
    assert!(report.is_empty(), "{report}");
}

#[test]
fn service_modules_never_reach_the_ui() {
    let c = client();
    let module_of = modules_by_file(&c);
    // Per file: the UI things it names itself, and the files it depends on.
    let mut ui_refs: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    for r in &c.refs {
        let first = r.path[0].as_str();
        let ui = matches!(first, "ratatui" | "crossterm")
            || c.target(&r.path)
                .is_some_and(|m| within(&m, "ui") || within(&m, "app"));
        if ui {
            ui_refs
                .entry(c.rel(&r.file))
                .or_default()
                .push(r.path.join("::"));
        }
    }
    let mut next: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for (from, to) in c.file_edges().into_keys() {
        next.entry(from).or_default().push(to);
    }
    let mut failures = Vec::new();
    for (file, module) in &module_of {
        if !SERVICES.iter().any(|s| within(module, s)) {
            continue;
        }
        // Breadth-first over the files it depends on, keeping the way there.
        let mut seen: BTreeMap<PathBuf, Option<PathBuf>> = BTreeMap::new();
        seen.insert(file.clone(), None);
        let mut queue = VecDeque::from([file.clone()]);
        while let Some(f) = queue.pop_front() {
            if let Some(what) = ui_refs.get(&f) {
                let mut way = vec![f.clone()];
                while let Some(Some(prev)) = seen.get(way.last().expect("non-empty")) {
                    way.push(prev.clone());
                }
                way.reverse();
                let way: Vec<String> = way.iter().map(|p| p.display().to_string()).collect();
                failures.push(format!(
                    "{} reaches {what:?} via {}",
                    file.display(),
                    way.join(" -> ")
                ));
                break;
            }
            for n in next.get(&f).into_iter().flatten() {
                if !seen.contains_key(n) {
                    seen.insert(n.clone(), Some(f.clone()));
                    queue.push_back(n.clone());
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_client_has_no_import_cycles() {
    assert_acyclic(
        "tonearm",
        &client(),
        &[
            // The crate's error hub: `error.rs` converts each module's error into
            // `crate::Error`, and those modules name `crate::ErrorKind`, which lives beside it.
            // Not one of issue 10's cycles; moving `ErrorKind` to a file of its own
            // (`error/kind.rs`) removes it.
            &["api/error.rs", "auth/oauth.rs", "error.rs", "session.rs"],
        ],
    );
    assert_acyclic(
        "tonearm (binary)",
        &Crate::load(&root().join("src/main.rs")),
        &[],
    );
}

#[test]
fn the_simulator_has_no_import_cycles() {
    let sim = Crate::load(&root().join("crates/tonearm-sim/src/lib.rs"));
    assert!(
        sim.modules.len() > 20,
        "the simulator's modules were not found"
    );
    assert_acyclic("tonearm-sim", &sim, &[]);
}

/// Fails naming each file of module `from` that depends on module `to`.
fn assert_never_imports(from: &str, to: &str) {
    let c = client();
    let module_of = modules_by_file(&c);
    let bad: Vec<String> = dependency_edges(&c)
        .into_iter()
        .filter(|((f, t), _)| within(&module_of[f], from) && within(&module_of[t], to))
        .map(|((f, _), path)| format!("{} uses {path}", f.display()))
        .collect();
    assert!(bad.is_empty(), "{from} must not import {to}: {bad:?}");
}

#[test]
fn audio_never_imports_the_player() {
    assert_never_imports("audio", "player");
}

#[test]
fn keymap_never_imports_app() {
    assert_never_imports("keymap", "app");
}

#[test]
fn the_simulator_never_depends_on_the_client() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sim = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "tonearm-sim")
        .expect("tonearm-sim is a workspace member");
    let deps: Vec<&str> = sim["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(!deps.is_empty());
    for client in ["tonearm", "tonearm-testkit"] {
        assert!(!deps.contains(&client), "tonearm-sim depends on {client}");
    }
    // And no path in its sources names the client crate.
    let c = Crate::load(&root().join("crates/tonearm-sim/src/lib.rs"));
    let named: Vec<String> = c
        .refs
        .iter()
        .filter(|r| r.path[0] == "tonearm")
        .map(|r| format!("{}: {}", r.file.display(), r.path.join("::")))
        .collect();
    assert!(named.is_empty(), "{named:?}");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Lines of each inline `mod tests { … }` written at the top level of `src`.
fn inline_test_modules(src: &str) -> Vec<usize> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let l = l
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ");
        if l == "mod tests {" {
            let end = lines[i..]
                .iter()
                .position(|l| *l == "}")
                .map_or(lines.len(), |n| i + n);
            out.push(end - i + 1);
        }
    }
    out
}

/// Whether `src` declares `#[cfg(test)] mod tests;`.
fn declares_tests_file(src: &str) -> bool {
    let file = syn::parse_file(src).unwrap();
    file.items.iter().any(|item| {
        matches!(item, syn::Item::Mod(m) if m.ident == "tests" && m.content.is_none()
            && m.attrs.iter().any(|a| a.path().is_ident("cfg")))
    })
}

#[test]
fn in_tree_tests_follow_one_layout() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    for krate in std::fs::read_dir(root().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    let mut bad = Vec::new();
    for f in &files {
        let stem = f.file_stem().unwrap().to_string_lossy().to_string();
        if stem.ends_with("_tests")
            || stem.starts_with("tests_")
            || ["proptests", "testutil", "test_util", "test_utils"].contains(&stem.as_str())
        {
            let in_tests_dir = f.parent().is_some_and(|p| p.ends_with("tests"));
            if !(in_tests_dir && stem == "proptests") {
                bad.push(format!("{}: not a name of the test layout", f.display()));
            }
        }
        let text = std::fs::read_to_string(f).unwrap();
        for n in inline_test_modules(&text) {
            if n >= 250 {
                bad.push(format!(
                    "{}: an inline tests module of {n} lines (move it to a tests.rs beside)",
                    f.display()
                ));
            }
        }
        if stem == "tests" {
            // Declared by the module it tests: `foo/tests.rs` ← `foo.rs` (or the crate root).
            let dir = f.parent().unwrap();
            let owner = if dir.ends_with("src") {
                ["lib.rs", "main.rs"]
                    .iter()
                    .map(|r| dir.join(r))
                    .find(|p| p.exists())
                    .unwrap()
            } else {
                dir.with_extension("rs")
            };
            let declared =
                owner.exists() && declares_tests_file(&std::fs::read_to_string(&owner).unwrap());
            if !declared {
                bad.push(format!(
                    "{}: not declared by `#[cfg(test)] mod tests;` in {}",
                    f.display(),
                    owner.display()
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The reader itself, on a small crate written here: grouped and nested imports, `super::`
/// chains, renames, re-exports (named and glob), fully qualified paths in code, types and a
/// macro, and a cycle only they make.
#[test]
fn the_use_graph_reader_sees_every_kind_of_path() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::create_dir_all(src.join("c")).unwrap();
    std::fs::create_dir_all(src.join("f")).unwrap();
    let write = |p: &str, s: &str| std::fs::write(src.join(p), s).unwrap();
    write("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\nmod f;\n");
    // a: grouped and nested braces, a rename, code paths, a macro path.
    write(
        "a.rs",
        "use crate::{b::{x::{self}}, c::Deep as D};\n\
         pub struct A;\n\
         fn f() -> crate::f::T { let _ = x::go(); crate::d::run(); \
         let _ = format!(\"{}\", crate::e::name()); crate::f::T }\n",
    );
    write("b.rs", "pub mod x;\n");
    // b::x reaches a through a super chain: a ↔ b/x is a cycle.
    write(
        "b/x.rs",
        "use super::super::a::A;\npub fn go() -> A { A }\n",
    );
    // c re-exports Deep from its submodule: a's edge goes to c/inner.rs.
    write("c.rs", "mod inner;\npub use inner::Deep;\n");
    write("c/inner.rs", "pub struct Deep;\n");
    write("d.rs", "pub fn run() {}\n");
    write("e.rs", "pub fn name() -> &'static str { \"e\" }\n");
    // f re-exports everything of its submodule with a glob.
    write("f.rs", "mod types;\npub use types::*;\n");
    write("f/types.rs", "pub struct T;\n");
    let c = Crate::load(&src.join("lib.rs"));
    let edges: BTreeSet<(String, String)> = dependency_edges(&c)
        .into_keys()
        .map(|(a, b)| (a.display().to_string(), b.display().to_string()))
        .collect();
    for (from, to) in [
        ("a.rs", "b/x.rs"),
        ("a.rs", "c/inner.rs"),
        ("a.rs", "d.rs"),
        ("a.rs", "e.rs"),
        ("a.rs", "f/types.rs"),
        ("b/x.rs", "a.rs"),
    ] {
        assert!(
            edges.contains(&(from.to_string(), to.to_string())),
            "missing {from} -> {to} in {edges:?}"
        );
    }
    // The parent declaring its children is not a dependency.
    assert!(!edges.contains(&("c.rs".to_string(), "c/inner.rs".to_string())));
    let set: BTreeSet<(PathBuf, PathBuf)> = dependency_edges(&c).into_keys().collect();
    assert_eq!(
        cycles(&set),
        vec![vec![PathBuf::from("a.rs"), PathBuf::from("b/x.rs")]]
    );
}
