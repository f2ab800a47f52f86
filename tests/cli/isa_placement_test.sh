#!/usr/bin/env bash
# Every x86 CPU, not only this one: every zoo and corpus model runs through the differential
# test (tests/diff/diff_test.sh: outputs against ONNX Runtime's, and no node's placement may name
# one of oneDNN's reference implementations) with oneDNN capped at AVX2 (what Zen 2 and older
# Intel CPUs have: other JIT kernels, another preferred layout, no int8 dot products) and at
# AVX512_CORE (Skylake-X: no VNNI, no BF16). The uncapped ISA is what the diff_* tests run.
# `sinter devices` must report the capped ISA, so that a cap that did not take effect cannot
# pass unnoticed. Timings are not checked.
#   isa_placement_test.sh SINTER_BIN MODEL_DIR...   (each MODEL_DIR holds <model>/model.onnx
#                                                    and <model>/inputs/*.npy)
set -uo pipefail
sinter=$1
shift
source "$(dirname "$0")/expect.sh"
diff_test=$(cd "$(dirname "$0")/../diff" && pwd)/diff_test.sh

# ISA cap as ONEDNN_MAX_CPU_ISA takes it, and the names `sinter devices` may then report (a CPU
# below the cap reports its own, lower ISA).
# sinter's own vector kernels follow the same cap (avx2 under AVX2, avx512 where the CPU has it
# under AVX512_CORE, else lower).
caps=("AVX2:avx2|avx2_vnni|avx|sse4.1:avx2|baseline"
      "AVX512_CORE:avx512_core|avx2|avx2_vnni|avx|sse4.1:avx512|avx2|baseline")
count=0
for cap in "${caps[@]}"; do
  IFS=: read -r isa reported vector <<<"$cap"
  expect "devices-$isa" 0 "driver/ISA: +($reported)( |$)" -- \
    env ONEDNN_MAX_CPU_ISA="$isa" "$sinter" devices
  expect "vector-kernels-$isa" 0 "vector_kernels: ($vector)( |$)" -- \
    env ONEDNN_MAX_CPU_ISA="$isa" "$sinter" devices
  for dir in "$@"; do
    for model in "$dir"/*/model.onnx; do
      name=$(basename "$(dirname "$model")")
      [ -d "$dir/$name/inputs" ] || continue
      count=$((count + 1))
      expect "$isa-$name" 0 "$name: [0-9]+ outputs match ONNX Runtime" -- \
        env ONEDNN_MAX_CPU_ISA="$isa" bash "$diff_test" "$sinter" "$dir" "$name"
    done
  done
done
[ $count -gt 0 ] || { echo "FAIL: no models under $*"; exit 1; }
finish
