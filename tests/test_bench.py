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
