#!/usr/bin/env bash
# Regenerates scripts/hot-text.ld, the list of functions `tonearm play` and the TUI execute,
# which build.rs hands to the linker so they share pages (fewer resident text pages: the RSS
# budget).
#   usage: scripts/hot-text.sh [BINARY]   (default: target/release/tonearm, built first)
# Runs BINARY under valgrind's callgrind against a simulator run from a copy of the binary:
# three runs of `tonearm play` of the demo album to a pipe (group "play"), then the TUI in a
# tmux pane opening Liked Songs and playing it (group "tui"). Callgrind names every function
# that executed at least one instruction, so the list holds exactly the code that ran, not the
# 4 KiB pages it sat on (a page profile also lists every bystander sharing a page with hot
# code: 3.4 MiB where 2.0 MiB ran). scripts/hot_text.py turns the names into section patterns.
# Which CPU features valgrind reports can steer a few runtime-dispatched functions (memchr's
# AVX2 or SSE2 path) differently from a native run; those few stay where the linker puts them.
# Linux; needs valgrind, python3, nm (binutils) and, for the TUI group, tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin tonearm
  bin=$target/release/tonearm
fi
bin=$(readlink -f "$bin")
command -v valgrind >/dev/null || { echo "hot-text: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "${sim_pid:-}" 2>/dev/null || true; tmux -S "$work/tmux" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$bin" "$work/sim"
mkdir -p "$work"/home/{config,cache,state,data,tmp} "$work/out"
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
# Callgrind with full, mangled names on every record (hot_text.py reads them as they are).
grind=(valgrind --tool=callgrind --demangle=no --compress-strings=no --compress-pos=no --dump-line=no)
for run in 1 2 3; do
  "${grind[@]}" --callgrind-out-file="$work/out/play.$run" \
    "$bin" "${endpoints[@]}" play --sink pipe "${conf[3]}" >/dev/null 2>"$work/play.err" ||
    { tail -5 "$work/play.err" >&2; echo "hot-text: tonearm play failed" >&2; exit 1; }
done
# screen PATTERN SECONDS: waits until the pane shows PATTERN (valgrind runs the TUI 20-50× slower).
screen() {
  for _ in $(seq $(($2 * 2))); do
    tmux -S "$work/tmux" capture-pane -p 2>/dev/null | grep -q "$1" && return 0
    sleep 0.5
  done
  echo "hot-text: the TUI never showed \"$1\"" >&2
  return 1
}
if command -v tmux >/dev/null; then
  line="exec env TERM=xterm-256color ${grind[*]} --callgrind-out-file=$work/out/tui.1"
  line+=" $bin ${endpoints[*]} --sink null 2>$work/tui.err"
  tmux -S "$work/tmux" -f /dev/null new-session -d -x 120 -y 40 "$line"
  screen "Liked Songs" 120
  for k in 1 l Enter Enter; do tmux -S "$work/tmux" send-keys "$k"; sleep 3; done
  screen "▶" 120
  sleep 20
  tmux -S "$work/tmux" send-keys C-c
  for _ in $(seq 120); do [ -s "$work/out/tui.1" ] && break; sleep 0.5; done
  sleep 2
else
  echo "hot-text: no tmux, profiling \`tonearm play\` only" >&2
fi
# HOT_TEXT_KEEP=DIR keeps the profiles (to try other rules in hot_text.py without a new run)
if [ -n "${HOT_TEXT_KEEP:-}" ]; then mkdir -p "$HOT_TEXT_KEEP" && cp "$work"/out/* "$HOT_TEXT_KEEP"/; fi
python3 scripts/hot_text.py "$bin" "$work"/out/play.* $(ls "$work"/out/tui.* 2>/dev/null) >"$work/ld"
mv "$work/ld" scripts/hot-text.ld
