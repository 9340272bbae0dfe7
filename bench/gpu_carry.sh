#!/usr/bin/env bash
# bash bench/gpu_carry.sh: makes .gpu/ (git-ignored), what bench/gpu.sh needs on a lent GPU machine, where nothing can
# be downloaded and its image already holds torch (CUDA), numpy, pandas, pyarrow, safetensors and tokenizers:
#   .gpu/site.tar.xz   the other packages FinScribe's training and reading import, unpacked for Python 3.12, the
#                      versions this checkout's .venv has (bitsandbytes cut to its CUDA 13 library: 43 MB -> 4 MB)
#   .gpu/tiny/         the tiny model (its processor and token ids build the full-size random model there)
#   .gpu/pages/        48 training documents of the synthetic set's default mix (all 13 locales, long receipts and
#                      invoices), pages downscaled to the recipes' 1,003,520 pixels (bench/gpu_pages.py)
#   .gpu/COMMIT        the commit the figures are measured at (the copied tree has no .git)
# The device tool carries at most 64 MiB: this script prints the total.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1
rm -rf .gpu && mkdir -p .gpu
git rev-parse HEAD > .gpu/COMMIT

# Packages the device image lacks or holds too old, at this .venv's versions.
PACKAGES="transformers huggingface_hub httpx2 httpcore2 kernels trl peft accelerate datasets dill multiprocess
  bitsandbytes torchao pydantic pydantic_core annotated_types typing_inspection babel pypdfium2 pypdfium2_raw
  rapidfuzz dateparser pytz tzlocal regex truststore tomlkit"
pins=$($PY -m pip list --format=freeze 2>/dev/null | tr 'A-Z-' 'a-z_' | grep -E "^($(echo $PACKAGES | tr ' ' '|'))==" || true)
site=$(mktemp -d)
python3 -m pip install -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --target "$site" \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 $pins
find "$site/bitsandbytes" -name 'libbitsandbytes_*.so' ! -name 'libbitsandbytes_cuda130.so' -delete
rm -rf "$site/bin"
tar -C "$site" -cJf .gpu/site.tar.xz .
rm -rf "$site"

test -f models/tiny-paddleocr-vl/model.safetensors || $PY -m trainer.tiny --output-dir models/tiny-paddleocr-vl
cp -r models/tiny-paddleocr-vl .gpu/tiny
pages=$(mktemp -d)
$PY -m trainer.synth --num-samples 400 --seed 0 --output-dir "$pages/full" --num-proc 2 >/dev/null
$PY bench/gpu_pages.py "$pages/full" .gpu/pages --documents 48 --max-pixels 1003520
rm -rf "$pages"
du -sh .gpu/* && du -sh .gpu
