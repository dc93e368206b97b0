#!/usr/bin/env bash
# Minimizes corpora with libFuzzer's coverage, per target (every target, or
# the ones named):
#
#   scripts/corpus-minimize.sh [TARGET...]
#       `cargo fuzz cmin` of each working corpus, fuzz/corpus/<target>/ (what
#       fuzzing grew): the smallest set of its inputs with the same coverage.
#   scripts/corpus-minimize.sh --from DIR [TARGET...]
#       adds to the committed corpus, corpus/<target>/, the inputs of
#       DIR/<target>/ that reach coverage it does not (libFuzzer -merge=1);
#       nothing already in corpus/ is removed. How imported or recorded
#       seeds join the corpus.
#
# Builds the targets as scripts/fuzz.sh does (libFuzzer, no sanitizer);
# ends with a table of inputs before and after.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "corpus-minimize: $*" >&2; exit 2; }
step() { printf '\n==> %s\n' "$*"; }

from='' targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; from=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ -z $from || -d $from ]] || die "--from $from: no such directory"

# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh
selected=$(selected_targets "" ${targets[@]+"${targets[@]}"}) || exit 2
mapfile -t targets <<<"$selected"
count() { [[ -d $1 ]] && find "$1" -maxdepth 1 -type f | wc -l || echo 0; }

scripts/setup.sh libfuzzer >/dev/null
unset CARGO_TARGET_DIR
triple=$(rustc -vV | sed -n 's/^host: //p')
rows=()
for t in "${targets[@]}"; do
  if [[ -n $from ]]; then
    source_dir=$from/$t into=corpus/$t
    [[ -d $source_dir ]] || continue
    before=$(count "$into")
    offered=$(count "$source_dir")
    step "$t: merge $offered inputs of $source_dir into $into"
    cargo fuzz build --sanitizer none "$t"
    mkdir -p "$into"
    rss=$(option "$t" rss_limit_mb) timeout=$(option "$t" timeout)
    "fuzz/target/$triple/release/$t" -merge=1 -rss_limit_mb="${rss:-2048}" -timeout="${timeout:-10}" \
      "$into" "$source_dir" >"target/corpus-minimize-$t.log" 2>&1 \
      || { tail -n 20 "target/corpus-minimize-$t.log" >&2; die "$t: merge failed (log: target/corpus-minimize-$t.log)"; }
    rows+=("$(printf '| %s | %d | +%d of %d | %d |' "$t" "$before" "$(($(count "$into") - before))" "$offered" "$(count "$into")")")
  else
    dir=fuzz/corpus/$t
    [[ -d $dir ]] || continue
    before=$(count "$dir")
    step "$t: cargo fuzz cmin $dir ($before inputs)"
    cargo fuzz cmin --sanitizer none "$t" "$dir" >"target/corpus-minimize-$t.log" 2>&1 \
      || { tail -n 20 "target/corpus-minimize-$t.log" >&2; die "$t: cmin failed (log: target/corpus-minimize-$t.log)"; }
    rows+=("$(printf '| %s | %d | %d |' "$t" "$before" "$(count "$dir")")")
  fi
done

if [[ -n $from ]]; then
  printf '\n| target | corpus/ before | added from %s | corpus/ after |\n|---|---:|---:|---:|\n' "$from"
else
  printf '\n| target | fuzz/corpus before | after cmin |\n|---|---:|---:|\n'
fi
[[ ${#rows[@]} -eq 0 ]] || printf '%s\n' "${rows[@]}"
