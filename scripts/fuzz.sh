#!/usr/bin/env bash
# The fuzzing command: builds the fuzz targets for one engine and runs each of
# them for a time budget, on all cores, then prints (and saves to
# fuzz/last-run.md) one table row per target. Exits non-zero if a target
# crashed, failed to build or its fuzzer failed. `scripts/fuzz.sh --help`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  cat <<'EOF'
Usage: scripts/fuzz.sh [--engine libfuzzer|afl|honggfuzz] [--time SECONDS]
                       [--jobs N] [--asan] [--features LIST] [--keep-going]
                       [TARGET...]

Builds the fuzz targets (fuzz/, one binary per target) for one engine and runs
every target, or the named ones, for SECONDS each, then prints a table per
target: executions, exec/s, coverage, protocol states (distinct api, version
and error code tuples its corpus's responses carry: `kafka-fuzz states`),
corpus size, crashes.

  --engine E   libfuzzer (default; cargo fuzz), afl (AFL++ via cargo afl),
               honggfuzz (cargo hfuzz). A missing engine is installed first
               with scripts/setup.sh.
  --time S     seconds of fuzzing per target (default 60).
  --jobs N     processes to use (default: nproc). Several targets run up to N
               at a time, one process each; fewer targets than N share the
               cores (one target with N=4: libFuzzer -fork=4, an AFL++ main
               and 3 secondaries, honggfuzz --threads 4).
  --asan       libFuzzer only: build with AddressSanitizer
               (cargo +nightly fuzz build --sanitizer address). Sanitizers
               need nightly Rust (-Zsanitizer); installed on demand. Runs about
               2-3x slower; worth it for memory errors in unsafe code and C
               dependencies, which plain runs only see when they crash. Plain
               runs already catch panics, aborts, OOM, timeouts and the
               harness's over-allocation checks.
  --features L fuzz crate features (comma-separated) to build with; they
               also make the targets behind them selectable: third-party
               (kafka_protocol_decode, kafka_protocol_records: they crash
               on a known upstream bug) and tansu (tansu_request,
               tansu_records, tansu_differential; it implies
               third-party). Without TARGETs, every target they enable
               runs too.
  --keep-going libFuzzer: do not stop at the first crash (fork mode, crashes,
               OOMs and timeouts ignored), as a campaign against code with
               known bugs needs; every crash file goes to triage at the end.
               AFL++ and honggfuzz always keep going.
  -h, --help   this text.

Seeds: corpus/<target>/ and corpus/regressions/<target>/ (read-only), with the
dictionary corpus/kafka.dict and fuzz/options/<target>.options ([libfuzzer]
max_len, timeout, rss_limit_mb; used by every engine). What a run writes:
  libFuzzer  fuzz/corpus/<target>/ (working corpus), fuzz/artifacts/<target>/
  AFL++      fuzz/afl/<target>/{main,sN}/ (queue/, crashes/, hangs/; resumed)
  honggfuzz  fuzz/hfuzz_workspace/<target>/ (input/ corpus, *.fuzz crashes)
Logs: fuzz/logs/<engine>-<target>.log (builds: fuzz/logs/build-<engine>-<target>.log).
Crashes count crash/oom/timeout/leak artifacts (AFL++: crashes and hangs) new
in this run. Ctrl-C stops the fuzzers and still prints the table.
EOF
}

die() { echo "fuzz.sh: $*" >&2; exit 2; }
say() { printf '==> %s\n' "$*"; }
# shellcheck source=scripts/crash-files.sh
source scripts/crash-files.sh
# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh

