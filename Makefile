# CaaS — the two commands that matter:
#   make up    build every component and serve the app on http://127.0.0.1:3000 with the simulators
#   make test  build what the tests need and run every test
# Both install what they need (see infra/toolchain.sh) and can be run again at any time.

SHELL := /bin/bash
CARGO ?= cargo
LISTEN ?= 127.0.0.1:3000
APP_URL ?= http://$(LISTEN)
NATIVE_PKGS := -p caas-runtime -p caas-sim
TEST_PKGS := -p caas-domain -p caas-runtime -p caas-sim -p caas-tests

.PHONY: help up test build build-web build-wasm build-native toolchain browser fuzz-tools bench clean-state deploy-files screenshots

help:
	@echo "make up     build and serve the app on $(APP_URL) (simulators on 127.0.0.1:4101-4106)"
	@echo "make test   run every test (domain unit tests, runtime, simulators, host tests of the real components)"
	@echo "make screenshots  the customer app's main screens (phone, desktop) -> docs/screenshots"
	@echo "make bench  throughput/latency figures through the runtime -> bench/results/latest.md"

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

build-native:
	$(CARGO) build $(NATIVE_PKGS) --bins

build: build-wasm build-native

up: build
	@mkdir -p .spin
	@# One process group: Ctrl-C or SIGTERM to make's group reaches every process started here
	@# (the simulators, started in the background, are also stopped by the trap on exit).
	@./target/debug/caas-sim --app-url $(APP_URL) & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT INT TERM; \
	./target/debug/caas-runtime up --manifest spin.toml --listen $(LISTEN) --state-dir .spin --schedules infra/schedules.toml --variable dev_mode=true

fuzz-tools:
	@infra/fuzz-tools.sh

# (cargo test also builds target/debug/caas-runtime, which the billing crash test spawns; a separate
# `cargo build --bins` would compile the runtime's dependencies a second time with other features.)
test: build-wasm fuzz-tools browser
	$(CARGO) test $(TEST_PKGS)

bench: build-wasm
	$(CARGO) run --release -p caas-bench -- --out bench/results/latest.md

clean-state:
	rm -rf .spin

# The main screens of the customer app, phone and desktop, as PNGs under docs/screenshots/.
screenshots: build-wasm browser
	CAAS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(CARGO) test -p caas-tests --test host web::screenshots -- --ignored --exact

deploy-files:
	@infra/deploy/gen-cronjobs.sh infra/schedules.toml > infra/deploy/cronjobs.yaml
