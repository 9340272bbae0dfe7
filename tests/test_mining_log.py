"""The mined log: `python -m trainer.mine` on hand-written readings of the session's synthetic test split."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from trainer.data.document_dataset import load_document_dataset
from trainer.mine import main as mine_main
from trainer.mining.log import shard_paths


def truths(synthetic) -> dict[str, str]:
    return dict(zip(synthetic["test"]["id"], synthetic["test"]["ground_truth"], strict=True))


def write_readings(folder, readings: dict[str, str], model: str, adapter: str | None = None):
    """predictions.jsonl and the settings.json trainer.evaluate writes beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": doc_id, "output": output}) for doc_id, output in readings.items()]
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    settings = {"model": model, "adapter": adapter, "fields": "labelled", "split": "test"}
    (folder / "settings.json").write_text(json.dumps(settings))
    return folder / "predictions.jsonl"


def wrong_total(ground_truth: str) -> str:
    doc = json.loads(ground_truth)
    doc["total"] = "0.01"
    return json.dumps(doc, ensure_ascii=False)


@pytest.fixture
def readings(synthetic, tiny_model_dir, tmp_path):
    """Fine-tuned: one in three documents without JSON, one in three with a wrong total, the rest right.
    Base: every document right but the first two."""
    ids = list(truths(synthetic))
    tuned, base = {}, {}
    for n, (doc_id, truth) in enumerate(truths(synthetic).items()):
        tuned[doc_id] = "no idea" if n % 3 == 0 else wrong_total(truth) if n % 3 == 1 else truth
        base[doc_id] = "" if n < 2 else truth
    return {
        "ids": ids,
        "tuned": write_readings(tmp_path / "tuned", tuned, str(tiny_model_dir)),
        "base": write_readings(tmp_path / "base", base, str(tiny_model_dir)),
    }


def mine(dataset, predictions, output_dir, *extra):
    mine_main(["--predictions", str(predictions), "--dataset", str(dataset), "--output-dir", str(output_dir), *extra])


def test_the_log_is_a_document_dataset_with_configs_by_use(synthetic_dir, synthetic, readings, tmp_path):
    log = tmp_path / f"mined-{tmp_path.name}"
    mine(synthetic_dir, readings["tuned"], log, "--baseline", str(readings["base"]))
    n = len(readings["ids"])
    wrong = [doc_id for i, doc_id in enumerate(readings["ids"]) if i % 3 != 2]
    records = load_dataset(str(log), "all", split="train")
    assert sorted(records["id"]) == sorted(wrong)
    by_id = {row["id"]: row for row in records}
    first, second = by_id[readings["ids"][0]], by_id[readings["ids"][1]]
    assert first["error_kinds"] == ["invalid_json", "regression"] or first["error_kinds"] == ["invalid_json"]
    assert {"kind": "wrong_numeric", "path": "total"} in second["errors"]
    assert first["image"].size[0] > 0 and first["ground_truth"] == truths(synthetic)[first["id"]]
    assert first["model_revision"] and len(first["model_revision"]) == 12
    assert first["source_revision"] and first["label_valid"] is True
    assert first["prompt"].startswith("Information Extraction (JSON):")
    # the base read all but the first two right: every later wrong reading regressed
    lost = load_dataset(str(log), "regression", split="train")
    assert sorted(lost["id"]) == sorted(doc_id for doc_id in wrong if readings["ids"].index(doc_id) >= 2)
    card = (log / "README.md").read_text()
    assert "config_name: all" in card and "config_name: regression" in card
    assert f"| `invalid_json` | {sum(1 for i in range(n) if i % 3 == 0)} |" in card
    report = (log / "report.md").read_text()
    assert "| `invalid_json` | " in report and "![Errors by field](errors_by_field.png)" in report
    from PIL import Image

    for picture in ("errors_by_field.png", "errors_by_group.png", "worst_documents.jpg"):
        assert Image.open(log / picture).size[0] > 300
    # trainer.sft reads the log as it reads any document dataset
    assert len(load_document_dataset(str(log), "train", {"id", "image", "ground_truth"})) == len(wrong)


