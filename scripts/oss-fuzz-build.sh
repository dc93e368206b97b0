#!/bin/bash -eu
# The OSS-Fuzz / ClusterFuzzLite build of kafka-fuzz: builds every fuzz
# target for $SANITIZER and puts in $OUT, per target:
#   <target>                   the libFuzzer binary
#   <target>_seed_corpus.zip   corpus/<target>/ and corpus/regressions/<target>/
#   <target>.dict              corpus/kafka.dict (OSS-Fuzz reads <target>.dict,
#                              or a `dict =` line in the options file, only)
#   <target>.options           fuzz/options/<target>.options ([libfuzzer]
#                              max_len, timeout, rss_limit_mb)
#
# Called by .clusterfuzzlite/build.sh and by the build.sh that
# scripts/oss-fuzz-project.sh writes for an OSS-Fuzz project, inside the
# base-builder-rust image (nightly Rust, cargo fuzz, RUSTFLAGS set by its
# `compile`); scripts/oss-fuzz-local.sh runs it here without Docker.
#
# SANITIZER=address (the one OSS-Fuzz supports for Rust): `cargo fuzz build
# -O --debug-assertions`, release code with assertions and overflow checks.
# SANITIZER=coverage: a plain `cargo build` of the fuzz crate, which takes
# -Cinstrument-coverage from RUSTFLAGS (OSS-Fuzz's cargo wrapper turns a
# `cargo fuzz build` into the same thing: cargo fuzz would add sanitizer
# coverage instrumentation the profile runtime does not want).
# SANITIZER=none: `cargo fuzz build -O --debug-assertions --sanitizer none`,
# the build scripts/fuzz.sh fuzzes with (stable Rust is enough).
set -o pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${OUT:?OUT must name the output directory}" "${WORK:?WORK must name a scratch directory}"
sanitizer=${SANITIZER:-address}
# shellcheck source=scripts/fuzz-targets.sh
source scripts/fuzz-targets.sh

mapfile -t targets < <(fuzz_targets)
[[ ${#targets[@]} -gt 0 ]] || { echo "oss-fuzz-build: fuzz/Cargo.toml declares no targets" >&2; exit 1; }
triple=$(rustc -vV | sed -n 's/^host: //p')
# A target directory under $WORK: the engine builds of scripts/fuzz.sh in
# fuzz/target keep their flags, and neither rebuilds the other's.
target_dir=${CARGO_TARGET_DIR:-$WORK/cargo-target}

case "$sanitizer" in
  coverage)
    # Build scripts and proc macros are instrumented too and write a profile
    # when they run: into $WORK, not the checkout.
    LLVM_PROFILE_FILE=$WORK/build-profiles/%m.profraw \
    cargo build --manifest-path fuzz/Cargo.toml --locked --bins --target-dir "$target_dir"
    bin_dir=$target_dir/debug ;;
  address|none)
    cargo fuzz build -O --debug-assertions --sanitizer "$sanitizer" --target-dir "$target_dir"
    bin_dir=$target_dir/$triple/release ;;
  *)
    echo "oss-fuzz-build: SANITIZER=$sanitizer is not supported (address, coverage, none): Rust has no MSan or UBSan builds" >&2
    exit 1 ;;
esac

mkdir -p "$OUT"
for t in "${targets[@]}"; do
  cp "$bin_dir/$t" "$OUT/$t"
  rm -f "$OUT/${t}_seed_corpus.zip"
  mapfile -t seeds < <(seed_dirs "$t" | while read -r d; do find "$d" -maxdepth 1 -type f; done | sort)
  if [[ ${#seeds[@]} -gt 0 ]]; then
    # -j: flat, as ClusterFuzz unpacks it; regression file names are bug ids
    # and never collide with the seeds' api-version names.
    zip -q -j "$OUT/${t}_seed_corpus.zip" "${seeds[@]}"
  fi
  cp "$fuzz_dictionary" "$OUT/$t.dict"
  if [[ -f fuzz/options/$t.options ]]; then
    cp "fuzz/options/$t.options" "$OUT/$t.options"
  fi
  echo "oss-fuzz-build: $t: binary, ${#seeds[@]} seeds, dictionary, options"
done
