"""Training examples: each epoch follows the task mix, every document teaches every task over a run, crops show
exactly their region, and a dataset without the needed columns is refused before training starts."""

import json
import math
from collections import Counter

import pytest
from datasets import Dataset, Image

from trainer.data.document_dataset import load_document_dataset
from trainer.data.pages import open_page
from trainer.data.prompts import NEEDED, REGIONS, Epoch, draw_task, parse_task_mix, to_prompt_completion
from trainer.data.tasks import PROMPTS, extract_prompt, fields_of, is_complete, select
from trainer.errors import InputError
from trainer.schema.document import canonical_json, get_path, scalar_paths

MIX = parse_task_mix("extract=0.7,table=0.15,ocr=0.15")


def test_every_document_is_an_extract_example_within_four_epochs_and_each_epoch_follows_the_mix():
    ids = [f"synth-0-{i:07d}" for i in range(50)]
    tasks = {epoch: [draw_task(0, doc_id, epoch, MIX, 0.0)[0] for doc_id in ids] for epoch in range(4)}
    for k, doc_id in enumerate(ids):
        assert any(tasks[epoch][k] == "extract" for epoch in range(4)), doc_id
    for epoch, drawn in tasks.items():
        counts = Counter(drawn)
        for task, weight in MIX.items():
            share = weight / sum(MIX.values())
            error = 3 * math.sqrt(share * (1 - share) / len(ids))  # three standard errors of a share of 50
            assert abs(counts[task] / len(ids) - share) <= error, (epoch, task, counts)
    assert len({tuple(drawn) for drawn in tasks.values()}) == 4, "each epoch draws anew"


def test_over_a_long_run_every_document_teaches_every_task_in_proportion():
    for doc_id in (f"doc-{i}" for i in range(200)):
        counts = Counter(draw_task(3, doc_id, epoch, MIX, 0.0)[0] for epoch in range(20))
        assert {task: counts[task] / 20 for task in MIX} == pytest.approx(MIX, abs=0.1), doc_id  # 2 epochs of 20


def test_draws_depend_on_seed_id_and_epoch_alone():
    assert draw_task(1, "a", 2, MIX, 0.5) == draw_task(1, "a", 2, MIX, 0.5)
    crops = [draw_task(0, f"doc-{i}", epoch, {"extract": 1}, 0.3)[1] for i in range(200) for epoch in range(5)]
    assert 0.25 < sum(region is not None for region in crops) / len(crops) < 0.35
    assert {region for region in crops if region} == set(REGIONS)
    shown_whole = [
        any(draw_task(0, f"doc-{i}", epoch, {"extract": 1}, 0.3)[1] is None for epoch in range(3)) for i in range(200)
    ]
    assert all(shown_whole), "a cropped document is shown whole in another epoch"


def test_the_training_transform_follows_the_trainers_epoch(synthetic):
    rows = synthetic["train"].select(range(24))
    epoch = Epoch()
    examples = to_prompt_completion(rows, MIX, 50176, seed=0, epoch=epoch)

    def prompts():
        return [example["prompt"][0]["content"][-1]["text"] for example in examples]

    first = prompts()
    epoch.on_epoch_begin(None, type("State", (), {"epoch": 1.0})(), None)
    assert epoch.value == 1
    second = prompts()
    expected = [draw_task(0, doc_id, 1, MIX, 0.0)[0] for doc_id in rows["id"]]
    assert first != second and [p.split(" ")[0].rstrip(":") for p in second] == [
        {"extract": "Information", "table": "Table", "ocr": "OCR"}[task] for task in expected
    ]


@pytest.mark.parametrize("region", list(REGIONS))
def test_a_crop_shows_its_region_and_its_target_holds_exactly_the_regions_keys(synthetic_dir, region):
    rows = load_document_dataset(str(synthetic_dir), "train", {"fields"}).cast_column("image", Image(decode=False))
    index = next(i for i, truth in enumerate(rows["ground_truth"]) if json.loads(truth)["line_items"])
    row = rows[index]
    doc_id = row["id"]
    epoch = next(e for e in range(200) if draw_task(0, doc_id, e, {"extract": 1}, 0.5)[1] == region)
    epochs = Epoch()
    epochs.value = epoch
    dataset = to_prompt_completion(rows.select([index]), {"extract": 1}, 10**8, crop_share=0.5, epoch=epochs)
    example = dataset[0]
    part = json.loads(example["completion"][0]["content"][0]["text"])
    doc = json.loads(row["ground_truth"])
    keys = REGIONS[region] or [k for k in doc if not any(k in (v or ()) for v in REGIONS.values())]
    assert list(part) == [k for k in doc if k in keys] and all(part[k] == doc[k] for k in part)
    assert example["prompt"][0]["content"][-1]["text"] == extract_prompt(fields_of(part)), "the prompt names them"
    # The crop is the region: every box of the region's fields lies inside it, no box of another region does.
    boxes = {f["name"]: f["bbox"] for f in row["fields"]}
    inside = {p for p in boxes if p.split(".")[0] in keys}
    assert inside == {p for p in scalar_paths(part) if get_path(part, p) is not None}  # a null is not printed
    x0, y0 = (min(boxes[p][i] for p in inside) - 12 for i in (0, 1))
    x1, y1 = (max(boxes[p][i] for p in inside) + 12 for i in (2, 3))
    page, crop = open_page(row["image"]), example["images"][0]
    expected = page.crop((max(0, x0), max(0, y0), min(page.width, x1), min(page.height, y1)))
    assert crop.size == expected.size and crop.tobytes() == expected.tobytes()
    assert crop.width * crop.height < page.width * page.height


