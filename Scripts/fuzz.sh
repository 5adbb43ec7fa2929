#!/bin/bash
# Fuzzes Backprop's loaders of outside data and its command line with libFuzzer +
# AddressSanitizer (issue 6).
# Usage: Scripts/fuzz.sh [seconds per target=60] [targets...]
#   (default: all six, FuzzSafetensors FuzzNPY FuzzCSV FuzzCLI FuzzInterchange FuzzIDX)
# Builds the Fuzz package (its own .build under Fuzz/; FUZZ_CONFIG=debug|release, default
# release), seeds each corpus from the committed fixtures (and command lines for FuzzCLI), runs
# each target for the given time with a 10 s per-input timeout and a 2 GB memory limit, and
# prints libFuzzer's final line (executions, coverage, corpus) per target. A crash, hang or
# out-of-memory stops that target with a non-zero status and leaves the input in Fuzz/artifacts/.
# Extra libFuzzer flags can be given in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-runs=10000000), another
# corpus root in FUZZ_CORPUS (default Fuzz/corpus; a target's corpus is FUZZ_CORPUS/<target>),
# and a folder of targets built before in FUZZ_BIN (then nothing is built).
set -u
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=${*:-"FuzzSafetensors FuzzNPY FuzzCSV FuzzCLI FuzzInterchange FuzzIDX"}
config=${FUZZ_CONFIG:-release}
if [ -n "${FUZZ_BIN:-}" ]; then
  bin=$FUZZ_BIN # targets built before (a copy, so that rebuilding meanwhile cannot change them)
else
  swift build -c "$config" --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >/dev/null ||
    { echo "fuzz build failed" >&2; exit 2; }
  bin=$(swift build -c "$config" --package-path Fuzz --show-bin-path)
