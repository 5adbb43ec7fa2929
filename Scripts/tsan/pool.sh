#!/bin/sh
# Builds Scripts/tsan/pool_stress.c with the kernels' runtime under ThreadSanitizer (the clang
# that ships with the Swift toolchain) and runs it; a data race or a wrong result fails.
# Seconds, not minutes: the part of the sanitizer coverage that CI can afford on every run.
set -eu
cd "$(dirname "$0")/../.."
swift_bin=$(dirname "$(command -v swift)")
clang=${CLANG:-$swift_bin/clang}
lib=$(dirname "$swift_bin")/lib/swift/linux
src=Sources/CBackpropKernels
out=$(mktemp -d)
extra=""
# On Linux the toolchain's TSan runtime also intercepts libdispatch, so link it.
if [ -d "$lib" ]; then extra="-L$lib -ldispatch -lBlocksRuntime -Wl,-rpath,$lib"; fi
"$clang" -O1 -g -fsanitize=thread -I"$src/include" -I"$src" Scripts/tsan/pool_stress.c "$src/runtime.c" "$src/blas.c" \
  -o "$out/pool_stress" -lpthread -ldl $extra
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/pool_stress"
