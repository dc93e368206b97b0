#!/usr/bin/env bash
# What real-traffic seeds are worth: for each target (default produce,
# fetch, metadata, frame_decode, dispatch), two libFuzzer runs side by side,
# one core each, for the same time: (a) from the generated seeds only
# (`kafka-fuzz corpus seed`), (b) from the committed corpus, generated plus
# real-traffic seeds. Prints the coverage (edges `cov`, features `ft`) each
# reached once its seeds were run and at the end.
#
#   scripts/compare-seeds.sh [--time SECONDS] [TARGET...]   (default 300 s)
#
# Same binary, options and dictionary for both; regressions are left out of
# both. Uses both cores for the whole time of each target.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "compare-seeds: $*" >&2; exit 2; }
step() { printf '\n==> %s\n' "$*"; }

time_budget=300 targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time) [[ $# -ge 2 ]] || die "--time needs a value"; time_budget=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ $time_budget =~ ^[1-9][0-9]*$ ]] || die "--time must be a whole number of seconds"
[[ ${#targets[@]} -gt 0 ]] || targets=(produce fetch metadata frame_decode dispatch)

# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh
selected=$(selected_targets "" "${targets[@]}") || exit 2
mapfile -t targets <<<"$selected"
scripts/setup.sh libfuzzer >/dev/null
unset CARGO_TARGET_DIR
triple=$(rustc -vV | sed -n 's/^host: //p')
work=target/compare-seeds
rm -rf "$work"
mkdir -p "$work"

step "build: kafka-fuzz (the generated seeds) and the fuzz targets"
cargo build --release --locked --bin kafka-fuzz
target/release/kafka-fuzz corpus seed --out "$work/generated" >/dev/null
for t in "${targets[@]}"; do cargo fuzz build --sanitizer none "$t"; done

# cov and ft of a libFuzzer log's line matching $2 (last one).
coverage_at() {
  local line
  line=$(grep -E "$2" "$1" | tail -n1 || true)
  printf '%s/%s' "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")" "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")"
}

rows=()
for t in "${targets[@]}"; do
  step "$t: ${time_budget}s from generated seeds | ${time_budget}s from generated + real-traffic seeds"
  mapfile -t flags < <(target_options "$t" | sed 's/^/-/')
  for arm in generated committed; do
    seeds=$work/generated/$t
    [[ $arm == committed ]] && seeds=corpus/$t
    mkdir -p "$work/$arm/$t.corpus" "$work/$arm/$t.artifacts"
    "fuzz/target/$triple/release/$t" "$work/$arm/$t.corpus" "$seeds" -dict="$fuzz_dictionary" "${flags[@]}" \
      -max_total_time="$time_budget" -print_final_stats=1 -artifact_prefix="$work/$arm/$t.artifacts/" \
      >"$work/$arm/$t.log" 2>&1 &
  done
  wait
  row="| $t"
  for arm in generated committed; do
    seeds=$work/generated/$t
    [[ $arm == committed ]] && seeds=corpus/$t
    log=$work/$arm/$t.log
    row+=" | $(find "$seeds" -maxdepth 1 -type f | wc -l) | $(coverage_at "$log" 'INITED') | $(coverage_at "$log" '^#[0-9]+.* cov: ')"
  done
  rows+=("$row |")
done

printf '\n| target | (a) seeds | (a) start cov/ft | (a) after %ss | (b) seeds | (b) start cov/ft | (b) after %ss |\n' "$time_budget" "$time_budget"
printf '|---|---:|---:|---:|---:|---:|---:|\n'
printf '%s\n' "${rows[@]}"
echo "(a) generated seeds only; (b) generated + real-traffic seeds (corpus/). Logs: $work/{generated,committed}/<target>.log"
