#!/usr/bin/env bash
# `sinter txt2img`, `sinter img2img` and `sinter tokenize` on the sd-tiny pipeline as a user meets them: images and
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
# Every sampler on the CPU; two on the other devices (the samplers run on the host; each run
# there costs OpenCL compiles, and the device's part is the same UNet call).
samplers=("Euler" "euler a" "Heun" "LMS" "DDIM" "LCM" "UniPC" "PNDM" "DPM++ 2M" "DPM++ 2M SDE")
[ "$device" = CPU ] || samplers=("euler a" "DPM++ 2M")
for sampler in "${samplers[@]}"; do
  for schedule in normal karras; do
    { [ "$sampler" = DDIM ] || [ "$sampler" = LCM ] || [ "$sampler" = PNDM ]; } && [ "$schedule" = karras ] && continue
    # The infotext names the sampler as A1111 spells it, whatever case it was given in.
    expect "sampler-$sampler-$schedule" 0 "" -- bash -c "\"\$@\" -p 'a house' --seed 1 --sampler '$sampler' --schedule $schedule -o '$tmp/s.png' -q && grep -a -q -i -F 'Sampler: $sampler,' '$tmp/s.png'" _ "${run[@]}"
  done
done
expect progress-json 0 '\{"step": 1, "steps": 5, "it_per_s": [0-9.]+, "eta_s": [0-9.]+\}.*\{"step": 5, "steps": 5' -- "$sinter" txt2img "$pipe" -d "$device" -W 64 -H 64 --steps 5 --progress json -p "a cat" -o "$tmp/pj.png"
# VAE tiling: one tile is the plain decode; 640x576 (latent 80x72) decodes as 2 x 2 tiles.
expect vae-tiling-one-tile 0 "" -- bash -c "\"\$@\" -p 'a cat' --seed 7 --vae-tiling -o '$tmp/t1.png' -q && \"\$@\" -p 'a cat' --seed 7 -o '$tmp/t2.png' -q && cmp '$tmp/t1.png' '$tmp/t2.png'" _ "${run[@]}"
[ "$device" = CPU ] && expect vae-tiling-tiles 0 "vae decoder +on .*\(4 runs\)" -- "${base[@]}" -p "a cat" --steps 2 --seed 7 -W 640 -H 576 --vae-tiling -o "$tmp/t3.png"
# Ctrl-C: the run stops after the current step, says so, exits 130 and writes nothing.
if [ "$device" = CPU ]; then
  expect interrupt 0 "interrupted; nothing written.*exit 130, no file" -- bash -c "\"\$@\" -p x -W 512 -H 512 --steps 400 -o '$tmp/int.png' & pid=\$!; sleep 3; kill -INT \$pid; wait \$pid; rc=\$?; [ -e '$tmp/int.png' ] || [ -e '$tmp/int.png.partial' ] || echo \"exit \$rc, no file\"" _ "${base[@]}"
  # SIGTERM (a service manager stopping it) likewise, with 128 + 15.
  expect terminate 0 "interrupted; nothing written.*exit 143, no file" -- bash -c "\"\$@\" -p x -W 512 -H 512 --steps 400 -o '$tmp/int.png' & pid=\$!; sleep 3; kill -TERM \$pid; wait \$pid; rc=\$?; [ -e '$tmp/int.png' ] || [ -e '$tmp/int.png.partial' ] || echo \"exit \$rc, no file\"" _ "${base[@]}"
fi
expect rng-cpu 0 "" -- "${run[@]}" -p "a cat" --seed 7 --rng cpu -o "$tmp/r.png" -q
expect tokenize 0 "chunk 1: [0-9]+ .*tokens: [0-9]+/75" -- "$sinter" tokenize "$pipe" "a (photo:1.2) of a cat"
expect tokenize-long 0 "chunk 2: .*tokens: [0-9]+/150" -- "$sinter" tokenize "$pipe" "$(printf 'red cat, %.0s' {1..30})"

