"""A user's folder at its worst: the builder keeps every good sample, lists every bad one with its true reason, and
neither hangs nor fills memory; the page decoder that every stage shares reads what a page really shows."""

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from bad_inputs.make_corpus import DARK, GREY, encoded, make_corpus, one_page_pdf, pdf
from PIL import Image
from transformers.models.paddleocr_vl.image_processing_pil_paddleocr_vl import smart_resize

from trainer.data.document_dataset import read_labels
from trainer.data.pages import (
    MAX_ASPECT_RATIO,
    MIN_SIDE,
    PageError,
    downscale,
    open_page,
    open_pdf,
    pdf_page,
    read_page,
)
from trainer.errors import InputError

PEAK_RSS_LIMIT = 1_500_000_000
# The build as a subprocess that reports its own peak resident memory on its way out: VmHWM, not getrusage's
# ru_maxrss, which after a vfork counts the memory of the pytest process that started it.
MEASURED_BUILD = r"""
import atexit, re, runpy, sys
peak = lambda: re.search(r"VmHWM:\s*(\d+) kB", open("/proc/self/status").read())[1]
atexit.register(lambda: print(f"peak_rss_kb={peak()}", file=sys.stderr))
runpy.run_module("trainer.data.build", run_name="__main__")
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="FIFOs, /dev/zero and /proc/self/status")
def test_a_hostile_folder_keeps_every_good_sample_and_lists_every_bad_one(tmp_path):
    good, expected = make_corpus(tmp_path)
    output = tmp_path / "dataset"
    folders = ["--crops-dir", str(tmp_path / "crops"), "--annotations-dir", str(tmp_path / "annotations")]
    start = time.perf_counter()
    build = subprocess.run(
        [sys.executable, "-c", MEASURED_BUILD, *folders, "--output-dir", str(output), "--chunk-size", "4"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    seconds = time.perf_counter() - start
    assert build.returncode == 0 and "Traceback" not in build.stderr, build.stderr
    peak = int(build.stderr.rsplit("peak_rss_kb=", 1)[1].split()[0]) * 1024
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / 1e9:.2f} GB"
    kept = [row["id"] for rows in read_labels(output).values() for row in rows]
    assert sorted(kept) == sorted(good)
    reasons = defaultdict(list)
    for line in (output / "rejects.jsonl").read_text(encoding="utf-8").splitlines():
        reject = json.loads(line)
        reasons[reject["file"]].append(reject["reason"])
    assert reasons.keys() == expected.keys()
    for file, words in expected.items():
        assert any(word in reason for word in words for reason in reasons[file]), (file, reasons[file])
    assert not [reason for listed in reasons.values() for reason in listed if "object at 0x" in reason]  # no repr
    print(f"corpus build: {seconds:.1f} s, peak RSS {peak / 1e6:.0f} MB")


def grey_page() -> np.ndarray:
    page = np.full((300, 400), GREY, np.uint16)
    page[100:200, 100:300] = DARK
    return page


@pytest.mark.parametrize(
    "image, format",
    [
        (Image.fromarray(grey_page()), "PNG"),  # I;16, as 16-bit PNGs and TIFFs decode
        (Image.fromarray(grey_page()), "TIFF"),
        (Image.fromarray(grey_page().astype(np.int32)), "TIFF"),  # I: a 32-bit integer TIFF of 16-bit samples
        (Image.fromarray(grey_page().astype(np.float32) / 65535), "TIFF"),  # F: a float TIFF in 0–1
    ],
    ids=["I;16-PNG", "I;16-TIFF", "I-TIFF", "F-TIFF"],
)
def test_high_bit_depth_pages_keep_their_greys(image, format):
    page = np.asarray(open_page(encoded(image, format)))
    assert page.shape == (300, 400, 3)
    assert abs(int(page[0, 0, 0]) - 128) <= 1 and abs(int(page[150, 200, 0]) - 32) <= 1
    assert (page == page[..., :1]).all()  # still grey


def test_transparent_and_cmyk_pages_read_as_paper():
    """Clear parts are white paper (`convert` alone turns them black); a CMYK JPEG's white stays white."""
    clear = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    clear.paste((0, 0, 0, 255), (10, 10, 20, 20))  # black ink on clear film
    palette = clear.convert("P")
    palette.info["transparency"] = palette.getpixel((0, 0))
    for image in (clear, clear.convert("LA"), palette):
        page = open_page(encoded(image, "PNG"))
        assert page.getpixel((0, 0)) == (255, 255, 255) and page.getpixel((15, 15)) == (0, 0, 0), image.mode
    assert open_page(encoded(Image.new("CMYK", (64, 64), (0, 0, 0, 0)), "JPEG")).getpixel((0, 0)) == (255, 255, 255)


