#!/usr/bin/env bash
# Writes the OSS-Fuzz project folder for kafka-fuzz (project.yaml, Dockerfile,
# build.sh), ready to copy into a checkout of google/oss-fuzz as
# projects/kafka-fuzz/ for a submission.
#
#   scripts/oss-fuzz-project.sh --repo URL --contact EMAIL [--out DIR]
#
#   --repo URL       the public git repository OSS-Fuzz clones (main_repo)
#   --contact EMAIL  the primary contact, who receives the bug reports
#   --out DIR        where to write (default target/oss-fuzz/projects/kafka-fuzz)
#
# The build.sh is .clusterfuzzlite/build.sh: OSS-Fuzz and ClusterFuzzLite
# share scripts/oss-fuzz-build.sh, which scripts/oss-fuzz-local.sh tests here.
# Then, in the oss-fuzz checkout:
#   python3 infra/helper.py build_fuzzers kafka-fuzz
#   python3 infra/helper.py check_build kafka-fuzz
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "oss-fuzz-project: $*" >&2; exit 2; }

repo='' contact='' out=target/oss-fuzz/projects/kafka-fuzz
while [[ $# -gt 0 ]]; do
  case "$1" in
    --repo) [[ $# -ge 2 ]] || die "--repo needs a value"; repo=$2; shift 2 ;;
    --contact) [[ $# -ge 2 ]] || die "--contact needs a value"; contact=$2; shift 2 ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a value"; out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $repo =~ ^(https://|git@)[^[:space:]]+$ ]] || die "--repo must be a public git URL (https://... or git@...), got '$repo'"
[[ $contact =~ ^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@]+$ ]] || die "--contact must be an e-mail address, got '$contact'"

mkdir -p "$out"
cat >"$out/project.yaml" <<EOF
homepage: "$repo"
language: rust
primary_contact: "$contact"
main_repo: "$repo"
sanitizers:
  - address
fuzzing_engines:
  - libfuzzer
EOF
cat >"$out/Dockerfile" <<EOF
FROM gcr.io/oss-fuzz-base/base-builder-rust
RUN apt-get update && apt-get install -y --no-install-recommends zip
RUN git clone --depth 1 $repo kafka-fuzz
WORKDIR \$SRC/kafka-fuzz
COPY build.sh \$SRC/
EOF
cp .clusterfuzzlite/build.sh "$out/build.sh"
echo "oss-fuzz-project: wrote $out/{project.yaml,Dockerfile,build.sh}"
