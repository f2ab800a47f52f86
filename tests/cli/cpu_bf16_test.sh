#!/usr/bin/env bash
# --precision bf16 on the CPU device. On a CPU with the instructions (capability BF16): every
# convolutional or vision zoo model runs, says what ran, and stays within 1e-2 of the largest f32 output
# (plus 1e-2 relative) of the f32 run. On a CPU without them: the compile is refused with an
# error that names the missing instructions, and nothing is written.
#
#   cpu_bf16_test.sh build/bin/sinter build/zoo
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"
export SINTER_CACHE=off

inputs() {  # -i NAME=FILE for each recorded input of a zoo model
  for f in "$zoo/$1"/inputs/*.npy; do printf -- '-i %s=%s ' "$(basename "$f" .npy)" "$f"; done
}

if "$sinter" devices 2>&1 | grep -A6 '^CPU' | grep -q 'capabilities:.*BF16'; then
  for model in resnet50 mobilenet_v3 unet vae_decoder vit efficientnet convnext yolo; do
    # shellcheck disable=SC2046
    expect "f32-$model" 0 "" -- "$sinter" run "$zoo/$model/model.onnx" $(inputs $model) \
      -o "$tmp/f32-$model"
    # shellcheck disable=SC2046
    expect "bf16-$model" 0 "precision: bf16 \(convolutions other than grouped ones and matrix" -- "$sinter" run \
      "$zoo/$model/model.onnx" $(inputs $model) -o "$tmp/bf16-$model" --precision bf16 --report
    for out in "$tmp/f32-$model"/*.npy; do
      expect "close-$model-$(basename "$out" .npy)" 0 "0 outside" -- "$sinter" compare \
        "$tmp/bf16-$model/$(basename "$out")" "$out" --rtol 1e-2 --atol 0 --atol-of-max 1e-2
    done
  done
  expect bench-json 0 '"precision": "bf16' -- "$sinter" bench "$zoo/mobilenet_v3/model.onnx" \
    -d CPU --precision bf16 -n 2 --json
else
  # shellcheck disable=SC2046
  expect refused-without-bf16 1 "bf16 needs a CPU with AVX512_BF16 or AMX" -- "$sinter" run \
    "$zoo/resnet50/model.onnx" $(inputs resnet50) -o "$tmp/none" -d CPU --precision bf16
  expect nothing-written 0 "^absent$" -- bash -c "[ -e '$tmp/none/logits.npy' ] || echo absent"
fi
finish
