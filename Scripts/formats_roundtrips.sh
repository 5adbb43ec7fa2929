#!/bin/bash
# Issue 15's round trips with the Python tools, in one go, writing the log beside this script:
# TensorBoard's readers on the committed event fixture and on a fresh `--logdir`; TensorFlow
# (tf.compat.v1) replaying Backprop's exported graphs and Adam, and running whole-model
# directories of the fashion CNN (with and without batch normalization); onnxruntime on the
# exported digits MLP and fashion CNNs (onnx.checker, classes and logits) and the layer
# normalization fixture (outputs).
#   Scripts/formats_roundtrips.sh PYTHON [BACKPROP]
# PYTHON: a virtual environment's python with `pip install tensorflow-cpu tensorboard onnx
# onnxruntime`; BACKPROP: the tool (default .build/release/backprop). Exit status: the number
# of failed checks.
set -u
cd "$(dirname "$0")/.."
py=$1
bp=${2:-.build/release/backprop}
fm=/usr/share/datasets/fashion-mnist
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
log=Scripts/formats_roundtrips.log
failed=0
step() { # description, command...
  echo "\$ $1" | tee -a "$log"
  shift
  "$@" 2>&1 | grep -v -E "^(WARNING|I0000|W0000|E0000)|oneDNN|cpu_feature_guard|rebuild TensorFlow|AVX2 FMA|^\s*$" | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FAILED" | tee -a "$log"; failed=$((failed + 1)); }
  echo | tee -a "$log"
}
{
  echo "# Python round trips of issue 15 (Scripts/formats_roundtrips.sh), $(date -u '+%F %T') UTC, commit $(git rev-parse --short HEAD)"
  echo "# the tool: $bp; Python: $py (a virtual environment: python3 -m venv; pip install tensorflow-cpu tensorboard onnx onnxruntime)"
  echo "# $("$py" -c 'import tensorflow, tensorboard, onnx, onnxruntime, google.protobuf as p; print("tensorflow", tensorflow.__version__, "tensorboard", tensorboard.__version__, "onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__, "protobuf", p.__version__)' 2>/dev/null)"
  echo
} > "$log"
step "python3 Scripts/check_tensorboard.py --fixture" "$py" Scripts/check_tensorboard.py --fixture
step "backprop digits --epochs 5 --logdir T/tb; python3 Scripts/check_tensorboard.py T/tb" \
  bash -c "'$bp' digits --epochs 5 --quiet --logdir '$t/tb' > /dev/null && '$py' Scripts/check_tensorboard.py '$t/tb'"
step "python3 Scripts/tf_graphdef.py check-backprop" "$py" Scripts/tf_graphdef.py check-backprop
step "python3 Scripts/tf_graphdef.py check-adam" "$py" Scripts/tf_graphdef.py check-adam
step "python3 Scripts/tf_graphdef.py check-schedules" "$py" Scripts/tf_graphdef.py check-schedules
step "python3 Scripts/tf_graphdef.py check-training (an Embedding's UnsortedSegmentSum gradient, LayerNorm, _backprop_alpha; Adam)" "$py" Scripts/tf_graphdef.py check-training
step "python3 Scripts/check_onnx.py --outputs Tests/Fixtures/onnx/layernorm.onnx layernorm_input.npy layernorm_output.npy (LayerNorm's decomposition)" \
  "$py" Scripts/check_onnx.py --outputs Tests/Fixtures/onnx/layernorm.onnx Tests/Fixtures/onnx/layernorm_input.npy Tests/Fixtures/onnx/layernorm_output.npy
step "python3 Scripts/check_onnx.py --outputs Tests/Fixtures/onnx/pad_prod.onnx pad_prod_input.npy pad_prod_output.npy (Pad and ReduceProd, a zero factor)" \
  "$py" Scripts/check_onnx.py --outputs Tests/Fixtures/onnx/pad_prod.onnx Tests/Fixtures/onnx/pad_prod_input.npy Tests/Fixtures/onnx/pad_prod_output.npy
