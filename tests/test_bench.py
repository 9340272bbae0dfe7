"""The benchmarks still run against the code they measure: a quick synth run, and every script's imports."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_the_synth_benchmark_runs_and_writes_its_figures(tmp_path):
    output = tmp_path / "synth.json"
    command = [sys.executable, "bench/synth.py", "--num-samples", "6", "--output", str(output)]
    subprocess.run(command, check=True, capture_output=True, env={"HF_HUB_OFFLINE": "1", "PATH": ""})
    result = json.loads(output.read_text())
    assert [run["num_proc"] for run in result["runs"]] == [1, 2] and all(
        run["docs_per_s"] > 0 for run in result["runs"]
    )


@pytest.mark.parametrize("script", sorted(Path("bench").glob("*.py")), ids=lambda p: p.stem)
def test_every_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend("bench")  # as `python bench/X.py` runs it: bench/machine.py beside it
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


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
