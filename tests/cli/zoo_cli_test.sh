#!/usr/bin/env bash
# Bad input around real models (the zoo's BERT, saved with external data): missing or truncated
# weight files, wrong element types, unknown operators. Each must fail cleanly with a message
# that names what and where.
#   zoo_cli_test.sh SINTER_BIN ZOO_DIR
set -uo pipefail
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"

bert=$zoo/bert
in=$bert/inputs
inputs=(-i "input_ids=$in/input_ids.npy" -i "token_type_ids=$in/token_type_ids.npy"
        -i "attention_mask=$in/attention_mask.npy")
expect bert-runs 0 "last_hidden_state: f32\[2,32,768\]" -- "$sinter" run "$bert/model.onnx" "${inputs[@]}" -o "$tmp/out"

mkdir -p "$tmp/no_data"
cp "$bert/model.onnx" "$tmp/no_data/"
expect missing-external-data 1 "io_error.*model.onnx.data.*cannot be opened" -- "$sinter" info "$tmp/no_data/model.onnx"

mkdir -p "$tmp/short_data"
cp "$bert/model.onnx" "$tmp/short_data/"
head -c 1000000 "$bert/model.onnx.data" > "$tmp/short_data/model.onnx.data"
expect truncated-external-data 1 "invalid_model.*model.onnx.data" -- "$sinter" info "$tmp/short_data/model.onnx"

expect wrong-dtype 1 "invalid_argument.*input_ids.*i64.*f32|invalid_argument.*input_ids.*f32.*i64" -- \
  "$sinter" run "$bert/model.onnx" -i "input_ids=$zoo/resnet50/inputs/image.npy" \
  -i "token_type_ids=$in/token_type_ids.npy" -i "attention_mask=$in/attention_mask.npy"

# An operator nobody implements: rename one op type inside the protobuf (same length, so the
# file stays well-formed).
sed 's/Tanh/Tang/g' "$bert/model.onnx" > "$tmp/unknown_op.onnx"
cp "$bert/model.onnx.data" "$tmp/"
expect unknown-op 1 "unsupported_op.*Tang" -- "$sinter" run "$tmp/unknown_op.onnx" "${inputs[@]}" -o "$tmp/out2"

expect bench-dynamic-dim 1 "invalid_argument.*input_ids.*dynamic dim 'batch'.*--shape input_ids=" -- \
  "$sinter" bench "$bert/model.onnx" -n 1
expect bench-with-shapes 0 "\[4/4\] 1 iterations" -- "$sinter" bench "$bert/model.onnx" -n 1 \
  --shape input_ids=1,8 --shape token_type_ids=1,8 --shape attention_mask=1,8

resnet=$zoo/resnet50
expect run-report 0 "placement: CPU 176 nodes \(.*fused into Conv.*oneDNN convolution.*CPU busy .* ms of .* ms per inference.*Conv.*peak of intermediate values: [0-9.]+ MiB" -- \
  "$sinter" run "$resnet/model.onnx" -i "image=$resnet/inputs/image.npy" -o "$tmp/rep" --report
# Which nodes are slowest depends on timing; that the table lists nodes with device and
# implementation does not.
expect bench-profile 0 "placement: CPU .*softmax.*busy .* ms +% +node +op +device / implementation +[0-9.]+ +[0-9.]+% +[A-Za-z_0-9]+ +[A-Za-z]+ +CPU / " -- \
  "$sinter" bench "$zoo/unet/model.onnx" -n 2 --profile

# Memory preflight: too low a limit is refused before anything large is allocated.
expect memory-limit-too-low 1 "out_of_memory.*needs about [0-9.]+ MiB.*memory_limit from command line is 50.0 MiB.*--memory-limit" -- \
  "$sinter" run --memory-limit 50MiB "$resnet/model.onnx" -i "image=$resnet/inputs/image.npy" -o "$tmp/mem"
expect memory-limit-from-env 1 "out_of_memory.*memory_limit from environment SINTER_MEMORY_LIMIT" -- \
  env SINTER_MEMORY_LIMIT=10MiB "$sinter" bench "$resnet/model.onnx" -n 1
expect memory-limit-enough 0 "logits" -- \
  "$sinter" run --memory-limit 2GiB "$resnet/model.onnx" -i "image=$resnet/inputs/image.npy" -o "$tmp/mem2"
expect info-memory-estimate 0 "memory: +107\.[0-9] MiB \(weights 97\.7 MiB \+ inputs 0\.6 MiB \+ intermediate values 9\.2 MiB planned\)" -- \
  "$sinter" info "$resnet/model.onnx"

finish
