# Sourced by scripts/client-tests.sh and scripts/capture-real-traffic.sh:
# the real Kafka clients (installed once, pinned in tests/clients/) and a
# `kafka-fuzz serve` started and stopped around them. Run from the
# repository root; `step` is the caller's.

clients=tests/clients
clients_out=target/clients
venv=$clients_out/venv
# The server binary (cargo build --release --bin kafka-fuzz).
kafka_fuzz=target/release/kafka-fuzz

# install_clients: a Python venv with confluent-kafka and kafka-python
# ($venv), kafkajs (npm ci in tests/clients); each redone only when its
# pinned versions changed or it is broken.
install_clients() {
  mkdir -p "$clients_out"
  step "set-up: Python clients ($venv)"
  if ! [ -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
  fi
  if ! cmp -s "$clients/requirements.txt" "$venv/.requirements.txt" ||
    ! "$venv/bin/python" -c 'import confluent_kafka, kafka' 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$clients/requirements.txt"
    cp "$clients/requirements.txt" "$venv/.requirements.txt"
  fi

  step "set-up: kafkajs (npm ci in $clients)"
  if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.kafka-fuzz-package-lock.json"; then
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$clients/package-lock.json" "$clients/node_modules/.kafka-fuzz-package-lock.json"
  fi
}

# start_server OUT LOG SERVE-ARGS...: runs `$kafka_fuzz serve
# SERVE-ARGS` in the background (stdout to OUT, log to LOG), waits for its
# `listening on` line and sets server_pid and server_address. Exits the
# script, showing the log, if it does not start.
start_server() {
  local out=$1 log=$2
  shift 2
  : >"$out"
  RUST_LOG="${RUST_LOG:-info}" NO_COLOR=1 "$kafka_fuzz" serve "$@" >"$out" 2>"$log" &
  server_pid=$!
  server_address=
  for _ in $(seq 100); do
    server_address=$(sed -n 's/^listening on //p' "$out" | head -n 1)
    [ -n "$server_address" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$server_address" ]; then
    echo "the server did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
}

# stop_process PID SECONDS: SIGTERM, then SIGKILL if it is still there
# after SECONDS. Nothing for an empty or finished PID.
stop_process() {
  local pid=$1 seconds=$2
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((seconds * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# stop_server: stop_process on the server, 5 s. Safe to call twice (it is
# the EXIT trap of both scripts: never leak the server).
stop_server() {
  stop_process "${server_pid:-}" 5
}
