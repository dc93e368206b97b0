#!/usr/bin/env bash
# Source coverage of kafka-fuzz's code from the fuzz targets' corpora: one
# command, one table, one report to open.
#
#   scripts/coverage.sh [--working] [--filter REGEX] [TARGET...]
#
# For every target (or the ones named), `cargo fuzz coverage` builds it with
# -Cinstrument-coverage and runs it over its corpus: the committed seeds
# (corpus/<target>/) and regressions, plus, with --working, what fuzzing grew
# (fuzz/corpus/<target>/). The profiles of all targets are merged, so a line
# counts as covered when any target reached it. Then, with the llvm-cov and
# llvm-profdata of rustup's llvm-tools-preview (matching rustc's LLVM):
#
#   target/coverage/summary.md   per file of src/: lines and regions covered,
#                                then the functions no input reached
#   target/coverage/html/index.html   the annotated source
#
# and the table printed at the end. --filter keeps the files whose path
# matches REGEX in the table (default: src/server/ and src/harness/, the code
# the targets run; `--filter .` for every file). Installs what it needs
# (scripts/setup.sh libfuzzer, and rustfilt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "coverage.sh: $*" >&2; exit 2; }
step() { printf '\n==> %s\n' "$*"; }

working=0 filter='' targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --working) working=1; shift ;;
    --filter) [[ $# -ge 2 ]] || die "--filter needs a value"; filter=$2; shift 2 ;;
    --filter=*) filter=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done

# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh
selected=$(selected_targets "" ${targets[@]+"${targets[@]}"}) || exit 2
mapfile -t targets <<<"$selected"

step "set-up: cargo fuzz, llvm-tools-preview (scripts/setup.sh libfuzzer), rustfilt"
scripts/setup.sh libfuzzer
# Demangles the function names of the summary.
command -v rustfilt >/dev/null || cargo install --locked rustfilt
unset CARGO_TARGET_DIR RUSTFLAGS
sysroot=$(rustc --print sysroot)
triple=$(rustc -vV | sed -n 's/^host: //p')
llvm_bin=$sysroot/lib/rustlib/$triple/bin
[[ -x $llvm_bin/llvm-cov && -x $llvm_bin/llvm-profdata ]] \
  || die "no llvm-cov/llvm-profdata in $llvm_bin: rustup component add llvm-tools-preview"

out=target/coverage
cargo_target=$root/$out/cargo
rm -rf "$out/html" "$out/summary.md" "$out/profiles"
mkdir -p "$out/profiles"

objects=()
for t in "${targets[@]}"; do
  mapfile -t corpora < <(seed_dirs "$t"; [[ $working -eq 1 && -d fuzz/corpus/$t ]] && echo "fuzz/corpus/$t")
  [[ ${#corpora[@]} -gt 0 ]] || { echo "coverage.sh: $t has no corpus: skipped" >&2; continue; }
  inputs=$(for d in "${corpora[@]}"; do find "$d" -maxdepth 1 -type f; done | wc -l)
  step "$t: cargo fuzz coverage over $inputs inputs (${corpora[*]})"
  # Each input runs in its own process: a crasher would stop the run, and
  # the committed corpora hold none (cargo test replays them).
  cargo fuzz coverage --sanitizer none --target-dir "$cargo_target" "$t" "${corpora[@]}" \
    >"$out/profiles/$t.log" 2>&1 || { tail -n 30 "$out/profiles/$t.log" >&2; die "$t: cargo fuzz coverage failed (log: $out/profiles/$t.log)"; }
  cp "fuzz/coverage/$t/coverage.profdata" "$out/profiles/$t.profdata"
  objects+=("$cargo_target/$triple/release/$t")
done
[[ ${#objects[@]} -gt 0 ]] || die "no target had a corpus"

step "report: llvm-profdata merge, llvm-cov export/show"
"$llvm_bin/llvm-profdata" merge -sparse "$out"/profiles/*.profdata -o "$out/merged.profdata"
# Our code only: not the standard library, the dependencies or the glue
# under fuzz/ (anchored: the checkout's own path may hold a /fuzz/).
fuzz_glue=$(printf '%s' "$root/fuzz/" | sed 's/[][\.*^$()+?{}|]/\\&/g')
ignore="(/rustc/|/\\.cargo/|/rustlib/|^$fuzz_glue)"
object_args=("${objects[0]}")
for o in "${objects[@]:1}"; do object_args+=(-object "$o"); done
"$llvm_bin/llvm-cov" export -format=text -instr-profile="$out/merged.profdata" \
  -ignore-filename-regex="$ignore" "${object_args[@]}" >"$out/coverage.json"
"$llvm_bin/llvm-cov" show -format=html -output-dir="$out/html" -show-line-counts-or-regions \
  -instr-profile="$out/merged.profdata" -ignore-filename-regex="$ignore" "${object_args[@]}"

python3 scripts/coverage-summary.py "$out/coverage.json" "$root" "${filter:-^src/(server|harness)/}" "${targets[*]}" >"$out/summary.md"
# The table, for the terminal; the uncovered functions stay in the file.
sed -n '1,/^## Functions/{/^## Functions/d;p}' "$out/summary.md"
echo "summary (with the functions no input reached): $out/summary.md"
echo "annotated source: $out/html/index.html"
