#!/usr/bin/env bash
# The device agent on the RK3566's ISA: cross-builds `fleetgate-agent` for aarch64-unknown-linux-gnu,
# replays every scripted session of policies/edge-ai/agent/ under qemu-aarch64 (cortex-a76, the
# closest model qemu has to the RK3566's Cortex-A55), and checks that each transcript is byte for
# byte the host build's and the checked-in one. Installs what it needs (apt, rustup) only if missing.
#
# FLEETGATE_AGENT_FEATURES selects the agent's features (default `native`: the rk3566 profile then
# runs Cranelift code, falling back to the interpreter where it cannot); set it empty for the
# interpreter only, which skips building Cranelift.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
FEATURES="${FLEETGATE_AGENT_FEATURES-native}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
SESSIONS=policies/edge-ai/agent
ARTIFACT="$SESSIONS/edge-ai.fga"

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
RUNNER=(qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu cortex-a76)
build=(cargo build --release -p fleetgate-agents --bin fleetgate-agent)
[ -n "$FEATURES" ] && build+=(--features "$FEATURES")

echo "==> building fleetgate-agent for $TARGET and the host (features: ${FEATURES:-none})"
"${build[@]}" --target "$TARGET"
"${build[@]}"
host_bin="$TARGET_DIR/release/fleetgate-agent"
arm_bin="$TARGET_DIR/$TARGET/release/fleetgate-agent"
if command -v file >/dev/null; then file "$arm_bin"; fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
sessions=0
failed=0
for script in "$SESSIONS"/*.jsonl; do
  case "$script" in *.transcript.jsonl) continue ;; esac
  name="$(basename "$script" .jsonl)"
  profile="${name##*.}"
  expected="$SESSIONS/$name.transcript.jsonl"
  sessions=$((sessions + 1))
  "$host_bin" --profile "$profile" --artifact "$ARTIFACT" --script "$script" >"$tmp/host.jsonl"
  "${RUNNER[@]}" "$arm_bin" --verbose --profile "$profile" --artifact "$ARTIFACT" --script "$script" \
    >"$tmp/arm.jsonl" 2>"$tmp/arm.err"
  engine="$(sed -n 's/^fleetgate-agent: profile [^,]*, engine //p' "$tmp/arm.err")"
  if cmp -s "$tmp/host.jsonl" "$tmp/arm.jsonl" && cmp -s "$tmp/host.jsonl" "$expected"; then
    printf 'ok    %-28s %4d lines  (aarch64 engine: %s)\n' "$name" "$(wc -l <"$tmp/arm.jsonl")" "$engine"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    diff "$tmp/host.jsonl" "$tmp/arm.jsonl" | head -20 || true
    diff "$expected" "$tmp/host.jsonl" | head -20 || true
  fi
done
echo "==> $sessions sessions, $((sessions - failed)) identical on aarch64 (qemu) and the host, $failed differ"
[ "$sessions" -gt 0 ] && [ "$failed" -eq 0 ]
