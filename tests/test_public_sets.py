"""Public sets as published: DocILE's annotations label what maps and list the rest, build with partial labels and
evaluate in their own folder; CORD-v2 and SROIE in the Hub's Parquet layout evaluate directly; each report names the
public field every score comes from, and what could not be scored."""

import io
import json
import shutil
from pathlib import Path

import pytest
from datasets import Dataset, Features, Value, load_dataset
from datasets import Image as ImageFeature
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

from trainer import compare, evaluate
from trainer.data.build import main as build
from trainer.data.importers import from_cord, from_docile, from_sroie, read_amount, read_date
from trainer.data.pages import read_pages
from trainer.eval.run import ReadingArguments, load_documents
from trainer.schema.document import canonical_json, validate

DATA = Path(__file__).parent / "data"
US, DE, BILL = "3f2a9c1e7b4d5a6f8e0c1b2d", "9b7e4d2c1a0f3e5d6c8b7a9e", "c4d5e6f7a8b9c0d1e2f3a4b5"
DOCILE_TRUTHS = {
    US: {
        "doc_type": "invoice", "currency": "USD", "invoice_number": "INV-20417", "issue_date": "2021-03-03",
        "vendor": {"name": "Harbor Office Supply Co.", "address": "1200 Pier Avenue\nSeattle, WA 98101",
                   "email": "billing@harbor-office.example"},
        "customer": {"name": "Lakeside Dental Group", "address": "45 Birch Street\nPortland, OR 97205"},
        "line_items": [
            {"description": "Copy paper, A4, 5-ream box", "quantity": "4", "unit_price": "42.50", "amount": "170.00"},
            {"description": "Toner cartridge, black", "quantity": "2", "unit_price": "120.00", "amount": "240.00"},
        ],
        "taxes": [{"amount": "36.90"}], "total": "446.90", "payment_terms": "Net 30",
    },
    DE: {
        "doc_type": "invoice", "currency": "EUR", "invoice_number": "RE-2021-0815", "issue_date": "2021-08-15",
        "vendor": {"name": "Müller Werkzeuge GmbH", "tax_id": "DE123456789"}, "customer": {"name": "Schreinerei Becker"},
        "line_items": [
            {"description": "Akku-Bohrschrauber 18 V", "quantity": "2", "unit_price": "357.00", "amount": "714.00"},
            {"description": "Bitsatz, 32-teilig", "quantity": "4", "unit_price": "119.00", "amount": "476.00"},
        ],
        "taxes": [{"amount": "190.00"}], "total": "1190.00",
    },
}  # fmt: skip
DOCILE_DROPPED = {
    US: ["date_due: '04/02/2021' reads two ways (4 February 2021 or 2 April 2021)",
         "customer_id: no place in the schema",
         "amount_total_net: the schema's subtotal is before discounts and charges",
         "tax_detail_rate: DocILE does not group a tax line's rate, base and amount",
         "amount_due: the schema's total is the document's total (amount_total_gross), not what is left to pay",
         "line_item_code: item 1: no place in the schema", "line_item_code: item 2: no place in the schema"],
    DE: ["order_id: '' is no text", "tax_detail_rate: DocILE does not group a tax line's rate, base and amount",
         "tax_detail_tax: DocILE does not group a tax line's rate, base and amount", "iban: no place in the schema",
         "line_item_amount_net: item 2: the lines' gross figures are used"],
}  # fmt: skip


def draw_docile(folder: Path):
    """pdfs/<id>.pdf for each annotation, as DocILE ships them: its texts drawn at their boxes, one page per
    metadata.page_count."""
    (folder / "pdfs").mkdir()
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 14)  # matplotlib's: umlauts and all
    for annotation in sorted((folder / "annotations").glob("*.json")):
        value = json.loads(annotation.read_text(encoding="utf-8"))
        pages = [Image.new("RGB", (850, 1100), "white") for _ in range(value["metadata"]["page_count"])]
        for extraction in value["field_extractions"] + value["line_item_extractions"] + value["line_item_headers"]:
            left, top = extraction["bbox"][:2]
            ImageDraw.Draw(pages[extraction["page"]]).multiline_text(
                (left * 850, top * 1100), extraction["text"], fill="black", font=font
            )
        pages[0].save(
            folder / "pdfs" / f"{annotation.stem}.pdf", save_all=True, append_images=pages[1:], resolution=100
        )


@pytest.fixture
def docile_folder(tmp_path):
    folder = tmp_path / "docile"
    shutil.copytree(DATA / "docile", folder, ignore=shutil.ignore_patterns("README.md"))
    draw_docile(folder)
    return folder


