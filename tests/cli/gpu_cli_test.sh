#!/usr/bin/env bash
# The GPU device as a user meets it, on PoCL's OpenCL-on-CPU driver (the test sets
# SINTER_OPENCL_CPU=1 so that it is listed as GPU.0): enumeration, the names that reach it,
# reports that say where the work ran, and clear refusals for what it cannot run.
#   gpu_cli_test.sh SINTER_BIN ZOO_DIR
set -uo pipefail
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"
export SINTER_CACHE_DIR=$tmp/cache

m=$zoo/mobilenet_v3
run_m=(run "$m/model.onnx" -i "image=$m/inputs/image.npy")

expect devices-lists-gpu 0 "GPU\.0 .*type: +opencl-cpu.*driver/ISA: +OpenCL .*capabilities: +FP32" -- "$sinter" devices
expect devices-json-gpu 0 "^GPU.0 opencl-cpu ok" -- bash -c "\"$sinter\" devices --json | node -e '
  const d = JSON.parse(require(\"fs\").readFileSync(0)).devices.find(d => d.name === \"GPU.0\");
  console.log(d.name, d.type, d.memory_total_bytes > 0 && d.caching_properties.kernels ? \"ok\" : \"bad\")'"
expect opencl-cpu-needs-opt-in 0 "^absent" -- bash -c "SINTER_OPENCL_CPU= \"$sinter\" devices | grep -q '^GPU' && echo present || echo absent"

# Every spelling of the first GPU reaches it, and the report says so.
for name in GPU.0 gpu 0 GPU; do
  expect "run-as-$name" 0 "device GPU.0 " -- "$sinter" "${run_m[@]}" -d "$name" -o "$tmp/out-$name"
done
expect gpu-matches-cpu 0 "0 outside" -- bash -c "\"$sinter\" ${run_m[*]} -o $tmp/cpu >/dev/null &&
  \"$sinter\" compare $tmp/out-GPU.0/logits.npy $tmp/cpu/logits.npy --atol 1e-3"
# A model converted with int8 weights: the GPU expands them once at compile time and gives the
# CPU's result (which keeps them int8) within f32 rounding.
expect convert-int8 0 "stored as int8" -- "$sinter" convert "$m/model.onnx" -o "$tmp/m8.sinter" --compress int8
expect gpu-int8-placement 0 "int8 weights expanded once on the host" -- "$sinter" run "$tmp/m8.sinter" -i "image=$m/inputs/image.npy" -d GPU.0 --report -o "$tmp/gpu8"
expect gpu-int8-matches-cpu 0 "0 outside" -- bash -c "\"$sinter\" run $tmp/m8.sinter -i image=$m/inputs/image.npy -o $tmp/cpu8 >/dev/null &&
  \"$sinter\" compare $tmp/gpu8/logits.npy $tmp/cpu8/logits.npy --atol 1e-3"
expect report-placement 0 "GPU\.0.*OpenCL conv_(gemm_)?f32" -- "$sinter" "${run_m[@]}" -d GPU.0 --report -o "$tmp/rep"
expect bench-json-gpu 0 "^GPU.0 GPU.0 ok" -- bash -c "\"$sinter\" bench \"$m/model.onnx\" -d GPU.0 -n 2 --json | node -e '
  const j = JSON.parse(require(\"fs\").readFileSync(0));
  console.log(j.execution_devices[0], j.first_inference_device, j.placement[\"GPU.0\"] > 0 ? \"ok\" : \"bad\")'"
# The GPU executor keeps values as long as the CPU's does: its measured peak is the plan.
expect gpu-plan-is-measured 0 "^agree" -- bash -c "SINTER_CACHE=off \"$sinter\" bench \"$zoo/unet/model.onnx\" \
  -d GPU.0 -n 1 --profile --json | node -e '
  const j = JSON.parse(require(\"fs\").readFileSync(0)), e = j.memory_estimate;
  console.log(e.unsized_values === 0 && e.activations_mb === j.activation_peak_mb ? \"agree\" : \"differ\",
              e.activations_mb, j.activation_peak_mb)'"
expect log-line-names-device 0 "compiled .*device 'GPU.0' .*-> GPU.0 = .*cache (hit|miss)" -- \
  "$sinter" --log-level info "${run_m[@]}" -d GPU.0 -o "$tmp/log"

# OpenCL program binaries go into the model cache: a warm start builds no program; a damaged
# binary is reported once, removed and rebuilt.
export SINTER_CACHE_DIR=$tmp/program-cache
expect program-built 0 "OpenCL program built in [0-9]+ ms and stored in the cache" -- \
  "$sinter" --log-level info "${run_m[@]}" -d GPU.0 -o "$tmp/p1"
expect program-loaded 0 "OpenCL program loaded from the cache in [0-9]+ ms" -- \
  "$sinter" --log-level info "${run_m[@]}" -d GPU.0 -o "$tmp/p2"
expect program-damaged 0 "warn.*OpenCL program binary .* unusable \(truncated or corrupt\).*OpenCL program built" -- \
  bash -c "for f in $SINTER_CACHE_DIR/devices/opencl-*.bin; do head -c 100 \"\$f\" > \"\$f.tmp\" && mv \"\$f.tmp\" \"\$f\"; done
           \"$sinter\" --log-level info ${run_m[*]} -d GPU.0 -o $tmp/p3"
# --precision f16 keeps float tensors as half: its own program (and cached binary), reported
# wherever the device is; devices without it refuse rather than run f32 silently.
expect f16-report 0 "placement: GPU\.0 .*precision: f16 \(f16 storage, f32 arithmetic\)" -- \
  "$sinter" "${run_m[@]}" -d GPU.0 --precision f16 --report -o "$tmp/f16"
expect f16-matches-cpu 0 "0 outside" -- \
  "$sinter" compare "$tmp/f16/logits.npy" "$tmp/cpu/logits.npy" --atol 0 --atol-of-max 0.02 --rtol 1e-2
expect f16-program-cached 0 "precision f16 .*OpenCL program loaded from the cache" -- \
  "$sinter" --log-level info "${run_m[@]}" -d GPU.0 --precision f16 -o "$tmp/f16b"
expect f16-bench-json 0 "^f16 \(f16 storage, f32 arithmetic\)" -- bash -c "SINTER_PRECISION=f16 \"$sinter\" bench \
  \"$m/model.onnx\" -d GPU.0 -n 1 --json | node -e 'console.log(JSON.parse(require(\"fs\").readFileSync(0)).precision)'"
expect f16-refused-on-cpu 1 "unsupported_op.*CPU computes in f32 or bf16; precision .f16. is not available" -- \
  "$sinter" "${run_m[@]}" -d CPU --precision f16 -o "$tmp/f16c"
expect bf16-refused-on-gpu 1 "unsupported_op.*GPU.0 .*no precision 'bf16'" -- \
  "$sinter" "${run_m[@]}" -d GPU.0 --precision bf16 -o "$tmp/bf16"
expect bad-precision 1 "precision = 'f8' is not one of f32, f16, bf16" -- \
  "$sinter" "${run_m[@]}" -d GPU.0 --precision f8 -o "$tmp/f8"
expect program-cleared 0 "freed" -- "$sinter" cache clear
expect program-gone 0 "^none" -- bash -c "ls $SINTER_CACHE_DIR/devices 2>/dev/null | grep -q . && echo some || echo none"
export SINTER_CACHE_DIR=$tmp/cache

# What the GPU cannot run is refused before anything runs, naming the ops and the way out.
expect unsupported-ops-named 1 "unsupported_op.*GPU.0.*LSTM.*RNN.*HETERO:GPU.0,CPU" -- \
  "$sinter" run "$zoo/recurrent/model.onnx" -d GPU.0 -i "features=$zoo/recurrent/inputs/features.npy" \
  -i "lengths=$zoo/recurrent/inputs/lengths.npy"
rec=(run "$zoo/recurrent/model.onnx" -i "features=$zoo/recurrent/inputs/features.npy"
     -i "lengths=$zoo/recurrent/inputs/lengths.npy")
expect auto-passes-over-gpu 0 "-> CPU .*GPU.0 skipped: no kernel for GRU, LSTM, RNN.*device CPU" -- \
  "$sinter" --log-level info "${rec[@]}" -d AUTO:GPU.0,CPU -o "$tmp/auto"
expect auto-picks-gpu 0 "device GPU.0 " -- "$sinter" "${run_m[@]}" -d AUTO:GPU.0,CPU -o "$tmp/auto2"
# Its only nodes the GPU could run are two reshapes after the recurrent layers: not worth two
# transfers, so the partitioner leaves them with their neighbours on the CPU.
expect hetero-keeps-tail-on-cpu 0 "device CPU " -- "$sinter" "${rec[@]}" -d HETERO:GPU.0,CPU -o "$tmp/het"
expect gpu-preflight 1 "out_of_memory.*on GPU.0 needs about .*memory_limit.*5.0 MiB" -- \
  "$sinter" "${run_m[@]}" -d GPU.0 --memory-limit 5MiB -o "$tmp/oom"
# Inputs whose shapes do not fit together inside the model: a clear error naming the node,
# never an out-of-bounds read on the device.
expect gpu-bad-shapes 1 "invalid_argument.*node 'Add_47' \(Add\) on GPU.0.*does not broadcast" -- \
  "$sinter" bench "$zoo/bert/model.onnx" -d GPU.0 -n 1 --shape input_ids=1,8 \
  --shape token_type_ids=1,8 --shape attention_mask=1,9
expect no-such-gpu 1 "device_not_found.*GPU.1.*GPU\.0 +pthread" -- "$sinter" "${run_m[@]}" -d GPU.1
expect gpu-absent-without-opt-in 1 "device_not_found.*GPU.0.*CPU" -- \
  env SINTER_OPENCL_CPU= "$sinter" "${run_m[@]}" -d GPU.0
finish
