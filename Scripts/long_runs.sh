#!/bin/bash
# The long reliability runs that CI does not repeat (RELIABILITY.md, sections 4 and 7), each
# writing its log to Docs/logs/ with the commit and the machine in its first lines:
#   fuzz-<Target>.log  Scripts/fuzz.sh on each fuzz target from its seeds, with an empty corpus:
#                      the three file loaders to FUZZ_RUNS inputs (default 10,000,000; the time
#                      limit LOADER_SECONDS, default 3600, only stops a runaway), the command
#                      line and the interchange decoders for CLI_SECONDS / INTERCHANGE_SECONDS
#                      (default 1800 / 1200: they run a few hundred inputs per second);
#                      FUZZ_TARGETS (default all six) picks targets;
#   asan-full-suite.log, tsan-full-suite.log   Scripts/sanitizers.sh address|thread (the whole
#                      `swift test` under AddressSanitizer + LeakSanitizer, ThreadSanitizer).
# Usage: Scripts/long_runs.sh [fuzz] [asan] [tsan]   (no argument: all three, in that order)
# Everything runs at `nice -n $NICE` (default 19), one job at a time; on a 2-core machine the
# whole set takes about 1.5 to 3 hours. A failing run keeps going with the next one; the exit
# status is non-zero if any failed.
set -u
cd "$(dirname "$0")/.."
parts=${*:-"fuzz asan tsan"}
level=${NICE:-19}
mkdir -p Docs/logs
status=0

header() { # $1: the command the log is of
  echo "# $1"
  echo "# commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Fuzz Tests Package.swift || echo ' (with uncommitted changes)'), started $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "# machine:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $(swift --version 2>/dev/null | head -1)"
}

footer() { # $1: exit status, $2: start time in seconds
  echo "# exit $1 after $(($(date +%s) - $2)) s, ended $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

for part in $parts; do
  case $part in
    fuzz)
      corpus=$(mktemp -d)
      bin=$(mktemp -d)
      nice -n "$level" swift build -c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >/dev/null ||
        { echo "fuzz build failed" >&2; exit 2; }
      # A copy of the binaries, so that a rebuild meanwhile cannot change what is being run.
      find "$(swift build -c release --package-path Fuzz --show-bin-path)" -maxdepth 1 -type f -name "Fuzz*" -exec cp {} "$bin"/ \;
      built=$(git rev-parse --short HEAD)
      for target in ${FUZZ_TARGETS:-FuzzNPY FuzzSafetensors FuzzCSV FuzzCLI FuzzInterchange FuzzIDX}; do
        case $target in
          FuzzCLI) flags="" seconds=${CLI_SECONDS:-1800} ;;
          FuzzInterchange) flags="" seconds=${INTERCHANGE_SECONDS:-1200} ;;
          *) flags="-runs=${FUZZ_RUNS:-10000000}" seconds=${LOADER_SECONDS:-3600} ;;
        esac
        log=Docs/logs/fuzz-$target.log
        start=$(date +%s)
        (
          header "FUZZ_FLAGS=$flags FUZZ_CORPUS=<empty directory> nice -n $level Scripts/fuzz.sh $seconds $target"
          echo "# the fuzz binaries were built at $built"
          FUZZ_BIN=$bin FUZZ_FLAGS=$flags FUZZ_CORPUS=$corpus nice -n "$level" Scripts/fuzz.sh "$seconds" "$target"
          rc=$?
          echo "# libFuzzer's last lines (the whole output is Fuzz/artifacts/$target.log, not committed):"
          tail -n 25 "Fuzz/artifacts/$target.log"
          echo "# corpus at the end: $(find "$corpus/$target" -type f | wc -l) files, $(du -sk "$corpus/$target" | cut -f1) KB (seeds included)"
          footer "$rc" "$start"
          exit "$rc"
        ) >"$log" 2>&1 || status=1
        grep -E "^$target: " "$log"
      done
      rm -rf "$corpus" "$bin"
      ;;
    asan | tsan)
      kind=address
      [ "$part" = tsan ] && kind=thread
      log=Docs/logs/$part-full-suite.log
      start=$(date +%s)
      (
        header "nice -n $level Scripts/sanitizers.sh $kind"
        nice -n "$level" Scripts/sanitizers.sh "$kind" 2>&1
        rc=$?
        footer "$rc" "$start"
        exit "$rc"
      ) >"$log" 2>&1 || status=1
      grep -E "Test run with|ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|^# exit" "$log" | head -5
      ;;
    *) echo "unknown part $part (fuzz, asan, tsan)" >&2; exit 2 ;;
  esac
done
exit $status
