//! The dependency rules of architecture.md §2, checked on the sources: service modules never
//! import UI crates, and the simulator never imports client modules.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources_of(module: &str) -> Vec<(std::path::PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let single = root.join(format!("{module}.rs"));
    if single.exists() {
        files.push(single);
    }
    let dir = root.join(module);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    files
        .into_iter()
        .map(|p| {
            let s = std::fs::read_to_string(&p).unwrap();
            (p, s)
        })
        .collect()
}

#[test]
fn service_modules_import_no_ui_crates() {
    for module in [
        "session", "api", "auth", "audio", "player", "connect", "services", "daemon",
    ] {
        for (path, src) in sources_of(module) {
            // Code only: a doc comment may name the UI type that consumes a service's data.
            let code: String = src
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for banned in [
                "ratatui",
                "crossterm",
                "crate::ui",
                "crate::app",
                "tonearm::app",
            ] {
                assert!(!code.contains(banned), "{} uses {banned}", path.display());
            }
        }
    }
}

#[test]
fn simulator_imports_no_client_modules() {
    let files = sources_of("sim");
    assert!(!files.is_empty());
    for (path, src) in files {
        for banned in [
            "crate::session",
            "crate::config",
            "crate::id",
            "crate::auth",
            "crate::api",
            "crate::audio",
            "crate::player",
            "crate::connect",
            "crate::ui",
            "crate::app",
            "crate::demo",
            "crate::error",
            "tonearm::",
        ] {
            assert!(!src.contains(banned), "{} uses {banned}", path.display());
        }
    }
}
