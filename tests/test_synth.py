"""The generator's invariants, checked on a dataset made by the real CLI and loaded with `load_dataset`."""

import io
import json
import random

import pytest
from PIL import Image

from trainer.schema import get_path, scalar_paths, validate
from trainer.synth import invoice, receipt
from trainer.synth.locales import COUNTRIES
from trainer.synth.sample import make_sample
from trainer.tables import grid_to_html, grid_to_otsl, html_to_grid, otsl_to_grid


def rows(synthetic):
    return [row for split in synthetic.values() for row in split]


def test_every_label_passes_the_validator(synthetic):
    for row in rows(synthetic):
        assert validate(json.loads(row["ground_truth"])) == [], row["id"]


def test_every_layout_locale_and_doc_type_occurs(synthetic):
    all_rows = rows(synthetic)
    layouts = {row["layout"] for row in all_rows}
    assert layouts == {f"invoice/{name}" for name in invoice.LAYOUTS} | {f"receipt/{name}" for name in receipt.LAYOUTS}
    assert {row["locale"] for row in all_rows} == set(COUNTRIES)
    assert {row["currency"] for row in all_rows} == {"USD", "GBP", "EUR", "CHF", "JPY"}
    docs = [json.loads(row["ground_truth"]) for row in all_rows]
    assert any(len(doc["taxes"]) > 1 for doc in docs), "documents with several tax rates must occur"
    assert any(float(doc["discount"]) > 0 for doc in docs) and any(float(doc.get("shipping", 0)) > 0 for doc in docs)
    assert any("." in item["quantity"] for doc in docs for item in doc["line_items"]), "fractional quantities"
    assert any(not row["augmentations"] for row in all_rows) and any(row["augmentations"] for row in all_rows)


def test_amounts_use_the_currency_minor_units(synthetic):
    for row in rows(synthetic):
        doc = json.loads(row["ground_truth"])
        places = 0 if doc["currency"] == "JPY" else 2
        assert all(len(item["amount"].partition(".")[2]) == places for item in doc["line_items"])
        assert len(doc["total"].partition(".")[2]) == places


def test_every_labelled_value_has_a_box_inside_the_image(synthetic):
    for row in rows(synthetic):
        doc = json.loads(row["ground_truth"])
        width, height = row["image"].size
        names = [f["name"] for f in row["fields"]]
        assert names == scalar_paths(doc), row["id"]
        for field in row["fields"]:
            x0, y0, x1, y1 = field["bbox"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height, (row["id"], field)
        values = {f["name"]: f["value"] for f in row["fields"]}
        assert [(p, values[p]) for p in names if values[p] != str(get_path(doc, p))] == []


def test_boxes_cover_ink(synthetic):
    """A box on a clean page is not blank paper: it covers dark pixels (the printed value)."""
    clean = [row for row in rows(synthetic) if not row["augmentations"]][:10]
    for row in clean:
        gray = row["image"].convert("L")
        for field in row["fields"]:
            assert gray.crop(field["bbox"]).getextrema()[0] < 140, (row["id"], field["name"])


def test_text_is_in_reading_order_and_holds_the_values(synthetic):
    for row in rows(synthetic):
        doc = json.loads(row["ground_truth"])
        text = " ".join(row["text"].split())  # a long name may wrap onto two lines
        party = doc["vendor"] if doc["doc_type"] == "invoice" else doc["merchant"]
        assert " ".join(party["name"].split()) in text and doc["currency"] in text
        position = 0
        for item in doc["line_items"]:  # each item's description starts after the previous one's
            start = item["description"].split(" ")[0][:6]  # a wrapped cell continues on a later line
            position = text.find(start, position)
            assert position >= 0, (row["id"], item["description"])


def test_otsl_and_html_describe_the_same_table(synthetic):
    for row in rows(synthetic):
        grid = otsl_to_grid(row["table_otsl"])
        assert grid == html_to_grid(row["table_html"]), row["id"]
        doc = json.loads(row["ground_truth"])
        cells = [text for r in grid for text, _ in r]
        assert all(item["description"] in cells for item in doc["line_items"])
        assert len(grid) >= len(doc["line_items"])


def test_table_conversions_round_trip_spans():
    grid = [
        [("Item", 1), ("Qty", 1), ("", 1)],
        [("A & B <x>", 1), ("2", 1), ("4.00", 1)],
        [("Subtotal", 2), ("4.00", 1)],
    ]
    assert otsl_to_grid(grid_to_otsl(grid)) == grid
    assert html_to_grid(grid_to_html(grid)) == grid
    assert grid_to_otsl(grid).endswith("<fcel>Subtotal<lcel><fcel>4.00<nl>")
    assert "<ecel>" in grid_to_otsl(grid) and 'colspan="2"' in grid_to_html(grid)


def test_samples_depend_only_on_seed_and_index():
    args = (("invoice", "receipt"), tuple(COUNTRIES))
    a, b = make_sample(7, 3, *args), make_sample(7, 3, *args)
    assert a == b
    random.seed(12345)  # global random state must not leak in
    assert make_sample(7, 3, *args) == a
    assert make_sample(8, 3, *args)["ground_truth"] != a["ground_truth"]


def test_loaded_rows_match_the_parquet_files(synthetic, synthetic_dir):
    import pyarrow.parquet as pq

    ids = sorted(
        row
        for f in (synthetic_dir / "data").glob("*.parquet")
        for row in pq.read_table(f, columns=["id"]).column("id").to_pylist()
    )
    assert sorted(row["id"] for row in rows(synthetic)) == ids and len(ids) == 240
    assert set(synthetic) == {"train", "validation", "test"}
    sample = synthetic["train"][0]
    assert isinstance(sample["image"], Image.Image) and sample["id"].startswith("synth-0-")
    raw = pq.read_table(next((synthetic_dir / "data").glob("train-00000-*.parquet"))).to_pylist()[0]
    assert Image.open(io.BytesIO(raw["image"]["bytes"])).size == sample["image"].size


def test_card_has_metadata_and_real_statistics(synthetic_dir, synthetic):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(synthetic_dir / "README.md")
    assert card.data.license and "image-to-text" in card.data.task_categories
    assert {c["split"] for c in card.data.configs[0]["data_files"]} == {"train", "validation", "test"}
    assert f"{len(synthetic['train'])} documents".replace(str(len(synthetic["train"])), "240") in card.text
    assert f"train {len(synthetic['train'])}" in card.text
    invoices = sum(row["doc_type"] == "invoice" for row in rows(synthetic))
    assert f"| invoice | {invoices} |" in card.text
    assert (synthetic_dir / "contact_sheet.jpg").exists()


@pytest.mark.parametrize("layout", list(invoice.LAYOUTS))
def test_each_invoice_layout_draws_every_field_for_every_locale(layout):
    from trainer.synth.fonts import families_for
    from trainer.synth.sample import _faker

    for locale, country in COUNTRIES.items():
        rng, fake = random.Random(f"{layout}{locale}"), _faker(locale)
        fake.seed_instance(1)
        doc = invoice.generate(fake, rng, country)
        for family in families_for(country.language):
            page, _ = invoice.render(doc, layout, rng, fake, country, family)
            assert set(scalar_paths(doc)) <= set(page.fields), (layout, locale, family)
            assert all(
                0 <= b[0] < b[2] <= page.width and 0 <= b[1] < b[3] <= page.height for _, b in page.fields.values()
            )
