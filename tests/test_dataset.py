"""Training examples: each epoch follows the task mix, every document teaches every task over a run, crops show
exactly their region, and a dataset without the needed columns is refused before training starts."""

import json
import math
from collections import Counter

import pytest
from datasets import Dataset, Image

from trainer.data.dataset import NEEDED, REGIONS, Epoch, draw_task, parse_task_mix, to_prompt_completion
from trainer.data.documents import load_document_dataset
from trainer.data.pages import open_page
from trainer.errors import InputError
from trainer.schema import scalar_paths

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
        return [example["prompt"][0]["content"][1]["text"] for example in examples]

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
    # The crop is the region: every box of the region's fields lies inside it, no box of another region does.
    boxes = {f["name"]: f["bbox"] for f in row["fields"]}
    inside = {p for p in boxes if p.split(".")[0] in keys}
    assert inside == {p for p in scalar_paths(part)}
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
