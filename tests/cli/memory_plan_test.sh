#!/usr/bin/env bash
# The planned memory of every zoo model against a measured run: `sinter bench --profile` reports
# both the static plan (shape inference + lifetimes, nothing run) and the peak of intermediate
# values the CPU device actually held. The plan counts the graph as given; the CPU device's
# rewrites (BatchNorm folding, fused activations and Adds) only take intermediate values away,
# so where every shape is known statically the measured peak may never exceed the plan (a
# preflight that says "fits" must be right). With values of unknown size the plan is a floor.
# The run's working memory (the values and what kernels allocate for themselves, which a cached
# compile's preflight counts) is at least the values' peak.
#
#   memory_plan_test.sh build/bin/sinter build/zoo
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"
export SINTER_CACHE=off  # a cached compile would report the measured figure instead of the plan

check() {  # check MODEL [--shape ...]
  local model=$1
  shift
  expect "plan-$model" 0 "^agree" -- bash -c "\"$sinter\" bench \"$zoo/$model/model.onnx\" -n 1 \
    --profile --json $* | node -e '
      const j = JSON.parse(require(\"fs\").readFileSync(0));
      const e = j.memory_estimate, planned = e.activations_mb, measured = j.activation_peak_mb;
      const exact = e.unsized_values === 0 && e.activations === \"planned\";
      const ok = (exact ? measured <= planned && measured > 0 : planned > 0 && measured > 0) &&
                 j.working_memory_mb >= measured;
      console.log(ok ? \"agree\" : \"differ\", \"planned\", planned, \"MiB, measured\", measured,
                  \"MiB, unsized values\", e.unsized_values);'"
}

for model in resnet50 mobilenet_v3 vit text_encoder unet vae_decoder; do check $model; done
check bert --shape input_ids=1,128 --shape attention_mask=1,128 --shape token_type_ids=1,128
check recurrent --shape features=20,3,40 --shape lengths=3
check operator_mix

# A cold cache's preflight counts the planned intermediate values: a limit between weights and
# weights + activations is refused before anything runs, naming the planned part.
expect preflight-planned 1 "out_of_memory.*intermediate values [0-9.]+ MiB planned" -- \
  "$sinter" run "$zoo/unet/model.onnx" --memory-limit 26MiB
# The weights count 58.3 of their 63.2 MiB: the token embedding is mapped from the external data
# file, and a Gather reads 128 of its rows (untouched_table_bytes).
expect info-shape 0 "memory: +63\.[0-9] MiB \(weights 58\.3 MiB .*4\.9 MiB planned" -- \
  "$sinter" info "$zoo/bert/model.onnx" --shape input_ids=1,128 --shape attention_mask=1,128 \
  --shape token_type_ids=1,128
expect info-dynamic 0 "memory: +at least .*values of unknown size not counted" -- \
  "$sinter" info "$zoo/bert/model.onnx"
expect info-bad-shape 1 "input shape given for 'nope'" -- \
  "$sinter" info "$zoo/bert/model.onnx" --shape nope=1
finish
