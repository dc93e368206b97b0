# Sourced by the scripts that build or run the fuzz targets (fuzz.sh,
# coverage.sh, oss-fuzz-build.sh, oss-fuzz-local.sh): what the targets are,
# their options and their seeds, in one place. Run from the repository root.

# fuzz_targets [FEATURES]: the targets, one per line: the [[bin]]s of the
# fuzz crate (what `cargo fuzz list` prints), so a new target needs no change
# anywhere. Bins behind required-features (the test-only `planted`, the
# third-party adapters that crash on known upstream bugs) are listed only
# when FEATURES (comma-separated), or a feature they imply, holds every
# feature they require.
fuzz_targets() {
  awk -v features=",$(implied_features "${1:-}")," '
    function flush() { if (name != "" && !gated) print name; name = ""; gated = 0; inbin = 0 }
    /^\[\[bin\]\]/ { flush(); inbin = 1; next }
    /^\[/ { flush() }
    inbin && /^[ \t]*name[ \t]*=/ { name = $0; sub(/^[^"]*"/, "", name); sub(/".*/, "", name) }
    inbin && /^[ \t]*required-features[ \t]*=/ {
      rest = $0; sub(/^[^[]*\[/, "", rest)
      while (match(rest, /"[^"]*"/)) {
        f = substr(rest, RSTART + 1, RLENGTH - 2); rest = substr(rest, RSTART + RLENGTH)
        if (index(features, "," f ",") == 0) gated = 1
      }
    }
    END { flush() }' fuzz/Cargo.toml
}

# implied_features FEATURES: FEATURES (comma-separated) and every fuzz-crate
# feature they enable in turn (tansu enables third-party), comma-separated.
implied_features() {
  local -A seen=()
  local queue f
  IFS=", " read -ra queue <<<"$1"
  while [[ ${#queue[@]} -gt 0 ]]; do
    f=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n $f && -z ${seen[$f]:-} ]] || continue
    seen[$f]=1
    mapfile -t -O "${#queue[@]}" queue < <(awk -v f="$f" '
      /^\[features\]/ { on = 1; next } /^\[/ { on = 0 }
      on && $1 == f && /=/ {
        rest = $0; sub(/^[^[]*\[/, "", rest)
        while (match(rest, /"[^"]*"/)) {
          g = substr(rest, RSTART + 1, RLENGTH - 2); rest = substr(rest, RSTART + RLENGTH)
          if (index(g, "/") == 0 && index(g, ":") == 0) print g
        }
      }' fuzz/Cargo.toml)
  done
  (IFS=,; echo "${!seen[*]}")
}

# crate_features FEATURES: of the fuzz crate's FEATURES (comma-separated),
# those the kafka-fuzz crate declares too (tansu, planted-bugs), for
# building the kafka-fuzz tool that replays and triages their targets.
crate_features() {
  local declared
  declared=$(awk '/^\[features\]/ { on = 1; next } /^\[/ { on = 0 }
                  on && /^[a-z0-9_-]+[ \t]*=/ { sub(/[ \t]*=.*/, ""); print }' Cargo.toml)
  tr ', ' '\n\n' <<<"$1" | grep -Fx "$declared" | paste -sd, - || true
}

# options_of FILE: the [libfuzzer] section of a libFuzzer options file as
# KEY=VALUE lines, as OSS-Fuzz reads it (nothing when there is no file).
options_of() {
  [[ -f $1 ]] || return 0
  awk '/^[ \t]*[#;]/ { next }
       /^[ \t]*\[/ { section = $0; gsub(/[][ \t]/, "", section); next }
       section == "libfuzzer" && /=/ { gsub(/[ \t\r]/, ""); print }' "$1"
}

# selected_targets FEATURES [TARGET...]: the targets named, each once in
# the order given, or every target when none is (of those FEATURES enables,
# see fuzz_targets); fails, listing the targets, on an unknown name. Use as
# `list=$(selected_targets "$features" "${names[@]}") || exit 2`.
selected_targets() {
  local all t
  mapfile -t all < <(fuzz_targets "$1")
  shift
  [[ ${#all[@]} -gt 0 ]] || { echo "fuzz/Cargo.toml declares no [[bin]] targets" >&2; return 1; }
  [[ $# -gt 0 ]] || { printf '%s\n' "${all[@]}"; return 0; }
  for t in "$@"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "unknown target $t; targets are: ${all[*]}" >&2; return 1; }
  done
  printf '%s\n' "$@" | awk '!seen[$0]++'
}

# target_options TARGET: the options of fuzz/options/TARGET.options.
target_options() { options_of "fuzz/options/$1.options"; }

# option TARGET KEY: one value of target_options (empty when unset).
option() { target_options "$1" | sed -n "s/^$2=//p" | tail -n1; }

# seed_corpus TARGET: the corpus a target starts from: its own, or for a
# third-party adapter's target the one of the target whose inputs it reads.
seed_corpus() {
  case $1 in
    kafka_protocol_decode|tansu_request) echo frame_decode ;;
    tansu_differential) echo differential ;;
    kafka_protocol_records|tansu_records) echo record_batch ;;
    *) echo "$1" ;;
  esac
}

# seed_dirs TARGET: the committed seed directories of a target that exist:
# the corpus, then the regressions. They are only ever read.
seed_dirs() {
  local d
  for d in "corpus/$(seed_corpus "$1")" "corpus/regressions/$1"; do [[ -d $d ]] && printf '%s\n' "$d"; done
  return 0
}

# The dictionary every target shares.
fuzz_dictionary=corpus/kafka.dict
