# The two commands a new user needs: `make demo` and `make test`. Both install what is missing.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all bootstrap configure build demo test conformance fuzz bench bench-server bench-sd format clean

all: build

bootstrap:
	@bash scripts/bootstrap

configure: bootstrap
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSINTER_WERROR=ON >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@bash scripts/demo $(BUILD_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 1500

conformance: build
	@$(BUILD_DIR)/bin/sinter-conformance --verbose

fuzz: build
	@bash scripts/fuzz 60

# sinter vs ONNX Runtime on every zoo model, side by side (docs/benchmarks.md). ARGS=... passes
# options through, e.g. make bench ARGS="--rounds 5 --models resnet50,bert".
bench: build
	@$(BUILD_DIR)/bin/sinter-zoo $(BUILD_DIR)/zoo >/dev/null
	@node bench/compare_ort.js --sinter $(BUILD_DIR)/bin/sinter --zoo $(BUILD_DIR)/zoo \
	  --matmul $(BUILD_DIR)/bin/sinter-matmul-rate $(ARGS)

# `sinter serve` under load on loopback: N clients x M requests, p50/p99 latency, 503s and no lost
# job (docs/server.md). ARGS=... passes options, e.g. ARGS="--clients 16 --requests 8".
bench-server: build
	@$(BUILD_DIR)/bin/sinter-zoo $(BUILD_DIR)/zoo sd-tiny >/dev/null
	@node bench/server_load.mjs --sinter $(BUILD_DIR)/bin/sinter --pipeline $(BUILD_DIR)/zoo/sd-tiny $(ARGS)

# Stable Diffusion 1.5 at full size (random weights, written once to ~/.cache/sinter-sd15,
# 4.3 GB) against ONNX Runtime, stage by stage; about 15 minutes on 2 cores.
bench-sd: build
	@node bench/sd_bench.js --sinter $(BUILD_DIR)/bin/sinter --zoo $(BUILD_DIR)/bin/sinter-zoo $(ARGS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	@rm -rf $(BUILD_DIR)
