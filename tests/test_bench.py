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
def test_every_benchmark_imports(script):
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_the_legibility_gauge_ignores_line_order_and_spaces_and_counts_every_wrong_character():
    spec = importlib.util.spec_from_file_location("bench_legibility", "bench/legibility.py")
    legibility = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(legibility)  # the OCR engine is the benchmark's extra, imported only when it runs
    f1 = legibility.trigram_f1
    page = "Hughes-Jones\nFlat 4\nTOTAL 12.50"
    assert f1(page, page) == 1.0
    assert f1("TOTAL 12.50\nFlat4\nHughes-Jones", page) == 1.0  # the engine's order of lines, a dropped space
    assert f1("abcd", "abce") == 0.5  # {abc, bcd} against {abc, bce}: precision and recall 1/2
    assert f1("TOTAL 12.50\nTOTAL 12.50", "TOTAL 12.50") == 2 / 3  # a line read twice is not free
    assert f1("xyz", "abc") == 0.0 and f1("", "abc") == 0.0 and f1("", "") == 1.0
