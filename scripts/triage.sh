#!/usr/bin/env bash
# Crash triage after a fuzzing campaign: reproduces the crash files the
# engines left, groups them into distinct bugs, minimizes one input per bug
# and writes fuzz/triage/<target>/report.md and report.json, printing each
# report's table. `scripts/triage.sh --help`. scripts/fuzz.sh calls it when a
# run crashed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  cat <<'USAGE'
Usage: scripts/triage.sh [--target T] [--engine E] [--asan] [--promote]
                         [--timeout S] [--features LIST] [FILE...]

Without FILEs: every crash file the engines left for target T (or for every
target that has some):
  libFuzzer  fuzz/artifacts/T/{crash,oom,timeout,leak}-*
  AFL++      fuzz/afl/T/*/crashes*/id:* and hangs*/id:*
  honggfuzz  fuzz/hfuzz_workspace/T/*.fuzz
With FILEs: those files, which came from target T (--target is then needed).

  --target T   only this target.
  --engine E   only this engine's files (libfuzzer, afl or honggfuzz).
  --asan       reproduce with the AddressSanitizer libFuzzer build that
               `scripts/fuzz.sh --asan` made (fuzz/target/asan/...), so memory
               errors reproduce; otherwise with `kafka-fuzz replay`, which
               reports hangs and stack overflows with their frames.
  --promote    file each new bug's minimized input as
               corpus/regressions/T/<bug id>, replayed by `cargo test`.
  --timeout S  seconds before an input counts as hanging (default 10).
  --features L the fuzz crate features the target was built with (as given
               to scripts/fuzz.sh): kafka-fuzz is built with those it has,
               e.g. tansu for the tansu_* targets.
  -h, --help   this text.

Reports: fuzz/triage/T/report.md (a table of distinct bugs, then details
with the command that reproduces each) and report.json; minimized inputs in
fuzz/triage/T/minimized/. Exits 1 if any new bug was found or triage failed.
USAGE
}

die() { echo "triage.sh: $*" >&2; exit 2; }

target="" engine="" asan=0 promote=() timeout=10 features="" files=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --target|-t) [[ $# -ge 2 ]] || die "--target needs a value"; target=$2; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    --engine) [[ $# -ge 2 ]] || die "--engine needs a value"; engine=$2; shift 2 ;;
    --engine=*) engine=${1#*=}; shift ;;
    --asan) asan=1; shift ;;
    --promote) promote=(--promote); shift ;;
    --timeout) [[ $# -ge 2 ]] || die "--timeout needs a value"; timeout=$2; shift 2 ;;
    --timeout=*) timeout=${1#*=}; shift ;;
    --features) [[ $# -ge 2 ]] || die "--features needs a value"; features=$2; shift 2 ;;
    --features=*) features=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) files+=("$1"); shift ;;
  esac
done
case "$engine" in ""|libfuzzer|afl|honggfuzz) ;; *) die "unknown engine $engine" ;; esac
[[ ${#files[@]} -eq 0 || -n $target ]] || die "crash files need --target: the target they came from"

# shellcheck source=scripts/crash-files.sh
source scripts/crash-files.sh
# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh

unset CARGO_TARGET_DIR
# The triage profile: overflow checks on, as in the fuzz binaries.
echo "==> building kafka-fuzz (profile triage)"
cargo build --profile triage --locked --quiet --bin kafka-fuzz --features "$(crate_features "$features")"
kafka_fuzz=target/triage/kafka-fuzz
mapfile -t known_targets < <("$kafka_fuzz" targets | awk '{ print $1 }')
if [[ -n $target ]]; then
  [[ " ${known_targets[*]} " == *" $target "* ]] || die "unknown target $target; targets are: ${known_targets[*]}"
  targets=("$target")
else
  targets=("${known_targets[@]}")
fi

triple=$(rustc -vV | sed -n 's/^host: //p')
status=0 triaged=0
for t in "${targets[@]}"; do
  if [[ ${#files[@]} -gt 0 ]]; then
    inputs=("${files[@]}")
  else
    engines=(libfuzzer afl honggfuzz)
    [[ -n $engine ]] && engines=("$engine")
    inputs=()
    for e in "${engines[@]}"; do
      mapfile -t -O "${#inputs[@]}" inputs < <(crash_files_of "$e" "$t" | sort)
    done
  fi
  [[ ${#inputs[@]} -gt 0 ]] || continue
  triaged=$((triaged + 1))
  reproducer=()
  if [[ $asan -eq 1 ]]; then
    binary=fuzz/target/asan/$triple/release/$t
    [[ -x $binary ]] || die "$binary not found: build it with scripts/fuzz.sh --asan $t"
    reproducer=(--binary "$binary")
  fi
  echo "==> triage $t: ${#inputs[@]} crash file(s)"
  rc=0
  "$kafka_fuzz" triage --target "$t" --out "fuzz/triage/$t" --timeout "$timeout" \
    "${reproducer[@]}" "${promote[@]}" "${inputs[@]}" || rc=$?
  # 0: nothing new; 2: new bugs (the report says which); else a failure.
  [[ $rc -eq 0 ]] || status=1
done
[[ $triaged -gt 0 ]] || echo "triage: no crash files to triage"
exit "$status"
