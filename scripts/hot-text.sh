#!/usr/bin/env bash
# Regenerates scripts/hot-text.ld, the list of functions `tonearm play` executes, which build.rs
# hands to the linker so they share pages (fewer resident text pages: the RSS budget).
#   usage: scripts/hot-text.sh [BINARY [PREVIOUS]]
#          (default BINARY: target/release/tonearm, built first)
# Profiles a release binary playing the demo album to a pipe, and the TUI playing, against a
# simulator run from a copy of the binary: scripts/textprof.c (LD_PRELOAD) serves the binary's
# text page by page through userfaultfd and logs each page executed; scripts/hot_text.py maps
# the pages to functions. PREVIOUS, an earlier build of the same code (e.g. the one before
# hot-text.ld changed), is profiled too: only functions executed in both layouts are kept,
# which drops the bystanders that merely shared a page with hot code. Linux only; needs cc, python3, readelf and nm (binutils), and the right to use
# userfaultfd (root, or vm.unprivileged_userfaultfd=1).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=${1:-}
previous=${2:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin tonearm
  bin=$target/release/tonearm
fi
work=$(mktemp -d)
trap 'kill "${sim_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cc -shared -fPIC -O2 -o "$work/textprof.so" scripts/textprof.c -lpthread
cp "$bin" "$work/sim"
mkdir -p "$work"/home/{config,cache,state,data,tmp}
export HOME=$work/home XDG_CONFIG_HOME=$work/home/config XDG_CACHE_HOME=$work/home/cache \
  XDG_STATE_HOME=$work/home/state XDG_DATA_HOME=$work/home/data TMPDIR=$work/home/tmp \
  TONEARM_CREDENTIAL_STORE=file DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent
unset TONEARM_LOG TONEARM_SIM TONEARM_SIM_PASSWORD
"$work/sim" sim --listen 127.0.0.1 --log-file "$work/sim.log" >"$work/info" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$work/info" ] && break; sleep 0.1; done
mapfile -t conf < <(python3 - "$work/info" <<'PY'
import json, sys
i = json.loads(open(sys.argv[1]).readline())
acc = next(a for a in i["accounts"] if a["product"] == "premium")
print(" ".join([f"--apresolve-url={i['apresolve']}", f"--ap-key-modulus={i['ap_key']['modulus']}",
    f"--ap-key-exponent={i['ap_key']['exponent']}", f"--login5-url={i['login5']}",
    f"--client-token-url={i['client_token']}", f"--accounts-url={i['accounts_url']}",
    f"--spclient-url={i['spclient']}", f"--dealer-url={i['dealer']}", f"--web-api-url={i['web_api']}"]))
print(acc["username"]); print(acc["password"]); print(i["demo_album"])
PY
)
read -r -a endpoints <<<"${conf[0]}"
printf '%s\n' "${conf[2]}" | "$bin" "${endpoints[@]}" login --username "${conf[1]}" --password-stdin >/dev/null
# profile BINARY DIR: three runs of `tonearm play` of the demo album (the union of what they
# execute, DIR/play.N), then the TUI in a tmux pane (DIR/tui.1): start, open Liked Songs, play
# it for a while, quit.
profile() {
  local bin=$1 dir=$2
  mkdir -p "$dir"
  for run in 1 2 3; do
    TEXTPROF_OUT=$dir/play.$run LD_PRELOAD=$work/textprof.so \
      "$bin" "${endpoints[@]}" play --sink pipe "${conf[3]}" 2>/dev/null >/dev/null
  done
  if ! command -v tmux >/dev/null; then
    echo "hot-text: no tmux, profiling \`tonearm play\` only" >&2
    return
  fi
  local line="exec env TERM=xterm-256color TEXTPROF_OUT=$dir/tui.1 LD_PRELOAD=$work/textprof.so"
  line+=" $bin ${endpoints[*]} --sink null"
  tmux -S "$work/tmux" -f /dev/null new-session -d -x 120 -y 40 "$line"
  sleep 5
  for k in 1 l Enter Enter; do tmux -S "$work/tmux" send-keys "$k"; sleep 0.5; done
  sleep 20
  tmux -S "$work/tmux" capture-pane -p | grep -q "▶" || echo "hot-text: the TUI did not play" >&2
  tmux -S "$work/tmux" send-keys C-c
  sleep 2
  tmux -S "$work/tmux" kill-server 2>/dev/null || true
}
profile "$bin" "$work/this"
# HOT_TEXT_KEEP=DIR keeps the profiles (to try other rules in hot_text.py without a new run)
if [ -n "${HOT_TEXT_KEEP:-}" ]; then mkdir -p "$HOT_TEXT_KEEP" && cp "$work"/this/* "$HOT_TEXT_KEEP"/; fi
confirm=()
if [ -n "$previous" ]; then
  profile "$previous" "$work/previous"
  mapfile -t confirm < <(printf "%s\n" --confirm "$previous"; ls "$work"/previous/play.* "$work"/previous/tui.* 2>/dev/null)
fi
python3 scripts/hot_text.py "$bin" $(ls "$work"/this/play.* "$work"/this/tui.* 2>/dev/null) \
  "${confirm[@]}" >scripts/hot-text.ld