def test_a_ycck_jpeg_reads_as_its_source_looks():
    """The prepress form of a CMYK JPEG (Adobe transform 2), which Pillow cannot write: a fixture ImageMagick wrote."""
    folder = Path(__file__).parent / "data" / "image_modes"
    data = (folder / "ycck_page.jpg").read_bytes()
    assert data[data.find(b"Adobe") + 11] == 2  # YCCK, not plain CMYK (transform 0)
    page = np.asarray(read_page(folder / "ycck_page.jpg", 10_000_000), dtype=float)
    source = np.asarray(Image.open(folder / "ycck_page_source.png").convert("RGB"), dtype=float)
    assert page.shape == source.shape and np.abs(page - source).mean() < 2
    assert np.abs(page[85, 120] - (200, 30, 30)).max() <= 3 and page[0, 0].min() >= 250  # red bar, white paper


@pytest.mark.parametrize(
    "size, allowed",
    [
        ((1, 1), False),
        ((27, 500), False),
        ((28, 28), True),
        ((28, 5600), True),
        ((28, 5629), False),
        ((5800, 29), True),
    ],
)
def test_one_size_rule_for_every_stage_matches_the_processor(size, allowed):
    """Every stage opens pages through open_page; what it lets through, PaddleOCR-VL's processor takes."""
    data = encoded(Image.new("RGB", size, "white"), "PNG")
    if allowed:
        page = read_page(data, 50176)
        smart_resize(page.height, page.width)  # raises on what the model cannot take
        return
    for read in (open_page, lambda data: read_page(data, 50176)):
        with pytest.raises(PageError, match="too small|too narrow"):
            read(data)
    if max(size) > MAX_ASPECT_RATIO * min(size):
        with pytest.raises(ValueError, match="aspect ratio"):
            smart_resize(size[1], size[0])


def test_downscale_keeps_sides_and_aspect_ratio_readable():
    for size in [(100, 20_000), (57, 11_400), (1000, 1414), (29, 5800)]:
        page = downscale(Image.new("RGB", size), 784)  # the least budget a stage accepts
        assert min(page.size) >= MIN_SIDE and max(page.size) <= MAX_ASPECT_RATIO * min(page.size), (size, page.size)
    assert downscale(Image.new("RGB", (12, 9)), 784).size == (12, 9)  # never enlarged


@pytest.mark.parametrize("side_pt", [14_400, 200_000])
def test_a_giant_pdf_page_is_refused_before_it_is_rendered(side_pt):
    start = time.perf_counter()
    with pytest.raises(PageError, match="oversized page"):
        open_page(one_page_pdf(side_pt))
    assert time.perf_counter() - start < 2


def test_pdfs_without_pages_or_with_a_broken_page_tree_say_so():
    with pytest.raises(PageError, match="PDF has no pages"):
        open_pdf(pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]))
    document = open_pdf(one_page_pdf(612, kids=b"[3 0 R 9 0 R]", count=2))
    assert pdf_page(document, 0).size == (1275, 1275)
    with pytest.raises(PageError, match="page 2 of 2"):
        pdf_page(document, 1)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"Dear customer", "not an image or PDF: starts with b'Dear customer'"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "unreadable image: damaged PNG"),
        (encoded(Image.new("RGB", (64, 64)), "GIF"), "content is GIF"),
    ],
    ids=["empty", "text", "damaged", "gif"],
)
def test_what_is_not_a_page_is_named(data, reason):
    with pytest.raises(PageError) as error:
        open_page(data)
    assert str(error.value).startswith(reason)


