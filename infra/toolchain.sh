#!/usr/bin/env bash
# Makes sure this machine can build wasm32-wasip2 components. Idempotent and quiet when done already.
#   1. rustup's own target, when rustup can add it (the normal route);
#   2. otherwise Debian's rustc-web/cargo-web 1.96 + rust-web-src + lld-19 + wasi-libc, used with
#      -Zbuild-std by infra/build-wasm.sh (for machines where rustup cannot download the target).
# CAAS_WASM_ROUTE=debian forces route 2 (used to check the fallback on a machine that has route 1).
set -euo pipefail
route="${CAAS_WASM_ROUTE:-auto}"
have_debian() { [ -x /usr/bin/cargo ] && [ -d /usr/lib/wasm32-wasi ] && [ -d /usr/lib/rustlib/src/rust/library ] && [ -x /usr/lib/llvm-19/bin/wasm-ld ]; }
if [ "$route" != debian ] && command -v rustup >/dev/null 2>&1; then
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then exit 0; fi
  if timeout 180 rustup target add wasm32-wasip2 >/dev/null 2>&1; then
    echo "toolchain: wasm32-wasip2 target added with rustup"; exit 0
  fi
  echo "toolchain: rustup cannot add wasm32-wasip2 here; using Debian's rust-web packages"
fi
if have_debian; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src lld-19 wasi-libc >/dev/null
echo "toolchain: installed rustc-web, cargo-web, rust-web-src, lld-19, wasi-libc"