engine=libfuzzer time_budget=60 jobs=$(nproc) asan=0 features= keep_going=0 targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --engine) [[ $# -ge 2 ]] || die "--engine needs a value"; engine=$2; shift 2 ;;
    --engine=*) engine=${1#*=}; shift ;;
    --time) [[ $# -ge 2 ]] || die "--time needs a value"; time_budget=$2; shift 2 ;;
    --time=*) time_budget=${1#*=}; shift ;;
    --jobs|-j) [[ $# -ge 2 ]] || die "--jobs needs a value"; jobs=$2; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    --asan) asan=1; shift ;;
    --keep-going) keep_going=1; shift ;;
    --features) [[ $# -ge 2 ]] || die "--features needs a value"; features=$2; shift 2 ;;
    --features=*) features=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; targets+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$engine" in libfuzzer|afl|honggfuzz) ;; *) die "unknown engine '$engine'; engines are: libfuzzer, afl, honggfuzz" ;; esac
[[ $time_budget =~ ^[1-9][0-9]*$ ]] || die "--time must be a whole number of seconds, got '$time_budget'"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, got '$jobs'"
[[ $asan -eq 0 || $engine == libfuzzer ]] || die "--asan works with the libfuzzer engine only"

[[ -f fuzz/Cargo.toml ]] || die "no fuzz crate: fuzz/Cargo.toml is missing"
# Our paths below are cargo's defaults: a CARGO_TARGET_DIR from the caller
# would move the binaries elsewhere.
unset CARGO_TARGET_DIR

selected=$(selected_targets "$features" ${targets[@]+"${targets[@]}"}) || exit 2
mapfile -t targets <<<"$selected"

# ---------------------------------------------------------------- engines --

triple=$(rustc -vV | sed -n 's/^host: //p')
# Version of crate $1 in fuzz/Cargo.lock (empty when unlocked).
locked_version() {
  [[ -f fuzz/Cargo.lock ]] || return 0
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' fuzz/Cargo.lock
}
engine_ready() {
  local have want
  case "$engine" in
    libfuzzer)
      cargo fuzz --version >/dev/null 2>&1 || return 1
      [[ $asan -eq 0 ]] || rustup toolchain list | grep -q '^nightly' ;;
    afl)
      # `--version` names the AFL++ version only once AFL++ is built for
      # this rustc; the afl crate must match cargo-afl's runtime.
      have=$(cargo afl --version 2>/dev/null) || return 1
      [[ $have == *"AFL++ version"* ]] || return 1
      want=$(locked_version afl)
      [[ -z $want || $have == "cargo-afl $want "* ]] ;;
    honggfuzz)
      have=$(cargo hfuzz version 2>/dev/null) || return 1
      want=$(locked_version honggfuzz)
      [[ -z $want || $have == "cargo-hfuzz $want" ]] ;;
  esac
}
if ! engine_ready; then
  say "installing $engine (scripts/setup.sh)"
  setup_args=("$engine")
  [[ $asan -eq 1 ]] && setup_args+=(asan)
  scripts/setup.sh "${setup_args[@]}"
  engine_ready || die "$engine is still not usable after scripts/setup.sh"
fi

mkdir -p fuzz/logs
dict=$fuzz_dictionary
[[ -f $dict ]] || dict=""

# ----------------------------------------------------------------- build --

binary_path() {
  case "$engine" in
    libfuzzer)
      if [[ $asan -eq 1 ]]; then echo "fuzz/target/asan/$triple/release/$1"
      else echo "fuzz/target/$triple/release/$1"; fi ;;
    # A target dir of its own, so AFL binaries never replace the `replay`
    # feature's plain binaries in fuzz/target/release.
    afl) echo "fuzz/target/afl/release/$1" ;;
    honggfuzz) echo "fuzz/hfuzz_target/$triple/release/$1" ;;
  esac
}

# Builds one target; the exact commands are the ones CI can use.
build_target() {
  local t=$1
  case "$engine" in
    libfuzzer)
      if [[ $asan -eq 1 ]]; then
        cargo +nightly fuzz build --sanitizer address --target-dir "$root/fuzz/target/asan" \
          --features "$features" "$t"
      else
        cargo fuzz build --sanitizer none --features "$features" "$t"
      fi ;;
    afl)
      (cd fuzz && cargo afl build --release --no-default-features --features "afl${features:+,$features}" \
        --target-dir target/afl --bin "$t") ;;
    honggfuzz)
      (cd fuzz && HFUZZ_BUILD_ARGS="--no-default-features --features honggfuzz${features:+,$features}" \
        cargo hfuzz build --bin "$t") ;;
  esac
}

