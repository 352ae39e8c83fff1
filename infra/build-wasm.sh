#!/usr/bin/env bash
# Builds Wasm components for wasm32-wasip2.
# Route 1: a rustup toolchain that has the wasm32-wasip2 target installed (or can add it).
# Route 2: Debian's rustc-web/cargo-web (1.96) with -Zbuild-std, for machines where rustup
#          cannot download the target (see README "Toolchain").
# Usage: infra/build-wasm.sh [-p crate ...]   (no args: every component under functions/)
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  for d in functions/*/ tests/components/*/; do
    [ -f "$d/Cargo.toml" ] || continue
    pkgs+=(-p "$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$d/Cargo.toml" | head -1)"); done
fi
route="${CAAS_WASM_ROUTE:-auto}"
if [ "$route" != debian ] && command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  exec cargo build --release --target wasm32-wasip2 "${pkgs[@]}"
fi
if [ -x /usr/bin/cargo ] && [ -d /usr/lib/wasm32-wasi ] && [ -d /usr/lib/rustlib/src/rust/library ]; then
  export PATH=/usr/bin:/usr/lib/llvm-19/bin:$PATH
  export RUSTFLAGS="-L native=/usr/lib/wasm32-wasi ${RUSTFLAGS:-}"
  export RUSTC_BOOTSTRAP=1
  unset RUSTUP_TOOLCHAIN CARGO RUSTC RUSTDOC
  exec /usr/bin/cargo build --release --target wasm32-wasip2 -Zbuild-std=std,panic_abort "${pkgs[@]}"
fi
echo "build-wasm: no wasm32-wasip2 toolchain; run 'make toolchain' first" >&2
exit 1
