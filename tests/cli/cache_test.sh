#!/usr/bin/env bash
# The model cache as a user meets it: miss then hit, damaged entries rebuilt with one warning,
# four processes compiling one model at once, shape variants sharing one copy of the weights,
# the LRU size cap, external data changes, and an unusable cache folder.
#   cache_test.sh SINTER_BIN ZOO_DIR
set -uo pipefail
sinter=$1
zoo=$2
source "$(dirname "$0")/expect.sh"
export SINTER_CACHE_DIR=$tmp/cache
unset SINTER_CACHE SINTER_CACHE_SIZE

unet=$zoo/unet/model.onnx
bert_dir=$tmp/bert
mkdir -p "$bert_dir" && cp "$zoo/bert/model.onnx" "$zoo/bert/model.onnx.data" "$bert_dir/"
bert=$bert_dir/model.onnx
json_flag() {  # json_flag FIELD -- bench args: prints FIELD's value from bench --json
  local field=$1
  shift 2
  "$sinter" bench "$@" -n 1 --json | node -e "console.log(JSON.parse(require('fs').readFileSync(0)).$field)"
}
count() { find "$SINTER_CACHE_DIR/$1" -type f -name "*$2" 2>/dev/null | wc -l; }

expect first-run-misses 0 "^false" -- json_flag loaded_from_cache -- "$unet"
expect second-run-hits 0 "^true" -- json_flag loaded_from_cache -- "$unet"
expect hit-reads-from-cache 0 "^true" -- json_flag read_from_cache -- "$unet"
expect one-model-one-compile 0 "^1 1 ?$" -- bash -c "echo $(count models .sinter) $(count compiled .json)"

# A damaged model entry: one warning, removed, rebuilt; the run still succeeds.
entry=$(find "$SINTER_CACHE_DIR/models" -name "*.sinter")
size=$(stat -c %s "$entry")
head -c 1000 "$entry" > "$entry.cut" && mv "$entry.cut" "$entry"
expect damaged-model-entry 0 "warn.*model cache: entry .* is damaged.*rebuilding.*\\[4/4\\]" -- "$sinter" bench "$unet" -n 1
expect damaged-entry-rebuilt 0 "^$size ?$" -- stat -c %s "$entry"
printf 'not json' > "$(find "$SINTER_CACHE_DIR/compiled" -name "*.json")"
expect damaged-compile-entry 0 "warn.*compile entry .* is damaged.*\\[4/4\\]" -- "$sinter" bench "$unet" -n 1
expect compile-entry-rebuilt 0 "^true" -- json_flag loaded_from_cache -- "$unet"