declare -A status=() started=() ended=() pid_of=() rc_of=()
interrupted=0
trap 'interrupted=1' INT TERM

# kafka-fuzz itself counts the protocol states (api, version, error code)
# each target's corpus reaches, for the table; built before fuzzing so the
# build does not compete with the fuzzers for cores (in triage's profile:
# triage.sh then finds it built).
states_tool=target/triage/kafka-fuzz
printf '==> building kafka-fuzz (protocol-state counts) ... '
start=$SECONDS
if cargo build --profile triage --locked --quiet --bin kafka-fuzz --features "$(crate_features "$features")" \
  >fuzz/logs/build-kafka-fuzz.log 2>&1; then
  echo "ok ($((SECONDS - start))s)"
else
  echo "FAILED, no state counts (log: fuzz/logs/build-kafka-fuzz.log)"
  states_tool=
fi

ready=()
# A stamp per target marks the start of its run (crash files newer than it
# are this run's); none until it starts.
for t in "${targets[@]}"; do rm -f "fuzz/logs/.start-$engine-$t"; done
for t in "${targets[@]}"; do
  [[ $interrupted -eq 1 ]] && { status[$t]="not run"; continue; }
  log=fuzz/logs/build-$engine-$t.log
  printf '==> building %s for %s%s ... ' "$t" "$engine" "$([[ $asan -eq 1 ]] && echo ' (ASan)')"
  start=$SECONDS
  if build_target "$t" >"$log" 2>&1 && [[ -x $(binary_path "$t") ]]; then
    echo "ok ($((SECONDS - start))s)"
    ready+=("$t")
  else
    if [[ $interrupted -eq 1 ]]; then
      echo "interrupted"
      status[$t]="not run"
      continue
    fi
    echo "FAILED ($((SECONDS - start))s)"
    tail -n 25 "$log" | sed 's/^/    /'
    echo "    (whole log: $log)"
    status[$t]="build failed"
  fi
done

# ------------------------------------------------------------------- run --