# img2img: from a generated image; its size by default, resized with -W/-H; strength in the infotext.
i2i=("$sinter" img2img "$pipe" -d "$device" --progress none --steps 6 --init-image "$tmp/a.png")
expect img2img 0 "img2img: .*64x64.*vae encoder +on .*unet +on .*3 runs" -- "${i2i[@]}" -p "a dog" --seed 2 --strength 0.5 -o "$tmp/i.png"
expect img2img-infotext 0 "Size: 64x64.*Denoising strength: 0.5" -- bash -c "tr '\\n' '|' < '$tmp/i.png' | grep -a -o 'Steps: [^|]*strength: [0-9.]*'"
expect img2img-deterministic 0 "" -- bash -c "\"\$@\" -p 'a dog' --seed 2 --strength 0.5 -o '$tmp/j.png' -q && cmp '$tmp/i.png' '$tmp/j.png'" _ "${i2i[@]}"
expect img2img-resized 0 "img2img: .*32x48" -- "${i2i[@]}" -p "a dog" --seed 2 -W 32 -H 48 -o "$tmp/k.png"
# Tiled encoding: 640x576 pixels are 2 x 2 encoder tiles of at most 512 (and 2 x 2 decoder tiles).
[ "$device" = CPU ] && expect img2img-vae-tiling 0 "vae encoder +on .*\(4 runs\).*vae decoder +on .*\(4 runs\)" -- "${i2i[@]}" -p "a dog" --seed 2 --strength 0.2 -W 640 -H 576 --vae-tiling -o "$tmp/it.png"
expect img2img-strength-0-runs-no-unet 0 "vae encoder .*vae decoder" -- "${i2i[@]}" -p "a dog" --strength 0 -o "$tmp/z.png"
expect img2img-bad-strength 1 "invalid_argument.*strength must be 0..1" -- "${i2i[@]}" -p x --strength 1.5 -o "$tmp/keep.png"
printf 'not an image' > "$tmp/bad.png"
expect img2img-not-png 1 "io_error.*bad.png is not a PNG" -- "$sinter" img2img "$pipe" --init-image "$tmp/bad.png" -p x -o "$tmp/keep.png"
head -c 300 "$tmp/a.png" > "$tmp/cut.png"
expect img2img-truncated 1 "io_error.*cut.png is corrupt or truncated" -- "$sinter" img2img "$pipe" --init-image "$tmp/cut.png" -p x -o "$tmp/keep.png"
mkdir -p "$tmp/noenc" && cp -r "$pipe"/. "$tmp/noenc" && rm -r "$tmp/noenc/vae_encoder"
expect img2img-no-encoder 1 "img2img needs a VAE encoder.*vae_encoder/model.onnx is missing" -- "$sinter" img2img "$tmp/noenc" --init-image "$tmp/a.png" -p x -o "$tmp/keep.png"

