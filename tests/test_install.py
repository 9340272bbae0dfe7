"""FinScribe installs as a package: a wheel (what `pip install git+…` builds) carries the card templates and the
generator's tables, and its commands, run from another folder, write a dataset card and a model card."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str, cwd: Path, env: dict) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_a_non_editable_install_writes_a_dataset_card_and_a_model_card(tmp_path):
    source = tmp_path / "source"  # the files a clone holds, so that the build leaves nothing in this checkout
    shutil.copytree(ROOT / "trainer", source / "trainer", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    site = tmp_path / "site"
    pip = ["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)]
    run(*pip, cwd=tmp_path, env=os.environ)
    shutil.rmtree(source)  # nothing left to read but the installed copy

    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "recipes").mkdir(parents=True)
    shutil.copy2(ROOT / "recipes" / "quickstart.yaml", elsewhere / "recipes")  # a user's recipe, not package data
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    where = run("-c", "import trainer; print(trainer.__file__)", cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(site)

    run("-m", "trainer.synth", "--num-samples", "12", "--output-dir", "documents", cwd=elsewhere, env=env)
    dataset_card = (elsewhere / "documents" / "README.md").read_text()
    assert "# FinScribe synthetic financial documents" in dataset_card and "## Statistics" in dataset_card

    run("-m", "trainer.tiny", "--output-dir", "tiny", cwd=elsewhere, env=env)
    run("-m", "trainer.sft", "--config", "recipes/quickstart.yaml", "--model_name_or_path", "tiny", "--dataset_name",
        "documents", "--output_dir", "run", "--max_steps", "1", "--eval_on_start", "false", "--eval_strategy", "no",
        "--field_accuracy_samples", "0", "--disable_tqdm", "true", cwd=elsewhere, env=env)  # fmt: skip
    model_card = (elsewhere / "run" / "README.md").read_text()
    assert "trained with\nFinScribe (`python -m trainer.sft`" in model_card and "| learning_rate |" in model_card


@pytest.mark.slow
def test_importing_the_library_changes_no_logging_and_a_command_prints_no_import_noise(tmp_path):
    check = "import logging, trainer, trainer.inference; print([n for n in ('torchao', 'torch.utils._pytree') if logging.getLogger(n).filters])"
    assert run("-c", check, cwd=ROOT, env=os.environ).strip() == "[]"
    done = subprocess.run([sys.executable, "-m", "trainer.tiny", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
