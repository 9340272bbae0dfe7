"""`python -m trainer.synth` end to end: determinism across processes, resume after a kill, bad input, push."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer.synth.__main__ import main

ARGS = ["--num-samples", "60", "--chunk-size", "10", "--seed", "3"]


def written(folder: Path) -> dict[str, bytes]:
    """Every file of the dataset (resume bookkeeping aside)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".synth" not in p.parts
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    main([*ARGS, "--output-dir", str(folder), "--num-proc", "1"])
    return written(folder)


@pytest.mark.slow
def test_same_bytes_with_two_processes(reference, tmp_path):
    main([*ARGS, "--output-dir", str(tmp_path), "--num-proc", "2"])
    assert written(tmp_path) == reference
    assert any(name.startswith("data/test-") for name in reference) and "README.md" in reference


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_bytes(reference, tmp_path):
    command = [sys.executable, "-m", "trainer.synth", *ARGS, "--output-dir", str(tmp_path), "--num-proc", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not list((tmp_path / ".synth").glob("chunk-0000[1-9].done")) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = len(list((tmp_path / ".synth").glob("*.done")))
    assert 2 <= done < 6, "the kill must land mid-run"
    main([*ARGS, "--output-dir", str(tmp_path), "--num-proc", "1", "--resume"])
    assert written(tmp_path) == reference


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num-samples", "0"], "--num-samples must be positive"),
        (["--num-samples", "-5"], "--num-samples must be positive"),
        (["--locales", "en_US,xx_XX"], "unknown locale"),
        (["--doc-types", "invoice,bank_statement"], "unknown document type bank_statement"),
        (["--doc-types", ","], "no document type given"),
        (["--locales", " "], "no locale given"),
        (["--push-to-hub", "no-slash"], "USER/REPO"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "data").exists()


def test_unwritable_output_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main(["--num-samples", "5", "--output-dir", str(blocker / "out")])
    assert exit_info.value.code == 2 and "cannot write to" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_non_empty_output_dir_is_never_overwritten_by_accident(tmp_path, capsys):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    for argv in ([], ["--resume"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["--num-samples", "5", "--output-dir", str(tmp_path), *argv])
        assert exit_info.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert keep.read_text() == "mine" and not (tmp_path / "data").exists()


def test_resume_with_other_arguments_is_refused(tmp_path, capsys):
    main(["--num-samples", "4", "--chunk-size", "2", "--output-dir", str(tmp_path), "--num-proc", "1"])
    before = written(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--num-samples", "8", "--chunk-size", "2", "--output-dir", str(tmp_path), "--resume"])
    assert exit_info.value.code == 2 and "num_samples 4 → 8" in capsys.readouterr().err
    assert written(tmp_path) == before
    main(["--num-samples", "8", "--chunk-size", "2", "--output-dir", str(tmp_path), "--num-proc", "1", "--overwrite"])
    assert len(list((tmp_path / ".synth").glob("*.done"))) == 4


@pytest.mark.slow
def test_push_offline_fails_in_one_line_keeps_the_data_and_hides_the_token(tmp_path):
    secret = "hf_" + "x" * 34
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": secret}
    command = [
        sys.executable,
        "-m",
        "trainer.synth",
        "--num-samples",
        "3",
        "--output-dir",
        str(tmp_path),
        "--num-proc",
        "1",
    ]
    result = subprocess.run(
        [*command, "--push-to-hub", "someone/finscribe-test"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert (
        "could not push" in result.stderr
        and "someone/finscribe-test" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert secret not in result.stdout + result.stderr + (tmp_path / "README.md").read_text()
    from datasets import load_dataset

    assert sum(len(split) for split in load_dataset(str(tmp_path)).values()) == 3


@pytest.mark.slow
def test_interrupt_says_how_to_resume(tmp_path):
    command = [sys.executable, "-m", "trainer.synth", *ARGS, "--output-dir", str(tmp_path), "--num-proc", "2"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.time() + 120
    while not list((tmp_path / ".synth").glob("*.done")) and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, workers too
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "--resume" in err and "Traceback" not in err, err


def test_missing_fonts_are_named(monkeypatch, tmp_path, capsys):
    from trainer.synth import fonts

    monkeypatch.setitem(fonts.FAMILIES, "gothic", (tmp_path / "absent.ttf", None))
    with pytest.raises(SystemExit) as exit_info:
        main(["--num-samples", "5", "--locales", "ja_JP", "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "absent.ttf" in capsys.readouterr().err
    main(["--num-samples", "2", "--locales", "en_US", "--output-dir", str(tmp_path / "latin"), "--num-proc", "1"])
