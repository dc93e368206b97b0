#!/usr/bin/env bash
# The test command: sets up what it needs on a fresh machine, then checks
# formatting, lints and runs every test, then the client tests
# (scripts/client-tests.sh: real Kafka clients against kafka-fuzz serve).
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "set-up: Rust components"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
installed=$(rustup component list --installed 2>/dev/null || true)
for component in rustfmt clippy; do
  grep -q "^$component" <<<"$installed" || rustup component add "$component"
done

step "set-up: gdb and faketime (storm: every thread's stack of a stalled server; clock faults)"
missing=()
command -v gdb >/dev/null || command -v eu-stack >/dev/null || missing+=(gdb)
command -v faketime >/dev/null || missing+=(faketime)
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo clippy --all-targets --features planted-bugs -- -D warnings (the test-only target)"
cargo clippy --all-targets --locked --features planted-bugs -- -D warnings

step "cargo clippy --all-targets --features tansu -- -D warnings (the Tansu adapter)"
cargo clippy --all-targets --locked --features tansu -- -D warnings

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked 2>&1 | tee "$log"

step "cargo test --features planted-bugs --test triage --test simulation --test cluster_target --test session --test storm (triage end to end on four planted bugs; the cluster invariants, the cluster target, the session target and storm each catch the bugs planted for them)"
cargo test --locked --features planted-bugs --test triage --test simulation --test cluster_target --test session --test storm 2>&1 | tee -a "$log"

step "cargo test --release --test simulation --test cluster_target (1000 seeded fault schedules on the reference cluster; 2000 random cluster scripts)"
KAFKA_FUZZ_CLUSTER_RUNS=2000 cargo test --locked --release --test simulation --test cluster_target -- --nocapture 2>&1 | tee -a "$log"

step "cargo test --features tansu --lib adapters --test trophies (the Tansu adapter; every trophy still reproduces)"
cargo test --locked --features tansu --lib adapters 2>&1 | tee -a "$log"
cargo test --locked --features tansu --test trophies 2>&1 | tee -a "$log"

step "client tests: real Kafka clients against kafka-fuzz serve (scripts/client-tests.sh)"
client_status=0
scripts/client-tests.sh 2>&1 | tee -a "$log" || client_status=$?
# One closing line for the whole run, summed over every test binary and the
# client tests.
awk '/^test result:/ { passed += $4; failed += $6 }
     /^client tests:/ { passed += $3; failed += $5 }
     END { printf "\ntests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$client_status"