def png(text: str) -> bytes:
    image = Image.new("RGB", (360, 260), "white")
    ImageDraw.Draw(image).multiline_text((10, 10), text, fill="black", font=ImageFont.load_default(12))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def hub_layout(folder: Path, truths: list[str]) -> Path:
    """A dataset as `huggingface-cli download` leaves a Donut-style one (CORD-v2's layout): data/validation-*.parquet
    with an `image` and a `ground_truth` JSON string per row."""
    features = Features({"image": ImageFeature(), "ground_truth": Value("string")})
    rows = {"image": [{"bytes": png(truth[:300]), "path": None} for truth in truths], "ground_truth": truths}
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(rows, features=features).to_parquet(folder / "data" / "validation-00000-of-00001.parquet")
    return folder


def cord_truths() -> list[str]:
    """The CORD fixtures as a Hub row holds them (a ground_truth string), and one row whose string is no JSON."""
    values = [json.loads((DATA / "cord" / f"receipt_0000{n}.json").read_text()) for n in (1, 2, 3)]
    return [v["ground_truth"] if "ground_truth" in v else json.dumps(v) for v in values] + ['{"gt_parse": ']


def sroie_truths() -> list[str]:
    """The SROIE keys as SROIE's Donut-style Hub copies hold them: under gt_parse, in a ground_truth string."""
    keys = [json.loads(path.read_text()) for path in sorted((DATA / "sroie").glob("*.txt"))]
    return [json.dumps({"gt_parse": key}) for key in keys] + ['{"gt_parse": {"store": "no SROIE key"}}']


def predictions(path: Path, outputs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "output": o}) + "\n" for i, o in outputs.items()), encoding="utf-8")
    return path


def test_docile_labels_what_maps_and_lists_the_rest():
    for doc_id, truth in DOCILE_TRUTHS.items():
        doc, dropped = from_docile(json.loads((DATA / "docile" / "annotations" / f"{doc_id}.json").read_text()))
        assert doc == truth and validate(doc) == [] and dropped == DOCILE_DROPPED[doc_id]
    doc, dropped = from_docile(json.loads((DATA / "docile" / "annotations" / f"{BILL}.json").read_text()))
    assert doc == {"doc_type": "invoice"} and "metadata.currency: 'other' is no ISO 4217 code" in dropped


def test_a_docile_field_annotated_two_ways_is_left_out_never_picked():
    """DocILE's own sample annotates three quantities on one line (cases, pack size, units): none is the quantity."""
    line = [{"fieldtype": "line_item_quantity", "line_item_id": 1, "page": 0, "text": text} for text in ("4", "6M")]
    doc, dropped = from_docile({"field_extractions": [], "line_item_extractions": line, "metadata": {}})
    assert doc["line_items"] == [{}] and dropped == ["line_item_quantity: item 1: 2 different texts ('4', '6M')"]


@pytest.mark.parametrize(
    "text, amount",
    [("$4,759.20", "4759.20"), ("1.190,00 EUR", "1190.00"), ("1,269.12-", "-1269.12"), ("(12.00)", "-12.00"),
     ("USD 100", "100"), ("-5.00", "-5.00"), ("24,000", "24000")],
)  # fmt: skip
def test_invoice_amounts_read_as_printed(text, amount):
    assert read_amount(text) == amount


def test_a_date_that_reads_two_ways_is_refused_unless_day_first_is_known():
    assert read_date("04/02/2021") == "2021-02-04"  # SROIE: Malaysian, day first
    with pytest.raises(ValueError, match="reads two ways"):
        read_date("04/02/2021", day_first=False)
    assert read_date("15.08.2021", day_first=False) == "2021-08-15" and read_date("05/05/21", day_first=False)


def test_a_docile_folder_builds_with_partial_labels(docile_folder, tmp_path, capsys):
    output = tmp_path / "built"
    build(["--crops-dir", str(docile_folder / "pdfs"), "--annotations-dir", str(docile_folder / "annotations"),
           "--output-dir", str(output), "--format", "docile"])  # fmt: skip
    kept = {row["id"]: row for split in load_dataset(str(output)).values() for row in split}
    assert {i: json.loads(row["ground_truth"]) for i, row in kept.items()} == DOCILE_TRUTHS
    assert len(kept[DE]["more_pages"]) == 1 and kept[US]["more_pages"] == []  # both of the German invoice's pages
    rejects = [json.loads(line) for line in (output / "rejects.jsonl").read_text().splitlines()]
    assert [(r["file"], r["reason"].split(":")[0]) for r in rejects] == [(f"{BILL}.pdf", "nothing labelled")]
    notes = {n["sample"]: n["dropped"] for n in map(json.loads, (output / "notes.jsonl").read_text().splitlines())}
    assert notes == DOCILE_DROPPED
    assert "The annotations are DocILE's" in (output / "README.md").read_text()
    assert "2 kept with fields left unlabelled" in capsys.readouterr().err


