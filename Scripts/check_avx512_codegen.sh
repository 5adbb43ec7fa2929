#!/bin/sh
# Checks what the compiler emits for the AVX-512 kernels (issue 13), which a CPU without
# AVX-512F cannot run: their tiles, packing and blocking are tested on AVX2 through their twin
# (InstructionSetTests), their instructions only here. Compiles gemm.c and elementwise.c as
# SwiftPM's release build does (-O2, the toolchain's clang) and requires, in the disassembly:
# - the AVX-512 micro-kernels: 16 and 24 FMAs on ZMM registers in each of their two loops (8x32
#   float, 12x16 double; one loop for a packed A panel's constant strides, one for A read in
#   place), with no stack access in either (no spilled accumulator); likewise the AVX2 tiles
#   (6x16 float, 6x8 double: 12 YMM FMAs per loop), written with the same vector-typed body;
# - every elementwise kernel and reduction's AVX-512 copy: ZMM instructions.
# - the kernels built as for a CPU without x86 (ARM: BP_NO_X86, the portable paths only) compile
#   with no error or warning, since no machine here is such a CPU.
# Seconds; x86-64 only (elsewhere it says so and passes).
set -eu
cd "$(dirname "$0")/.."
case "$(uname -m)" in x86_64 | amd64) ;; *) echo "check_avx512_codegen: not x86-64, nothing to check"; exit 0 ;; esac
swift_bin=$(dirname "$(command -v swift)")
clang=${CLANG:-$swift_bin/clang}
src=Sources/CBackpropKernels
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for f in gemm elementwise; do
  "$clang" -O2 -c -I"$src/include" -I"$src" "$src/$f.c" -o "$out/$f.o"
  objdump -d --no-show-raw-insn "$out/$f.o" > "$out/$f.s"
done
status=0
# The body of one function in a disassembly.
body() { awk -v name="<$2>:" '$2 == name { on = 1; next } on && /^$/ { exit } on' "$out/$1.s"; }
for spec in sgemm_ukr_avx512:32:zmm dgemm_ukr_avx512:48:zmm sgemm_ukr_avx2:24:ymm dgemm_ukr_avx2:24:ymm; do
  kernel=${spec%%:*} rest=${spec#*:}
  want=${rest%:*} reg=${rest#*:}
  code=$(body gemm "$kernel")
  # The loops: from each run's first FMA to the backward branch after its last one.
  fmas=$(printf '%s\n' "$code" | grep -c "vfmadd231p[sd] .*%$reg" || true)
  loop=$(printf '%s\n' "$code" | awk '/vfmadd231p/ { on = 1 } on { print } on && /\tj(ne|nz|b|l) / { on = 0 }')
  spills=$(printf '%s\n' "$loop" | grep -c '(%rsp)' || true)
  if [ "$fmas" -ne "$want" ] || [ "$spills" -ne 0 ]; then
    echo "check_avx512_codegen: $kernel has $fmas $reg FMAs (want $want) and $spills stack accesses in its loops (want 0)" >&2
    status=1
  else
    echo "check_avx512_codegen: $kernel: $want $reg FMAs in its two loops, no spill in them"
  fi
done
count=0
for fn in $(grep -o '<bp_[a-z_]*_avx512>:' "$out/elementwise.s" | tr -d '<>:'); do
  count=$((count + 1))
  if ! body elementwise "$fn" | grep -q '%zmm'; then
    echo "check_avx512_codegen: $fn has no ZMM instruction" >&2
    status=1
  fi
done
if [ "$count" -lt 20 ]; then
  echo "check_avx512_codegen: found only $count AVX-512 elementwise functions (want at least 20)" >&2
  status=1
else
  echo "check_avx512_codegen: $count AVX-512 elementwise kernels and reductions use ZMM registers"
fi
for f in "$src"/*.c; do
  if ! "$clang" -fsyntax-only -DBP_NO_X86 -Wall -Wextra -Werror -I"$src/include" -I"$src" "$f"; then
    echo "check_avx512_codegen: $f does not compile cleanly without the x86 paths" >&2
    status=1
  fi
done
[ "$status" -ne 0 ] || echo "check_avx512_codegen: the kernels compile without the x86 paths, with no warning"
exit $status