# Packed weights: the first inference packs them into a folder of the model's entry, the next
# process maps them instead (outputs identical bit for bit); a damaged blob is packed again with
# one warning; a converted .sinter file's packed weights are an entry of their own; removing the
# entry removes them.
ui=$zoo/unet/inputs
unet_inputs=(-i "sample=$ui/sample.npy" -i "timestep=$ui/timestep.npy" -i "encoder_hidden_states=$ui/encoder_hidden_states.npy")
export SINTER_CACHE_DIR=$tmp/packed
"$sinter" run "$unet" "${unet_inputs[@]}" -o "$tmp/packed1" > /dev/null
expect packed-blobs-written 0 "^[1-9][0-9]* 0 ?$" -- bash -c "echo $(count models .packed) $(find "$SINTER_CACHE_DIR" -name '*.tmp*' | wc -l)"
expect packed-blobs-mapped 0 "device CPU" -- "$sinter" run "$unet" "${unet_inputs[@]}" -o "$tmp/packed2"
expect packed-same-output 0 "0 outside" -- "$sinter" compare "$tmp/packed2/noise_pred.npy" "$tmp/packed1/noise_pred.npy" --atol 0 --rtol 0
blob=$(find "$SINTER_CACHE_DIR/models" -name "*.packed" -type f -size +100k | head -1)
printf '\x01\x02\x03' | dd of="$blob" bs=1 seek=5000 conv=notrunc status=none
expect packed-damaged-repacked 0 "warn.*packed weights .* failing their checksum; packing them again" -- "$sinter" run "$unet" "${unet_inputs[@]}" -o "$tmp/packed3"
expect packed-damaged-same-output 0 "0 outside" -- "$sinter" compare "$tmp/packed3/noise_pred.npy" "$tmp/packed1/noise_pred.npy" --atol 0 --rtol 0
expect packed-no-warning-after 0 "^0 ?$" -- bash -c "\"$sinter\" run \"$unet\" ${unet_inputs[*]} -o \"$tmp/packed4\" 2>&1 | grep -c warn || true"
# The CPU keeps its tensor arena's plan next to the packed weights (one per input shapes and
# settings), so that the next process's first inference takes its tensors from one planned
# buffer; a damaged plan is one warning, planned again, and the output stays the same.
expect arena-plan-kept 0 "^1 ?$" -- bash -c "find \"$SINTER_CACHE_DIR/models\" -name 'arena-*.plan' | wc -l"
plan=$(find "$SINTER_CACHE_DIR/models" -name 'arena-*.plan' | head -1)
printf '\x01\x02\x03' | dd of="$plan" bs=1 seek=40 conv=notrunc status=none
expect arena-plan-damaged 0 "warn.*arena plan .* is failing its checksum; planning again" -- "$sinter" run "$unet" "${unet_inputs[@]}" -o "$tmp/packed6"
expect arena-plan-damaged-same-output 0 "0 outside" -- "$sinter" compare "$tmp/packed6/noise_pred.npy" "$tmp/packed1/noise_pred.npy" --atol 0 --rtol 0
expect arena-plan-rewritten 0 "^0 ?$" -- bash -c "\"$sinter\" run \"$unet\" ${unet_inputs[*]} -o \"$tmp/packed7\" 2>&1 | grep -c warn || true"
# The f16 weights setting keeps its halves in blobs of their own: mapped by the next process,
# same output bit for bit as the process that made them (and not the f32 output).
blob_files() { find "$SINTER_CACHE_DIR/models" -name "*.packed" -type f | wc -l; }
more_blobs_than() { if [ "$(blob_files)" -gt "$1" ]; then echo more; else echo "no more than $1"; fi; }
run_f16() { SINTER_WEIGHTS=f16 "$sinter" run "$unet" "${unet_inputs[@]}" -o "$1"; }
before=$(blob_files)
run_f16 "$tmp/half1" > /dev/null
expect packed-halves-written 0 "^more" -- more_blobs_than "$before"
after=$(blob_files)
run_f16 "$tmp/half2" > /dev/null
expect packed-halves-mapped 0 "^no more than" -- more_blobs_than "$after"
expect packed-halves-same-output 0 "0 outside" -- "$sinter" compare "$tmp/half2/noise_pred.npy" "$tmp/half1/noise_pred.npy" --atol 0 --rtol 0
expect packed-halves-not-f32 1 "outside" -- "$sinter" compare "$tmp/half1/noise_pred.npy" "$tmp/packed1/noise_pred.npy" --atol 0 --rtol 0
"$sinter" convert "$unet" -o "$tmp/unet.sinter" > /dev/null
"$sinter" run "$tmp/unet.sinter" "${unet_inputs[@]}" -o "$tmp/packed5" > /dev/null
expect packed-of-converted-file 0 "(^| )packed +[0-9a-f]+ .*packed weights of a converted .sinter file" -- "$sinter" cache list
expect packed-removed-with-entry 0 "^0 ?$" -- bash -c "\"$sinter\" cache clear > /dev/null; find \"$SINTER_CACHE_DIR\" -name '*.packed' | wc -l"

# Four processes compiling one model into an empty cache: all succeed, one entry, no leftovers.
export SINTER_CACHE_DIR=$tmp/race
for i in 1 2 3 4; do "$sinter" compile "$unet" > "$tmp/race$i.log" 2>&1 & done
rc=0
for i in 1 2 3 4; do wait -n || rc=1; done
expect concurrent-compiles-succeed 0 "^0 ?$" -- echo $rc
expect concurrent-one-entry 0 "^1 1 0 ?$" -- bash -c "echo $(count models .sinter) $(count compiled .json) $(find "$SINTER_CACHE_DIR" -name '*.tmp.*' | wc -l)"

