# CaaS — the two commands that matter:
#   make up    build every component and serve the app on http://127.0.0.1:3000 with the simulators
#   make test  build what the tests need and run every test
# Both install what they need (see infra/toolchain.sh) and can be run again at any time.

SHELL := /bin/bash
CARGO ?= cargo
LISTEN ?= 127.0.0.1:3000
APP_URL ?= http://$(LISTEN)
# First of the six simulator ports (factory, payment, iot, vss, registry, notify).
SIM_BASE_PORT ?= 4101
NATIVE_PKGS := -p caas-runtime -p caas-sim
TEST_PKGS := -p caas-domain -p caas-runtime -p caas-sim -p caas-tests

.PHONY: help up test build build-web build-wasm build-native toolchain browser fuzz-tools bench clean-state deploy-files screenshots clock clock-advance clock-set redis

help:
	@echo "make up     build and serve the app on $(APP_URL) (simulators on 127.0.0.1:4101-4106)"
	@echo "make test   run every test (domain unit tests, runtime, simulators, host tests of the real components)"
	@echo "make screenshots  the customer app's main screens (phone, desktop) -> docs/screenshots"
	@echo "make bench  throughput/latency figures through the runtime -> bench/results/latest.md"
	@echo "make clock | clock-advance BY=15d | clock-set TO=2027-02-01T00:00:00Z   move a running make up's business time"

toolchain:
	@infra/toolchain.sh

# The customer web app (web/, npm lockfile) is built first: functions/web embeds web/dist.
build-web:
	@infra/build-web.sh

build-wasm: toolchain build-web
	@infra/build-wasm.sh

# Debian's chromium + chromium-driver for the browser tests.
browser:
	@infra/browser.sh

# Debian's redis-server for the replica tests (started by the tests on free loopback ports).
redis:
	@infra/redis.sh

# The bins of the runtime and the simulators, resolved with the same packages as `make test`
# (TEST_PKGS): cargo unifies features over the packages asked for, and caas-tests' dependencies turn on
# features of shared crates (hyper-util client, syn fold/visit, ...). Built with NATIVE_PKGS alone, those
# crates and everything above them (wasmtime included) got other features and were compiled a second
# time after `make test` (6 min 51 s here); with TEST_PKGS `make up` reuses what `make test` built.
# Only bin targets are built: caas-tests' own dependencies (reqwest, ...) are resolved, not compiled.
build-native:
	$(CARGO) build $(TEST_PKGS) --bins

build: build-wasm build-native

up: build
	@# infra/up.sh starts the simulators and the runtime as its children and stops both on Ctrl-C,
	@# SIGTERM (to make's process group or to the script) or when either of them exits.
	@LISTEN=$(LISTEN) SIM_BASE_PORT=$(SIM_BASE_PORT) infra/up.sh

# Business time of a running `make up` (development clock, see infra/runtime/src/dev_clock.rs):
# read it, advance it (BY=15d, 3h, 90m, 30s) or set it forward (TO=2027-02-01T00:00:00Z).
clock:
	@curl -sS http://$(LISTEN)/_dev/clock; echo
clock-advance:
	@curl -sS -X POST "http://$(LISTEN)/_dev/clock?advance=$(BY)"; echo
clock-set:
	@curl -sS -X POST "http://$(LISTEN)/_dev/clock?set=$(TO)"; echo

fuzz-tools:
	@infra/fuzz-tools.sh

# (cargo test also builds target/debug/caas-runtime, which the billing crash test spawns; a separate
# `cargo build --bins` would compile the runtime's dependencies a second time with other features.)
test: build-wasm fuzz-tools browser redis
	$(CARGO) test $(TEST_PKGS) --no-fail-fast

# The runtime runs as its own process (target/release-lto/caas-runtime) so its CPU time and memory
# are measured apart from the load generator's; `redis` for the two-replica case.
bench: build-wasm redis
	$(CARGO) build --profile release-lto -p caas-runtime -p caas-bench --bins
	target/release-lto/caas-bench --out bench/results/latest.md

clean-state:
	rm -rf .spin

# The main screens of the customer app, phone and desktop, as PNGs under docs/screenshots/.
screenshots: build-wasm browser
	CAAS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(CARGO) test -p caas-tests --test host web::screenshots -- --ignored --exact

deploy-files:
	@infra/deploy/gen-cronjobs.sh infra/schedules.toml > infra/deploy/cronjobs.yaml
