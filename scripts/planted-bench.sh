#!/usr/bin/env bash
# The planted-bug benchmark, the oracles' regression test: each bug that
# `kafka-fuzz planted-bugs` lists (one wrong line of the reference server,
# compiled in only with the planted-bugs feature) is planted in turn and
# fuzzed with its natural targets (libFuzzer, one core, from the committed
# seeds) until the first crash. Prints seconds to detection and the oracle
# that fired per bug and target; exits 1 when a bug goes undetected, so a
# change that loses a detection shows. `scripts/planted-bench.sh --help`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() {
  cat <<'USAGE'
Usage: scripts/planted-bench.sh [--limit S] [--keep DIR] [--cluster] [BUG...]

  --limit S   seconds a bug may take on a target before it counts as not
              detected (default 300).
  --keep DIR  copy each first crash to DIR/planted-<target>/<bug>/first-crash
              (tests/fixtures: the inputs tests/session.rs and
              tests/cluster_target.rs replay).
  --cluster   the replication bugs of the reference cluster too (they are
              slower to reach; without it only the broker's are run).
  BUG...      only these bugs (by name), whichever their target.
USAGE
}
die() { echo "planted-bench.sh: $*" >&2; exit 2; }

limit=300 keep="" cluster=0 only=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --limit) limit=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    --cluster) cluster=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) only+=("$1"); shift ;;
  esac
done
[[ $limit =~ ^[1-9][0-9]*$ ]] || die "--limit takes a whole number of seconds"

echo "==> listing the planted bugs (cargo run --features planted-bugs -- planted-bugs)"
mapfile -t bugs < <(cargo run -q --locked --features planted-bugs -- planted-bugs) ||
  die "cannot list the planted bugs"
for name in "${only[@]}"; do
  printf '%s\n' "${bugs[@]}" | cut -f1 | grep -qx -- "$name" || die "no planted bug named $name"
done

table="| bug | target | seconds to detection | executions | caught as |"$'\n'"|---|---|---:|---:|---|"
runs=0 detected=0 times=()
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for line in "${bugs[@]}"; do
  IFS=$'\t' read -r name targets _what <<<"$line"
  if [[ ${#only[@]} -gt 0 ]]; then
    printf '%s\n' "${only[@]}" | grep -qx -- "$name" || continue
  elif [[ $targets == cluster && $cluster -eq 0 ]]; then
    continue
  fi
  # Bugs of the TCP server under concurrency: storm's, proven by tests/storm.rs.
  [[ $targets == storm ]] && continue
  IFS=, read -ra target_list <<<"$targets"
  for target in "${target_list[@]}"; do
    runs=$((runs + 1))
    echo "==> $name on $target"
    rm -rf "$work/keep"
    KAFKA_FUZZ_PLANTED_BUG=$name scripts/first-crash.sh --features planted-bugs --runs 1 \
      --limit "$limit" --keep "$work/keep" "$target" >"$work/out" 2>&1 ||
      { cat "$work/out" >&2; die "first-crash.sh failed for $name on $target"; }
    # first-crash.sh's table row: | 1 | seconds | executions | what |
    row=$(grep -E '^\| 1 \|' "$work/out" | tail -n1)
    IFS='|' read -r _ _ seconds execs what _ <<<"$row"
    seconds=$(echo "$seconds" | xargs) execs=$(echo "$execs" | xargs) what=$(echo "$what" | xargs)
    if [[ -f $work/keep/run-1 ]]; then
      detected=$((detected + 1))
      times+=("$seconds")
      what=${what#oracle violation }
      if [[ -n $keep ]]; then
        mkdir -p "$keep/planted-$target/$name"
        cp "$work/keep/run-1" "$keep/planted-$target/$name/first-crash"
      fi
    else
      seconds="not detected in ${limit}s" what="-"
    fi
    table+=$'\n'"| \`$name\` | $target | $seconds | $execs | $what |"
  done
done
[[ $runs -gt 0 ]] || die "no bug selected"
median="-"
if [[ ${#times[@]} -gt 0 ]]; then
  median=$(printf '%s\n' "${times[@]}" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')s
fi
echo
echo "$detected of $runs planted bugs detected (libFuzzer, one core, from the committed seeds, process start included); median time to detection: $median"
echo
echo "$table"
[[ $detected -eq $runs ]]