fi
status=0
for target in $targets; do
  corpus="${FUZZ_CORPUS:-Fuzz/corpus}/$target"
  mkdir -p "$corpus" Fuzz/artifacts
  case $target in
    FuzzSafetensors) cp -n Tests/Fixtures/*.safetensors "$corpus"/ 2>/dev/null ;;
    FuzzNPY) cp -n Tests/Fixtures/*.npy "$corpus"/ 2>/dev/null ;;
    FuzzInterchange)
      # The first byte picks the decoder (see Fuzz/Sources/FuzzInterchange): protobuf, GraphDef,
      # events, whole model (two bytes of GraphDef length first), GraphDef run.
      i=0
      for f in Tests/Fixtures/graphdef/*.pb; do
        i=$((i + 1))
        { printf '\x00'; cat "$f"; } >"$corpus/proto-$i"
        { printf '\x01'; cat "$f"; } >"$corpus/graphdef-$i"
        { printf '\x04'; cat "$f"; } >"$corpus/graphdef-run-$i"
      done
      for f in Tests/Fixtures/tensorboard/*; do { printf '\x02'; cat "$f"; } >"$corpus/events-$(basename "$f")"; done
      if [ -e Tests/Fixtures/graphdef/tf_regression.pb ] && [ -e Tests/Fixtures/python_written.safetensors ]; then
        n=$(wc -c <Tests/Fixtures/graphdef/tf_regression.pb)
        { printf '\x03'; printf "\\x$(printf %02x $((n >> 8)))\\x$(printf %02x $((n & 255)))"; cat Tests/Fixtures/graphdef/tf_regression.pb Tests/Fixtures/python_written.safetensors; } >"$corpus/model"
      fi
      ;;
    FuzzCSV)
      printf '\x00x,y,label\n1,2,0\n3,4.5,1\n' >"$corpus/seed.csv"; head -c 4000 Data/digits.csv | sed '1s/^/\x00/' >"$corpus/digits.csv"
      # Gzip of several members (the limit is over all of them), and a UTF-8 byte order mark.
      { printf '\x00'; printf '1,2,0\n' | gzip -c; printf '3,4,1\n' | gzip -c; head -c 2000 Data/digits.csv | gzip -c; } >"$corpus/multi-member.gz"
      printf '\x01\xef\xbb\xbfa,b\n1,2\n' >"$corpus/bom.csv"
      ;;
    FuzzIDX)
      # The Fashion-MNIST fixture (plain and gzip), a header whose dimensions overflow a product
      # (the trap of session 8's probe), an int32 array, and gzip of several members.
      cp -n Tests/Fixtures/fashion-mini/* "$corpus"/ 2>/dev/null
      printf '\x00\x00\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00' >"$corpus/overflow-dims"
      printf '\x00\x00\x0c\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x07\xff\xff\xff\xf9' >"$corpus/int32"
      { printf '\x00\x00\x08\x01' | gzip -c; printf '\x00\x00\x00\x02\x05\x06' | gzip -c; } >"$corpus/multi-member.gz"
      ;;
    FuzzCLI)
      # One command line per seed, its arguments on separate lines (no trailing newline: that
      # would be one more, empty, argument); every subcommand and option appears at least once.
      n=0
      while read -r line; do
        n=$((n + 1))
        printf '%s' "$line" | tr ' ' '\n' >"$corpus/seed-$n"
      done <<'SEEDS'
regression
regression --seed 7 --steps 200 --learning-rate 0.05 --print-every 20 --loss l1
regression --steps=50 --learning-rate=1e-3 --loss l2 --check-numerics --quiet
regression --save /tmp/ck.safetensors --plot /tmp/curves.svg --log /tmp/steps.jsonl --csv /tmp/steps.csv
regression --restore Tests/Fixtures/python_written.safetensors --steps 300 --save /tmp/ck.safetensors
regression --steps 0
regression --learning-rate nan --print-every -1
classification
classification --seed 1 --steps 1400 --learning-rate 0.05 --print-every 200 --check-numerics
classification --restore /tmp/missing.safetensors --save /tmp/dir/ --plot x.svg --log x.csv --csv y.csv --quiet
digits
digits --data Data/digits.csv --hidden 256,256 --optimizer sgd --learning-rate 0.1 --batch-size 64 --epochs 5
digits --seed 3 --split-seed 9 --save /tmp/digits.safetensors --optimizer adam --plot /tmp/d.svg --log /tmp/d.jsonl --csv /tmp/d.csv --quiet
digits --hidden 128,,64 --batch-size 0 --epochs=-1 --optimizer lbfgs
predict --model /tmp/digits.safetensors --input Data/digits.csv
predict --model m.safetensors --input rows.csv --header
predict --input rows.csv
graph regression
graph classification --dot /tmp/graph.dot --svg /tmp/graph.svg --values --seed 5
graph sigmoid --dot /nonexistent/g.dot
bench --steps 1000 --repetitions 3 --json --filter sgemm --digits-epochs 2
bench --steps 0 --repetitions=-2
--help
-h
help digits
regression --help
bench -h
--generate-completion-script bash
--generate-completion-script zsh
--generate-completion-script fish
--experimental-dump-help
unknown --flag
predict --model /dev/zero --input /dev/urandom
predict --model /dev/stdin --input /tmp/backprop-fuzz-link
regression --restore /dev/urandom --save /dev/null
regression --restore /tmp/backprop-fuzz-file --plot /tmp/backprop-fuzz-file
regression --save /tmp/o --log /tmp/o --plot /tmp/p.png
regression --eager --batch-size 4 --save-model /tmp/m --logdir /tmp/logs --check-numerics
classification --eager --restore /tmp/m --save-model /tmp/m --logdir /tmp/m/graph.pb
digits --dtype float64 --checkpoint /tmp/ck.safetensors --distributed --save-model /tmp/dm --logdir /tmp/dl
digits --restore /tmp/ck.safetensors --checkpoint /tmp/ck.safetensors --hidden 9223372036854775807
fashion
fashion --model cnn-bn --epochs 1 --batch-size 128 --learning-rate 1e-3 --seed 1234 --train-limit 256 --test-limit 64
fashion --data Tests/Fixtures/fashion-mini --model mlp --save /tmp/f.safetensors --restore /tmp/f.safetensors --plot /tmp/f.svg
fashion --model cnn --save-model /tmp/fm --log /tmp/fm/graph.pb --csv /tmp/f.csv --quiet --distributed --epochs 9223372036854775807
export --onnx /tmp/m.onnx --model /tmp/digits.safetensors
export --onnx /tmp/m.onnx --model /tmp/m.onnx --input Data/digits.csv --logits
predict --model /tmp/fm --input Tests/Fixtures/fashion-mini/t10k-images-idx3-ubyte --labels Tests/Fixtures/fashion-mini/t10k-labels-idx1-ubyte
bench --cnn-steps 9223372036854775807 --digits-epochs 1 --repetitions 1001
digits --data /tmp/backprop-fuzz-file --csv /tmp/backprop-fuzz-link --save /tmp/backprop-fuzz-dir
digits --data /tmp/backprop-fuzz-fifo --hidden 9223372036854775807 --batch-size 9223372036854775807
digits --hidden 1000000,1000000 --learning-rate 1e-50
graph regression --dot /tmp/g.svg --svg /tmp/g.svg
SEEDS
      # Files the device and link seeds name: a regular file, a link to it, a FIFO, a directory.
      printf '1,2\n' >/tmp/backprop-fuzz-file
      ln -sfn /tmp/backprop-fuzz-file /tmp/backprop-fuzz-link
      [ -p /tmp/backprop-fuzz-fifo ] || mkfifo /tmp/backprop-fuzz-fifo
      mkdir -p /tmp/backprop-fuzz-dir
      printf 'bench\0--filter\0regression step, prepared\0--steps\0100' >"$corpus/seed-nul-1"
      printf 'digits\0--hidden\0 128 , 64 ' >"$corpus/seed-nul-2"
      ;;
  esac
  log="Fuzz/artifacts/$target.log"
  # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
  start=$SECONDS
  "$bin/$target" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="Fuzz/artifacts/$target-" -print_final_stats=1 ${FUZZ_FLAGS:-} >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$')
  echo "$target: exit $rc, ${runs:-?} executions in $((SECONDS - start)) s, peak RSS ${rss:-?} MB ($(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1))"
  [ "$rc" -eq 0 ] || { status=1; tail -30 "$log"; }
done
exit $status
