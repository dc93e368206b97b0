#!/usr/bin/env bash
# Integration tests with real Kafka client libraries against
# `kafka-fuzz serve` on loopback: librdkafka (PyPI confluent-kafka),
# kafka-python and kafkajs, pinned in tests/clients/, their producers,
# consumers and admin clients; SASL/PLAIN against `serve --sasl-user`;
# then against
# `kafka-fuzz serve --cluster 3`, with a partition leader's process killed
# (SIGKILL) halfway through an idempotent acks=all produce. Installs the clients
# itself (a venv under target/clients/venv, node_modules under
# tests/clients), starts the server on a free port, runs the suites, stops
# the server with SIGTERM and checks it exited cleanly without closing any
# connection for bad input. Ends with one `client tests: N passed, M failed`
# line and exits non-zero on any failure.
#
# Logs: target/clients/{server.out,server.log,python.log,admin.log,kafkajs.log}.
# RUST_LOG (default: info) sets the server's log level; debug adds every
# connection's open and close.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# shellcheck source=scripts/clients.sh
source scripts/clients.sh
out=$clients_out
mkdir -p "$out"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }

step "build: cargo build --release --bin kafka-fuzz"
cargo build --release --locked --bin kafka-fuzz

install_clients

step "start: kafka-fuzz serve --listen 127.0.0.1:0"
server_out=$out/server.out
server_log=$out/server.log
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start_server "$server_out" "$server_log" --listen 127.0.0.1:0
address=$server_address
echo "server $address (pid $server_pid, log $server_log)"
export KAFKA_FUZZ_BOOTSTRAP=$address

# Runs one suite under a timeout and adds the counts of its summary line
# (`<label>: N passed, M failed`); a suite that ends without one (crash,
# timeout) counts as one failure.
run_suite() {
  local label=$1 log=$2 limit=$3
  shift 3
  local status=0
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$log" || status=$?
  local summary
  summary=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed$" "$log" | tail -n 1 || true)
  if [ -z "$summary" ]; then
    fail "$label: no summary line (exit status $status; 124 is the ${limit}s timeout); see $log"
    return
  fi
  local p f
  read -r p f < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$summary")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    fail "$label: exit status $status"
  fi
}

step "python: confluent-kafka (librdkafka) and kafka-python"
export PYTHONUNBUFFERED=1
run_suite "python client tests" "$out/python.log" 600 \
  "$venv/bin/python" "$clients/test_python_clients.py"

step "python: admin clients (librdkafka's AdminClient, kafka-python's KafkaAdminClient)"
run_suite "admin client tests" "$out/admin.log" 300 \
  "$venv/bin/python" "$clients/test_admin_clients.py"

step "node: kafkajs"
run_suite "kafkajs client tests" "$out/kafkajs.log" 300 node "$clients/kafkajs_test.mjs"

step "stop: SIGTERM to the server"
kill -TERM "$server_pid"
server_status=
for _ in $(seq 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    server_status=0
    wait "$server_pid" || server_status=$?
    break
  fi
  sleep 0.1
done
summary=$(grep '^stopped: ' "$server_out" || true)
echo "${summary:-no 'stopped:' line from the server}"
if [ -z "$server_status" ]; then
  fail "server: still running 10s after SIGTERM (the EXIT trap kills it)"
elif [ "$server_status" -ne 0 ] || [ -z "$summary" ]; then
  fail "server: exit status $server_status on SIGTERM; see $server_log"
else
  pass "server: stopped cleanly on SIGTERM"
fi

# A connection closed for bad input is the server rejecting what a real
# client sent.
rejected=$(grep -c 'closing connection:' "$server_log" || true)
if [ "$rejected" -eq 0 ] && grep -q ', 0 connections closed for bad input$' <<<"$summary"; then
  pass "server: no connection closed for bad input"
else
  fail "server: connections closed for bad input ($rejected logged):"
  grep 'closing connection:' "$server_log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 20
fi
if grep -qE 'panicked|ERROR' "$server_log"; then
  fail "server: errors or panics in $server_log:"
  grep -E 'panicked|ERROR' "$server_log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 20
else
  pass "server: no error or panic logged"
fi

step "sasl: kafka-fuzz serve --sasl-user alice:alice-secret (SASL/PLAIN: the right password, then a wrong one)"
start_server "$out/sasl.out" "$out/sasl.log" --listen 127.0.0.1:0 --sasl-user alice:alice-secret
export KAFKA_FUZZ_SASL_BOOTSTRAP=$server_address
run_suite "sasl client tests" "$out/sasl-clients.log" 180 \
  "$venv/bin/python" "$clients/test_sasl_clients.py"
stop_server

step "cluster: kafka-fuzz serve --cluster 3 (three processes, a Raft metadata quorum, replicated partitions)"
cluster_dir=$out/cluster
rm -rf "$cluster_dir"
mkdir -p "$cluster_dir"
cluster_out=$out/cluster.out
cluster_log=$out/cluster.log
RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "$kafka_fuzz" serve --cluster 3 --data-dir "$cluster_dir" --partitions 3 \
  >"$cluster_out" 2>"$cluster_log" &
cluster_pid=$!
stop_cluster() {
  stop_process "${cluster_pid:-}" 10
  # The nodes are the cluster's children; none may outlive it.
  pkill -KILL -f -- "serve --node-id [0-9]+ --peers .*--data-dir $cluster_dir/" 2>/dev/null || true
}
trap 'stop_server; stop_cluster' EXIT
bootstrap=
for _ in $(seq 100); do
  bootstrap=$(sed -n 's/^bootstrap //p' "$cluster_out" | head -n 1)
  [ -n "$bootstrap" ] && break
  sleep 0.1
done
if [ -z "$bootstrap" ]; then
  fail "cluster: did not start; see $cluster_log"
else
  echo "cluster $bootstrap (supervisor pid $cluster_pid, log $cluster_log)"
  export KAFKA_FUZZ_BOOTSTRAP=$bootstrap KAFKA_FUZZ_CLUSTER_OUT=$cluster_out
  run_suite "cluster client tests" "$out/cluster-python.log" 600 \
    "$venv/bin/python" "$clients/test_cluster_clients.py"
  run_suite "kafkajs cluster tests" "$out/cluster-kafkajs.log" 300 node "$clients/kafkajs_cluster_test.mjs"
  kill -TERM "$cluster_pid"
  for _ in $(seq 150); do
    kill -0 "$cluster_pid" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '^cluster stopped$' "$cluster_out" && ! pgrep -f -- "--data-dir $cluster_dir/" >/dev/null; then
    pass "cluster: stopped on SIGTERM with every node"
  else
    fail "cluster: did not stop cleanly on SIGTERM; see $cluster_out"
  fi
  if grep -qE 'panicked|ERROR' "$cluster_log"; then
    fail "cluster: errors or panics in $cluster_log:"
    grep -E 'panicked|ERROR' "$cluster_log" | sed 's/\x1b\[[0-9;]*m//g' | head -n 20
  else
    pass "cluster: no error or panic logged"
  fi
fi

printf '\nclient tests: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
