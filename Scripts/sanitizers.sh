#!/bin/sh
# Runs the test suite under AddressSanitizer and ThreadSanitizer, each in its own build
# directory so the normal .build is untouched. Usage: Scripts/sanitizers.sh [address|thread] [filter]
# (no argument: both, whole suite). Slow: each is a full build with instrumentation.
set -eu
cd "$(dirname "$0")/.."
kinds=${1:-"address thread"}
filter=${2:-}
for kind in $kinds; do
  case $kind in
    address)
      scratch=.build-asan
      # Leaks of the toolchain's libraries, and one kept on purpose, are listed in lsan.supp.
      export LSAN_OPTIONS="suppressions=$PWD/Scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
      ;;
    thread) scratch=.build-tsan ;;
    *) echo "unknown sanitizer $kind" >&2; exit 2 ;;
  esac
  echo "== $kind sanitizer ($scratch)"
  if [ -n "$filter" ]; then
    swift test --sanitize="$kind" --scratch-path "$scratch" --filter "$filter"
  else
    swift test --sanitize="$kind" --scratch-path "$scratch"
  fi
done
