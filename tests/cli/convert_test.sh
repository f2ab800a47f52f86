#!/usr/bin/env bash
# `sinter convert` on the zoo: every model converted to .sinter gives bit-identical outputs to
# its ONNX original; f16 compression halves the weights and stays within f16 rounding; int8
# compression quarters them and stays within int8 rounding of the f32 outputs; damaged
# .sinter files (truncated, flipped bytes, other version, not ours) fail cleanly.
#   convert_test.sh SINTER_BIN ZOO_DIR
set -uo pipefail
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"

inputs_of() {  # -i NAME=FILE for every input of a zoo model
  local args=() f
  for f in "$zoo/$1"/inputs/*.npy; do args+=(-i "$(basename "$f" .npy)=$f"); done
  echo "${args[@]}"
}

for model in "$zoo"/*/; do
  [ -f "$model/model.onnx" ] || continue  # a pipeline folder (sd-tiny), not one model
  m=$(basename "$model")
  read -ra ins <<<"$(inputs_of "$m")"
  expect "convert-$m" 0 "tensors" -- "$sinter" convert "$model/model.onnx" -o "$tmp/$m.sinter"
  expect "run-onnx-$m" 0 "device CPU" -- "$sinter" run "$model/model.onnx" "${ins[@]}" -o "$tmp/$m.onnx.out"
  expect "run-sinter-$m" 0 "device CPU" -- "$sinter" run "$tmp/$m.sinter" "${ins[@]}" -o "$tmp/$m.sinter.out"
  for out in "$tmp/$m.onnx.out"/*.npy; do
    expect "identical-$m-$(basename "$out" .npy)" 0 "0 outside" -- \
      "$sinter" compare "$tmp/$m.sinter.out/$(basename "$out")" "$out" --atol 0 --rtol 0
  done
done

# f16 storage: about half the file, results within f16 rounding of the float32 model.
read -ra ins <<<"$(inputs_of vae_decoder)"
expect convert-f16 0 "stored as f16" -- "$sinter" convert "$zoo/vae_decoder/model.onnx" -o "$tmp/vae16.sinter" --compress f16
full=$(stat -c %s "$tmp/vae_decoder.sinter")
half=$(stat -c %s "$tmp/vae16.sinter")
expect f16-half-size 0 "smaller" -- bash -c "[ $((half * 10)) -lt $((full * 6)) ] && echo smaller"
expect run-f16 0 "device CPU" -- "$sinter" run "$tmp/vae16.sinter" "${ins[@]}" -o "$tmp/vae16.out"
expect f16-close 0 "0 outside" -- "$sinter" compare "$tmp/vae16.out/image.npy" "$tmp/vae_decoder.onnx.out/image.npy" --atol 2e-2 --rtol 2e-2

# int8 weights: under a third of the file, results within the codes' rounding of the float32
# model's (UNet: max |diff| 0.05 of outputs up to 3.4; ResNet-50, whose BatchNormalizations
# are folded into the weights first: 0.1 of logits up to 13.5), on the CPU with the codes kept
# int8 (the precision line says so).
for m in unet:0.15 resnet50:0.3; do
  atol=${m#*:}
  m=${m%:*}
  read -ra ins <<<"$(inputs_of "$m")"
  expect "convert-int8-$m" 0 "stored as int8" -- "$sinter" convert "$zoo/$m/model.onnx" -o "$tmp/${m}8.sinter" --compress int8
  full=$(stat -c %s "$tmp/$m.sinter")
  small=$(stat -c %s "$tmp/${m}8.sinter")
  expect "int8-size-$m" 0 "smaller" -- bash -c "[ $((small * 3)) -lt $full ] && echo smaller"
  expect "run-int8-$m" 0 "kept as the model stores them, int8" -- "$sinter" run "$tmp/${m}8.sinter" "${ins[@]}" -o "$tmp/${m}8.out" --report
  for out in "$tmp/$m.onnx.out"/*.npy; do
    expect "int8-close-$m" 0 "0 outside" -- "$sinter" compare "$tmp/${m}8.out/$(basename "$out")" "$out" --atol "$atol" --rtol 0
  done
done

# Damaged files.
src=$tmp/unet.sinter
read -ra ins <<<"$(inputs_of unet)"
head -c $(($(stat -c %s "$src") - 100)) "$src" > "$tmp/truncated.sinter"
expect truncated 1 "invalid_model.*truncated.sinter.*truncated" -- "$sinter" run "$tmp/truncated.sinter" "${ins[@]}"
cp "$src" "$tmp/data_flip.sinter"
printf '\xff\xff\xff\xff' | dd of="$tmp/data_flip.sinter" bs=1 seek=$(($(stat -c %s "$src") - 5000)) conv=notrunc status=none
expect corrupt-data 1 "invalid_model.*data_flip.sinter.*checksum" -- "$sinter" run "$tmp/data_flip.sinter" "${ins[@]}"
cp "$src" "$tmp/header_flip.sinter"
printf 'X' | dd of="$tmp/header_flip.sinter" bs=1 seek=100 conv=notrunc status=none
expect corrupt-header 1 "invalid_model.*header_flip.sinter.*header fails its checksum" -- "$sinter" info "$tmp/header_flip.sinter"
cp "$src" "$tmp/version.sinter"
printf '\x07' | dd of="$tmp/version.sinter" bs=1 seek=8 conv=notrunc status=none
expect other-version 1 "invalid_model.*format version 7.*convert the model again" -- "$sinter" info "$tmp/version.sinter"
expect convert-onto-itself 1 "invalid_argument.*is the input model itself" -- "$sinter" convert "$src" -o "$src"
[ -s "$src" ] || { echo "FAIL: the model was damaged by convert onto itself"; failed=$((failed + 1)); }

finish