BAD_PAGES = {
    "giant.pdf": "oversized page", "bomb.png": "oversized page", "gif_named.png": "content is GIF",
    "empty.png": "empty file", "tiny.png": "too small", "sliver.png": "too narrow", "pipe.png": "not a file",
    "to_zero.png": "not a file", "no_pages.pdf": "no pages",
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="FIFOs and /dev/zero")
def test_compare_refuses_each_bad_page_in_one_line_before_loading_a_model(tiny_model_dir, tmp_path, capsys):
    from trainer import compare

    make_corpus(tmp_path)
    for name, reason in BAD_PAGES.items():
        start = time.perf_counter()
        with pytest.raises(SystemExit) as exit_info:
            compare.main(["--base", str(tiny_model_dir), "--finetuned", str(tiny_model_dir), "--image",
                          str(tmp_path / "crops" / name), "--output", str(tmp_path / "out" / "results.json")])  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and reason in err, (name, err)
        assert time.perf_counter() - start < 5, name


@pytest.mark.slow
def test_evaluate_scores_hostile_outputs_without_losing_the_others(synthetic_dir, tmp_path):
    """Outputs models do write, in a predictions file: each scores zero where it is wrong, the good one scores one."""
    from trainer import evaluate

    hostile = [
        '{"total": 1e400, "doc_type": "invoice"}', '{"total": NaN}', '{"doc_type": ["invoice"]}',
        "[" * 100_000 + "]" * 100_000, '{"line_items": {"a": 1}, "taxes": "none"}', "9" * 5000,
    ]  # fmt: skip
    test = read_labels(synthetic_dir)["test"][: len(hostile) + 1]
    lines = [{"id": test[0]["id"], "output": test[0]["ground_truth"], "table_output": test[0]["table_otsl"]}]
    lines += [
        {"id": row["id"], "output": output, "table_output": {"cells": 1}}
        for row, output in zip(test[1:], hostile, strict=True)
    ]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    evaluate.main(["--predictions", str(predictions), "--dataset", str(synthetic_dir), "--limit", str(len(test)),
                   "--output-dir", str(tmp_path / "out")])  # fmt: skip
    scored = {line["id"]: line for line in map(json.loads, (tmp_path / "out" / "predictions.jsonl").open())}
    assert scored[test[0]["id"]]["field_accuracy"] == 1 and scored[test[0]["id"]]["teds"] == 1
    assert all(scored[row["id"]]["field_accuracy"] < 1 and scored[row["id"]]["teds"] == 0 for row in test[1:])
    assert not scored[test[1]["id"]]["verdicts"]["total"] and not scored[test[2]["id"]]["verdicts"]["total"]
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["n"] == len(test)


# Issue 34: misuse that ended in a traceback now ends in one line and exit code 2.


@pytest.fixture(scope="module")
def broken_models(tiny_model_dir, synthetic_dir, tmp_path_factory):
    """The tiny model without its config.json, and without its tokenizer.json; an empty folder; a dataset with no
    test split."""
    import shutil

    folders = {}
    for name, missing in (("no_config", "config.json"), ("no_tokenizer", "tokenizer.json")):
        folders[name] = tmp_path_factory.mktemp(name)
        shutil.copytree(tiny_model_dir, folders[name], dirs_exist_ok=True)
        (folders[name] / missing).unlink()
    folders["empty"] = tmp_path_factory.mktemp("empty")
    folders["train_only"] = tmp_path_factory.mktemp("train_only")
    (folders["train_only"] / "data").mkdir()
    for file in (synthetic_dir / "data").glob("train-*.parquet"):
        shutil.copy(file, folders["train_only"] / "data")
    return folders


def recipe(tmp_path, **values) -> str:
    import yaml

    path = tmp_path / f"recipe-{'-'.join(values)}.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(Path("recipes/quickstart.yaml").read_text()) | values))
    return str(path)


