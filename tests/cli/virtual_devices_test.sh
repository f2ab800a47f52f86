#!/usr/bin/env bash
# The virtual devices as a user meets them, with PoCL as GPU.0 (the test sets SINTER_OPENCL_CPU=1).
# HETERO:GPU.0,CPU on every zoo model: the split run matches the CPU device, and with
# SINTER_GPU_DISABLE_OPS taking Add and Softmax off the GPU, the report shows both devices and
# the outputs still match (all but `recurrent`, see below). AUTO: a cold cache starts on the CPU
# and switches to GPU.0; a warm one starts on GPU.0. Asynchronous requests in bench.
#   virtual_devices_test.sh SINTER_BIN ZOO_DIR
set -uo pipefail
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"
export SINTER_CACHE_DIR=$tmp/cache

# compare_dirs ACTUAL_DIR EXPECTED_DIR: every output within 1e-3 + 1e-3 * |expected|.
compare_dirs() {
  local n=0
  for e in "$2"/*.npy; do
    "$sinter" compare "$1/$(basename "$e")" "$e" --atol 1e-3 --rtol 1e-3 --require-finite || return 1
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] && echo "all $n outputs match"
}

for model in resnet50 mobilenet_v3 bert vit text_encoder unet vae_decoder recurrent operator_mix; do
  dir=$zoo/$model
  args=()
  for f in "$dir"/inputs/*.npy; do args+=(-i "$(basename "$f" .npy)=$f"); done
  "$sinter" run "$dir/model.onnx" "${args[@]}" -d CPU -o "$tmp/$model-cpu" >/dev/null ||
    { echo "FAIL $model: the CPU run failed"; failed=$((failed + 1)); continue; }
  expect "$model-hetero" 0 "all [0-9]+ outputs match" -- bash -c "
    \"$sinter\" run \"$dir/model.onnx\" ${args[*]} -d HETERO:GPU.0,CPU -o $tmp/$model-het >/dev/null &&
    $(declare -f compare_dirs); sinter=\"$sinter\"; compare_dirs $tmp/$model-het $tmp/$model-cpu"
  # recurrent: the GPU could run only two reshapes at its end, which stay on the CPU (gpu_cli).
  [ "$model" = recurrent ] && continue
  expect "$model-split" 0 "placement: CPU .*placement: GPU\.0 .*partition: [0-9]+ subgraphs.*passed between devices.*all [0-9]+ outputs match" -- bash -c "
    SINTER_GPU_DISABLE_OPS=Add,Softmax \"$sinter\" run \"$dir/model.onnx\" ${args[*]} \
      -d HETERO:GPU.0,CPU --report -o $tmp/$model-split &&
    $(declare -f compare_dirs); sinter=\"$sinter\"; compare_dirs $tmp/$model-split $tmp/$model-cpu"
done

m=$zoo/mobilenet_v3
expect split-bench-json 0 "^2 GPU.0,CPU [0-9]+ ok" -- bash -c "SINTER_GPU_DISABLE_OPS=Add \"$sinter\" bench \
  \"$m/model.onnx\" -d HETERO:GPU.0,CPU -n 2 --json | node -e '
  const j = JSON.parse(require(\"fs\").readFileSync(0));
  console.log(Object.keys(j.placement).length, j.first_inference_device, j.subgraphs,
              j.transfer_bytes_per_inference > 0 ? \"ok\" : \"bad\")'"
expect split-mixed-precision 0 "precision: GPU.0 f16 \(f16 storage, f32 arithmetic\), CPU f32 this" -- \
  env SINTER_GPU_DISABLE_OPS=Add "$sinter" run "$m/model.onnx" -i "image=$m/inputs/image.npy" \
  -d HETERO:GPU.0,CPU --precision f16 --report -o "$tmp/mixed"
expect disabled-op-reason 1 "unsupported_op.*Add .*disabled by SINTER_GPU_DISABLE_OPS.*HETERO:GPU.0,CPU" -- \
  env SINTER_GPU_DISABLE_OPS=Add "$sinter" run "$m/model.onnx" -i "image=$m/inputs/image.npy" \
  -d GPU.0 -o "$tmp/refused"
expect bad-policy 1 "hetero_policy = 'fast' is not first or memory" -- \
  "$sinter" run "$m/model.onnx" -i "image=$m/inputs/image.npy" -d HETERO:GPU.0,CPU \
  --hetero-policy fast -o "$tmp/bad"
expect requests-in-flight 0 "^4 " -- bash -c "\"$sinter\" bench \"$m/model.onnx\" -d CPU -n 8 \
  --requests 4 --json | node -e 'const j = JSON.parse(require(\"fs\").readFileSync(0));
  console.log(j.requests, j.iterations)'"
# AUTO's startup fallback: nothing cached -> the CPU serves while GPU.0 compiles, then GPU.0.
export SINTER_CACHE_DIR=$tmp/auto-cache
expect auto-cold-starts-on-cpu 0 "^CPU CPU,GPU.0 false" -- bash -c "\"$sinter\" bench \"$m/model.onnx\" \
  -d AUTO:GPU.0,CPU -t 12 --json | node -e 'const j = JSON.parse(require(\"fs\").readFileSync(0));
  console.log(j.first_inference_device, j.execution_devices.join(), j.loaded_from_cache)'"
expect auto-warm-starts-on-gpu 0 "^GPU.0 GPU.0 true" -- bash -c "\"$sinter\" bench \"$m/model.onnx\" \
  -d AUTO:GPU.0,CPU -n 3 --json | node -e 'const j = JSON.parse(require(\"fs\").readFileSync(0));
  console.log(j.first_inference_device, j.execution_devices.join(), j.loaded_from_cache)'"
export SINTER_CACHE_DIR=$tmp/auto-no-cpu
expect auto-without-cpu-compiles-first 0 "^GPU.0 GPU.0" -- bash -c "\"$sinter\" bench \"$m/model.onnx\" \
  -d AUTO:GPU.0 -n 2 --json | node -e 'const j = JSON.parse(require(\"fs\").readFileSync(0));
  console.log(j.first_inference_device, j.execution_devices.join())'"
expect auto-honours-precision 0 "CPU skipped: no f16 compute.*device GPU.0 " -- "$sinter" \
  --log-level info run "$m/model.onnx" -i "image=$m/inputs/image.npy" -d AUTO:CPU,GPU.0 \
  --precision f16 -o "$tmp/a16"
expect no-runtime-fallback-flag 0 "device GPU.0 " -- "$sinter" run "$m/model.onnx" \
  -i "image=$m/inputs/image.npy" -d AUTO:GPU.0,CPU --no-runtime-fallback -o "$tmp/nrf"
finish
