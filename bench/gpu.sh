#!/usr/bin/env bash
# bash bench/gpu.sh: the GPU measurements in one call of the device tool (a lent H200 with nothing to download), each
# step bounded in time, results and logs under $OUT:
#   tests.log          pytest -m gpu: LoRA and QLoRA steps lower the loss, adapters reload, a bf16 batch reads alone
#   train_gpu.json     bench/train.py: LoRA, QLoRA and full fine-tune of the full-size architecture at the recipes'
#                      1,003,520 pixels, trainer.sft against the plain TRL baseline, LoRA padding-free (4 pages a batch,
#                      and filled to 8,192 tokens) against padded
#                      (real tokens/s, peak memory, MFU), the largest LoRA batch that fits
#   quantize_gpu.json  bench/quantize.py: bf16 and each variant that runs on CUDA, batches 1, 8 and 32
# In the order of what is still missing; about 590 s in all, under the tool's 600 s a call. Before the call: bash
# bench/gpu_carry.sh here, then run it with carry [".gpu"] and timeout_s 595. DRY=1 runs it all on a CPU at toy sizes, to check it.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu-run}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false FINSCRIBE_COMMIT=$(cat .gpu/COMMIT)
export FINSCRIBE_GPU_DATA=.gpu/pages FINSCRIBE_GPU_MODEL=.gpu/tiny
PY=${PY:-python3}
if [ -z "${DRY:-}" ]; then
  mkdir -p /tmp/site && tar -C /tmp/site -xJf .gpu/site.tar.xz && export PYTHONPATH=/tmp/site:$PWD
  PIXELS=1003520 STEPS="--steps 5 --warmup 2" FIT="--fit-batch-sizes 8 16 32 64" BATCHES="1 8 32"
else
  PIXELS=50176 STEPS="--steps 1 --warmup 1 --batch-size 1" FIT="--fit-batch-sizes 2" BATCHES="1 2"
fi
step() {  # NAME SECONDS COMMAND...: runs COMMAND into $OUT/NAME.log, killed after SECONDS
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  timeout -k 10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  echo "== $name: exit $? in $((SECONDS - start)) s (limit $limit)"
  grep -E '^\{|passed|failed|Error' "$OUT/$name.log" | cut -c1-400 | tail -12
}
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
step setup 60 $PY -c "
import torch, bitsandbytes, torchao, transformers, trl, peft
from trainer.tiny import build_full_size
print(torch.__version__, torch.version.cuda, transformers.__version__, trl.__version__, peft.__version__, bitsandbytes.__version__, torchao.__version__)
print(build_full_size('/tmp/finscribe-full', '.gpu/tiny'))"
# The full fine-tune first: on 2026-12-04 the first run (LoRA, 1.71 s a step) stepped 2x slower than QLoRA after it,
# and the full fine-tune measured then (0.60 s) tells whether the first run of a call pays for something.
step train 230 $PY bench/train.py --full-size --model .gpu/tiny --model-dir /tmp/finscribe-full --dataset .gpu/pages \
  --methods full lora qlora --padding-free --tokens-per-batch 8192 --max-pixels $PIXELS $STEPS $FIT --output "$OUT/train_gpu.json"
step read 140 $PY bench/quantize.py --processor .gpu/tiny --model-dir /tmp/finscribe-full --max-pixels $PIXELS \
  --batch-sizes $BATCHES --repeats 2 --timeout 60 --output "$OUT/quantize_gpu.json" \
  --only "bf16" "int8 (bitsandbytes)" "nf4 (bitsandbytes)" "torchao-int8"
step read_compiled 90 $PY bench/quantize.py --processor .gpu/tiny --model-dir /tmp/finscribe-full --max-pixels $PIXELS \
  --batch-sizes $BATCHES --repeats 2 --timeout 80 --output "$OUT/quantize_gpu_compiled.json" --only "torchao-int8 compiled"
step tests 70 $PY -m pytest -m gpu tests/test_gpu.py -p no:cacheprovider -q -rA
