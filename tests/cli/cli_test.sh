#!/usr/bin/env bash
# The `sinter` command as a user meets it: a good run, and bad input that must fail cleanly
# (non-zero exit, one clear error line, no crash, no output file overwritten).
set -uo pipefail
sinter=$1
data=/usr/share/libonnx-testdata/data/node/test_relu
source "$(dirname "$0")/expect.sh"

expect run-relu 0 "y: f32\[3,4,5\]" -- "$sinter" run "$data/model.onnx" -i "x=$data/test_data_set_0/input_0.pb" -o "$tmp/out"
expect compare-relu 0 "0 outside" -- "$sinter" compare "$tmp/out/y.npy" "$data/test_data_set_0/output_0.pb"
expect single-input-shorthand 0 "y: f32" -- "$sinter" run "$data/model.onnx" -i "$data/test_data_set_0/input_0.pb" -o "$tmp/out2"
expect info 0 "Relu +1" -- "$sinter" info "$data/model.onnx"
expect devices 0 "^CPU " -- "$sinter" devices

head -c $(($(stat -c %s "$data/model.onnx") / 2)) "$data/model.onnx" > "$tmp/truncated.onnx"
expect truncated-model 1 "invalid_model.*truncated.onnx" -- "$sinter" info "$tmp/truncated.onnx"
head -c 4096 /dev/urandom > "$tmp/garbage.onnx"
expect garbage-model 1 "invalid_model|unsupported_op" -- "$sinter" info "$tmp/garbage.onnx"
: > "$tmp/empty.onnx"
expect empty-model 1 "invalid_model.*empty" -- "$sinter" info "$tmp/empty.onnx"
expect missing-input 1 "missing inputs.*-i x=FILE" -- "$sinter" run "$data/model.onnx" -o "$tmp/o3"
expect wrong-input-name 1 "invalid_argument.*'nope' is not an input.*'x'" -- "$sinter" run "$data/model.onnx" -i "nope=$data/test_data_set_0/input_0.pb"
expect wrong-shape 1 "invalid_argument.*expects shape \[3,4,5\]" -- "$sinter" run "$data/model.onnx" -i "x=/usr/share/libonnx-testdata/data/node/test_add_bcast/test_data_set_0/input_1.pb" -o "$tmp/o4"
printf 'not a tensor' > "$tmp/bad.npy"
expect unreadable-npy 1 "input 'x'.*bad.npy" -- "$sinter" run "$data/model.onnx" -i "x=$tmp/bad.npy"
in0="x=$data/test_data_set_0/input_0.pb"
expect unknown-device 1 "device_not_found.*'GPU.3'.*available devices:.*CPU .*\(cpu\)" -- "$sinter" run "$data/model.onnx" -d GPU.3 -i "$in0"
expect bare-index-is-gpu 1 "device_not_found.*'0' \(GPU.0\)" -- "$sinter" run "$data/model.onnx" -d 0 -i "$in0"
expect bad-device-syntax 1 "invalid_argument.*'GPU.x'.*HETERO:D1,D2" -- "$sinter" run "$data/model.onnx" -d GPU.x -i "$in0"
expect auto-device 0 "device CPU" -- "$sinter" run "$data/model.onnx" -d auto -i "$in0" -o "$tmp/auto"
expect auto-excluding-cpu 1 "device_not_found.*no candidate" -- "$sinter" run "$data/model.onnx" -d AUTO:-CPU -i "$in0" -o "$tmp/auto2"
expect hetero-cpu 0 "device CPU" -- "$sinter" run "$data/model.onnx" -d "hetero: cpu" -i "$in0" -o "$tmp/het"
expect devices-json 0 "CPU cpu FP32" -- bash -c "\"$sinter\" devices --json | node -e 'const d=JSON.parse(require(\"fs\").readFileSync(0)).devices[0]; if (!(d.memory_total_bytes > 0 && d.memory_available_bytes > 0)) process.exit(1); console.log(d.name, d.type, d.capabilities[0])'"
expect bench-json 0 "ok CPU" -- bash -c "\"$sinter\" bench \"$data/model.onnx\" -n 3 --json | node -e 'const j=JSON.parse(require(\"fs\").readFileSync(0)); const ok=j.iterations===3 && j.latency_ms.median>0 && j.latency_ms.min<=j.latency_ms.max && j.placement.CPU===1 && j.first_inference_device===\"CPU\" && j.peak_rss_mb>0; console.log(ok?\"ok\":\"bad\", j.execution_devices[0])'"
expect bench-report 0 "\[4/4\] 2 iterations.*median" -- "$sinter" bench "$data/model.onnx" -n 2
expect bench-bad-shape 1 "invalid_argument.*--shape 'x=3,a'" -- "$sinter" bench "$data/model.onnx" --shape x=3,a
expect config-precedence 0 "warning: device: command line says 'cpu', environment SINTER_DEVICE says 'AUTO'; using 'cpu'.*device += 'cpu' +\(command line\)" -- env SINTER_DEVICE=AUTO "$sinter" config -d cpu
printf '{"device": "CPU", "thread": 2}' > "$tmp/typo.json"
expect config-unknown-key 1 "invalid_argument.*typo.json.*unknown key 'thread'" -- "$sinter" --config "$tmp/typo.json" run "$data/model.onnx" -i "$in0" -o "$tmp/o9"
expect env-bad-device 1 "invalid_argument.*environment SINTER_DEVICE.*'TPU'" -- env SINTER_DEVICE=TPU "$sinter" run "$data/model.onnx" -i "$in0" -o "$tmp/o10"
expect missing-file 1 "does not exist|not exist" -- "$sinter" info "$tmp/nothing.onnx"
expect compare-mismatch 1 "elements differ" -- "$sinter" compare "$data/test_data_set_0/input_0.pb" "$data/test_data_set_0/output_0.pb"

finish