n_ready=${#ready[@]}
parallel=$(( n_ready < jobs ? n_ready : jobs ))
[[ $parallel -ge 1 ]] || parallel=1
# Fewer targets than jobs: each target gets the spare cores as workers (also
# in a last round with fewer targets left).
workers=$(( jobs / parallel ))
declare -A workers_of=()
declare -A afl_base_execs=() afl_names=() signalled=()

# Starts the fuzzer of target $1 with $2 workers. Runs in the background in a
# process group of its own (set -m), so Ctrl-C reaches only this script, which
# then stops each group in order and still reads their statistics.
launch() {
  local t=$1 w=$2 log=fuzz/logs/$engine-$1.log bin opts args=() i name kv d
  bin=$(binary_path "$t")
  opts=$(target_options "$t")
  touch "fuzz/logs/.start-$engine-$t"
  case "$engine" in
    libfuzzer)
      mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
      # The first corpus dir is the one libFuzzer writes to. Absolute paths:
      # with several workers libFuzzer runs in a directory of their logs.
      mapfile -t args < <(seed_dirs "$t" | sed "s|^|$root/|")
      args=("$root/fuzz/corpus/$t" "${args[@]}" "-artifact_prefix=$root/fuzz/artifacts/$t/"
        "-max_total_time=$time_budget" -print_final_stats=1)
      [[ -n $dict ]] && args+=("-dict=$root/$dict")
      while IFS= read -r kv; do [[ -n $kv ]] && args+=("-$kv"); done <<<"$opts"
      local workdir=fuzz/logs/libfuzzer-$t.workers
      rm -rf "$workdir"
      set -m
      if [[ $keep_going -eq 1 ]]; then
        # Fork mode: each job a child process, a crash ends the job only.
        mkdir -p "$workdir"
        (cd "$workdir" && exec "$root/$bin" "${args[@]}" "-fork=$w" -ignore_crashes=1 -ignore_ooms=1 \
          -ignore_timeouts=1) >"$log" 2>&1 &
      elif [[ $w -gt 1 ]]; then
        # -jobs=N -workers=N: N whole fuzzing processes sharing the corpus
        # dir, each logging to fuzz-<i>.log in the current dir. Measured
        # here against -fork=N (which restarts short jobs): 1.7x the
        # executions in a 30 s run, at the same coverage.
        mkdir -p "$workdir"
        (cd "$workdir" && exec "$root/$bin" "${args[@]}" "-jobs=$w" "-workers=$w") >"$log" 2>&1 &
      else
        "$bin" "${args[@]}" >"$log" 2>&1 &
      fi
      ;;
    afl)
      local out=fuzz/afl/$t inputs max_len timeout
      mkdir -p "$out"
      # AFL++ needs one non-empty input dir: merge the seeds (and what
      # libFuzzer found) into a scratch dir. A resumed run ignores it.
      inputs=$(mktemp -d "${TMPDIR:-/tmp}/kafka-fuzz-afl-in.XXXXXX")
      while IFS= read -r d; do cp -r "$d/." "$inputs/"; done < <(seed_dirs "$t"; [[ -d fuzz/corpus/$t ]] && echo "fuzz/corpus/$t")
      [[ -n $(ls -A "$inputs") ]] || printf '\0\0\0\0' >"$inputs/empty"
      max_len=$(option "$t" max_len) timeout=$(option "$t" timeout)
      args=(-i "$inputs" -o "$out" -V "$time_budget")
      [[ -n $dict ]] && args+=(-x "$dict")
      [[ -n $timeout ]] && args+=(-t "$((timeout * 1000))")
      # fuzzer_stats is cumulative across resumed runs: remember where each
      # instance of this run starts.
      afl_names[$t]=main
      for ((i = 1; i < w; i++)); do afl_names[$t]+=" s$i"; done
      for name in ${afl_names[$t]}; do
        afl_base_execs[$t/$name]=$(afl_stat "$out/$name/fuzzer_stats" execs_done)
      done
      set -m
      (
        set +m # the instances stay in this group, stopped together
        # AFL_SKIP_CPUFREQ / AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES: no root
        # tuning of the machine needed; AFL_NO_UI: plain log lines;
        # AFL_AUTORESUME: keep the queue of the last run; AFL_TRY_AFFINITY:
        # bind to a free core when there is one, run anyway when not.
        export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
          AFL_NO_UI=1 AFL_AUTORESUME=1 AFL_TRY_AFFINITY=1 \
          AFL_FUZZER_STATS_UPDATE_INTERVAL=5
        [[ -n $max_len ]] && export AFL_INPUT_LEN_MAX=$max_len
        # Without a terminal afl-fuzz logs a line per queue entry and cycle
        # (hundreds a second): keep them out of the log. The filter ignores
        # SIGINT so that afl-fuzz can still write its last words.
        quiet() { trap '' INT; grep -avE --line-buffered 'Fuzzing test case #|Entering queue cycle|^(.\[0m)?$' || true; }
        # Secondaries without CMPLOG (`-c -`): it pays on one or two only.
        for ((i = 1; i < w; i++)); do
          cargo afl fuzz "${args[@]}" -S "s$i" -c - -- "$bin" 2>&1 | quiet &
        done
        set +e
        cargo afl fuzz "${args[@]}" -M main -- "$bin" 2>&1 | quiet
        rc=${PIPESTATUS[0]}
        wait
        rm -rf "$inputs"
        exit "$rc"
      ) >"$log" 2>&1 &
      ;;
    honggfuzz)
      local ws=fuzz/hfuzz_workspace/$t max_len timeout rss
      mkdir -p "$ws/input"
      # honggfuzz reads and grows one corpus dir: seed it (never overwrite),
      # with what libFuzzer found too.
      while IFS= read -r d; do cp -rn "$d/." "$ws/input/"; done < <(seed_dirs "$t"; [[ -d fuzz/corpus/$t ]] && echo "fuzz/corpus/$t")
      max_len=$(option "$t" max_len) timeout=$(option "$t" timeout) rss=$(option "$t" rss_limit_mb)
      args=(-W "$ws" -f "$ws/input" -P -v -n "$w" --run_time "$time_budget"
        --statsfile "fuzz/logs/honggfuzz-$t.stats")
      [[ -n $dict ]] && args+=(-w "$dict")
      [[ -n $max_len ]] && args+=(-F "$max_len")
      [[ -n $timeout ]] && args+=(-t "$timeout")
      [[ -n $rss ]] && args+=(--rlimit_rss "$rss")
      set -m
      fuzz/hfuzz_target/honggfuzz "${args[@]}" -- "$bin" >"$log" 2>&1 &
      ;;
  esac
  pid_of[$t]=$!
  set +m
  started[$t]=$SECONDS
}

