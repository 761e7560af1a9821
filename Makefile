# callqc: `make demo` and `make test` do all the set-up on a fresh Debian machine (apt packages, the
# pinned .venv). Both are idempotent; the second run skips what is already installed.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup demo test test-fast bench lock clean

help:
	@echo "make demo       install, generate a synthetic inbox, run the nightly flow, print a summary"
	@echo "make test       install and run the whole test suite (what CI runs)"
	@echo "make test-fast  the suite without the slow end-to-end tests"
	@echo "make bench      the performance and quality tables (bench/)"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@bash scripts/test.sh

test-fast: setup
	@bash scripts/test.sh -m "not slow"

bench: setup
	@.venv/bin/callqc bench

clean:
	rm -rf demo-data .pytest_cache test-output
