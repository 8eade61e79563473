# tonearm — the two commands of the quick start, plus benchmarks, the audit and fuzzing.
#   make demo   set up, build, run against the embedded simulator
#   make test   set up, then fmt check, clippy (-D warnings), the whole test suite, and the
#               dependency policy checks that need no advisory database (deny.toml: licenses,
#               bans, sources)
#   make bench  set up, then the benchmarks (figures go to README/CHANGELOG)
#   make audit  the whole dependency policy, advisories included (fetches the RustSec database
#               from GitHub, so it needs that network access; not part of `make test`)
#   make fuzz   every fuzz target for FUZZ_SECONDS (default 60) each, with a summary of runs and
#               crashes (cargo-fuzz on the stable toolchain; not in CI)
CARGO ?= cargo
FUZZ_SECONDS ?= 60

.PHONY: all setup setup-test setup-bench demo test bench audit fuzz
all: test

setup:
	@./scripts/setup.sh

setup-test:
	@./scripts/setup.sh test

setup-bench:
	@./scripts/setup.sh bench

demo: setup
	$(CARGO) build --quiet
	@if [ -t 0 ] && [ -t 1 ]; then \
		./target/debug/tonearm --demo; \
	else \
		echo "make demo: no terminal here, so the protocol tour and the demo album instead of the TUI"; \
		./target/debug/tonearm --demo status && ./target/debug/tonearm --demo play; \
	fi

test: setup-test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) deny --locked check licenses bans sources
	$(CARGO) test --workspace

audit: setup-test
	$(CARGO) deny --locked check

fuzz: setup
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

bench: setup-bench
	$(CARGO) bench --bench session --bench audio --bench webapi --bench tui_render --bench tui_filter --bench tui_session --bench connect --bench recovery --bench zeroconf_flood --bench control --bench guests --bench play_rss