# Value of KEY in an AFL++ fuzzer_stats file (0 when there is none yet).
afl_stat() {
  [[ -f $1 ]] || { echo 0; return; }
  awk -F' *: *' -v k="$2" '$1 == k { v = $2 } END { sub(/%$/, "", v); print (v == "" ? 0 : v) }' "$1"
}

# New crash files of target $1 in this run, one per line.
crash_files() {
  local t=$1 stamp=fuzz/logs/.start-$engine-$1
  [[ -f $stamp ]] || return 0
  if [[ $engine == honggfuzz ]]; then
    # honggfuzz keeps one file per crash signature and does not rewrite
    # it when the crash comes back: the log names what crashed this run.
    {
      crash_files_of honggfuzz "$t" -newer "$stamp"
      [[ -f fuzz/logs/honggfuzz-$t.log ]] &&
        grep -ao "^Crash[^']*'[^']*'" "fuzz/logs/honggfuzz-$t.log" | sed "s/^[^']*'//; s/'\$//"
    } | sort -u | while IFS= read -r f; do [[ -f $f ]] && echo "$f"; done
    return 0
  fi
  crash_files_of "$engine" "$t" -newer "$stamp"
}

# Crash files of target $1 from earlier runs, not counted in this run's.
old_crash_files() {
  crash_files_of "$engine" "$1" | grep -vxF -f <(crash_files "$1"; echo /) || true
}

count_files() { [[ -d $1 ]] && find "$1" -maxdepth 1 -type f ! -name '.*' "${@:2}" | wc -l || echo 0; }

