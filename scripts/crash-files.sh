# Sourced by scripts/fuzz.sh and scripts/triage.sh: where each engine keeps
# a target's crash files, in one place. Run from the repository root.

# crash_files_of ENGINE TARGET [FIND-TEST...]: the crash files ENGINE left
# for TARGET, one per line; extra find tests (e.g. -newer FILE) narrow them.
crash_files_of() {
  local engine=$1 t=$2
  shift 2
  case "$engine" in
    libfuzzer) [[ -d fuzz/artifacts/$t ]] && find "fuzz/artifacts/$t" -maxdepth 1 -type f "$@" \
      \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) ;;
    # A resumed AFL++ moves the last run's crashes/ to crashes.<date>/.
    afl) [[ -d fuzz/afl/$t ]] && find "fuzz/afl/$t" -mindepth 3 -maxdepth 3 -type f "$@" -name 'id:*' \
      \( -path '*/crashes*/*' -o -path '*/hangs*/*' \) ;;
    honggfuzz) [[ -d fuzz/hfuzz_workspace/$t ]] && find "fuzz/hfuzz_workspace/$t" -maxdepth 1 -type f "$@" \
      -name '*.fuzz' ;;
  esac
  return 0
}
