"""What FinScribe promises under faults: one writer per folder, nothing of the user's replaced, a full or read-only
disk and Ctrl-C end in one line with state a rerun continues from, a killed checkpoint save is never resumed from.

Full and read-only disks are real: a small tmpfs (or one mounted read-only) in a private mount namespace
(`unshare -r -m`, no root needed). The command runs inside it, and what it left is copied out to be checked.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from shared import sft_argv

from trainer.data.document_dataset import data_files
from trainer.errors import InputError
from trainer.folders import LOCK, MARKER, claim

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-r", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs user namespaces (unshare -r -m)")


def command(module: str, *args) -> list[str]:
    return [sys.executable, "-m", module, *map(str, args)]


def on_small_disk(argv: list[str], disk: Path, left: Path, size: str = "1m", read_only: bool = False):
    """Run argv with `disk` a fresh tmpfs of `size` (or read-only); copy what it left on the disk to `left`."""
    disk.mkdir(exist_ok=True)
    left.mkdir(exist_ok=True)
    options = "ro" if read_only else f"size={size}"
    script = f'mount -t tmpfs -o {options} tmpfs "$1" && shift 2 && "$@"; code=$?; cp -a "$DISK/." "$LEFT/"; exit $code'
    return subprocess.run(
        ["unshare", "-r", "-m", "sh", "-c", script, "sh", str(disk), "--", *argv],
        env={**ENV, "DISK": str(disk), "LEFT": str(left)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def ends_in_one_line(result, start: str = "error:") -> str:
    """The last stderr line, after checking that it is the only one of its kind and that no traceback came."""
    err = result.stderr
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(start) and sum(line.startswith(start) for line in err.splitlines()) == 1, err[-3000:]
    return last


def interrupted(argv: list[str], ready, settle: float = 1.0, timeout: float = 300):
    """Start argv in its own process group, wait until `ready()` and `settle` more seconds, then Ctrl-C the group."""
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    deadline = time.time() + timeout
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(settle)
    assert process.poll() is None, f"the command ended before it could be interrupted: {process.communicate()}"
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


# Folders: FinScribe replaces only what it made, and one writer at a time.


@pytest.mark.slow
def test_overwrite_leaves_a_folder_finscribe_did_not_make(tmp_path):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "important.csv").write_text("x")
    (tmp_path / "README.md").write_text("mine")
    for module, extra in (("trainer.synth", ["--num-samples", 4]), ("trainer.tiny", [])):
        result = subprocess.run(command(module, "--output-dir", tmp_path, "--overwrite", *extra), env=ENV,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        assert result.returncode == 2 and "not made by FinScribe" in ends_in_one_line(result)
    assert (tmp_path / "data" / "raw" / "important.csv").read_text() == "x" and (
        tmp_path / "README.md"
    ).read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "data"], "no marker or lock is left behind"


FEW = ["--corpus-documents", "4"]  # the tokenizer trained on 4 documents: what is tested here is the folder


@pytest.mark.slow
def test_tiny_refuses_a_folder_with_content_unless_told_to_replace_its_own(tmp_path):
    first = subprocess.run(
        command("trainer.tiny", "--output-dir", tmp_path, *FEW), env=ENV, capture_output=True, text=True
    )
    assert first.returncode == 0 and (tmp_path / MARKER).is_file()
    again = subprocess.run(
        command("trainer.tiny", "--output-dir", tmp_path, *FEW), env=ENV, capture_output=True, text=True
    )
    assert again.returncode == 2 and "--overwrite" in ends_in_one_line(again)
    (tmp_path / "config.json").write_text("{}")  # a model that --overwrite must replace whole
    replaced = subprocess.run(command("trainer.tiny", "--output-dir", tmp_path, *FEW, "--overwrite"), env=ENV,
                              capture_output=True, text=True)  # fmt: skip
    assert replaced.returncode == 0 and json.loads((tmp_path / "config.json").read_text())["model_type"]


# Issue 34: --overwrite never deletes an input, another command's folder or the user's own files.


def a_copy_of(folder: Path, where: Path) -> Path:
    shutil.copytree(folder, where)
    return where


@pytest.mark.slow
def test_overwrite_never_clears_the_commands_own_input(tiny_model_dir, tmp_path):
    model = a_copy_of(tiny_model_dir, tmp_path / "model")
    adapter = a_copy_of(tiny_model_dir, tmp_path / "adapter")  # a folder of the user's that the command reads
    (tmp_path / "link").symlink_to(model)
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    for output, extra in ((model, []), (adapter, ["--adapter", adapter]), (tmp_path / "link", []), (tmp_path, [])):
        result = subprocess.run(command("trainer.quantize", "--model", model, *extra, "--methods", "int8",
                                        "--output-dir", output, "--overwrite"), env=ENV, capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 2 and "is, or holds, the command's input" in ends_in_one_line(result)
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in adapter.iterdir()) == sorted(p.name for p in model.iterdir())


@pytest.mark.slow
def test_overwrite_refuses_another_commands_folder_and_files_the_user_added(tmp_path):
    mined = tmp_path / "mined"
    with claim(mined, "trainer.mine", resume=True):
        (mined / "records.parquet").write_bytes(b"32 records")
    few = ["--num-samples", 4, "--num-proc", 1, "--chunk-size", 4, "--long-receipts", 0, "--long-invoices", 0]
    result = subprocess.run(command("trainer.synth", *few, "--output-dir", mined, "--overwrite"), env=ENV,
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2 and "holds what trainer.mine made" in ends_in_one_line(result)
    assert (mined / "records.parquet").read_bytes() == b"32 records"

    made = tmp_path / "synthetic"
    assert subprocess.run(command("trainer.synth", *few, "--output-dir", made), env=ENV).returncode == 0
    (made / "notes.txt").write_text("mine")
    (made / "data" / "export.csv").write_text("mine too")
    result = subprocess.run(command("trainer.synth", *few, "--output-dir", made, "--overwrite"), env=ENV,
                            capture_output=True, text=True)  # fmt: skip
    line = ends_in_one_line(result)
    assert result.returncode == 2 and "data/export.csv, notes.txt" in line
    assert (made / "notes.txt").read_text() == "mine" and (made / "data" / "export.csv").read_text() == "mine too"
    (made / "notes.txt").unlink()
    (made / "data" / "export.csv").unlink()
    again = subprocess.run(command("trainer.synth", *few, "--seed", 3, "--output-dir", made, "--overwrite"), env=ENV)
    assert again.returncode == 0 and "--seed 3" in (made / "README.md").read_text()


@pytest.mark.slow
def test_files_a_killed_run_wrote_stay_its_own(tmp_path):
    """A kill lets no command list what it wrote: the next claim counts the files newer than the killed run's start."""
    killed = subprocess.Popen(command("trainer.synth", "--num-samples", 400, "--chunk-size", 10, "--num-proc", 1,
                                      "--output-dir", tmp_path), env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while not data_files(tmp_path, "*") and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert data_files(tmp_path, "*") and json.loads((tmp_path / MARKER).read_text())["files"] == []
    few = ["--num-samples", 4, "--num-proc", 1, "--chunk-size", 4, "--long-receipts", 0, "--long-invoices", 0]
    replaced = subprocess.run(command("trainer.synth", *few, "--output-dir", tmp_path, "--overwrite"), env=ENV,
                              capture_output=True, text=True)  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    assert sum(pq.read_metadata(f).num_rows for f in data_files(tmp_path, "*")) == 4


@pytest.mark.slow
def test_a_second_writer_stops_and_the_first_finishes_alone(tmp_path):
    first = subprocess.Popen(command("trainer.synth", "--num-samples", 60, "--chunk-size", 10, "--seed", 7,
                                     "--num-proc", 1, "--output-dir", tmp_path),
                             env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 120
    while not (tmp_path / ".synth" / "args.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command("trainer.synth", "--num-samples", 20, "--seed", 8, "--overwrite",
                                    "--num-proc", 1, "--output-dir", tmp_path),
                            env=ENV, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 2 and "another FinScribe command is writing" in ends_in_one_line(second)
    seeds = {seed for f in data_files(tmp_path, "*") for seed in pq.read_table(f, columns=["seed"])["seed"].to_pylist()}
    assert seeds == {7} and sum(pq.read_metadata(f).num_rows for f in data_files(tmp_path, "*")) == 60
    assert "--num-samples 60 --seed 7 " in (tmp_path / "README.md").read_text()


def test_claim_is_exclusive_and_released(tmp_path):
    second = claim(tmp_path, "test", reuse=True)
    with claim(tmp_path, "test"), pytest.raises(InputError, match="another FinScribe command"), second:
        pass
    with claim(tmp_path, "test", reuse=True):
        pass  # released when the first writer is done
    assert (tmp_path / LOCK).exists() and json.loads((tmp_path / MARKER).read_text())["made_by"] == "test"


# Full and read-only disks.


@pytest.mark.slow
@needs_mount
def test_synth_on_a_full_disk_ends_in_one_line_and_resumes(tmp_path):
    argv = command("trainer.synth", "--num-samples", 40, "--chunk-size", 2, "--num-proc", 1, "--output-dir",
                   tmp_path / "disk" / "set")  # fmt: skip
    result = on_small_disk(argv, tmp_path / "disk", tmp_path / "left", size="1500k")
    assert result.returncode == 1 and "space left on device" in ends_in_one_line(result).lower()
    left = tmp_path / "left" / "set"
    assert not list(left.rglob("*.tmp")), "no half-written file stays"
    done = len(list((left / ".synth").glob("*.done")))
    assert 0 < done < 20, "the disk must fill mid-run for this test to mean something"
    shutil.move(left, tmp_path / "set")  # room again: the same command with --resume completes it
    subprocess.run([*argv[:-1], tmp_path / "set", "--resume"], env=ENV, check=True, capture_output=True)
    assert sum(pq.read_metadata(f).num_rows for f in data_files(tmp_path / "set", "*")) == 40


@pytest.mark.slow
@needs_mount
def test_a_read_only_folder_is_refused_before_any_work(tiny_model_dir, synthetic_dir, tmp_path):
    page = next(iter(pq.read_table(data_files(synthetic_dir, "test")[0], columns=["image"])["image"].to_pylist()))
    (tmp_path / "page.png").write_bytes(page["bytes"])
    disk = tmp_path / "disk"
    for argv in (
        command("trainer.synth", "--num-samples", 4, "--output-dir", disk / "set"),
        command("trainer.tiny", "--output-dir", disk / "tiny"),
        command("trainer.data.build", "--crops-dir", tmp_path, "--annotations-dir", tmp_path, "--output-dir", disk / "b"),
        command("trainer.sft", *sft_argv(tiny_model_dir, synthetic_dir, disk / "run", "--max_steps", "2")),
        command("trainer.evaluate", "--model", tiny_model_dir, "--dataset", synthetic_dir, "--limit", 2,
                "--output-dir", disk / "eval"),
        command("trainer.compare", "--base", tiny_model_dir, "--finetuned", tiny_model_dir, "--image",
                tmp_path / "page.png", "--output", disk / "results.json"),
    ):  # fmt: skip
        start = time.perf_counter()
        result = on_small_disk(argv, disk, tmp_path / "left", read_only=True)
        assert result.returncode == 2 and "Read-only file system" in ends_in_one_line(result), argv
        assert time.perf_counter() - start < 60


@pytest.mark.slow
@needs_mount
def test_a_full_disk_during_training_leaves_checkpoints_to_resume_from(tiny_model_dir, synthetic_dir, tmp_path):
    steps = ["--max_steps", "6", "--save_steps", "2", "--eval_strategy", "no", "--save_total_limit", "5"]
    argv = command("trainer.sft", *sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "disk" / "run", *steps))
    result = on_small_disk(argv, tmp_path / "disk", tmp_path / "left", size="2m")
    assert result.returncode == 1 and "space left on device" in ends_in_one_line(result).lower()
    run = tmp_path / "run"
    shutil.move(tmp_path / "left" / "run", run)
    complete = [p.name for p in run.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    assert complete and len(complete) < 3, "the disk must fill after the first checkpoint"
    resumed = subprocess.run(command("trainer.sft", *sft_argv(tiny_model_dir, synthetic_dir, run, *steps,
                                                              "--resume_from_checkpoint", "true")),
                             env=ENV, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from {run / max(complete)}" in resumed.stderr and (run / "adapter_model.safetensors").exists()


# Checkpoints, tokens and pages in training.


STEPS = ["--max_steps", "4", "--save_steps", "2", "--eval_strategy", "no", "--max_train_samples", "8"]


@pytest.mark.slow
def test_resume_skips_a_checkpoint_whose_save_was_cut_short(tiny_model_dir, synthetic_dir, tmp_path):
    subprocess.run(command("trainer.sft", *sft_argv(tiny_model_dir, synthetic_dir, tmp_path, *STEPS)), env=ENV,
                   check=True, capture_output=True)  # fmt: skip
    # A kill during the save of checkpoint-4: Trainer writes trainer_state.json last, so it is missing, and the
    # optimizer state is torn.
    (tmp_path / "checkpoint-4" / "trainer_state.json").unlink()
    optimizer = tmp_path / "checkpoint-4" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    named = subprocess.run(command("trainer.sft", *sft_argv(tiny_model_dir, synthetic_dir, tmp_path / "other", *STEPS,
                                                            "--resume_from_checkpoint", tmp_path / "checkpoint-4")),
                           env=ENV, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert named.returncode == 2 and "incomplete" in ends_in_one_line(named)
    resume = [*STEPS, "--max_steps", "6", "--resume_from_checkpoint", "true"]
    result = subprocess.run(command("trainer.sft", *sft_argv(tiny_model_dir, synthetic_dir, tmp_path, *resume)),
                            env=ENV, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Skipping" in result.stderr and "checkpoint-4: incomplete (no trainer_state.json)" in result.stderr
    assert f"Resuming from {tmp_path / 'checkpoint-2'}" in result.stderr
    assert json.loads((tmp_path / "checkpoint-6" / "trainer_state.json").read_text())["global_step"] == 6


@pytest.mark.slow
def test_a_token_on_the_command_line_is_never_stored(tiny_model_dir, synthetic_dir, tmp_path):
    secret = "hf_" + "q" * 34
    argv = sft_argv(tiny_model_dir, synthetic_dir, tmp_path, *STEPS, "--hub_token", secret)
    result = subprocess.run(command("trainer.sft", *argv), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "checkpoint-2" / "training_args.bin").exists()
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not stored and secret not in result.stdout + result.stderr


@pytest.fixture
def dataset_with_a_broken_page(synthetic_dir, tmp_path):
    """The synthetic set's first 12 training documents, one of them with bytes that are no image."""
    rows = Dataset.from_parquet([str(f) for f in data_files(synthetic_dir, "train")]).select(range(12)).to_list()
    broken = rows[3]["id"]
    rows[3]["image"] = {"bytes": b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "path": None}
    folder = tmp_path / "broken"
    (folder / "data").mkdir(parents=True)
    Dataset.from_list(rows).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
    return folder, broken


@pytest.mark.slow
def test_an_unreadable_training_page_stops_with_its_id(tiny_model_dir, dataset_with_a_broken_page, tmp_path):
    folder, broken = dataset_with_a_broken_page
    argv = sft_argv(tiny_model_dir, folder, tmp_path, "--max_steps", "6", "--eval_strategy", "no",
                    "--per_device_train_batch_size", "2", "--dataloader_num_workers", "1")  # fmt: skip
    result = subprocess.run(command("trainer.sft", *argv), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and f"document {broken} cannot be trained on" in ends_in_one_line(result)


# Ctrl-C.


@pytest.mark.slow
def test_ctrl_c_in_tiny_leaves_no_half_model(tmp_path):
    result = interrupted(command("trainer.tiny", "--output-dir", tmp_path, "--corpus-documents", 3000),
                         ready=lambda: (tmp_path / LOCK).exists())  # fmt: skip
    assert result.returncode == 130 and "--overwrite" in ends_in_one_line(result, "interrupted:")
    assert {p.name for p in tmp_path.iterdir()} <= {LOCK, MARKER}, "an interrupted build leaves nothing to load"


@pytest.mark.slow
def test_ctrl_c_in_training_keeps_the_checkpoints(tiny_model_dir, synthetic_dir, tmp_path):
    argv = sft_argv(tiny_model_dir, synthetic_dir, tmp_path, "--max_steps", "400", "--save_steps", "2",
                    "--eval_strategy", "no")  # fmt: skip
    result = interrupted(command("trainer.sft", *argv), ready=lambda: (tmp_path / "checkpoint-2").exists())
    assert result.returncode == 130 and "--resume_from_checkpoint true" in ends_in_one_line(result, "interrupted:")


@pytest.mark.slow
def test_ctrl_c_in_evaluate_and_compare(tiny_model_dir, synthetic_dir, tmp_path):
    reading = ["--dataset", synthetic_dir, "--limit", 24, "--batch-size", 2, "--max-pixels", 50176]
    evaluation = interrupted(command("trainer.evaluate", "--model", tiny_model_dir, *reading, "--output-dir",
                                     tmp_path / "eval"),
                             ready=lambda: (tmp_path / "eval" / "predictions.jsonl").exists())  # fmt: skip
    assert evaluation.returncode == 130 and "--resume" in ends_in_one_line(evaluation, "interrupted:")
    comparison = interrupted(command("trainer.compare", "--base", tiny_model_dir, "--finetuned", tiny_model_dir,
                                     *reading, "--output", tmp_path / "compare" / "results.json"),
                             ready=lambda: (tmp_path / "compare" / "results" / "base" / "predictions.jsonl").exists())  # fmt: skip
    assert comparison.returncode == 130 and "run the same command again" in ends_in_one_line(comparison, "interrupted:")
    assert not (tmp_path / "compare" / "results.json").exists()


@pytest.fixture
def user_folder(synthetic_dir, tmp_path):
    """40 of the synthetic pages as a user's folder: page images and their annotations."""
    crops, annotations = tmp_path / "crops", tmp_path / "annotations"
    crops.mkdir()
    annotations.mkdir()
    table = pq.read_table(data_files(synthetic_dir, "train")[0], columns=["id", "image", "ground_truth"])
    for row in table.slice(0, 40).to_pylist():
        (crops / f"{row['id']}.png").write_bytes(row["image"]["bytes"])
        (annotations / f"{row['id']}.json").write_text(row["ground_truth"])
    return crops, annotations


@pytest.mark.slow
def test_ctrl_c_in_build_resumes_to_the_same_dataset(user_folder, tmp_path):
    crops, annotations = user_folder
    argv = command("trainer.data.build", "--crops-dir", crops, "--annotations-dir", annotations, "--chunk-size", 1,
                   "--output-dir", tmp_path / "out")  # fmt: skip
    result = interrupted(argv, ready=lambda: (tmp_path / "out" / ".build" / "chunk-00002.json").exists(), settle=0)
    assert result.returncode == 130 and "--resume" in ends_in_one_line(result, "interrupted:")
    again = subprocess.run(argv, env=ENV, capture_output=True, text=True)
    assert again.returncode == 2 and "--resume" in ends_in_one_line(again)
    subprocess.run([*argv, "--resume"], env=ENV, check=True, capture_output=True)
    ids = sorted(
        i for f in data_files(tmp_path / "out", "*") for i in pq.read_table(f, columns=["id"])["id"].to_pylist()
    )
    assert ids == sorted(p.stem for p in crops.iterdir())
    changed = subprocess.run([*argv, "--resume", "--chunk-size", "2"], env=ENV, capture_output=True, text=True)
    assert changed.returncode == 2 and "chunk_size 1 → 2" in ends_in_one_line(changed)


# Memory does not grow with what is asked for.


@pytest.mark.slow
def test_a_huge_sample_count_starts_work_in_bounded_memory(tmp_path):
    argv = command("trainer.synth", "--num-samples", 10_000_000_000, "--chunk-size", 5, "--num-proc", 1,
                   "--output-dir", tmp_path)  # fmt: skip
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list((tmp_path / ".synth").glob("chunk-00001.done")) and time.time() < deadline:
        assert process.poll() is None
        time.sleep(0.1)
    peak = next(
        line for line in Path(f"/proc/{process.pid}/status").read_text().splitlines() if line.startswith("VmHWM")
    )
    process.kill()
    process.wait()
    assert int(peak.split()[1]) < 1_500_000, peak  # kB: the imports and two chunks, not 10^10 of anything


# Predictions files.


@pytest.mark.slow
def test_a_torn_last_prediction_is_dropped_and_read_again(tiny_model_dir, synthetic_dir, tmp_path):
    argv = ["--model", tiny_model_dir, "--dataset", synthetic_dir, "--limit", 4, "--batch-size", 2,
            "--max-new-tokens", 24, "--max-pixels", 50176, "--output-dir", tmp_path]  # fmt: skip
    subprocess.run(command("trainer.evaluate", *argv), env=ENV, check=True, capture_output=True)
    predictions = tmp_path / "predictions.jsonl"
    lines = predictions.read_text().splitlines(keepends=True)
    predictions.write_text("".join(lines[:3]) + lines[3][:25])  # killed while writing the fourth line
    result = subprocess.run(command("trainer.evaluate", *argv, "--resume"), env=ENV, capture_output=True, text=True)
    assert result.returncode == 0 and "cut short" in result.stderr, result.stderr[-3000:]
    assert json.loads((tmp_path / "metrics.json").read_text())["n"] == 4
    assert [json.loads(line)["id"] for line in predictions.read_text().splitlines()] == [
        json.loads(line)["id"] for line in lines
    ]


@pytest.mark.slow
def test_duplicate_and_unknown_ids_in_a_predictions_file_are_reported(synthetic_dir, tmp_path):
    ids = pq.read_table(data_files(synthetic_dir, "test")[0], columns=["id"])["id"].to_pylist()[:3]
    lines = [{"id": ids[0], "output": "first"}, {"id": ids[0], "output": "{}"}, {"id": ids[1], "output": "{}"},
             {"id": "no-such-document", "output": "{}"}]  # fmt: skip
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = subprocess.run(command("trainer.evaluate", "--predictions", path, "--dataset", synthetic_dir, "--limit", 3,
                                    "--output-dir", tmp_path / "out"),
                            env=ENV, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"gives 1 ids more than once ({ids[0]}): the last reading of each is kept" in result.stderr
    assert "1 of the 3 predictions are for documents not in" in result.stderr
    scored = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").open()}
    assert scored[ids[0]]["output"] == "{}" and scored[ids[2]]["error"] == "no prediction for this document"
