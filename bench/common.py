"""What the benchmarks share: what their figures were measured on and at (the commit, the machine: a CPU's vector
flags, a GPU's driver, CUDA and measured bf16 matrix rate, and the libraries), written into each
bench/results/*.json; and generating the documents a benchmark reads, as a user does."""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainer.quantize.measure import machine

# Dense bf16 peak of the H100 and H200 SXM (one chip's arithmetic; the H200 has more memory): MFU's denominator.
HOPPER_BF16_FLOPS = 989.4e12


def commit() -> str:
    """The checkout's commit; on a machine the tree was copied to without its .git, the one bench/gpu_carry.sh
    wrote beside the carried files."""
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # no git there
        git = ""
    return git or os.environ.get("FINSCRIBE_COMMIT", "unknown")


def matmul_tflops(size: int = 8192) -> float:
    """bf16 rate of a size³ matrix product on this GPU (random data, the mean of 10 after 3 warm-ups): the
    ceiling a training step can practically reach."""
    a, b = (torch.randn(size, size, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return round(10 * 2 * size**3 / (time.perf_counter() - start) / 1e12, 1)


def hardware() -> dict:
    found = {"device": machine(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "commit": commit()}
    if torch.cuda.is_available():
        smi = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
        driver = subprocess.run(smi, capture_output=True, text=True, check=False).stdout.strip()
        found |= {"cuda": torch.version.cuda, "driver_and_memory": driver, "matmul_bf16_tflops": matmul_tflops()}
        found["peak_bf16_tflops_datasheet"] = HOPPER_BF16_FLOPS / 1e12
    elif Path("/proc/cpuinfo").is_file():
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
        found["cpu_flags"] = sorted(flag for flag in flags.split()[2:] if flag.startswith(("avx", "amx")))
    return found


def scratch(prefix: str) -> Path:
    """A folder for a benchmark's models and data (gigabytes, for the full-size ones), removed when it exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def write_result(path: str | Path, result: dict):
    """The figures as JSON at `path`, under what they were measured on and at (`hardware()`), and on stdout."""
    text = json.dumps({**hardware(), **result}, indent=2, ensure_ascii=False) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
    print(text, end="")


def synthesize(output_dir: str | Path, num_samples: int, *flags: str):
    """A synthetic dataset in output_dir, made by `python -m trainer.synth` with its default mix (or `flags`)."""
    command = ["-m", "trainer.synth", "--num-samples", str(num_samples), "--output-dir", str(output_dir), *flags]
    subprocess.run(
        [sys.executable, *command, "--num-proc", str(os.cpu_count() or 1)], check=True, stdout=subprocess.DEVNULL
    )
