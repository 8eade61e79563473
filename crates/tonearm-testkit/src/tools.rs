//! What a test needs from the machine beyond Rust: a program (tmux, chromium, `ip`), a Python
//! module, root. [`require_tool`] and [`require`] let a test return early with a printed reason
//! when it is missing on a developer's machine, and fail it under `CI=true`, where the setup
//! script installs everything: CI must prove what it claims, never pass by skipping.
//!
//! Depends on std only.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether this run is CI (`CI=true`, as GitHub Actions and most CI systems set it).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `present` holds. When it does not: panics with `what` and `why` under `CI=true`;
/// otherwise prints the reason and returns `false` (the test returns early).
pub fn require(present: bool, what: &str, why: &str) -> bool {
    if present {
        return true;
    }
    let reason = format!("{what} is missing: {why}");
    assert!(!in_ci(), "CI=true and {reason}");
    eprintln!("skipped: {reason}");
    false
}

/// Where the program `name` is: `name` itself when it is a path, else the first executable of
/// that name on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// [`require`] for a program (a name on `PATH`, or a path).
pub fn require_tool(name: &str, why: &str) -> bool {
    require(find_tool(name).is_some(), name, why)
}

/// A Python 3 interpreter that can `import module` (the Debian packages install into
/// /usr/bin/python3, which may differ from the first `python3` on `PATH`).
pub fn python_with(module: &str) -> Option<String> {
    ["/usr/bin/python3", "python3"].into_iter().find_map(|py| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then(|| py.to_string())
    })
}

/// Whether this process runs as root (its effective uid, from `/proc/self/status`; network
/// namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path_and_by_path() {
        let sh = find_tool("sh").expect("sh is on PATH");
        assert!(sh.is_absolute());
        assert_eq!(find_tool(&sh.display().to_string()), Some(sh));
        assert_eq!(find_tool("no-such-tool-tonearm"), None);
        assert_eq!(find_tool("/nonexistent/tool"), None);
    }

    #[test]
    fn a_present_tool_is_required_without_fuss() {
        assert!(require_tool("sh", "every Unix has it"));
        assert!(require(true, "anything", "present"));
    }
}
