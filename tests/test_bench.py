"""The benchmarks still run against the code they measure: a quick synth run, and every script's imports."""

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_synth_benchmark_runs_and_writes_its_figures(tmp_path):
    output = tmp_path / "synth.json"
    command = [sys.executable, "bench/synth.py", "--num-samples", "6", "--output", str(output)]
    subprocess.run(command, check=True, capture_output=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    result = json.loads(output.read_text())
    assert {"commit", "date", "device", "torch"} <= set(result)
    assert [run["num_proc"] for run in result["runs"]] == [1, 2] and all(
        run["docs_per_s"] > 0 for run in result["runs"]
    )
    from trainer.synth import marks

    costs = result["feature_costs_one_process"]["costs"]
    assert {f"marks/{name}" for name in marks.DRAW} | {"print/thermal", "shape/flatbed", "stage: JPEG"} <= set(costs)


@pytest.mark.parametrize("script", sorted(Path("bench").glob("*.py")), ids=lambda p: p.stem)
def test_every_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend("bench")  # as `python bench/X.py` runs it: bench/common.py beside it
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.parametrize("script", sorted(Path("bench").glob("*.py")), ids=lambda p: p.stem)
def test_benchmarks_use_the_public_library_only(script):
    """No private name (`_x`) is imported from, looked up on or named as a string for the library, and no command
    module is imported: what a benchmark needs is a public function."""
    tree = ast.parse(script.read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names]
    modules = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    attributes = [node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    in_f_strings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and id(node) not in in_f_strings]
    private = [
        name for name in imported + attributes + strings if isinstance(name, str) and re.fullmatch(r"_[a-z]\w*", name)
    ]
    assert not private, private
    assert not [module for module in modules if module.endswith("__main__")]


def test_the_legibility_gauge_ignores_how_the_engine_orders_and_groups_its_boxes_and_counts_every_wrong_character():
    spec = importlib.util.spec_from_file_location("bench_legibility", "bench/legibility.py")
    legibility = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(legibility)  # the OCR engine is the benchmark's extra, imported only when it runs
    f1 = legibility.trigram_f1
    page = "Espresso 2 3.50\nCroissant 1 2.20\nTotal 5.70"
    assert f1(page, page) == 1.0
    assert f1("Total\n5.70\nEspresso\nCroissant 1\n2\n3.50 2.20", page) == 1.0  # columns read as boxes, any order
    assert f1("abcd", "abce") == 0.5  # ` ab`, `abc`, `bcd`, `cd ` against ` ab`, `abc`, `bce`, `ce `: 2 of 4 each
    assert f1("Total 5.70\nTotal 5.70", "Total 5.70") == 2 / 3  # a line read twice is not free
    assert f1("xyz", "abc") == 0.0 and f1("", "abc") == 0.0 and f1("", "") == 1.0


def run_benchmark(script: str, output: Path, *args) -> dict:
    """Runs a benchmark at a tiny size, as `python bench/X.py` runs, and returns the JSON it wrote."""
    command = [sys.executable, f"bench/{script}", *map(str, args), "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert {"commit", "date", "device", "torch"} <= set(report), "every result says what it was measured on and at"
    return report


@pytest.fixture(scope="module")
def multi_page_documents(tmp_path_factory):
    """Long orders only, so that every document runs on to a second page: the baseline must show each its pages."""
    from trainer.synth.__main__ import main as synth

    folder = tmp_path_factory.mktemp("multi-page")
    synth(["--num-samples", "16", "--doc-types", "invoice", "--long-invoices", "1", "--num-proc", "1",
           "--output-dir", str(folder)])  # fmt: skip
    return folder


@pytest.mark.slow
def test_the_training_benchmark_runs_every_recipe_and_the_baseline_on_multi_page_documents(
    tiny_model_dir, multi_page_documents, tmp_path
):
    from trainer.data.document_dataset import load_document_dataset

    assert all(load_document_dataset(str(multi_page_documents), "train", {"more_pages"})["more_pages"])
    report = run_benchmark("train.py", tmp_path / "train.json", "--model", tiny_model_dir, "--dataset",
                           multi_page_documents, "--methods", "lora", "qlora", "full", "--steps", 1, "--warmup", 1,
                           "--batch-size", 2, "--fit-batch-sizes", 4, "--max-pixels", 3136, "--padding-free")  # fmt: skip
    runs = [(r.get("trainer"), r.get("method"), r.get("fit", False)) for r in report["results"]]
    assert runs == [("finscribe", "lora", False), ("trl_sft_vlm_baseline", "lora", False),
                    ("finscribe_padding_free", "lora", False), ("finscribe", "qlora", False),
                    ("finscribe", "full", False), ("finscribe", "lora", True)], report["results"]  # fmt: skip
    assert all(r["samples_per_s"] > 0 and r["tokens_per_s"] > 0 for r in report["results"])
    padded, packed = report["results"][0], report["results"][2]
    assert padded["real_token_share"] < 1 and packed["real_token_share"] == 1 and packed["padding_free"]
    assert packed["real_tokens_per_s_vs_padded"] > 0
    assert report["results"][0]["speed_vs_baseline"] > 0 and report["largest_lora_batch_that_fit"] == 4
    assert report["commit"] and report["cpu_flags"]


@pytest.mark.slow
def test_the_reading_benchmark_measures_each_variant(tiny_model_dir, tmp_path):
    variants = ["bf16", "int8 (bitsandbytes)", "nf4 (bitsandbytes)", "torchao-int8"]
    report = run_benchmark("quantize.py", tmp_path / "quantize.json", "--processor", tiny_model_dir, "--model-dir",
                           tiny_model_dir, "--batch-sizes", 1, 2, "--repeats", 1, "--new-tokens", 4, "--only", *variants)  # fmt: skip
    assert [r["variant"] for r in report["results"]] == variants
    assert all(
        "failed" not in r and r["tokens_per_s_batch_2"] > 0 and r["pages_per_s_batch_1"] > 0 for r in report["results"]
    )


@pytest.mark.slow
def test_the_evaluation_mining_and_teds_benchmarks_write_their_figures(tiny_model_dir, tmp_path):
    evaluation = run_benchmark("eval.py", tmp_path / "eval.json", "--model", tiny_model_dir, "--documents", 4,
                               "--batch-sizes", 1, 2, "--max-new-tokens", 4)  # fmt: skip
    assert evaluation["documents"] >= 1 and set(evaluation["batch_sizes"]) == {"1", "2"}
    mining = run_benchmark("mine.py", tmp_path / "mine.json", "--readings", 40, "--records", 40)
    assert mining["classify"]["readings_per_second"] > 0
    teds = run_benchmark("teds.py", tmp_path / "teds.json", "--repeat", 1)
    assert teds


@pytest.mark.slow
def test_the_legibility_benchmark_reads_generated_pages(tmp_path):
    report = run_benchmark("legibility.py", tmp_path / "legibility.json", "--num-samples", 4)
    assert 0 < report["overall"]["mean"] <= 1, report


@pytest.mark.slow
def test_the_space_benchmark_serves_concurrent_jobs(tiny_model_dir, adapter_dir, tmp_path):
    report = run_benchmark("space.py", tmp_path / "space.json", "--jobs", 2, "--model", tiny_model_dir, "--adapter",
                           adapter_dir, "--skip-memory")  # fmt: skip
    assert report["load"]["completed"] == 2 and report["load"]["differing_from_alone"] == 0, report


@pytest.mark.slow
def test_the_grpo_benchmark_measures_rewards_before_and_after(tiny_model_dir, synthetic_dir, tmp_path):
    report = run_benchmark("grpo.py", tmp_path / "grpo.json", "--start", tiny_model_dir, "--dataset", synthetic_dir,
                           "--work", tmp_path / "work", "--steps", 1, "--max-new-tokens", 16)  # fmt: skip
    rewards = report["rewards"]
    assert set(rewards) == {"fields", "arithmetic", "well_formed", "total"} and report["validation_documents"] > 0
    assert all(r["ci95"][0] <= r["difference"] <= r["ci95"][1] for r in rewards.values())
    assert set(report["test_split"]) == {"field_accuracy", "json_valid_rate", "field_f1"}
