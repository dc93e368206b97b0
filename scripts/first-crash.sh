#!/usr/bin/env bash
# Time to first crash: runs one libFuzzer target N times (a different
# -seed each, from its committed seeds or from nothing) until it crashes,
# and prints a table of seconds and executions to the first crash, with the
# median. For targets expected to crash (the third-party adapters), it says
# how quickly the suite finds their bugs. `scripts/first-crash.sh --help`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  cat <<'USAGE'
Usage: scripts/first-crash.sh [--runs N] [--limit S] [--features LIST]
                              [--empty] [--keep DIR] TARGET

  --runs N      runs (default 5), libFuzzer -seed=1..N.
  --limit S     seconds a run may take before it counts as no crash
                (default 300).
  --features L  fuzz crate features to build with (e.g. third-party).
  --empty       start from an empty corpus instead of the target's seeds.
  --keep DIR    copy each run's first crash file to DIR/run-N (for a
                regression or a planted-bug fixture).
USAGE
}
die() { echo "first-crash.sh: $*" >&2; exit 2; }

runs=5 limit=300 features="" empty=0 keep="" target=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs=${2:?}; shift 2 ;;
    --limit) limit=${2:?}; shift 2 ;;
    --features) features=${2:?}; shift 2 ;;
    --empty) empty=1; shift ;;
    --keep) keep=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z $target ]] || die "one target at a time"; target=$1; shift ;;
  esac
done
[[ -n $target ]] || { usage >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ && $limit =~ ^[1-9][0-9]*$ ]] || die "--runs and --limit take whole numbers"
# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh
selected_targets "$features" "$target" >/dev/null || exit 2

unset CARGO_TARGET_DIR
echo "==> building $target (libFuzzer, no sanitizer)"
cargo fuzz build --sanitizer none --features "$features" "$target" >/dev/null 2>&1 ||
  die "build failed: cargo fuzz build --sanitizer none --features '$features' $target"
binary=fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release/$target
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t seeds < <( ((empty)) || seed_dirs "$target")
start_label=$( ((empty)) && echo "an empty corpus" || echo "${seeds[*]}")
mapfile -t opts < <(target_options "$target" | sed 's/^/-/')

table="| run | seconds to first crash | executions | crash |"$'\n'"|---:|---:|---:|---|"
times=()
for ((i = 1; i <= runs; i++)); do
  mkdir -p "$work/corpus-$i" "$work/artifacts-$i"
  for d in "${seeds[@]}"; do cp -r "$d/." "$work/corpus-$i/"; done
  t0=$(date +%s.%N)
  "$binary" "${opts[@]}" -seed="$i" -max_total_time="$limit" -print_final_stats=1 \
    -dict="$fuzz_dictionary" -artifact_prefix="$work/artifacts-$i/" "$work/corpus-$i" \
    >"$work/log-$i" 2>&1 || true
  t1=$(date +%s.%N)
  seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log-$i" | tail -n1)
  crash=$(find "$work/artifacts-$i" -type f -printf '%f\n' | head -n1)
  if [[ -n $crash ]]; then
    times+=("$seconds")
    if [[ -n $keep ]]; then
      mkdir -p "$keep"
      cp "$work/artifacts-$i/$crash" "$keep/run-$i"
    fi
    # What broke: an oracle's violation names its guarantee; else the panic.
    what=$(grep -m1 -o 'oracle violation \[[a-z-]*\] [a-z-]*' "$work/log-$i" ||
      grep -m1 -o 'kafka-fuzz: over-allocation:.*\|panicked at.*\|ERROR: libFuzzer: [a-z -]*' "$work/log-$i" | cut -c1-80 || true)
    table+=$'\n'"| $i | $seconds | ${execs:--} | ${what:-$crash} |"
  else
    table+=$'\n'"| $i | no crash in ${limit}s | ${execs:--} | - |"
  fi
  printf '[%d/%d] %s\n' "$i" "$runs" "${crash:+crashed after ${seconds}s}"
done
if [[ ${#times[@]} -eq 0 ]]; then
  median="none crashed"
else
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')s
fi
echo
echo "$target from $start_label: ${#times[@]} of $runs runs crashed; median time to first crash: $median (process start included)"
echo
echo "$table"
