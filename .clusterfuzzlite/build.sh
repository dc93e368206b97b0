#!/bin/bash -eu
# $SRC/build.sh of ClusterFuzzLite, and of the OSS-Fuzz project that
# scripts/oss-fuzz-project.sh writes: the build script they share (it reads
# $OUT, $WORK and $SANITIZER from the builder's environment).
exec "$SRC/kafka-fuzz/scripts/oss-fuzz-build.sh"
