//! Link options for the `tonearm` binary only (no effect on the library or on dependencies).
//!
//! On Linux with glibc, link with packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR: binutils ≥ 2.38, glibc ≥ 2.36). A position-independent Rust binary carries one
//! 24-byte relocation per pointer in its read-only data (vtables, string tables); the dynamic
//! loader reads them all at start, so they are resident in every process (≈ 440 KiB for
//! tonearm). Packed, they take a few KiB. Probed with the C compiler first, so an older
//! toolchain simply links the classic way.
//!
//! In release builds, also gather the functions that playing runs at the start of the code
//! (`scripts/hot-text.ld`, a linker script made by `scripts/hot-text.sh` from a profile of
//! `tonearm play`). The kernel maps a binary's code 64 KiB at a time around each page it
//! executes, so hot functions scattered among cold ones (the simulator, the UI, error paths)
//! make most of the code resident; gathered, they share a few hundred pages (issue 10: the
//! RSS budget). The script only adds an output section in front of `.text` (`INSERT BEFORE`),
//! and its patterns leave out symbol hashes, so a function it no longer names just keeps its
//! default place. It is probed by linking a tiny program with the same `rustc`, flags and
//! target first: a linker that cannot take it (or `TONEARM_NO_HOT_TEXT=1`) links as before.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=scripts/hot-text.ld");
    println!("cargo:rerun-if-env-changed=TONEARM_NO_HOT_TEXT");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let native = std::env::var("HOST") == std::env::var("TARGET");
    if linux_gnu && native && linker_packs_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let wanted = std::env::var_os("TONEARM_NO_HOT_TEXT").is_none_or(|v| v.is_empty() || v == "0");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") && release && wanted {
        let script = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("scripts/hot-text.ld");
        if !script.is_file() {
            println!("cargo:warning=scripts/hot-text.ld is missing: code not gathered");
        } else if linker_takes_script(&script) {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
        } else {
            println!("cargo:warning=the linker refused scripts/hot-text.ld: code not gathered");
        }
    }
}

/// Whether `cc` links a program with `-z pack-relative-relocs` (the linker knows the option and
/// glibc provides the `GLIBC_ABI_DT_RELR` version it requires).
fn linker_packs_relocations() -> bool {
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return false;
    };
    let src = Path::new(&out_dir).join("relr_probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let exe = Path::new(&out_dir).join("relr_probe");
    Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args([
            "-pie",
            "-fPIE",
            "-Wl,-z,pack-relative-relocs",
            "-Wl,--fatal-warnings",
            "-o",
        ])
        .arg(&exe)
        .arg(&src)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the linker rustc uses for this target links a small Rust program with `script`
/// (it knows linker scripts with `INSERT`, and the script parses).
fn linker_takes_script(script: &Path) -> bool {
    let (Ok(out_dir), Ok(rustc), Ok(target)) = (
        std::env::var("OUT_DIR"),
        std::env::var("RUSTC"),
        std::env::var("TARGET"),
    ) else {
        return false;
    };
    let dir = PathBuf::from(out_dir);
    let src = dir.join("hot_text_probe.rs");
    if std::fs::write(&src, "fn main() { println!(\"probe\"); }\n").is_err() {
        return false;
    }
    let mut cmd = Command::new(rustc);
    cmd.arg("--target")
        .arg(target)
        .arg("-o")
        .arg(dir.join("hot_text_probe"))
        .arg(format!("-Clink-arg=-Wl,-T,{}", script.display()));
    if let Ok(linker) = std::env::var("RUSTC_LINKER") {
        cmd.arg(format!("-Clinker={linker}"));
    }
    if let Ok(flags) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        cmd.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    cmd.arg(&src)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
