#!/usr/bin/env bash
# Differential test: one zoo or corpus model through ONNX Runtime and through sinter on the same
# inputs; every output must match within |a - b| <= atol + 1e-3 * |b| (b = ONNX Runtime) and be
# finite; atol is 1e-4 on the CPU and 1e-3 on other devices (their kernels sum in another order).
# With PRECISION f16 (half storage: every intermediate value rounded to 11 significant bits) the
# bound is |a - b| <= 0.02 * max|b| + 1e-2 * |b|: rounding errors grow with the values' scale.
# A corpus model whose own precision is not f32 (fp16 weights, int8) may give its own bounds in
# bench/corpus/models.json: "tolerance": {"bounds": [{atol, rtol, atol_of_max, max_outside},
# ...], "outputs": {NAME: [bounds]}, "why": ...}; every bound of an output must hold. A zoo model
# whose arithmetic differs from ONNX Runtime's by design (QDQ int8) writes the same "tolerance"
# object to its tolerance.json.
#   diff_test.sh SINTER_BIN ZOO_DIR MODEL [DEVICE [PRECISION]]
set -euo pipefail
sinter=$1
zoo=$2
model=$3
device=${4:-CPU}
precision=${5:-f32}
atol=1e-4
[ "$device" = CPU ] || atol=1e-3
tolerance=(--atol "$atol" --rtol 1e-3)
[ "$precision" = f32 ] || tolerance=(--atol 0 --atol-of-max 0.02 --rtol 1e-2)
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$zoo/$model
[ -f "$dir/model.onnx" ] || { echo "no zoo model at $dir (run sinter-zoo first)"; exit 1; }
# The compare options for output $1, one line per bound: the model's own (corpus.json or
# tolerance.json) or the
# ones above.
bounds_for() {
  local file=$dir/corpus.json
  [ -f "$file" ] || file=$dir/tolerance.json
  if [ -f "$file" ] && [ "$device" = CPU ] && [ "$precision" = f32 ]; then
    node -e 'const t = require(require("path").resolve(process.argv[1])).tolerance;
      if (!t) process.exit(0);
      const out = process.argv[2].replace(/\.npy$/, "");
      const own = Object.entries(t.outputs || {}).find(([n]) => n.replace(/[^A-Za-z0-9._-]/g, "_") === out);
      for (const b of own ? own[1] : t.bounds || [])
        console.log(`--atol ${b.atol ?? 0} --rtol ${b.rtol ?? 0} --atol-of-max ${b.atol_of_max ?? 0} --max-outside ${b.max_outside ?? 0}`);' \
      "$file" "$1"
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=()
for f in "$dir"/inputs/*.npy; do
  name=$(basename "$f" .npy)
  args+=(-i "$name=$f")
done

NODE_PATH="$root/tools/ort/node_modules" node "$root/tools/ort/ort_run.js" "$dir/model.onnx" \
  "${args[@]}" -o "$work/ort" --threads 2
"$sinter" run "$dir/model.onnx" -d "$device" --precision "$precision" "${args[@]}" \
  -o "$work/sinter" --report | tee "$work/report.txt"
# No node may run one of oneDNN's reference implementations ("[ref:any]" and the like: correct,
# but 10 to 1000 times slower than its JIT kernels). With ONEDNN_MAX_CPU_ISA set this holds for
# that ISA (tests/cli/isa_placement_test.sh).
placement=$(grep -m1 '^placement:' "$work/report.txt" || true)
[ -n "$placement" ] || { echo "FAIL: sinter run --report printed no placement"; exit 1; }
if refs=$(grep -oE '\[[^]]*\<ref[^]]*\][^,)]*' <<<"$placement"); then
  echo "FAIL: reference kernels (ISA ${ONEDNN_MAX_CPU_ISA:-not capped}): $refs"
  exit 1
fi

count=0
for expected in "$work"/ort/*.npy; do
  out=$(basename "$expected")
  [ -f "$work/sinter/$out" ] || { echo "FAIL: sinter wrote no $out"; exit 1; }
  own=$(bounds_for "$out")
  if [ -z "$own" ]; then
    "$sinter" compare "$work/sinter/$out" "$expected" "${tolerance[@]}" --require-finite
  else
    while read -r -a bound; do
      "$sinter" compare "$work/sinter/$out" "$expected" "${bound[@]}" --require-finite
    done <<<"$own"
  fi
  count=$((count + 1))
done
ort_count=$(ls "$work"/ort | wc -l)
sinter_count=$(ls "$work"/sinter | wc -l)
if [ "$ort_count" != "$sinter_count" ]; then
  echo "FAIL: ONNX Runtime wrote $ort_count outputs, sinter $sinter_count"
  exit 1
fi
echo "$model: $count outputs match ONNX Runtime on $device at precision $precision"
