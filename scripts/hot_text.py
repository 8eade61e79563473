#!/usr/bin/env python3
"""Turns text-page profiles into the linker script that gathers the hot functions.

usage: hot_text.py BINARY PROFILE... [--confirm OTHER_BINARY OTHER_PROFILE...] > hot-text.ld

Each PROFILE is the log of one run under scripts/textprof.c (the file-page numbers of BINARY's
text that the run executed), named GROUP.N: the functions of the first group come first (in
their order in BINARY), then those the next group adds, and so on. A profile says which 4 KiB
pages ran, not which functions, so every function sharing such a page looks hot; with
--confirm, a function counts only if it also sat on an executed page of the same group in
OTHER_BINARY (the same code laid out differently, e.g. the build before this one), which
drops most of the bystanders.

Each function goes into the script as a section pattern, its hashes left out where that is
safe (`17h*E` for legacy names, `Cs*_` for v0 crate disambiguators), so the entry survives rebuilds with other dependencies, features (the bench
build's dev-dependencies change every hash) or toolchains. Where it has many copies (one generic
function for many types: `tokio::runtime::task::raw::poll` exists once per future) of which the
cold ones weigh more than 1 KiB and more than a quarter of the hot ones, the exact name is kept, else
every copy would be gathered. A function whose name changed falls back to its default place.
"""
import re
import subprocess
import sys


def segments(binary):
    """(file offset, vaddr, size) of the executable PT_LOAD segments."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    segs = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            segs.append((int(f[1], 16), int(f[2], 16), int(f[5], 16)))
    return segs


def functions(binary):
    out = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    fns = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            fns.append((int(f[0], 16), int(f[1], 16), f[3]))
    fns.sort()
    return fns


LEGACY_HASH = re.compile(r"17h[0-9a-f]{16}E$")
V0_CRATE = re.compile(r"Cs[0-9A-Za-z]+_")


def loose(name):
    """`name` with its hashes left out (a glob), or `name` itself."""
    if name.startswith("_ZN"):
        return LEGACY_HASH.sub("17h*E", name)
    if name.startswith("_R"):
        return V0_CRATE.sub("Cs*_", name)
    return name


def profiled(binary, profiles):
    """[(group, [(addr, size, name) of the functions on executed pages])], in profile order."""
    segs = segments(binary)
    groups = []
    for p in profiles:
        group = p.rsplit("/", 1)[-1].split(".")[0]
        if not groups or groups[-1][0] != group:
            groups.append((group, set()))
        for line in open(p):
            line = line.strip()
            if line.isdigit():
                off = int(line) * 4096
                for foff, vaddr, size in segs:
                    if foff - 4096 < off < foff + size:
                        groups[-1][1].add((vaddr - foff + off) & ~4095)
    fns = functions(binary)
    out = []
    for group, pages in groups:
        hot = []
        for addr, size, name in fns:
            first, last = addr & ~4095, (addr + max(size, 1) - 1) & ~4095
            if any(p in pages for p in range(first, last + 1, 4096)):
                hot.append((addr, size, name))
        out.append((group, len(pages), hot))
    return fns, out


def main():
    args = sys.argv[1:]
    confirm = None
    if "--confirm" in args:
        at = args.index("--confirm")
        args, other = args[:at], args[at + 1:]
        _, other_groups = profiled(other[0], other[1:])
        confirm = {g: {loose(n) for _, _, n in hot} for g, _, hot in other_groups}
    fns, groups = profiled(args[0], args[1:])
    # Per hash-free name: the bytes of all its copies, and of the hot ones.
    all_bytes, hot_bytes, hot_names = {}, {}, set()
    for _, size, name in fns:
        all_bytes[loose(name)] = all_bytes.get(loose(name), 0) + size
    for _, _, hot in groups:
        for _, size, name in hot:
            if name not in hot_names:
                hot_names.add(name)
                hot_bytes[loose(name)] = hot_bytes.get(loose(name), 0) + size

    def pattern(name):
        wide = loose(name)
        cold = all_bytes[wide] - hot_bytes.get(wide, 0)
        return wide if cold <= max(1024, hot_bytes.get(wide, 0) // 4) else name

    seen = set()
    out = []
    for group, npages, hot in groups:
        keep = []
        for _, size, name in hot:
            if confirm is not None and loose(name) not in confirm.get(group, set()):
                continue
            pat = pattern(name)
            if pat not in seen and all(c not in pat for c in "[]?\\\" "):
                seen.add(pat)
                keep.append((pat, size))
        out.append((group, npages, keep))
    print("/* Generated by scripts/hot-text.sh (do not edit): the functions that profiled runs of")
    print("   tonearm executed, gathered in front of the rest of the code so that they share pages;")
    print("   see build.rs and scripts/hot_text.py.")
    for group, npages, keep in out:
        total = sum(s for _, s in keep)
        line = f"{group}: {len(keep)} more functions, {total // 1024} KiB (from {npages} pages executed)"
        print(f"   {line}")
        print(line, file=sys.stderr)
    print("*/")
    print("SECTIONS {")
    print("  .text.hot : {")
    for group, _, keep in out:
        print(f"    /* {group} */")
        print("    *(")
        for pat, _ in keep:
            print(f"      .text.{pat}")
            print(f"      .text.unlikely.{pat}")
        print("    )")
    print("  }")
    print("} INSERT BEFORE .text;")


main()