: > "$tmp/keep.png"
expect bad-size 1 "invalid_argument.*multiples of 8.*65x64" -- "${base[@]}" -p x -W 65 -H 64 -o "$tmp/keep.png"
expect bad-steps 1 "invalid_argument.*steps must be 1..1000" -- "${base[@]}" -p x --steps 0 -o "$tmp/keep.png"
expect unknown-sampler 1 "unknown sampler 'Eular'.*known: Euler, Euler a, Heun, LMS, DDIM, LCM, UniPC, PNDM, DPM\+\+ 2M" -- "${run[@]}" -p x --sampler Eular -o "$tmp/keep.png"
expect unknown-schedule 1 "unknown schedule 'cosine'" -- "${run[@]}" -p x --schedule cosine -o "$tmp/keep.png"
expect unknown-rng 1 "unknown noise source 'gpu'" -- "${run[@]}" -p x --rng gpu -o "$tmp/keep.png"
expect unwritable-output 1 "io_error.*cannot write $tmp/nowhere/x.png" -- "${run[@]}" -p x -o "$tmp/nowhere/x.png"
expect wrong-latents 1 "latents have 256 values, expected 1024" -- "${base[@]}" -p x -W 128 -H 128 --latents "$tmp/l.npy" -o "$tmp/keep.png"
cache=$(mktemp -d)
expect first-use-converts 0 "unet: converted from ONNX and cached \(first use\)" -- env SINTER_CACHE_DIR="$cache" "${run[@]}" -p x --seed 1 -o "$tmp/m.png"
expect second-use-mapped 0 "unet: mapped from the model cache" -- env SINTER_CACHE_DIR="$cache" "${run[@]}" -p x --seed 1 -o "$tmp/m.png"
rm -rf "$cache"
expect convert-pipeline 0 "unet +[0-9]+ tensors.*-> $tmp/converted" -- "$sinter" convert "$pipe" -o "$tmp/converted"
expect converted-runs 0 "unet: mapped from its .sinter file" -- "${run[@]/$pipe/$tmp/converted}" -p "a cat" --seed 7 --output-type latent -o "$tmp/cv.npy"
# The same latents as from the ONNX folder (the PNGs differ only in the infotext's model).
expect converted-same-latents 0 "" -- cmp "$tmp/l.npy" "$tmp/cv.npy"
expect convert-exists 1 "invalid_argument.*converted exists" -- "$sinter" convert "$pipe" -o "$tmp/converted"
# The CLI generates once: the text encoder is let go after the prompts and the UNet after the
# denoising loop, and the plan says so.
expect memory-plan 0 "memory plan: this process .* \\+ text encoder .* weights \\(let go once it has run: not held by later stages\\) \\+ unet .* weights \\(let go once it has run: not held by later stages\\) .* = peak .* of .*available" -- "${run[@]}" -p x --seed 1 -o "$tmp/m.png"
# Its peak, recomputed from the figures it prints: the process, plus for each stage in turn the
# weights held then (all but those let go by an earlier stage) and that stage's working memory.
expect memory-plan-peak 0 "^peak agrees" -- bash -c "\"\$@\" -p x --seed 1 -o '$tmp/m2.png' 2>&1 | node -e '
  const line = require(\"fs\").readFileSync(0, \"utf8\").split(\"\\n\").find((l) => l.includes(\"memory plan:\"));
  const mib = (v, unit) => Number(v) * (unit === \"GiB\" ? 1024 : 1);
  const num = \"([0-9.]+) (MiB|GiB)\";
  const process = mib(...line.match(new RegExp(\"this process \" + num)).slice(1));
  const order = [\"text encoder\", \"unet\", \"vae decoder\"];
  const stages = order.map((name) => {
    const w = line.match(new RegExp(\"\\\\+ \" + name + \" \" + num + \" weights( \\\\(let go)?\"));
    const a = line.match(new RegExp(\"(?:of|,) \" + name + \" \" + num));
    return { weights: mib(w[1], w[2]), let_go: Boolean(w[3]), working: mib(a[1], a[2]) };
  });
  let need = 0;
  stages.forEach((s, i) => {
    const held = stages.filter((o, j) => !(o.let_go && j < i)).reduce((t, o) => t + o.weights, 0);
    need = Math.max(need, held + s.working);
  });
  const peak = mib(...line.match(new RegExp(\"= peak \" + num)).slice(1));
  const agrees = Math.abs(process + need - peak) <= 0.05 * 4 + 0.01 * peak;
  console.log(agrees ? \"peak agrees\" : \"peak differs\", process + need, peak, line);'" _ "${run[@]}"
# (the limit holds the process itself too: 20-90 MiB of libraries and heap before any model,
# the more with an OpenCL driver loaded; the CPU plans the values of its fused graph, 508 MiB
# of the UNet's at 3072x3072, where the model's graph would plan its attention scores too)
expect memory-refused 1 "out_of_memory.*3072x3072, batch 1 needs more memory than allowed: .*unet .*peak .* of 256.0 MiB \(setting memory_limit from command line\); .*x.* with batch 1 fits" -- "$sinter" --memory-limit 256MiB txt2img "$pipe" -d "$device" -p x -W 3072 -H 3072 -o "$tmp/keep.png"
expect untouched 0 "^0 ?$" -- stat -c %s "$tmp/keep.png"
mkdir -p "$tmp/broken" && cp -r "$pipe"/. "$tmp/broken" && rm "$tmp/broken/unet/model.onnx"
expect missing-unet 1 "io_error.*unet model missing.*broken/unet/model.onnx" -- "${run[@]/$pipe/$tmp/broken}" -p x -o "$tmp/keep.png"
expect not-a-pipeline 1 "io_error.*model_index.json" -- "${run[@]/$pipe/$tmp}" -p x -o "$tmp/keep.png"
finish
