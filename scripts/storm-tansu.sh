#!/usr/bin/env bash
# A storm campaign against Tansu (https://github.com/tansu-io/tansu): one
# node with memory storage, 64 clients, kill and pause faults (plus delays
# and connection resets through storm's proxy), the report written under
# docs/campaigns/tansu-<version>-storm/.
#
#   scripts/storm-tansu.sh [--time SECONDS] [--clients N] [--seed N] [--out DIR]
#
# Installs what it needs: Tansu with `cargo install --locked tansu
# --features dynostore` (its memory storage; about 13 minutes the first
# time). No clock faults: they need nothing more, but a memory server's
# clock only stamps records that die with it. Memory
# storage keeps nothing across a kill, so storm runs with --volatile: each
# incarnation is checked on its own. Exits as storm does: 0 with no
# finding, 2 with one.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.6.0
time=300 clients=64 seed=20261207 out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) time=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "storm-tansu.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
out=${out:-docs/campaigns/tansu-$version-storm}

# The memory storage engine needs the `dynostore` feature (a default
# install has no storage engine: `FeatureNotEnabled { feature: "dynostore" }`).
stamp=${CARGO_HOME:-$HOME/.cargo}/tansu-$version-dynostore
if ! command -v tansu >/dev/null || ! tansu --version 2>/dev/null | grep -q "$version" || [[ ! -e $stamp ]]; then
  echo "==> cargo install --locked tansu --version $version --features dynostore"
  cargo install --locked --force tansu --version "$version" --features dynostore
  touch "$stamp"
fi
echo "==> cargo build --release (kafka-fuzz)"
cargo build --release --locked --bin kafka-fuzz

# Storm keeps the history and the servers' data beside the report; only
# the report and the plots are meant to be committed.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
target/release/kafka-fuzz storm \
  --launch "$(command -v tansu) broker --listener-url tcp://127.0.0.1:{port} \
--advertised-listener-url tcp://127.0.0.1:{advertised_port} --storage-engine memory://tansu/" \
  --nodes 1 --volatile --faults kill,pause,delay,reset \
  --clients "$clients" --time "$time" --seed "$seed" --out "$work" || status=$?
mkdir -p "$out"
cp "$work"/report.md "$work"/report.json "$work"/latency.svg "$work"/throughput.svg "$work"/options.json "$out"/
tail -n 200 "$work"/node-1.log > "$out"/tansu.log
echo "==> the report: $out/report.md (storm exited $status)"
exit "$status"
