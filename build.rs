//! Link options for the `tonearm` binary only (no effect on the library or on dependencies).
//!
//! On Linux with glibc, link with packed relative relocations (`-z pack-relative-relocs`,
//! DT_RELR: binutils ≥ 2.38, glibc ≥ 2.36). A position-independent Rust binary carries one
//! 24-byte relocation per pointer in its read-only data (vtables, string tables); the dynamic
//! loader reads them all at start, so they are resident in every process (≈ 440 KiB for
//! tonearm). Packed, they take a few KiB. Probed with the C compiler first, so an older
//! toolchain simply links the classic way.

use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    let native = std::env::var("HOST") == std::env::var("TARGET");
    if linux_gnu && native && linker_packs_relocations() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether `cc` links a program with `-z pack-relative-relocs` (the linker knows the option and
/// glibc provides the `GLIBC_ABI_DT_RELR` version it requires).
fn linker_packs_relocations() -> bool {
    let Ok(out_dir) = std::env::var("OUT_DIR") else {
        return false;
    };
    let src = std::path::Path::new(&out_dir).join("relr_probe.c");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let exe = std::path::Path::new(&out_dir).join("relr_probe");
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
