#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS (default 60) each and prints a summary
# (executions, crashes) — the figures that go in the CHANGELOG. Called by `make fuzz`; not in CI.
#
# cargo-fuzz needs libFuzzer's nightly-only compiler flags (-Zsanitizer=address, coverage
# instrumentation). This machine, CI and most developer machines have only the stable
# toolchain, so the flags are enabled on it with RUSTC_BOOTSTRAP=1 (the stable compiler ships
# the sanitizer runtimes). A crash leaves its input in fuzz/artifacts/<target>/ and makes the
# script exit non-zero after the summary.
#   FUZZ_SECONDS=300 ./scripts/fuzz.sh             longer runs
#   ./scripts/fuzz.sh mercury ap_codec             only some targets
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (cargo install --locked; takes a few minutes)" >&2
  cargo install --locked --quiet cargo-fuzz </dev/null || exit 1
fi
export RUSTC_BOOTSTRAP=1

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "fuzz: building ${#targets[@]} targets" >&2
cargo fuzz build || exit 1

logdir="fuzz/logs"
mkdir -p "$logdir"
failed=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="$logdir/$t.log"
  echo "fuzz: $t for ${seconds}s" >&2
  # -rss_limit_mb: a parser must not need more than this for one input.
  cargo fuzz run "$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) 2>/dev/null | wc -l)
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "fuzz: $t stopped with status $rc; see $log" >&2
  fi
  summary+=("$(printf '%-16s %12s runs  %3s crash/oom/timeout files  exit %s' "$t" "${runs:-?}" "$crashes" "$rc")")
done

echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
