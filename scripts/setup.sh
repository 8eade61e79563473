#!/usr/bin/env bash
# Installs the system packages tonearm needs to build, when they are missing.
# Debian/Ubuntu: uses apt-get as root or through passwordless sudo; otherwise prints the exact
# command to run and fails. Safe to run repeatedly (does nothing when all is present).
set -euo pipefail

# `setup.sh test` adds what only the tests need: chromium (the end-to-end sign-in test drives a
# real headless browser), python3-zeroconf (the mDNS test's independent browser), tmux (the
# terminal UI test types into a tmux pane), iproute2 (`ip netns`: the mDNS tests run in
# network namespaces of their own, as root), dbus + gnome-keyring (the credential store test
# runs a real Secret Service on a private `dbus-run-session` bus) and playerctl (the MPRIS test's
# independent client on such a bus). Without them those tests
# return early with a printed reason; under CI=true they fail instead. `make demo` does not pull
# in any of them. `make bench` needs tmux (the TUI benchmark), GNU time (the peak RSS of
# `tonearm play`) and dbus (the TUI benchmark's MPRIS phase on a private session bus).
packages=(pkg-config libasound2-dev)
if [ "${1:-}" = "test" ]; then
  packages+=(chromium python3-zeroconf tmux iproute2 dbus gnome-keyring playerctl)
elif [ "${1:-}" = "bench" ]; then
  packages+=(tmux time dbus)
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install the Rust toolchain (https://rustup.rs) and run make again." >&2
  exit 1
fi
for comp in fmt clippy; do
  if ! cargo "$comp" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1 && rustup component add "$([ "$comp" = fmt ] && echo rustfmt || echo clippy)" >/dev/null 2>&1; then
      :
    else
      echo "setup: 'cargo $comp' is missing; run: rustup component add $([ "$comp" = fmt ] && echo rustfmt || echo clippy)" >&2
      exit 1
    fi
  fi
done

# `setup.sh test` also needs cargo-deny (the dependency policy in deny.toml, checked by
# `make test` and `make audit`): installed from crates.io when missing (a few minutes of
# compiling, once per machine).
CARGO_DENY_VERSION=0.20.2
if [ "${1:-}" = "test" ] && ! cargo deny --version >/dev/null 2>&1; then
  echo "setup: installing cargo-deny $CARGO_DENY_VERSION (cargo install --locked; takes a few minutes)" >&2
  cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION" </dev/null
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing system packages: ${missing[*]} (ALSA headers, pkg-config; chromium for the sign-in tests, python3-zeroconf and iproute2 for the mDNS tests, tmux for the terminal UI test, dbus and gnome-keyring for the Secret Service test, playerctl for the MPRIS test)." >&2
  echo "setup: install them with your package manager (e.g. 'dnf install alsa-lib-devel pkgconf chromium tmux iproute dbus gnome-keyring playerctl')." >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "setup: missing system packages: ${missing[*]}" >&2
  echo "setup: run this, then make again:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq </dev/null >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
