# Makefile: the README's two commands.
#   make test   installs missing Debian packages, builds (release with the CUDA
#               backend where nvcc is, sanitizers, fuzzers, the HIP backend for
#               AMD, and the CUDA kernels on an emulated GPU), sets up the peer
#               engine and runs every test
#   make bench  builds, sets up the peer and compares CPU speed with it (slow)
#   make chat   builds and starts gemma4 (MODEL=path to choose the model)
# CMake does the building; this file only strings the steps together.

BUILD     ?= build
JOBS      ?= $(shell nproc)
SHARED    := $(abspath ../shared)
PEER_DIR  := $(abspath $(BUILD))/peer
FUZZ_SECONDS ?= 60

# Debian packages the build and the tests need (commands are checked by name
# where they may come from elsewhere, e.g. nodejs from NodeSource).
DEB_PACKAGES := cmake make gcc pkg-config clang libclang-rt-14-dev git \
                libcmocka-dev libjansson-dev libopenblas-dev python3-numpy \
                libncurses-dev libreadline-dev libcmark-gfm-dev libcmark-gfm-extensions-dev \
                libcurl4-openssl-dev libssl-dev libmicrohttpd-dev liblua5.4-dev libxml2-dev tmux \
                gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user hipcc libamdhip64-dev
DEB_COMMANDS := node:nodejs npm:npm

.PHONY: all deps build test test-release test-asan test-fuzz test-hip test-emu peer bench chat clean

all: build

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	for c in $(DEB_COMMANDS); do \
	  command -v $${c%%:*} >/dev/null 2>&1 || missing="$$missing $${c#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "gemma4 needs these Debian packages; install them with:"; \
	    echo "  sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# The peer engine (llama.cpp) for cross-checks; tests that need it skip without it.
peer: deps
	@if [ -x $(PEER_DIR)/lref ]; then :; \
	elif [ -f $(SHARED)/peer/setup.sh ]; then \
	  sh $(SHARED)/peer/setup.sh $(PEER_DIR) || echo "peer engine unavailable: its cross-checks will skip"; \
	else echo "../shared is absent: peer cross-checks will skip"; fi

# CPU speed against the peer on generated E2B/E4B-shape models (hours; not part of
# make test): tests/bench/run.sh prints the table (ARGS, e.g. ARGS=--quick).
bench: build peer
	bash tests/bench/run.sh --build $(BUILD) $(ARGS)

PEER_ENV := G4_PEER=$(PEER_DIR)/lref G4_PEER_LIB_DIR=$(PEER_DIR)/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64

test-release: build peer
	cd $(BUILD) && $(PEER_ENV) ctest --output-on-failure -j 2 --timeout 1800

test-asan: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DG4_SANITIZE=ON -DG4_BLAS=OFF
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && $(PEER_ENV) ctest --output-on-failure -j 2 -LE "heavy|perf" --timeout 1800

test-fuzz: deps
	cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DG4_FUZZ=ON -DG4_BLAS=OFF -DG4_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	cd $(BUILD)-fuzz && ctest --output-on-failure -L fuzz

# The HIP backend (AMD GPUs): the kernels built with hipcc and linked into gemma4,
# which must still run on the CPU where no AMD GPU is.
test-hip: deps
	cmake -S . -B $(BUILD)-hip -DCMAKE_BUILD_TYPE=Release -DG4_HIP=ON
	cmake --build $(BUILD)-hip -j $(JOBS) --target gemma4
	@if [ -d $(SHARED)/fixtures ]; then \
	  ./$(BUILD)-hip/gemma4 bench -m $(SHARED)/fixtures/models/dense-tiny/model.gguf -p 8 -n 4 -r 1 | grep '^device:'; \
	fi

# The CUDA kernels on an emulated GPU (tests/gpu/emu: the CPU runs every thread
# and checks barriers and shuffles): the GPU tests without a GPU.
test-emu: deps
	cmake -S . -B $(BUILD)-emu -DCMAKE_BUILD_TYPE=Release -DG4_GPU_EMU=ON -DG4_BLAS=OFF
	cmake --build $(BUILD)-emu -j $(JOBS) --target gemma4 test_gpu_ops test_gpu_models gpu_quant_host
	cd $(BUILD)-emu && ctest --output-on-failure -j 2 -L emu

test: test-release test-asan test-fuzz test-hip test-emu

# The chat UI on MODEL (a .gguf file, an HF directory or a hub id), else on the
# config file's model, else on the default model (downloaded once into the HF cache).
chat: build
	./$(BUILD)/gemma4 $(if $(MODEL),-m "$(MODEL)") $(ARGS)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz $(BUILD)-hip $(BUILD)-emu
