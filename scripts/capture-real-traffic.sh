#!/usr/bin/env bash
# Captures real client traffic as seed corpora. For each client library
# (librdkafka through confluent-kafka, kafka-python, kafkajs; pinned in
# tests/clients/), starts a fresh `kafka-fuzz serve` on 127.0.0.1:PORT,
# captures loopback with tshark into corpus/captures/<client>.pcapng while
# the client runs a short typical workload (tests/clients/capture_workload.*:
# admin calls, producers with every codec it offers, an idempotent
# producer, a consumer group that commits), then:
#
#   kafka-fuzz import-pcap    the captures' requests, as seeds, under
#                             target/capture/seeds/<target>/
#   scripts/corpus-minimize.sh --from target/capture/seeds
#                             the seeds that add coverage, into corpus/<target>/
#   kafka-fuzz corpus stats corpus
#
#   scripts/capture-real-traffic.sh [--port PORT]   (default 9092)
#
# Installs what it needs: tshark (apt), the clients (as scripts/client-tests.sh
# does), cargo fuzz. corpus/README.md records what the committed captures
# came from.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "capture-real-traffic: $*" >&2; exit 2; }
step() { printf '\n==> %s\n' "$*"; }

port=9092
while [[ $# -gt 0 ]]; do
  case "$1" in
    --port) [[ $# -ge 2 ]] || die "--port needs a value"; port=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $port =~ ^[1-9][0-9]*$ ]] || die "--port must be a port number, got '$port'"

# shellcheck source=scripts/clients.sh
source scripts/clients.sh
out=target/capture
captures=corpus/captures
mkdir -p "$out" "$captures"

# Capturing on loopback needs root (Debian's dumpcap is not setuid by
# default), as does installing tshark.
sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
step "set-up: tshark"
if ! command -v tshark >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends tshark
fi
install_clients

step "build: cargo build --release --bin kafka-fuzz"
cargo build --release --locked --bin kafka-fuzz

capture_pid=
stop_capture() {
  if [[ -n $capture_pid ]] && kill -0 "$capture_pid" 2>/dev/null; then
    kill -INT "$capture_pid" 2>/dev/null || true
    wait "$capture_pid" 2>/dev/null || true
  fi
  capture_pid=
}
trap 'stop_capture; stop_server' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# capture NAME COMMAND...: a fresh server, the capture, COMMAND, and the
# capture file corpus/captures/NAME.pcapng.
capture() {
  local name=$1 file=$captures/$1.pcapng
  shift
  step "capture: $name"
  start_server "$out/$name.server.out" "$out/$name.server.log" --listen "127.0.0.1:$port"
  export KAFKA_FUZZ_BOOTSTRAP=$server_address
  rm -f "$file"
  $sudo tshark -i lo -f "tcp port $port" -w "$file" -q 2>"$out/$name.tshark.log" &
  capture_pid=$!
  # tshark says so on stderr once the capture is running.
  local started=0
  for _ in $(seq 100); do
    grep -q 'Capturing on' "$out/$name.tshark.log" && { started=1; break; }
    kill -0 "$capture_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ $started -eq 1 ]] || die "tshark did not start capturing: $(cat "$out/$name.tshark.log")"
  timeout --kill-after=10 120 "$@" | tee "$out/$name.client.log"
  # The last segments (a consumer's close) reach the capture.
  sleep 1
  stop_capture
  stop_server
  # tshark writes its files for root only; these are committed.
  $sudo chmod 644 "$file"
  echo "$file: $(stat -c %s "$file") bytes"
}

export PYTHONUNBUFFERED=1
capture librdkafka "$venv/bin/python" "$clients/capture_workload.py" librdkafka
capture kafka-python "$venv/bin/python" "$clients/capture_workload.py" kafka-python
capture kafkajs node "$clients/capture_workload.mjs"

step "import: kafka-fuzz import-pcap (port $port)"
rm -rf "$out/seeds"
"$kafka_fuzz" import-pcap --port "$port" --out "$out/seeds" "$captures"/*.pcapng

step "minimize: the imported seeds that add coverage, into corpus/ (scripts/corpus-minimize.sh)"
scripts/corpus-minimize.sh --from "$out/seeds"

step "stats: kafka-fuzz corpus stats corpus"
"$kafka_fuzz" corpus stats corpus