# Sets S_EXECS, S_RATE, S_COV, S_CORPUS, S_CRASHES for target $1 from what
# its engine wrote so far.
read_stats() {
  local t=$1 log=fuzz/logs/$engine-$1.log secs
  secs=$(( ${ended[$t]:-$SECONDS} - ${started[$t]:-$SECONDS} ))
  [[ $secs -gt 0 ]] || secs=1
  S_EXECS=0 S_RATE=0 S_COV="-" S_CORPUS=0
  case "$engine" in
    libfuzzer)
      local logs=("$log")
      [[ $keep_going -eq 0 && ${workers_of[$t]:-1} -gt 1 ]] && logs=(fuzz/logs/libfuzzer-"$t".workers/fuzz-*.log)
      if [[ -f ${logs[0]} ]]; then
        # Per log (one per worker): status lines "#N ... cov: C ft: F ...",
        # and from print_final_stats stat::number_of_executed_units and
        # stat::average_exec_per_sec. Workers add up their executions; the
        # coverage is the best worker's (they share one corpus).
        read -r S_EXECS S_RATE S_COV < <(awk -v secs="$secs" '
          FNR == 1 { flush() }
          match($0, /^#[0-9]+/) { execs = substr($0, 2, RLENGTH - 1) + 0 }
          match($0, /cov: [0-9]+/) { c = substr($0, RSTART + 5, RLENGTH - 5) + 0; if (c > cov) cov = c }
          match($0, /ft: [0-9]+/) { f = substr($0, RSTART + 4, RLENGTH - 4) + 0; if (f > ft) ft = f }
          $1 == "stat::number_of_executed_units:" { units = $2 + 0 }
          $1 == "stat::average_exec_per_sec:" { rate = $2 + 0 }
          function flush() {
            if (units > execs) execs = units
            if (rate == 0 || units != execs) rate = int(execs / secs)
            total += execs; rates += rate
            execs = 0; units = 0; rate = 0
          }
          END {
            flush()
            printf "%d %d %s\n", total, rates, (cov == "" ? "-" : "cov " cov ", ft " ft + 0)
          }' "${logs[@]}")
      fi
      S_CORPUS=$(count_files "fuzz/corpus/$t") ;;
    afl)
      local f name execs=0 edges=0 total=0 e
      for name in ${afl_names[$t]:-main}; do
        f=fuzz/afl/$t/$name/fuzzer_stats
        [[ -f $f ]] || continue
        e=$(afl_stat "$f" execs_done)
        execs=$(( execs + e - ${afl_base_execs[$t/$name]:-0} ))
        e=$(afl_stat "$f" edges_found); [[ $e -gt $edges ]] && edges=$e
        e=$(afl_stat "$f" total_edges); [[ $e -gt $total ]] && total=$e
      done
      [[ $execs -ge 0 ]] || execs=0
      S_EXECS=$execs S_RATE=$(( execs / secs ))
      if [[ $total -gt 0 ]]; then
        S_COV="edges $edges/$total ($(awk -v e="$edges" -v t="$total" 'BEGIN { printf "%.2f", 100 * e / t }')%)"
      fi
      S_CORPUS=$(count_files "fuzz/afl/$t/main/queue" -name 'id:*') ;;
    honggfuzz)
      local stats=fuzz/logs/honggfuzz-$t.stats summary edges guards
      # The stats file gets a line on each new coverage; the summary at exit.
      if [[ -f $stats ]]; then
        read -r S_EXECS edges < <(awk -F', *' '!/^#/ { x = $3; e = $8 } END { print x + 0, e + 0 }' "$stats")
        S_RATE=$(( S_EXECS / secs ))
        S_COV="edges $edges"
      fi
      summary=$([[ -f $log ]] && grep -a 'Summary iterations:' "$log" | tail -n1 || true)
      if [[ -n $summary ]]; then
        S_EXECS=$(sed -n 's/.*iterations:\([0-9]*\).*/\1/p' <<<"$summary")
        S_RATE=$(sed -n 's/.*speed:\([0-9]*\).*/\1/p' <<<"$summary")
        guards=$(sed -n 's/.*guard_nb:\([0-9]*\).*/\1/p' <<<"$summary")
        S_COV="edges ${edges:-0}/$guards guards ($(sed -n 's/.*branch_coverage_percent:\([0-9]*\).*/\1/p' <<<"$summary")%)"
      fi
      S_CORPUS=$(count_files "fuzz/hfuzz_workspace/$t/input") ;;
  esac
  S_CRASHES=$(crash_files "$t" | wc -l)
}

# The corpus an engine grew for target $1, with the seeds.
grown_corpus() {
  seed_dirs "$1"
  case "$engine" in
    libfuzzer) [[ -d fuzz/corpus/$1 ]] && echo "fuzz/corpus/$1" ;;
    afl) compgen -G "fuzz/afl/$1/*/queue" || true ;;
    honggfuzz) [[ -d fuzz/hfuzz_workspace/$1/input ]] && echo "fuzz/hfuzz_workspace/$1/input" ;;
  esac
  return 0
}

