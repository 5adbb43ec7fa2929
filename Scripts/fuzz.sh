#!/bin/bash
# Fuzzes Backprop's loaders of outside data with libFuzzer + AddressSanitizer (issue 6, item 3).
# Usage: Scripts/fuzz.sh [seconds per target=60] [targets...]   (default: all three)
# Builds the Fuzz package (its own .build under Fuzz/), seeds each corpus from the committed
# fixtures, runs each target for the given time with a 10 s per-input timeout and a 2 GB memory
# limit, and prints libFuzzer's final line (executions, corpus) per target. A crash, hang or
# out-of-memory stops that target with a non-zero status and leaves the input in Fuzz/artifacts/.
set -u
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=${*:-"FuzzSafetensors FuzzNPY FuzzCSV"}
swift build -c debug --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >/dev/null ||
  { echo "fuzz build failed" >&2; exit 2; }
bin=$(swift build -c debug --package-path Fuzz --show-bin-path)
status=0
for target in $targets; do
  corpus="Fuzz/corpus/$target"
  mkdir -p "$corpus" Fuzz/artifacts
  case $target in
    FuzzSafetensors) cp -n Tests/Fixtures/*.safetensors "$corpus"/ 2>/dev/null ;;
    FuzzNPY) cp -n Tests/Fixtures/*.npy "$corpus"/ 2>/dev/null ;;
    FuzzCSV) printf '\x00x,y,label\n1,2,0\n3,4.5,1\n' >"$corpus/seed.csv"; head -c 4000 Data/digits.csv | sed '1s/^/\x00/' >"$corpus/digits.csv" ;;
  esac
  log="Fuzz/artifacts/$target.log"
  "$bin/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="Fuzz/artifacts/$target-" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  echo "$target: exit $rc, executions ${runs:-?} in ${seconds}s ($(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1))"
  [ "$rc" -eq 0 ] || { status=1; tail -30 "$log"; }
done
exit $status