# Shape variants share the weights: two compiles, one model file.
export SINTER_CACHE_DIR=$tmp/shapes
for seq in 16 64; do
  expect "compile-seq-$seq" 0 "compiled and cached" -- "$sinter" compile "$bert" \
    --shape input_ids=1,$seq --shape token_type_ids=1,$seq --shape attention_mask=1,$seq
done
expect shapes-share-weights 0 "^1 2 ?$" -- bash -c "echo $(count models .sinter) $(count compiled .json)"
expect same-shape-is-cached 0 "already cached" -- "$sinter" compile "$bert" \
  --shape input_ids=1,64 --shape token_type_ids=1,64 --shape attention_mask=1,64

# External data changed (same model.onnx bytes): the entry is rebuilt, not reused.
touch -d "2001-01-01" "$bert_dir/model.onnx.data"
expect external-data-change-rebuilds 0 "compiled and cached; read [0-9]+ ms," -- "$sinter" compile "$bert" \
  --shape input_ids=1,64 --shape token_type_ids=1,64 --shape attention_mask=1,64

# The same model.onnx bytes elsewhere, without their data file: not served from the cache.
mkdir -p "$tmp/lonely" && cp "$bert" "$tmp/lonely/"
expect cached-model-needs-its-data 1 "io_error.*lonely/model.onnx.data" -- "$sinter" info "$tmp/lonely/model.onnx"

# LRU cap: with room for one model, compiling a second evicts the least recently used.
export SINTER_CACHE_DIR=$tmp/lru SINTER_CACHE_SIZE=70MiB
"$sinter" compile "$bert" > /dev/null && sleep 1.1 && "$sinter" compile "$unet" > /dev/null
expect lru-keeps-newest 0 "unet" -- "$sinter" cache list
expect lru-evicts-oldest 0 "^0 ?$" -- bash -c "\"$sinter\" cache list | grep -c bert || true"
expect cache-info 0 "of 70.0 MiB.*1 models, 1 compiles" -- "$sinter" cache info
expect cache-clear 0 "freed" -- "$sinter" cache clear
expect cache-empty 0 "^\\(empty" -- "$sinter" cache list
unset SINTER_CACHE_SIZE

# The preflight counts intermediate values: planned on a cold cache; after the first run at static
# shapes, the peak measured then (recorded in the compile entry). Weights alone fit the limit
# (57.1 MiB: the token embedding counts only the rows a 32-token input reads).
export SINTER_CACHE_DIR=$tmp/activations
bi=$zoo/bert/inputs
bert_inputs=(-i "input_ids=$bi/input_ids.npy" -i "token_type_ids=$bi/token_type_ids.npy" -i "attention_mask=$bi/attention_mask.npy")
expect cold-run-counts-planned 1 "out_of_memory.*intermediate values [0-9.]+ MiB planned" -- \
  "$sinter" run --memory-limit 58MiB "$bert" "${bert_inputs[@]}" -o "$tmp/a0"
expect cold-run-fits 0 "last_hidden_state" -- "$sinter" run "$bert" "${bert_inputs[@]}" -o "$tmp/a1"
expect entry-records-activations 0 "\"activation_bytes\": [1-9]" -- bash -c "cat $SINTER_CACHE_DIR/compiled/*.json"
expect warm-run-counts-activations 1 "out_of_memory.*intermediate values [0-9.]+ MiB measured in an earlier run" -- \
  "$sinter" run --memory-limit 58MiB "$bert" "${bert_inputs[@]}" -o "$tmp/a2"

# Cache off: nothing is written. An unusable folder: a warning, and the run still works.
export SINTER_CACHE_DIR=$tmp/off
expect cache-off 0 "^false" -- env SINTER_CACHE=off bash -c "$(declare -f json_flag); sinter=$sinter; json_flag loaded_from_cache -- $unet"
expect cache-off-writes-nothing 0 "^absent ?$" -- bash -c "[ -e $tmp/off ] && echo present || echo absent"
expect unusable-cache-dir 0 "warn.*model cache disabled.*\\[4/4\\]" -- env SINTER_CACHE_DIR=/proc/sinter-cache "$sinter" bench "$unet" -n 1
expect compile-with-cache-off 1 "invalid_argument.*cache is off" -- env SINTER_CACHE=off "$sinter" compile "$unet"

finish