def test_evaluate_reads_a_docile_folder_where_it_lies(docile_folder, tmp_path):
    """No build step: the split's ids from val.json, every page of each PDF, the labels converted on the fly."""
    rows, labels = load_documents(ReadingArguments(dataset=str(docile_folder), split="val", format="docile"))
    assert rows["id"] == [US, DE] and [len(read_pages(row, 200_000)) for row in rows] == [1, 2]
    assert {row["id"]: json.loads(row["ground_truth"]) for row in rows} == DOCILE_TRUTHS
    wrong = {**DOCILE_TRUTHS[DE], "total": "1119.00", "vendor": {"name": "Müller Werkzeuge", "tax_id": "DE123456789"}}
    outputs = {US: canonical_json(DOCILE_TRUTHS[US]), DE: canonical_json(wrong)}
    output = tmp_path / "eval"
    evaluate.main(["--dataset", str(docile_folder), "--split", "val", "--format", "docile", "--output-dir", str(output),
                   "--predictions", str(predictions(tmp_path / "p.jsonl", outputs))])  # fmt: skip
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["per_field"]["total"] == 0.5 and metrics["per_field"]["vendor.name"] == 0.5
    assert metrics["per_field"]["line_items.*.amount"] == 1.0 and metrics["errors"] == 0
    listed = [json.loads(line) for line in (output / "labels.jsonl").read_text().splitlines()]
    assert {label["id"] for label in listed if "rejected" in label} == {BILL}
    assert {label["id"]: label["dropped"] for label in listed if "dropped" in label} == DOCILE_DROPPED
    report = (output / "report.md").read_text()
    assert "| `total` | amount_total_gross | 50.0 % |" in report and "| `issue_date` | date_issue | 100.0 % |" in report
    assert "Not scored: 1 document whose labels FinScribe cannot use (nothing labelled ×1)." in report
    assert "date_due ×1" in report and "## The public labels" in report


@pytest.mark.parametrize(
    "format, truths, importer, named",
    [("cord", cord_truths, from_cord, "| `total` | total.total_price |"),
     ("sroie", sroie_truths, from_sroie, "| `merchant.name` | company |")],
)  # fmt: skip
def test_evaluate_reads_a_hub_layout_parquet_dataset_directly(tmp_path, format, truths, importer, named):
    folder = hub_layout(tmp_path / f"{format}-v2", truths())
    rows, labels = load_documents(ReadingArguments(dataset=str(folder), split="validation", format=format))
    ids = ["validation-00000", "validation-00001", "validation-00002"]
    assert rows["id"] == ids and labels[-1]["id"] == "validation-00003" and "rejected" in labels[-1]
    expected = [importer({"ground_truth": truth})[0] for truth in truths()[:3]]
    assert [json.loads(truth) for truth in rows["ground_truth"]] == expected
    outputs = {i: canonical_json(doc) for i, doc in zip(ids, expected, strict=True)}
    outputs[ids[0]] = "{}"  # says nothing: that document scores zero
    output = tmp_path / "eval"
    evaluate.main(["--dataset", str(folder), "--split", "validation", "--format", format, "--output-dir", str(output),
                   "--predictions", str(predictions(tmp_path / "p.jsonl", outputs))])  # fmt: skip
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n"] == 3 and 0 < metrics["field_accuracy"] < 1 and metrics["teds"] is None
    report = (output / "report.md").read_text()
    assert named in report and "Not scored: 1 document whose labels FinScribe cannot use" in report


def test_a_folder_that_is_not_docile_says_what_it_lacks(tmp_path, capsys):
    (tmp_path / "docile" / "annotations").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["--dataset", str(tmp_path / "docile"), "--split", "val", "--format", "docile",
                       "--output-dir", str(tmp_path / "eval"), "--predictions", str(tmp_path / "none.jsonl")])  # fmt: skip
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "has no pdfs/ folder" in error and "Traceback" not in error


@pytest.mark.slow
def test_compare_reads_a_public_set_with_a_real_model(tiny_model_dir, docile_folder, tmp_path):
    """Both models read DocILE's multi-page PDFs and CORD's Parquet where they lie, and the report opens with what
    fine-tuning cost; the tiny stand-in against itself costs nothing."""
    folder = hub_layout(tmp_path / "cord-v2", cord_truths())
    for dataset, format, split in ((docile_folder, "docile", "val"), (folder, "cord", "validation")):
        output = tmp_path / format / "results.json"
        compare.main(["--base", str(tiny_model_dir), "--finetuned", str(tiny_model_dir), "--dataset", str(dataset),
                      "--split", split, "--format", format, "--output", str(output), "--max-new-tokens", "24",
                      "--max-pixels", "50176", "--resamples", "200"])  # fmt: skip
        results = json.loads(output.read_text())
        assert results["n"] == 2 if format == "docile" else 3
        report = output.with_suffix(".md").read_text()
        assert "Nothing measured got worse" in report
        assert "## The public labels" in (output.parent / "results" / "base" / "report.md").read_text()
