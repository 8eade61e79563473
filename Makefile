# tonearm — the two commands of the quick start, plus benchmarks.
#   make demo   set up, build, run against the embedded simulator
#   make test   set up, then fmt check, clippy (-D warnings), the whole test suite
#   make bench  set up, then the benchmarks (figures go to README/CHANGELOG)
CARGO ?= cargo

.PHONY: all setup setup-test setup-bench demo test bench
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
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) test

bench: setup-bench
	$(CARGO) bench --bench session --bench audio --bench webapi --bench tui_render --bench tui_filter --bench tui_session --bench connect