def test_a_dataset_without_field_boxes_is_refused_before_training(tmp_path):
    folder = tmp_path / "nofields" / "data"
    folder.mkdir(parents=True)
    columns = {"image": [None], "id": ["a"], "ground_truth": ["{}"], "table_otsl": [""], "text": [""]}
    Dataset.from_dict(columns).to_parquet(folder / "train-00000-of-00001.parquet")
    with pytest.raises(InputError, match="lacks the columns \\['fields'\\]"):
        load_document_dataset(str(tmp_path / "nofields"), "train", NEEDED)


def partial(doc: dict) -> dict:
    """What a SROIE-style label keeps of a document: its type, who issued it, its date and its total."""
    party = "vendor" if doc["doc_type"] == "invoice" else "merchant"
    date = "issue_date" if doc["doc_type"] == "invoice" else "date"
    return {"doc_type": doc["doc_type"], party: {"name": doc[party]["name"]}, date: doc[date], "total": doc["total"]}


def test_a_partial_document_is_asked_for_exactly_what_it_labels(synthetic):
    rows = synthetic["train"].select(range(12))
    truths = [canonical_json(partial(json.loads(truth))) for truth in rows["ground_truth"]]
    rows = rows.remove_columns("ground_truth").add_column("ground_truth", truths)
    for epoch in range(3):  # whatever the epoch draws, a partial document names its fields
        epochs = Epoch()
        epochs.value = epoch
        for example, truth in zip(
            to_prompt_completion(rows, {"extract": 1}, 50176, epoch=epochs, subset_share=0.5), truths, strict=True
        ):
            doc = json.loads(truth)
            asked = "issue_date, vendor.name" if doc["doc_type"] == "invoice" else "merchant.name, date"
            prompt = example["prompt"][0]["content"][-1]["text"]
            assert prompt == f"{PROMPTS['extract']} doc_type, {asked}, total"  # in the schema's order
            assert example["completion"][0]["content"][0]["text"] == truth  # exactly those, in canonical order


def test_complete_documents_get_the_plain_prompt_or_a_drawn_subset_as_the_share_says(synthetic):
    rows = synthetic["train"].select(range(60))
    assert all(is_complete(json.loads(truth)) for truth in rows["ground_truth"])
    plain = to_prompt_completion(rows, {"extract": 1}, 50176, subset_share=0.0)
    assert {example["prompt"][0]["content"][-1]["text"] for example in plain} == {PROMPTS["extract"]}
    drawn = to_prompt_completion(rows, {"extract": 1}, 50176, subset_share=0.5)
    asked = {i: e["prompt"][0]["content"][-1]["text"] for i, e in enumerate(drawn)}
    subsets = {i: text for i, text in asked.items() if text != PROMPTS["extract"]}
    assert abs(len(subsets) / len(asked) - 0.5) <= 3 * math.sqrt(0.25 / len(asked))
    for i, text in subsets.items():
        fields = text.removeprefix(PROMPTS["extract"] + " ").split(", ")
        doc = json.loads(rows[i]["ground_truth"])
        assert fields == [name for name in fields_of(doc) if name in fields], "asked in canonical order"
        assert json.loads(drawn[i]["completion"][0]["content"][0]["text"]) == select(doc, fields)
        assert list(json.loads(drawn[i]["completion"][0]["content"][0]["text"])) == list(select(doc, fields))


def test_a_multi_page_document_shows_every_page_in_one_prompt(synthetic, tiny_model_dir):
    from transformers import AutoProcessor

    rows = synthetic["train"].select(range(2)).cast_column("image", Image(decode=False)).to_list()
    rows[0]["more_pages"] = [rows[1]["image"]]
    rows[1]["more_pages"] = []
    dataset = Dataset.from_list(rows).cast_column("image", Image(decode=False))
    two, one = to_prompt_completion(dataset, {"extract": 1}, 50176)
    assert len(two["images"]) == 2 and [part["type"] for part in two["prompt"][0]["content"]] == [
        "image",
        "image",
        "text",
    ]
    assert len(one["images"]) == 1
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    text = processor.apply_chat_template(two["prompt"] + two["completion"])
    inputs = processor(images=two["images"], text=[text], return_tensors="pt")
    merged = processor.image_processor.merge_size**2
    assert inputs["image_grid_thw"].shape[0] == 2
    assert (inputs["input_ids"] == processor.tokenizer.image_token_id).sum() == inputs["image_grid_thw"].prod(
        -1
    ).sum() // merged