MISUSE = {
    "quantize, no methods": (["trainer.quantize", "--model", "{tiny}", "--methods", ",", "--output-dir", "{out}"],
                             "--methods names no method"),
    "evaluate, no config.json": (["trainer.evaluate", "--model", "{no_config}", "--dataset", "{data}", "--output-dir",
                                  "{out}"], "has no config.json: not a model folder"),
    "quantize, no tokenizer.json": (["trainer.quantize", "--model", "{no_tokenizer}", "--methods", "int8",
                                     "--output-dir", "{out}"], "cannot load the processor"),
    "compare, empty fine-tuned": (["trainer.compare", "--base", "{tiny}", "--finetuned", "{empty}", "--dataset",
                                   "{data}", "--output", "{out}/r.json"], "has no config.json"),
    "compare, a dataset as fine-tuned": (["trainer.compare", "--base", "{tiny}", "--finetuned", "{data}", "--dataset",
                                          "{data}", "--output", "{out}/r.json"], "has no config.json"),
    "evaluate, no test split": (["trainer.evaluate", "--model", "{tiny}", "--dataset", "{train_only}", "--output-dir",
                                 "{out}"], "has no 'test' split (it has train)"),
    "sft, a list of pixels": (["trainer.sft", "--config", "{pixels}", "--model_name_or_path", "{tiny}",
                               "--dataset_name", "{data}", "--output_dir", "{out}"], "max_pixels must be a whole number"),
    "sft, a negative learning rate": (["trainer.sft", "--config", "{rate}", "--model_name_or_path", "{tiny}",
                                       "--dataset_name", "{data}", "--output_dir", "{out}"], "learning_rate must be a positive"),
    "sft, a token budget for padded batches": (["trainer.sft", "--config", "{tiny_recipe}", "--tokens_per_batch", "4096"],
                                               "tokens_per_batch fills packed batches: it needs --padding_free true"),
    "serve, no copies of the model": (["trainer.serve", "--model", "{tiny}", "--data-parallel-size", "0"],
                                      "--data-parallel-size must be positive"),
    "sft, a token budget of none": (["trainer.sft", "--config", "{tiny_recipe}", "--padding_free", "true",
                                     "--tokens_per_batch", "0"], "tokens_per_batch must be a positive whole number"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("case", MISUSE)
def test_misuse_ends_in_one_line_and_exit_2(case, tiny_model_dir, synthetic_dir, broken_models, tmp_path):
    argv, message = MISUSE[case]
    places = {"tiny": tiny_model_dir, "data": synthetic_dir, "out": tmp_path / "out", **broken_models,
              "pixels": recipe(tmp_path, max_pixels=[1, 2]), "rate": recipe(tmp_path, learning_rate=-3e-3),
              "tiny_recipe": recipe(tmp_path, model_name_or_path=str(tiny_model_dir), dataset_name=str(synthetic_dir),
                                    output_dir=str(tmp_path / "out"))}  # fmt: skip
    command = [sys.executable, "-m", *(part.format(**places) for part in argv)]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert message in result.stderr.strip().splitlines()[-1]


def test_a_truth_nested_thousands_deep_is_refused_in_one_line():
    from trainer.space.reader import parse_truth

    for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        with pytest.raises(InputError, match="nested too deep"):
            parse_truth(deep)


COMMANDS = ["trainer.synth", "trainer.sheets", "trainer.data.build", "trainer.tiny", "trainer.sft", "trainer.evaluate",
            "trainer.compare", "trainer.mine", "trainer.tally", "trainer.quantize", "trainer.space", "trainer.serve",
            "trainer.grpo"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("module", COMMANDS)
def test_every_command_answers_a_misspelt_flag_in_one_line(module):
    command = [sys.executable, "-m", module, *(["deploy"] if module == "trainer.space" else [])]
    command += {"trainer.sft": ["--config", "recipes/quickstart.yaml"],
                "trainer.grpo": ["--config", "recipes/quickstart_grpo.yaml"]}.get(module, [])  # fmt: skip
    result = subprocess.run([*command, "--no-such-flag", "1"], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr and lines, result.stderr[-2000:]
    assert lines[-1].startswith(("error:", "usage:")) or ": error: " in lines[-1], lines[-1]


@pytest.mark.slow
def test_a_missing_recipe_is_named_in_one_line():
    result = subprocess.run([sys.executable, "-m", "trainer.sft", "--config", "recipes/nope.yaml"], capture_output=True,
                            text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].endswith("'recipes/nope.yaml'")
