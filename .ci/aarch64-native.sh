#!/usr/bin/env bash
# Native code on the RK3566's ISA: cross-builds the runtime's tests with feature `native` (Cranelift
# generating aarch64 code) for aarch64-unknown-linux-gnu and runs them under qemu-aarch64 (cortex-a76,
# the closest model qemu has to the RK3566's Cortex-A55): every op and error case, batches, threads,
# and the property tests native = interpreter over random verified artifacts, all on aarch64.
# Installs what it needs (apt, rustup) only if missing. Timings under qemu mean nothing; results do.
#
# Extra arguments go to `cargo test` (e.g. `--release`, or a test name filter after `--`).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu

need=()
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[ -e /usr/aarch64-linux-gnu/lib/crt1.o ] || need+=(libc6-dev-arm64-cross)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a76"

echo "==> fleetgate-runtime tests with native code on $TARGET (qemu-aarch64, cortex-a76)"
cargo test -p fleetgate-runtime --features native --target "$TARGET" "$@"
