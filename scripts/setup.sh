#!/usr/bin/env bash
# Installs the fuzzing engines that scripts/fuzz.sh drives, on a fresh
# machine; skips whatever is already there, so a second run takes seconds.
#
#   scripts/setup.sh [libfuzzer] [afl] [honggfuzz] [asan] [all]
#
#   libfuzzer  cargo-fuzz, a C++ compiler (libfuzzer-sys builds libFuzzer),
#              the llvm-tools-preview component (cargo fuzz coverage)   (default)
#   afl        cargo-afl and the AFL++ it builds (afl-fuzz and its runtime)
#   honggfuzz  cargo-hfuzz and the C libraries honggfuzz is built against
#   asan       a nightly toolchain, for `scripts/fuzz.sh --asan` (not in `all`)
#   all        libfuzzer, afl and honggfuzz
#
# cargo-afl and cargo-hfuzz are installed at the version of the `afl` and
# `honggfuzz` crates in fuzz/Cargo.lock when there is one: the honggfuzz
# crate refuses to build under a cargo-hfuzz of another version, and the afl
# crate links against the runtime that cargo-afl built.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

want_libfuzzer=0 want_afl=0 want_honggfuzz=0 want_asan=0
[[ $# -eq 0 ]] && want_libfuzzer=1
for arg in "$@"; do
  case "$arg" in
    libfuzzer) want_libfuzzer=1 ;;
    afl) want_afl=1 ;;
    honggfuzz) want_honggfuzz=1 ;;
    asan) want_asan=1 ;;
    all) want_libfuzzer=1 want_afl=1 want_honggfuzz=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup.sh: unknown engine '$arg' (libfuzzer, afl, honggfuzz, asan, all)" >&2; exit 2 ;;
  esac
done

command -v cargo >/dev/null && command -v rustup >/dev/null \
  || { echo "setup.sh: cargo and rustup are needed: install Rust with rustup first" >&2; exit 1; }

say() { printf 'setup: %s\n' "$*"; }
# Runs a step and says how long it took: install times matter on CI.
timed() {
  local what=$1 start=$SECONDS
  shift
  say "$what ..."
  "$@"
  say "$what: done in $((SECONDS - start))s"
}

sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo
apt_updated=0
# Installs the Debian packages that are missing; `apt-get update` at most once
# per run, and only when something is missing.
need_debs() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  command -v apt-get >/dev/null \
    || { echo "setup.sh: missing system packages ${missing[*]} (no apt-get here: install them by hand)" >&2; exit 1; }
  if [[ $apt_updated -eq 0 ]]; then
    timed "apt-get update" $sudo apt-get update -qq
    apt_updated=1
  fi
  timed "apt-get install ${missing[*]}" \
    env DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Version of crate $1 in fuzz/Cargo.lock, empty when there is none.
locked_version() {
  [[ -f fuzz/Cargo.lock ]] || return 0
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' fuzz/Cargo.lock
}

# Installs crate $1 (which provides `cargo $2`) unless `cargo $2 $3` already
# reports version $4 (any version when $4 is empty).
need_cargo_tool() {
  local crate=$1 subcommand=$2 version_arg=$3 want=$4 have
  have=$(cargo "$subcommand" "$version_arg" 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1 || true)
  if [[ -n $have && ( -z $want || $have == "$want" ) ]]; then
    say "$crate $have: present"
    return 0
  fi
  local args=(install --locked "$crate")
  [[ -n $want ]] && args+=(--version "=$want")
  [[ -n $have ]] && args+=(--force) # replacing another version
  timed "cargo ${args[*]}" cargo "${args[@]}"
}

need_component() {
  local toolchain=$1 component=$2
  # rustup lists llvm-tools-preview as llvm-tools-<host> once installed.
  if rustup "+$toolchain" component list --installed 2>/dev/null | grep -q "^${component%-preview}"; then
    say "rustup component $component ($toolchain): present"
  else
    timed "rustup component add $component ($toolchain)" rustup "+$toolchain" component add "$component"
  fi
}

if [[ $want_libfuzzer -eq 1 ]]; then
  # libfuzzer-sys compiles libFuzzer's C++ sources with the system compiler.
  command -v c++ >/dev/null && command -v make >/dev/null || need_debs build-essential
  need_cargo_tool cargo-fuzz fuzz --version ""
  need_component stable llvm-tools-preview
fi

if [[ $want_asan -eq 1 ]]; then
  # -Zsanitizer=address is nightly-only. cargo fuzz needs no rust-src for it
  # (that is only for --build-std, which fuzz.sh does not use).
  if rustup toolchain list | grep -q '^nightly'; then
    say "nightly toolchain: present"
  else
    timed "rustup toolchain install nightly" rustup toolchain install nightly --profile minimal
  fi
  need_cargo_tool cargo-fuzz fuzz --version ""
fi

if [[ $want_afl -eq 1 ]]; then
  # cargo-afl builds AFL++ from the source it ships with make and cc; only
  # the optional LLVM plugins (CMPLOG) would need an LLVM matching rustc's,
  # which Debian does not have, so they are not built.
  command -v cc >/dev/null && command -v make >/dev/null || need_debs build-essential
  need_cargo_tool cargo-afl afl --version "$(locked_version afl)"
  # AFL++ and its runtime are built per rustc version: `cargo install` builds
  # them, and after a Rust update `config --build` rebuilds them. It refuses,
  # quickly, when they are already there.
  if out=$(cargo afl config --build 2>&1); then
    say "AFL++ runtime built for $(rustc --version)"
  elif grep -q 'already built' <<<"$out"; then
    say "AFL++ runtime for $(rustc --version): present"
  else
    printf '%s\n' "$out" >&2
    echo "setup.sh: building AFL++ failed (cargo afl config --build --verbose shows why)" >&2
    exit 1
  fi
fi

if [[ $want_honggfuzz -eq 1 ]]; then
  # The honggfuzz crate builds honggfuzz itself (C, with make) when the fuzz
  # targets are built, against BFD (binutils-dev), libunwind and liblzma.
  need_debs build-essential binutils-dev libunwind-dev libblocksruntime-dev liblzma-dev
  need_cargo_tool honggfuzz hfuzz version "$(locked_version honggfuzz)"
fi

say "ready"
