#!/usr/bin/env bash
# Runs the OSS-Fuzz / ClusterFuzzLite build here, without Docker, the way the
# builder image does, then checks what it produced and runs every target once
# over its seed corpus (a coverage build must write its profile). Exits
# non-zero when the build fails, $OUT lacks anything OSS-Fuzz needs, or a
# target fails on a seed.
#
#   scripts/oss-fuzz-local.sh [--sanitizer address|coverage|none]
#
#   address   (default) what OSS-Fuzz and ClusterFuzzLite build: ASan, on the
#             nightly toolchain (installed by scripts/setup.sh if missing)
#   coverage  the coverage build (-Cinstrument-coverage), stable Rust
#   none      no sanitizer, stable Rust: the build scripts/fuzz.sh runs
#
# Layout (under target/oss-fuzz/, as in the image): $SRC/kafka-fuzz (this
# checkout, linked) and $SRC/build.sh (.clusterfuzzlite/build.sh), $WORK
# (kept between runs: the cargo builds are incremental), $OUT (out-<sanitizer>,
# emptied first). The environment is the builder's: SANITIZER,
# FUZZING_ENGINE=libfuzzer, FUZZING_LANGUAGE=rust, ARCHITECTURE,
# LIB_FUZZING_ENGINE and RUSTFLAGS as its `compile` sets them. Two
# differences, both because OSS-Fuzz brings its own libFuzzer built with
# clang and libc++ (CUSTOM_LIBFUZZER_PATH): here libfuzzer-sys builds its
# bundled libFuzzer with the system C++ compiler, so CFLAGS/CXXFLAGS stay
# unset and coverage builds do not link -lc++.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "oss-fuzz-local: $*" >&2; exit 2; }
step() { printf '\n==> %s\n' "$*"; }

sanitizer=address
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sanitizer) [[ $# -ge 2 ]] || die "--sanitizer needs a value"; sanitizer=$2; shift 2 ;;
    --sanitizer=*) sanitizer=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case "$sanitizer" in address|coverage|none) ;; *) die "unknown sanitizer '$sanitizer' (address, coverage, none)" ;; esac

# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh

step "set-up: cargo fuzz$([[ $sanitizer == address ]] && echo ', nightly Rust') (scripts/setup.sh)"
if [[ $sanitizer == address ]]; then scripts/setup.sh libfuzzer asan; else scripts/setup.sh libfuzzer; fi
command -v zip >/dev/null && command -v unzip >/dev/null || {
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends zip unzip
}

base=$root/target/oss-fuzz
export SRC=$base/src WORK=$base/work OUT=$base/out-$sanitizer
rm -rf "$OUT"
mkdir -p "$SRC" "$WORK" "$OUT"
ln -sfn "$root" "$SRC/kafka-fuzz"
cp .clusterfuzzlite/build.sh "$SRC/build.sh"

export SANITIZER=$sanitizer FUZZING_ENGINE=libfuzzer FUZZING_LANGUAGE=rust ARCHITECTURE=x86_64
export LIB_FUZZING_ENGINE=-fsanitize=fuzzer
unset CARGO_TARGET_DIR CFLAGS CXXFLAGS
case "$sanitizer" in
  address)
    export RUSTFLAGS="--cfg fuzzing -Zsanitizer=address -Cdebuginfo=1 -Cforce-frame-pointers"
    export RUSTUP_TOOLCHAIN=nightly ;;
  coverage) export RUSTFLAGS="--cfg fuzzing -Cdebuginfo=1 -Cforce-frame-pointers -Cinstrument-coverage" ;;
  none) export RUSTFLAGS="--cfg fuzzing -Cdebuginfo=1 -Cforce-frame-pointers" ;;
esac

step "build: \$SRC/build.sh with SANITIZER=$SANITIZER (log: target/oss-fuzz/build-$sanitizer.log)"
build_log=$base/build-$sanitizer.log
(cd "$SRC/kafka-fuzz" && bash -eu "$SRC/build.sh") 2>&1 | tee "$build_log"

step "check: \$OUT ($OUT)"
mapfile -t targets < <(fuzz_targets)
problems=0
problem() { echo "oss-fuzz-local: $*" >&2; problems=$((problems + 1)); }
case "$sanitizer" in
  address) instrumented=__asan_init ;;
  coverage) instrumented=__llvm_profile_write_file ;;
  none) instrumented=__sanitizer_cov_8bit_counters_init ;;
esac
for t in "${targets[@]}"; do
  [[ -x $OUT/$t ]] || { problem "$t: no binary in \$OUT"; continue; }
  # Read whole (no grep -q): an early-closed pipe fails under pipefail.
  symbols=$(nm "$OUT/$t")
  grep -q 'LLVMFuzzerTestOneInput' <<<"$symbols" || problem "$t: not a libFuzzer binary (no LLVMFuzzerTestOneInput)"
  grep -q "$instrumented" <<<"$symbols" || problem "$t: not built for $sanitizer (no $instrumented)"
  [[ -s $OUT/${t}_seed_corpus.zip ]] && unzip -tqq "$OUT/${t}_seed_corpus.zip" \
    || problem "$t: no readable ${t}_seed_corpus.zip"
  [[ -s $OUT/$t.dict ]] || problem "$t: no $t.dict"
  [[ -s $OUT/$t.options ]] || problem "$t: no $t.options"
done
[[ $problems -eq 0 ]] || die "\$OUT is incomplete ($problems problems)"
echo "every target has its binary, ${#targets[@]} seed corpus zips, dictionaries and options"

step "run: every target once over its seed corpus, with its options and dictionary"
# OSS-Fuzz's ASan settings for fuzzing runs (the ones that change results).
export ASAN_OPTIONS=alloc_dealloc_mismatch=0:allocator_may_return_null=1:detect_leaks=1:detect_stack_use_after_return=1:handle_abort=1:handle_segv=1:handle_sigill=1:symbolize=1:use_sigaltstack=1:dedup_token_length=3
rows=()
failed=0
for t in "${targets[@]}"; do
  seeds=$WORK/seeds/$t run=$WORK/run/$t
  rm -rf "$seeds" "$run"
  mkdir -p "$seeds" "$run"
  unzip -qq "$OUT/${t}_seed_corpus.zip" -d "$seeds"
  mapfile -t flags < <(options_of "$OUT/$t.options" | sed 's/^/-/')
  log=$run/run.log
  status=ok
  (cd "$run" && LLVM_PROFILE_FILE=$run/%m.profraw \
    "$OUT/$t" -runs=0 -dict="$OUT/$t.dict" "${flags[@]}" "$seeds" >"$log" 2>&1) || status=FAILED
  # A coverage build is for its profile: no profile, no report.
  if [[ $sanitizer == coverage && $status == ok ]] && ! compgen -G "$run/*.profraw" >/dev/null; then
    status="FAILED (no .profraw written)"
  fi
  inited=$(grep -m1 'INITED' "$log" || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$inited") ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$inited")
  if [[ $status != ok ]]; then
    failed=$((failed + 1))
    echo "--- $t failed; the end of $log:" >&2
    tail -n 30 "$log" >&2
  fi
  rows+=("$(printf '| %s | %d | %s | %s | %s |' "$t" "$(find "$seeds" -type f | wc -l)" "${cov:--}" "${ft:--}" "$status")")
done

printf '\n| target | seeds | cov | ft | result |\n|---|---:|---:|---:|---|\n'
printf '%s\n' "${rows[@]}"
[[ $failed -eq 0 ]] || die "$failed targets failed on their seeds"
echo "oss-fuzz-local: SANITIZER=$sanitizer build passes: \$OUT=$OUT"