def test_appending_never_rewrites_and_skips_what_is_logged(synthetic_dir, readings, tmp_path, capsys):
    log = tmp_path / f"mined-{tmp_path.name}"
    mine(synthetic_dir, readings["tuned"], log)
    files = {path: path.read_bytes() for path in shard_paths(log, "all")}
    mine(synthetic_dir, readings["tuned"], log)  # the same readings again: nothing new
    assert "0 logged" in capsys.readouterr().out.splitlines()[-1]
    assert {path: path.read_bytes() for path in shard_paths(log, "all")} == files
    # another model's readings of the same documents are new records, in a new file beside the old
    other = tmp_path / "other" / "predictions.jsonl"
    other.parent.mkdir()
    other.write_text(readings["tuned"].read_text())
    mine(synthetic_dir, other, log, "--model", str(readings["tuned"].parent))  # no weights there: another revision
    assert len(shard_paths(log, "all")) == 2
    assert all(path.read_bytes() == content for path, content in files.items())
    rows = [r for p in shard_paths(log, "all") for r in pq.read_table(p, columns=["id", "model"]).to_pylist()]
    assert len(rows) == 2 * len(files and pq.read_table(next(iter(files)), columns=["id"]))


def test_a_run_killed_before_its_data_file_is_not_in_the_log(synthetic_dir, readings, tmp_path):
    log = tmp_path / f"mined-{tmp_path.name}"
    mine(synthetic_dir, readings["tuned"], log, "--baseline", str(readings["base"]))
    (regression,) = shard_paths(log, "regression")
    (data,) = shard_paths(log, "all")
    before = load_dataset(str(log), "all", split="train")
    # a kill after the regression file was renamed into place and before the data file was: an orphan
    orphan = regression.with_name("train-20990101T000000-deadbeef.parquet")
    orphan.write_bytes(regression.read_bytes())
    data.with_name(data.name + ".tmp").write_bytes(b"half a parquet")  # and a file cut short, never renamed
    assert len(load_dataset(str(log), "all", split="train")) == len(before)  # the config ignores the .tmp file
    mine(synthetic_dir, readings["tuned"], log, "--baseline", str(readings["base"]))
    assert not orphan.exists() and shard_paths(log, "regression") == [regression]


def test_a_run_killed_before_its_card_leaves_the_log_as_it_was_and_the_next_run_takes_it_in(
    synthetic_dir, readings, tmp_path
):
    log = tmp_path / f"mined-{tmp_path.name}"
    mine(synthetic_dir, readings["tuned"], log)
    before = len(load_dataset(str(log), "all", split="train"))
    card = (log / "README.md").read_bytes()
    other = tmp_path / "other" / "predictions.jsonl"
    other.parent.mkdir()
    other.write_text(readings["tuned"].read_text())
    mine(synthetic_dir, other, log, "--model", str(readings["tuned"].parent))  # a second run's records...
    (log / "README.md").write_bytes(card)  # ...killed before its card was written
    stray = log / "data" / "train-20990101T000000-deadbeef.parquet.tmp"
    stray.write_bytes(b"half a parquet")
    assert len(load_dataset(str(log), "all", split="train")) == before  # the log as it was, not a mix
    forced = load_dataset(str(log), "all", split="train", download_mode="force_redownload")
    assert len(forced) == before  # and the sizes in the card still match its files
    mine(synthetic_dir, readings["tuned"], log)  # the next run (nothing new to add) writes the card again
    assert not stray.exists()
    assert len(load_dataset(str(log), "all", split="train", download_mode="force_redownload")) == 2 * before


def test_readings_of_documents_not_in_the_dataset_are_counted(synthetic_dir, readings, tmp_path, caplog):
    with_strangers = tmp_path / "strangers" / "predictions.jsonl"
    with_strangers.parent.mkdir()
    extra = [json.dumps({"id": f"nowhere-{n}", "output": "{}"}) for n in range(4)]
    with_strangers.write_text(readings["tuned"].read_text() + "\n".join(extra) + "\n")
    (with_strangers.parent / "settings.json").write_text((readings["tuned"].parent / "settings.json").read_text())
    with caplog.at_level("WARNING", logger="trainer.mine"):
        mine(synthetic_dir, with_strangers, tmp_path / "log")
    assert "4 readings are of documents not in" in caplog.text and "nowhere-0, nowhere-1, nowhere-2 ..." in caplog.text