# Distinct (api, version, error code) tuples the responses to target $1's
# corpus carry; "-" for a target that meets no server or when not counted.
protocol_states() {
  local n dirs
  [[ -n $states_tool ]] || { echo -; return; }
  mapfile -t dirs < <(grown_corpus "$1")
  [[ ${#dirs[@]} -gt 0 ]] || { echo -; return; }
  n=$("$states_tool" states --count --target "$1" "${dirs[@]}" 2>>"fuzz/logs/states-$1.log") || { echo -; return; }
  [[ $n -gt 0 ]] && echo "$n" || echo -
}

human() { awk -v n="$1" 'BEGIN { if (n >= 1e9) printf "%.1fG", n / 1e9; else if (n >= 1e6) printf "%.1fM", n / 1e6; else if (n >= 1e4) printf "%.0fk", n / 1e3; else printf "%d", n }'; }
clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

stop_group() { kill "-$2" -- "-$1" 2>/dev/null || true; }
# On any exit, leave no fuzzer behind.
# shellcheck disable=SC2317 # (called by the EXIT trap)
cleanup() {
  local t
  for t in "${!pid_of[@]}"; do
    [[ -z ${rc_of[$t]:-} ]] && stop_group "${pid_of[$t]}" KILL
  done
  return 0
}
trap cleanup EXIT

queue=("${ready[@]}")
running=()
rounds=$(( (n_ready + parallel - 1) / parallel ))
total=$(( rounds * time_budget ))
grace=$(( time_budget / 5 > 30 ? time_budget / 5 : 30 ))
if [[ $n_ready -gt 0 ]]; then
  say "fuzzing ${ready[*]} with $engine$([[ $asan -eq 1 ]] && echo ' + ASan'): ${time_budget}s each, $parallel at a time, $workers worker(s) each (logs: fuzz/logs/)"
fi
tty=0
[[ -t 1 ]] && tty=1
run_start=$SECONDS last_status=-100 stopping=0
# Ctrl-C in a terminal also hits whatever short command this loop is running
# (sleep, awk, ...); errexit would then end the script before the table.
set +e

while [[ ${#queue[@]} -gt 0 || ${#running[@]} -gt 0 ]]; do
  if [[ $interrupted -eq 1 && $stopping -eq 0 ]]; then
    stopping=$SECONDS
    [[ $tty -eq 1 ]] && echo
    say "interrupted: stopping the fuzzers"
    for t in "${queue[@]}"; do status[$t]="not run"; done
    queue=()
    for t in "${running[@]}"; do stop_group "${pid_of[$t]}" INT; signalled[$t]=$SECONDS; done
  fi
  while [[ ${#queue[@]} -gt 0 && ${#running[@]} -lt $parallel ]]; do
    busy=0
    for t in "${running[@]}"; do busy=$(( busy + workers_of[$t] )); done
    starting=$(( ${#queue[@]} < parallel - ${#running[@]} ? ${#queue[@]} : parallel - ${#running[@]} ))
    w=$(( (jobs - busy) / starting ))
    [[ $w -ge 1 ]] || w=1
    workers_of[${queue[0]}]=$w
    launch "${queue[0]}" "$w"
    running+=("${queue[0]}")
    queue=("${queue[@]:1}")
  done
  sleep 1
  still=()
  for t in "${running[@]}"; do
    if kill -0 "${pid_of[$t]}" 2>/dev/null; then
      still+=("$t")
      # A fuzzer well past its budget (stuck in start-up or on a slow input)
      # is asked to stop (SIGINT: it still writes its statistics), then
      # killed 15 seconds later; so is one still running after Ctrl-C.
      if [[ -z ${signalled[$t]:-} ]] && { [[ $stopping -gt 0 ]] ||
          [[ $(( SECONDS - started[$t] - time_budget )) -gt $grace ]]; }; then
        stop_group "${pid_of[$t]}" INT
        signalled[$t]=$SECONDS
      elif [[ -n ${signalled[$t]:-} && $(( SECONDS - signalled[$t] )) -gt 15 ]]; then
        stop_group "${pid_of[$t]}" KILL
      fi
    else
      rc=0
      wait "${pid_of[$t]}" || rc=$?
      rc_of[$t]=$rc
      ended[$t]=$SECONDS
    fi
  done
  running=("${still[@]+"${still[@]}"}")
  if [[ ${#running[@]} -gt 0 && $(( SECONDS - last_status )) -ge $(( tty == 1 ? 2 : 10 )) ]]; then
    last_status=$SECONDS
    line="[$(clock $(( SECONDS - run_start )))/$(clock "$total")]"
    for t in "${running[@]}"; do
      read_stats "$t"
      line+=" $t $(human "$S_EXECS") execs $S_CRASHES crashes |"
    done
    line=${line%|}
    if [[ $tty -eq 1 ]]; then printf '\r\033[K%s' "${line:0:$(( $(tput cols 2>/dev/null || echo 200) - 1 ))}"
    else echo "$line"; fi
  fi
done
[[ $tty -eq 1 && $n_ready -gt 0 ]] && echo
set -e

# ----------------------------------------------------------------- table --

any_bad=0 sum_execs=0 sum_crashes=0 crashed=()
table="| target | engine | status | executions | exec/s | coverage | states | corpus | crashes |
|---|---|---|---:|---:|---|---:|---:|---:|"
engine_label=$engine
[[ $asan -eq 1 ]] && engine_label="libfuzzer+asan"
for t in "${targets[@]}"; do
  if [[ -n ${status[$t]:-} ]]; then
    any_bad=1
    table+=$'\n'"| $t | $engine_label | ${status[$t]} | - | - | - | - | - | - |"
    continue
  fi
  read_stats "$t"
  rc=${rc_of[$t]:-0}
  if [[ $S_CRASHES -gt 0 ]]; then st=crashed; crashed+=("$t"); any_bad=1
  elif [[ $interrupted -eq 1 ]]; then st=interrupted
  elif [[ $rc -ne 0 ]]; then st="failed (exit $rc)"; any_bad=1
  else st=ok; fi
  sum_execs=$(( sum_execs + S_EXECS )) sum_crashes=$(( sum_crashes + S_CRASHES ))
  table+=$'\n'"| $t | $engine_label | $st | $S_EXECS | $S_RATE | $S_COV | $(protocol_states "$t") | $S_CORPUS | $S_CRASHES |"
done
summary="fuzz: ${#targets[@]} target(s), $engine_label, ${time_budget}s each: $sum_execs executions, $sum_crashes crash(es)"
[[ $interrupted -eq 1 ]] && summary+=", interrupted"
[[ $any_bad -eq 1 ]] && summary+=", FAILED" || summary+=", ok"
# Crashes of earlier runs stay where the engine put them (AFL++ and
# honggfuzz do not save a known crash again): say so, they are not counted.
notes=""
for t in "${targets[@]}"; do
  n=$(old_crash_files "$t" | wc -l)
  [[ $n -gt 0 ]] && notes+=$'\n'"note: $t has $n crash file(s) from earlier runs, not counted here (e.g. $(old_crash_files "$t" | head -n1))"
done
summary+=$notes

echo
echo "$table"
echo
echo "$summary"
{
  echo "# Last fuzzing run"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`scripts/fuzz.sh --engine $engine --time $time_budget --jobs $jobs$([[ $asan -eq 1 ]] && echo ' --asan')$([[ -n $features ]] && echo " --features $features")$([[ $keep_going -eq 1 ]] && echo ' --keep-going') ${targets[*]}\`"
  echo
  echo "$table"
  echo
  echo "$summary"
} >fuzz/last-run.md
echo "(saved to fuzz/last-run.md; logs in fuzz/logs/)"

# ---------------------------------------------------------------- crashes --

# Each crashed target's crash files of this run go to triage, which prints
# the distinct bugs (scripts/triage.sh; reports in fuzz/triage/<target>/).
for t in "${crashed[@]}"; do
  mapfile -t files < <(crash_files "$t")
  [[ ${#files[@]} -gt 0 ]] || continue
  echo
  say "triage: $t"
  scripts/triage.sh --engine "$engine" --target "$t" --features "$features" \
    $([[ $asan -eq 1 ]] && echo --asan) "${files[@]}" || any_bad=1
done

[[ $interrupted -eq 1 ]] && exit 130
exit "$any_bad"