for model in cnn cnn-bn; do
  step "backprop fashion --model $model --epochs 1 --train-limit 10000 --save-model T/$model; backprop predict --model T/$model --input t10k-images > T/p; python3 Scripts/tf_graphdef.py check-model T/$model t10k-images T/p" \
    bash -c "'$bp' fashion --model $model --epochs 1 --train-limit 10000 --test-limit 1000 --quiet --save '$t/$model.safetensors' --save-model '$t/$model' > /dev/null && '$bp' predict --model '$t/$model' --input $fm/t10k-images-idx3-ubyte.gz > '$t/p' && '$py' Scripts/tf_graphdef.py check-model '$t/$model' $fm/t10k-images-idx3-ubyte.gz '$t/p'"
  step "backprop export --onnx T/$model.onnx --model T/$model.safetensors --logits ...; python3 Scripts/check_onnx.py T/$model.onnx T/logits.npy t10k-images t10k-labels" \
    bash -c "'$bp' export --onnx '$t/$model.onnx' --model '$t/$model.safetensors' --input $fm/t10k-images-idx3-ubyte.gz --logits '$t/$model.npy' > /dev/null && '$py' Scripts/check_onnx.py '$t/$model.onnx' '$t/$model.npy' $fm/t10k-images-idx3-ubyte.gz $fm/t10k-labels-idx1-ubyte.gz"
  step "backprop export --onnx T/$model-dir.onnx --model T/$model; python3 Scripts/check_onnx.py --classes T/$model-dir.onnx T/p t10k-images" \
    bash -c "'$bp' export --onnx '$t/$model-dir.onnx' --model '$t/$model' > /dev/null && '$py' Scripts/check_onnx.py --classes '$t/$model-dir.onnx' '$t/p' $fm/t10k-images-idx3-ubyte.gz"
done
step "backprop digits --save T/d.safetensors; backprop export --onnx T/d.onnx ...; python3 Scripts/check_onnx.py T/d.onnx T/dl.npy Data/digits.csv" \
  bash -c "'$bp' digits --quiet --save '$t/d.safetensors' > /dev/null && '$bp' export --onnx '$t/d.onnx' --model '$t/d.safetensors' --input Data/digits.csv --logits '$t/dl.npy' > /dev/null && '$py' Scripts/check_onnx.py '$t/d.onnx' '$t/dl.npy' Data/digits.csv"
step "backprop digits --epochs 2 --save-model T/dig; backprop export --onnx T/dig.onnx --model T/dig; backprop predict --model T/dig --input Data/digits.csv > T/classes.txt; python3 Scripts/check_onnx.py --classes T/dig.onnx T/classes.txt Data/digits.csv" \
  bash -c "'$bp' digits --quiet --epochs 2 --save-model '$t/dig' > /dev/null && '$bp' export --onnx '$t/dig.onnx' --model '$t/dig' > /dev/null && '$bp' predict --model '$t/dig' --input Data/digits.csv > '$t/classes.txt' && '$py' Scripts/check_onnx.py --classes '$t/dig.onnx' '$t/classes.txt' Data/digits.csv"
step "backprop digits --dtype float64 --save-model T/dig64; backprop export --onnx T/dig64.onnx --model T/dig64 (a Cast of the pixels to float64); backprop predict ... > T/classes64.txt; python3 Scripts/check_onnx.py --classes T/dig64.onnx T/classes64.txt Data/digits.csv" \
  bash -c "'$bp' digits --quiet --dtype float64 --save-model '$t/dig64' > /dev/null && '$bp' export --onnx '$t/dig64.onnx' --model '$t/dig64' > /dev/null && '$bp' predict --model '$t/dig64' --input Data/digits.csv > '$t/classes64.txt' && '$py' Scripts/check_onnx.py --classes '$t/dig64.onnx' '$t/classes64.txt' Data/digits.csv"
echo "# $failed failed" | tee -a "$log"
exit $failed
