#!/usr/bin/env bash
# `sinter txt2img` and `sinter tokenize` on the sd-tiny pipeline as a user meets them: images and
# latents written, the same seed giving the same bytes, A1111's infotext in the PNG, batches
# numbered, every sampler and schedule, and bad input refused in one line before any work.
#   txt2img_test.sh SINTER PIPELINE_DIR [DEVICE]
set -uo pipefail
sinter=$1
pipe=$2
device=${3:-CPU}
source "$(dirname "$0")/expect.sh"
base=("$sinter" txt2img "$pipe" -d "$device" --progress none)
run=("${base[@]}" -W 64 -H 64 --steps 5)

expect txt2img 0 "$tmp/a.png" -- "${run[@]}" -p "a photo of a cat" -n "blurry" --seed 7 -o "$tmp/a.png"
expect deterministic 0 "" -- bash -c "\"\$@\" -p 'a photo of a cat' -n blurry --seed 7 -o '$tmp/b.png' -q && cmp '$tmp/a.png' '$tmp/b.png'" _ "${run[@]}"
expect infotext 0 "a photo of a cat.Negative prompt: blurry.Steps: 5, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 64x64, Model hash: [0-9a-f]{10}, Model: " -- \
  bash -c "tr '\\n' '|' < '$tmp/a.png' | grep -a -o 'a photo of a cat|Negative prompt: blurry|Steps: [^|]*Model: [a-z-]*'"
# The summary names the devices that ran each stage: for HETERO, those of its list it used.
ran=${device#HETERO:}
ran="(${ran//,/|})(,(${ran//,/|}))*"
expect summary-names-devices 0 "unet +on $ran .*5 runs.*seeds 7" -- "${run[@]}" -p "a cat" --seed 7 -o "$tmp/c.png"
expect other-seed-differs 1 "" -- bash -c "\"\$@\" -p 'a photo of a cat' -n blurry --seed 8 -o '$tmp/d.png' -q && cmp -s '$tmp/a.png' '$tmp/d.png'" _ "${run[@]}"
expect batch-numbered 0 "$tmp/e-1.png $tmp/e-2.png.*seeds 3 4" -- "${run[@]}" -p "a dog" --seed 3 --batch-size 2 -o "$tmp/e.png"
expect latent-output 0 "$tmp/l.npy" -- "${run[@]}" -p "a cat" --seed 7 --output-type latent -o "$tmp/l.npy"
expect latent-shape 0 "'shape': \(1, 4, 8, 8\)" -- head -c 128 "$tmp/l.npy"
expect latents-input 0 "" -- bash -c "\"\$@\" -p 'a cat' --seed 5 --latents '$tmp/l.npy' -o '$tmp/f.png' -q && \"\$@\" -p 'a cat' --seed 5 --latents '$tmp/l.npy' -o '$tmp/g.png' -q && cmp '$tmp/f.png' '$tmp/g.png'" _ "${run[@]}"
for sampler in "Euler" "euler a" "DDIM" "DPM++ 2M"; do
  for schedule in normal karras; do
    [ "$sampler" = DDIM ] && [ "$schedule" = karras ] && continue
    # The infotext names the sampler as A1111 spells it, whatever case it was given in.
    expect "sampler-$sampler-$schedule" 0 "" -- bash -c "\"\$@\" -p 'a house' --seed 1 --sampler '$sampler' --schedule $schedule -o '$tmp/s.png' -q && grep -a -q -i -F 'Sampler: $sampler,' '$tmp/s.png'" _ "${run[@]}"
  done
done
expect rng-cpu 0 "" -- "${run[@]}" -p "a cat" --seed 7 --rng cpu -o "$tmp/r.png" -q
expect tokenize 0 "chunk 1: [0-9]+ .*tokens: [0-9]+/75" -- "$sinter" tokenize "$pipe" "a (photo:1.2) of a cat"
expect tokenize-long 0 "chunk 2: .*tokens: [0-9]+/150" -- "$sinter" tokenize "$pipe" "$(printf 'red cat, %.0s' {1..30})"

: > "$tmp/keep.png"
expect bad-size 1 "invalid_argument.*multiples of 8.*65x64" -- "${base[@]}" -p x -W 65 -H 64 -o "$tmp/keep.png"
expect bad-steps 1 "invalid_argument.*steps must be 1..1000" -- "${base[@]}" -p x --steps 0 -o "$tmp/keep.png"
expect unknown-sampler 1 "unknown sampler 'Eular'.*known: Euler, Euler a, DDIM, DPM\+\+ 2M" -- "${run[@]}" -p x --sampler Eular -o "$tmp/keep.png"
expect unknown-schedule 1 "unknown schedule 'cosine'" -- "${run[@]}" -p x --schedule cosine -o "$tmp/keep.png"
expect unknown-rng 1 "unknown noise source 'gpu'" -- "${run[@]}" -p x --rng gpu -o "$tmp/keep.png"
expect unwritable-output 1 "io_error.*cannot write $tmp/nowhere/x.png" -- "${run[@]}" -p x -o "$tmp/nowhere/x.png"
expect wrong-latents 1 "latents have 256 values, expected 1024" -- "${base[@]}" -p x -W 128 -H 128 --latents "$tmp/l.npy" -o "$tmp/keep.png"
expect untouched 0 "^0 ?$" -- stat -c %s "$tmp/keep.png"
mkdir -p "$tmp/broken" && cp -r "$pipe"/. "$tmp/broken" && rm "$tmp/broken/unet/model.onnx"
expect missing-unet 1 "io_error.*unet model missing.*broken/unet/model.onnx" -- "${run[@]/$pipe/$tmp/broken}" -p x -o "$tmp/keep.png"
expect not-a-pipeline 1 "io_error.*model_index.json" -- "${run[@]/$pipe/$tmp}" -p x -o "$tmp/keep.png"
finish
