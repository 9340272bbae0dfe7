"""trainer.data.build keeps every valid sample of a user's folder and reports every bad one with its reason."""

import copy
import json
from decimal import Decimal

import pytest
from datasets import load_dataset
from PIL import Image

from trainer.data.build import main
from trainer.data.dataset import parse_task_mix, to_prompt_completion
from trainer.data.documents import read_labels


@pytest.fixture
def user_folder(synthetic, tmp_path):
    """Good samples (PNG, JPEG, a two-page PDF) next to bad ones, as a user might hand them over."""
    crops, notes = tmp_path / "crops", tmp_path / "annotations"
    crops.mkdir(), notes.mkdir()
    rows = [synthetic["train"][i] for i in range(6)]
    docs = [json.loads(row["ground_truth"]) for row in rows]

    def add(name: str, image: Image.Image, doc, suffix=".png"):
        image.convert("RGB").save(crops / f"{name}{suffix}")
        (notes / f"{name}.json").write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")

    add("good_png", rows[0]["image"], docs[0])
    add("good_jpeg", rows[1]["image"], docs[1], ".jpg")
    rows[2]["image"].convert("RGB").save(
        crops / "statement.pdf", save_all=True, append_images=[rows[3]["image"].convert("RGB")]
    )
    (notes / "statement_p1.json").write_text(json.dumps(docs[2]))
    (notes / "statement_p2.json").write_text(json.dumps(docs[3]))
    (crops / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (notes / "corrupt.json").write_text(json.dumps(docs[0]))
    add("bad_json", rows[4]["image"], '{"doc_type": "invoice", ')
    missing_key = copy.deepcopy(docs[4])
    del missing_key["currency"]
    add("bad_schema", rows[4]["image"], missing_key)
    wrong_total = copy.deepcopy(docs[5])
    wrong_total["total"] = str(Decimal(wrong_total["total"]) + 1)  # same decimals, off by one unit
    add("bad_total", rows[5]["image"], wrong_total)
    rows[0]["image"].convert("RGB").save(crops / "unlabelled.png")
    Image.new("RGB", (4000, 4000), "white").save(crops / "huge.png")
    (notes / "huge.json").write_text(json.dumps(docs[0]))
    (crops / "notes.txt").write_text("not an image")
    return crops, notes, docs


def build_into(tmp_path, crops, notes, *extra: str):
    """Run the real CLI into a fresh folder with a unique name (datasets caches local folders by name)."""
    output = tmp_path / tmp_path.name
    main(["--crops-dir", str(crops), "--annotations-dir", str(notes), "--output-dir", str(output), *extra])
    return output


def test_keeps_every_good_sample_and_lists_every_bad_one(user_folder, tmp_path, capsys):
    crops, notes, docs = user_folder
    output = build_into(tmp_path, crops, notes, "--max-pixels", "10000000")
    dataset = load_dataset(str(output))
    kept = {row["id"]: row for split in dataset.values() for row in split}
    assert set(kept) == {"good_png", "good_jpeg", "statement_p1", "statement_p2"}
    assert json.loads(kept["statement_p2"]["ground_truth"]) == docs[3] and kept["good_png"]["image"].size[0] > 0
    rejects = {(r["file"]): r["reason"] for r in map(json.loads, (output / "rejects.jsonl").read_text().splitlines())}
    assert rejects.keys() == {
        "corrupt.png",
        "bad_json.png",
        "bad_schema.png",
        "bad_total.png",
        "unlabelled.png",
        "huge.png",
        "notes.txt",
    }
    assert rejects["corrupt.png"].startswith("unreadable image")
    assert rejects["bad_json.png"].startswith("invalid JSON")
    assert "currency" in rejects["bad_schema.png"] and rejects["bad_total.png"].startswith("total:")
    assert rejects["unlabelled.png"].startswith("no annotation") and rejects["huge.png"].startswith("oversized")
    assert "Rejected 7" in capsys.readouterr().err
    assert "rejects.jsonl" in (output / "README.md").read_text()


def test_invalid_arithmetic_can_be_allowed(user_folder, tmp_path):
    crops, notes, _ = user_folder
    output = build_into(tmp_path, crops, notes, "--allow-invalid-arithmetic")
    ids = {row["id"] for split in load_dataset(str(output)).values() for row in split}
    assert "bad_total" in ids and "bad_schema" not in ids, (output / "rejects.jsonl").read_text()


def test_built_documents_train_on_what_their_labels_say(user_folder, tmp_path):
    crops, notes, _ = user_folder
    split = load_dataset(str(build_into(tmp_path, crops, notes)))["train"]
    examples = to_prompt_completion(split, parse_task_mix("ocr=1"), 50176)
    assert all(e["prompt"][0]["content"][1]["text"].startswith("Information Extraction") for e in examples)


@pytest.mark.parametrize("problem", ["missing_dir", "non_empty_output"])
def test_bad_folders_exit_2(problem, user_folder, tmp_path, capsys):
    crops, notes, _ = user_folder
    output = tmp_path / tmp_path.name  # a unique name: datasets caches local folders by name
    if problem == "missing_dir":
        crops = tmp_path / "nowhere"
    else:
        output.mkdir()
        (output / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        main(["--crops-dir", str(crops), "--annotations-dir", str(notes), "--output-dir", str(output)])
    assert exit_info.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


def test_written_in_chunks_with_every_row_kept(user_folder, tmp_path):
    """Memory holds one chunk of pages; the dataset is the same whichever the chunk size."""
    crops, notes, _ = user_folder
    whole = build_into(tmp_path, crops, notes, "--max-pixels", "10000000")
    (tmp_path / "chunked").mkdir()
    chunked = build_into(tmp_path / "chunked", crops, notes, "--max-pixels", "10000000", "--chunk-size", "2")
    assert len(list((chunked / "data").glob("*.parquet"))) > len(list((whole / "data").glob("*.parquet")))
    chunks = -(-len(list(crops.iterdir())) // 2)  # two files a chunk
    assert all(f.name.endswith(f"-of-{chunks:05d}.parquet") for f in (chunked / "data").glob("*.parquet"))

    def rows(folder):
        return {split: sorted((r["id"], r["ground_truth"]) for r in split_rows) for split, split_rows in read_labels(folder).items()}  # fmt: skip

    assert rows(chunked) == rows(whole) and sum(map(len, rows(whole).values())) == 4
