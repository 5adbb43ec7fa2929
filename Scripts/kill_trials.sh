#!/bin/bash
# Crash safety (issue 6, item 7): kills the CheckpointTorture helper (which saves 8 MB
# checkpoints in a loop) with SIGKILL at random moments, N times, and checks after every kill
# that the checkpoint on disk restores as one whole checkpoint (every element equal to the step
# recorded in its metadata), never garbage. The helper's own `--check FILE` mode does the check.
# Usage: Scripts/kill_trials.sh [trials=200] [seed=1]
# Reports how many kills landed in the middle of a write (a temporary file was left behind).
set -u
cd "$(dirname "$0")/.."
trials=${1:-200}
seed=${2:-1}
swift build --product CheckpointTorture >/dev/null || { echo "build failed" >&2; exit 2; }
helper="$(swift build --show-bin-path)/CheckpointTorture"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
file="$dir/ck.safetensors"
RANDOM=$seed
whole=0 failed=0 midwrite=0
for ((t = 1; t <= trials; t++)); do
  out="$dir/out"
  : >"$out"
  "$helper" "$file" >"$out" &
  pid=$!
  # Wait for the first complete save of this run (however loaded the machine is).
  until grep -q saved "$out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { echo "trial $t: the helper died before its first save" >&2; exit 2; }
    sleep 0.01
  done
  # Then kill at a random moment in the next 0-300 ms.
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  status=$?
  if [ "$status" -ne 137 ]; then
    # A helper that died on its own (a crash, a failed save) is a failure, not a kill trial.
    echo "trial $t: the helper ended with status $status, not by SIGKILL" >&2
    exit 1
  fi
  if compgen -G "$dir/.ck.safetensors.tmp-*" >/dev/null; then
    midwrite=$((midwrite + 1))
    rm -f "$dir"/.ck.safetensors.tmp-*
  fi
  if result=$("$helper" --check "$file"); then
    whole=$((whole + 1))
  else
    failed=$((failed + 1))
    echo "trial $t: $result" >&2
  fi
done
echo "kill trials: $trials, whole checkpoints after the kill: $whole, failures: $failed, kills in the middle of a write: $midwrite (seed $seed)"
[ "$failed" -eq 0 ]
