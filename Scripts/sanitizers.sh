#!/bin/sh
# Runs the test suite under AddressSanitizer and ThreadSanitizer, each in its own build
# directory so the normal .build is untouched. Usage: Scripts/sanitizers.sh [address|thread] [filter]
# (no argument: both, whole suite). Slow: each is a full build with instrumentation.
set -eu
cd "$(dirname "$0")/.."
kinds=${1:-"address thread"}
filter=${2:-}
# The MPI tests start ranks built with the sanitizer, which load the system's MPI library:
# - UCX (under MPICH and Open MPI) patches the code of mmap and friends when it loads
#   ("bistro" hooks); in an instrumented rank those are the sanitizer's interceptors, and the
#   rank jumps to a wild address before main. UCX_MEM_MMAP_HOOK_MODE=none turns the patching off.
# - hwloc's PCI plugin (loaded by MPICH) leaks and is unloaded at exit, so LeakSanitizer reports
#   an "unknown module" that no suppression can name; HWLOC_PLUGINS_BLACKLIST skips the plugin.
export UCX_MEM_MMAP_HOOK_MODE=none HWLOC_PLUGINS_BLACKLIST=hwloc_pci
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
  elif [ "$kind" = address ]; then
    # Open MPI unloads its components at MPI_Finalize, so their leaks (ompi_op_base_op_select
    # and others, none in Backprop's code) are "unknown modules" too, with no switch to keep them
    # loaded: its suite runs with AddressSanitizer's memory checks but without leak detection.
    status=0
    swift test --sanitize="$kind" --scratch-path "$scratch" --skip OpenMPIDistributedTests || status=$?
    echo "== OpenMPIDistributedTests under AddressSanitizer, leak detection off (see above)"
    ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
      swift test --sanitize="$kind" --scratch-path "$scratch" --skip-build --filter OpenMPIDistributedTests || status=$?
    [ "$status" -eq 0 ] || exit "$status"
  else
    swift test --sanitize="$kind" --scratch-path "$scratch"
  fi
done