@pytest.mark.slow
def test_pushing_offline_says_so_in_one_line_and_keeps_the_log(synthetic_dir, readings, tmp_path):
    log = tmp_path / f"mined-{tmp_path.name}"
    argv = ["--predictions", str(readings["tuned"]), "--dataset", str(synthetic_dir), "--output-dir", str(log)]
    run = subprocess.run(
        [sys.executable, "-m", "trainer.mine", *argv, "--push-to-hub", "someone/finscribe-mined"],
        capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert "could not push" in error and "intact" in error and "Traceback" not in run.stderr
    assert len(load_dataset(str(log), "all", split="train")) > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--predictions", "nowhere.jsonl", "--dataset", "DATA"], "is not a file"),
        (["--dataset", "DATA"], "--predictions"),
    ],
)
@pytest.mark.slow
def test_misuse_is_one_line_and_exit_2(synthetic_dir, tmp_path, argv, message):
    argv = [str(synthetic_dir) if a == "DATA" else a for a in argv]
    run = subprocess.run(
        [sys.executable, "-m", "trainer.mine", *argv, "--output-dir", str(tmp_path / "mined")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr


def test_readings_without_their_model_named_are_refused(synthetic_dir, synthetic, tmp_path):
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": synthetic["test"]["id"][0], "output": "{}"}) + "\n")
    with pytest.raises(SystemExit) as stop:
        mine(synthetic_dir, predictions, tmp_path / "mined")
    assert stop.value.code == 2


def test_replay_draws_its_share_from_the_log_and_severity_in_proportion(synthetic_dir, readings, tmp_path):
    from collections import Counter

    from trainer.data.prompts import NEEDED
    from trainer.mining.replay import with_replay

    log_dir = tmp_path / f"mined-{tmp_path.name}"
    mine(synthetic_dir, readings["tuned"], log_dir)
    from datasets import concatenate_datasets

    train = load_document_dataset(str(synthetic_dir), "train", NEEDED)
    documents = concatenate_datasets([train] * (2000 // len(train) + 1))  # enough for 2,000 draws and more
    log = load_document_dataset(str(log_dir), "train", NEEDED)
    mined_ids = set(log["id"])
    assert not mined_ids & set(documents["id"])  # mined from the test split: told apart by id
    for share in (0.1, 0.3, 0.5):
        mixed = with_replay(documents, log, share, "uniform", seed=0)
        assert len(mixed) >= 2000
        drawn = mixed.select(range(2000))
        got = sum(doc_id in mined_ids for doc_id in drawn["id"]) / len(drawn)
        assert abs(got - share) <= 0.03, (share, got, len(drawn))
    assert (
        with_replay(documents, log, 0.3, "uniform", seed=1)["id"]
        == with_replay(documents, log, 0.3, "uniform", seed=1)["id"]
    )
    # a record whose label fails the validator is never drawn
    broken = set(log["id"][:3])
    flagged = log.map(lambda row: {"label_valid": row["id"] not in broken})
    assert not broken & set(with_replay(documents, flagged, 0.5, "uniform", seed=0)["id"])
    # severity: no JSON (severity 6) is drawn about 6 / 2 = 3 times as often as one wrong total (severity 2, or 4
    # with its arithmetic)
    severity = dict(zip(log["id"], log["severity"], strict=True))
    mixed = with_replay(documents, log, 0.5, "severity", seed=0)
    counts = Counter(doc_id for doc_id in mixed["id"] if doc_id in mined_ids)
    by_weight = {}
    for doc_id, weight in severity.items():
        by_weight.setdefault(weight, []).append(counts[doc_id])
    means = {weight: sum(c) / len(c) for weight, c in by_weight.items()}
    heavy, light = max(means), min(means)
    assert heavy > light
    assert means[heavy] / means[light] == pytest.approx(heavy / light, rel=0.35)


@pytest.mark.slow
def test_focus_skews_generation_toward_the_logged_errors(synthetic_dir, synthetic, tiny_model_dir, tmp_path):
    """A log of long Japanese documents only: the focused set has measurably more of both than the usual one."""
    from trainer.synth.__main__ import main as synth_main

    train = synthetic["train"]
    chosen = [
        doc_id
        for doc_id, truth, locale in zip(train["id"], train["ground_truth"], train["locale"], strict=True)
        if locale == "ja_JP" and len(json.loads(truth)["line_items"] or []) >= 5
    ]
    tuned = dict.fromkeys(chosen, "no idea")
    log = tmp_path / f"mined-{tmp_path.name}"
    mine(synthetic_dir, write_readings(tmp_path / "tuned", tuned, str(tiny_model_dir)), log, "--split", "train")
    assert len(load_dataset(str(log), "all", split="train")) == len(chosen) >= 5

    def generated(*extra):
        folder = tmp_path / f"synth{len(extra)}"
        # no long slips or orders in either: the focus draws item counts, the long ones would blur the comparison
        synth_main(["--num-samples", "160", "--seed", "5", "--num-proc", "2", "--long-receipts", "0",
                    "--long-invoices", "0", "--output-dir", str(folder), *extra])  # fmt: skip
        rows = [row for split in ("train", "validation", "test") for row in _rows(folder, split)]
        japanese = sum(row["locale"] == "ja_JP" for row in rows) / len(rows)
        items = sum(len(json.loads(row["ground_truth"])["line_items"] or []) for row in rows) / len(rows)
        return japanese, items, folder

    usual_japanese, usual_items, _ = generated()
    focused_japanese, focused_items, folder = generated("--focus", str(log))
    assert usual_japanese < 0.3 and focused_japanese > 0.6
    assert focused_items > usual_items + 1
    card = (folder / "README.md").read_text()
    assert f"--focus {log}" in card and "focus" in card


def _rows(folder, split):
    return [
        row
        for path in sorted(folder.glob(f"data/{split}-*.parquet"))
        for row in pq.read_table(path, columns=["locale", "ground_truth"]).to_pylist()
    ]


def test_unlabelled_pages_are_read_by_both_models_ranked_and_exported_for_label_studio(
    synthetic, tiny_model_dir, tmp_path, capsys
):
    import base64
    import io

    from PIL import Image

    scans = tmp_path / "scans"
    (scans / "march").mkdir(parents=True)
    for n, row in enumerate(synthetic["test"].select(range(3))):
        buffer = io.BytesIO()
        row["image"].save(buffer, format="JPEG")
        (scans / ("march" if n else "") / f"scan-{n}.jpg").write_bytes(buffer.getvalue())
    first, second = (row["image"].convert("RGB") for row in synthetic["test"].select(range(3, 5)))
    first.save(scans / "statement.pdf", save_all=True, append_images=[second])  # two pages, one document
    (scans / "notes.txt").write_text("not a page")
    (scans / "broken.png").write_bytes(b"\x89PNG but no more")
    log = tmp_path / f"mined-{tmp_path.name}"
    argv = ["--unlabelled", str(scans), "--model", str(tiny_model_dir), "--baseline-model", str(tiny_model_dir),
            "--max-pixels", "3136", "--max-new-tokens", "24", "--output-dir", str(log)]  # fmt: skip
    mine_main(argv)
    # the random stand-in writes no JSON: every page gives itself away, and nothing enters the replayed log
    todo = load_dataset(str(log), "needs_label", split="train")
    assert sorted(todo["id"]) == ["march/scan-1.jpg", "march/scan-2.jpg", "scan-0.jpg", "statement.pdf"]
    assert [
        len(pages) for doc_id, pages in zip(todo["id"], todo["more_pages"], strict=True) if doc_id.endswith(".pdf")
    ] == [1]
    assert all("invalid_json" in kinds for kinds in todo["error_kinds"]) and not any(todo["label_valid"])
    assert shard_paths(log, "all") == [] and "config_name: needs_label" in (log / "README.md").read_text()
    tasks = json.loads((log / "needs_label" / "label_studio.json").read_text())
    assert [task["data"]["rank_score"] for task in tasks] == sorted(
        (t["data"]["rank_score"] for t in tasks), reverse=True
    )
    assert {p["model_version"] for p in tasks[0]["predictions"]} == {"fine-tuned", "base"}
    header, data = tasks[0]["data"]["image"].split(",", 1)
    assert header == "data:image/jpeg;base64,"[:-1] and Image.open(io.BytesIO(base64.b64decode(data))).size[0] > 0
    assert '<TextArea name="document_json"' in (log / "needs_label" / "label_studio_config.xml").read_text()
    mine_main(argv)  # the same pages, the same models: nothing new
    assert "0 logged" in [line for line in capsys.readouterr().out.splitlines() if "logged" in line][-1]


def test_tally_counts_each_error_kind_before_and_after(synthetic_dir, synthetic, readings, tmp_path, capsys):
    from trainer.tally import main as tally_main

    after = write_readings(tmp_path / "after", truths(synthetic), "tuned-again")  # every document read right
    output = tmp_path / "flywheel" / "before_after.md"
    tally_main(["--dataset", str(synthetic_dir), "--before", str(readings["tuned"]), "--after", str(after),
                "--output", str(output)])  # fmt: skip
    counts = json.loads(output.with_suffix(".json").read_text())
    documents = len(readings["ids"])
    wrong_totals = sum(n % 3 == 1 for n in range(documents))
    assert counts["after"]["documents"] == counts["before"]["documents"] == documents
    assert counts["after"]["without errors"] == documents
    assert counts["before"]["without errors"] == documents - sum(n % 3 != 2 for n in range(documents))
    assert counts["before"]["invalid_json"] == sum(n % 3 == 0 for n in range(documents))
    assert counts["before"]["wrong_numeric"] == wrong_totals and counts["after"]["wrong_numeric"] == 0
    assert f"| wrong_numeric | {wrong_totals} | 0 | {-wrong_totals:+d} |" in output.read_text()
    assert "Wrote" in capsys.readouterr().out
