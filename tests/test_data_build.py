"""trainer.data.build keeps every valid sample of a user's folder and reports every bad one with its reason; a PDF
annotated whole is one document of its pages; SROIE and CORD annotations label what they give and nothing more."""

import copy
import io
import json
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from PIL import ExifTags, Image, ImageDraw, ImageFont

from trainer.data.build import main
from trainer.data.document_dataset import read_labels
from trainer.data.importers import ANNOTATION_SUFFIXES, from_cord, read_date
from trainer.data.pages import PageError, open_page, page_size, read_file_pages, read_page
from trainer.data.prompts import parse_task_mix, to_prompt_completion
from trainer.schema.document import validate


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
    add("bad_schema", rows[4]["image"], {**docs[4], "currency": "EURO"})
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


@pytest.mark.slow
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
    kinds = {reason.split(":")[0] for reason in rejects.values()}  # what the summary groups by: short, no names
    assert kinds == {"unreadable image", "invalid JSON", "schema", "total", "no annotation", "oversized page",
                     "not a page file"}  # fmt: skip
    err = capsys.readouterr().err
    assert "Rejected 7" in err and "×1 and 4 other kinds" in err
    card = (output / "README.md").read_text()
    assert "rejects.jsonl" in card and "Every label passed the validator" in card


@pytest.mark.slow
def test_invalid_arithmetic_can_be_allowed(user_folder, tmp_path):
    crops, notes, _ = user_folder
    output = build_into(tmp_path, crops, notes, "--allow-invalid-arithmetic")
    ids = {row["id"] for split in load_dataset(str(output)).values() for row in split}
    assert "bad_total" in ids and "bad_schema" not in ids, (output / "rejects.jsonl").read_text()
    card = (output / "README.md").read_text()
    assert f"1 of {len(ids)}\nkept documents fail its arithmetic" in card and "Every label passed" not in card


@pytest.mark.slow
def test_built_documents_train_on_what_their_labels_say(user_folder, tmp_path):
    crops, notes, _ = user_folder
    split = load_dataset(str(build_into(tmp_path, crops, notes)))["train"]
    examples = to_prompt_completion(split, parse_task_mix("ocr=1"), 50176)
    assert all(e["prompt"][0]["content"][1]["text"].startswith("Information Extraction") for e in examples)


@pytest.mark.slow
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


@pytest.mark.slow
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


def page(width: int, lines: list[str] = ()) -> Image.Image:
    """A white page of this width with text lines on it: distinct widths tell pages apart."""
    image = Image.new("RGB", (width, 60 + 20 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((12, 20 + 20 * i), line, fill="black", font=ImageFont.load_default(13))
    return image


def pdf(path: Path, widths: list[int]):
    pages = [page(width, [f"page {i + 1}"]) for i, width in enumerate(widths)]
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=150.0)  # rendered back at its size


@pytest.fixture
def pdf_folder(tmp_path):
    """Multi-page PDFs annotated whole or page by page, partial annotations, and names that clash."""
    crops, notes = tmp_path / "crops", tmp_path / "annotations"
    crops.mkdir(), notes.mkdir()

    def annotate(stem: str, doc: dict):
        (notes / f"{stem}.json").write_text(json.dumps(doc))

    pdf(crops / "bill.pdf", [300, 325, 350])
    annotate("bill", {"doc_type": "invoice", "invoice_number": "INV-7", "total": "10.00"})
    pdf(crops / "long.pdf", [300, 300, 300, 300])
    annotate("long", {"doc_type": "invoice", "total": "1.00"})
    pdf(crops / "both.pdf", [300, 300])
    annotate("both", {"doc_type": "invoice", "total": "1.00"})
    annotate("both_p2", {"doc_type": "invoice", "total": "1.00"})
    pdf(crops / "split.pdf", [300, 375])
    annotate("split_p1", {"doc_type": "receipt", "total": "3.00"})
    annotate("split_p2", {"doc_type": "receipt", "date": "2024-05-02"})
    pdf(crops / "scan.pdf", [300])
    page(300).save(crops / "scan.png")
    annotate("scan", {"doc_type": "receipt", "total": "2.00"})
    page(300).save(crops / "note.png")
    annotate("note", {"doc_type": "receipt", "date": "2024-05-01", "currency": None})
    page(300).save(crops / "short.png")  # labelled items that do not add up to the labelled subtotal
    tea = [{"description": "Tea", "amount": "4.00"}]
    annotate("short", {"doc_type": "receipt", "line_items": tea, "subtotal": "5.00"})
    return crops, notes


def test_a_pdf_annotated_whole_is_one_document_of_its_pages_in_order(pdf_folder, tmp_path, capsys):
    crops, notes = pdf_folder
    output = build_into(tmp_path, crops, notes, "--max-pages", "3")
    kept = {row["id"]: row for split in load_dataset(str(output)).values() for row in split}
    assert kept.keys() == {"bill", "split_p1", "split_p2", "note"}
    bill = kept["bill"]
    assert [p.width for p in [bill["image"], *bill["more_pages"]]] == [300, 325, 350]
    assert json.loads(bill["ground_truth"]) == {"doc_type": "invoice", "invoice_number": "INV-7", "total": "10.00"}
    assert bill["table_otsl"] == "" and bill["currency"] == "" and kept["split_p2"]["more_pages"] == []
    assert json.loads(kept["note"]["ground_truth"]) == {"doc_type": "receipt", "date": "2024-05-01", "currency": None}
    rejects = {r["file"]: r["reason"] for r in map(json.loads, (output / "rejects.jsonl").read_text().splitlines())}
    assert rejects == {
        "long.pdf": "too many pages: long.pdf has 4 pages, over --max-pages 3: raise it, or annotate each page "
        "(long_p1.json, ...)",
        "both.pdf": "two annotations: both.json (the whole of both.pdf) and both_p2.json (its pages): keep one kind",
        "scan.pdf": "same name: scan.pdf and scan.png would share scan.json: rename all but one",
        "short.png": "subtotal: subtotal is 5.00, expected 4.00 (difference 1.00)",
    }
    out, err = capsys.readouterr()
    assert "Kept 4 documents (6 pages)" in out and "Rejected 4" in err and "×1 and 1 other kind" in err
    card = (output / "README.md").read_text()
    assert "4 of 4 documents are partially labelled" in card and "| `total` | 2 | 50.0% |" in card
    assert "1 documents have several pages (pages per document: min\n1, mean 1.50, max 3)" in card
    assert "| null (not printed) | 1 | 25.0% |" in card and "| not labelled | 3 | 75.0% |" in card


INK = 60  # a scanner's ink is dark grey, rarely 0: clipped to 8 bits without scaling, it turns white


def grey_ink_page(width: int, height: int) -> Image.Image:
    """Paper with a dark-grey block of ink at the top left, the mark whose place shows which way up a page is."""
    image = Image.new("L", (width, height), 235)
    ImageDraw.Draw(image).rectangle((8, 8, 40, 30), fill=INK)
    return image


def test_every_image_mode_is_stored_as_a_person_sees_it(tmp_path):
    """Scanners write 16-bit PNG and TIFF and multi-page TIFF, phones EXIF-rotated JPEG, editors palette and
    transparent PNG and CMYK JPEG: each is stored as the 8-bit upright page FinScribe reads, so that `datasets` (and
    the Hub's viewer, a notebook) shows it as it looks; a plain JPEG is kept byte for byte."""
    crops, notes = tmp_path / "crops", tmp_path / "annotations"
    crops.mkdir(), notes.mkdir()
    upright = grey_ink_page(120, 200)
    sixteen = Image.fromarray(np.asarray(upright).astype(np.uint16) * 257)  # I;16
    sixteen.save(crops / "scan16.png")
    sixteen.save(crops / "scan16_tif.tif")
    clear = Image.new("RGBA", (120, 200), (0, 0, 0, 0))  # clear film with ink: a viewer shows it on black or white
    clear.paste((INK, INK, INK, 255), (8, 8, 41, 31))
    palette = clear.convert("P")
    palette.info["transparency"] = palette.getpixel((100, 100))
    palette.save(crops / "palette.png", transparency=palette.info["transparency"])
    clear.convert("LA").save(crops / "grey_alpha.png")
    upright.convert("CMYK").save(crops / "cmyk.jpg", quality=95)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # held turned: shown after a quarter turn clockwise
    upright.transpose(Image.Transpose.ROTATE_90).convert("RGB").save(crops / "phone.jpg", exif=exif, quality=95)
    upright.convert("RGB").save(crops / "plain.jpg", quality=90)
    three = [grey_ink_page(120, 200 + 10 * i).convert("RGB") for i in range(3)]
    three[0].save(crops / "fax.tif", save_all=True, append_images=three[1:])
    three[0].save(crops / "pages.tif", save_all=True, append_images=three[1:2])
    stems = ("scan16", "scan16_tif", "palette", "grey_alpha", "cmyk", "phone", "plain", "fax", "pages_p1", "pages_p2")
    for stem in stems:
        (notes / f"{stem}.json").write_text(json.dumps({"doc_type": "receipt", "total": "1.00"}))
    output = build_into(tmp_path, crops, notes)
    assert (output / "rejects.jsonl").read_text() == ""
    dataset = load_dataset(str(output))  # decoded by datasets' Image feature, as any reader of the Parquet sees it
    kept = {row["id"]: row for split in dataset.values() for row in split}
    assert kept.keys() == set(stems)
    for sample_id, row in kept.items():
        for image in [row["image"], *row["more_pages"]]:
            pixels = np.asarray(image.convert("L"), dtype=int)  # what a viewer shows, as 8-bit grey
            assert image.mode in ("RGB", "L") and image.size[0] == 120, (sample_id, image.mode, image.size)
            assert abs(pixels[15:25, 15:35].mean() - INK) < 8, sample_id  # the ink, upright at the top left
            assert pixels[100:, 60:].mean() > 200, sample_id  # the paper white, not clipped, not black
    assert [image.height for image in [kept["fax"]["image"], *kept["fax"]["more_pages"]]] == [200, 210, 220]
    assert kept["pages_p2"]["image"].height == 210 and kept["pages_p2"]["more_pages"] == []
    stored = [row for path in (output / "data").glob("*.parquet") for row in pq.read_table(path).to_pylist()]
    raw = {row["id"]: row["image"]["bytes"] for row in stored}
    assert raw["plain"] == (crops / "plain.jpg").read_bytes()  # kept as the file was
    assert Image.open(io.BytesIO(raw["scan16"])).format == "PNG"  # decoded, then stored
    naive = Image.open(crops / "scan16.png").convert("L")  # what storing the file as it came would show
    assert np.asarray(naive)[15:25, 15:35].mean() > 200  # the ink clipped to white: why the page is decoded first


def test_a_multi_page_tiff_is_read_as_its_pages_and_a_phone_photo_upright():
    buffer = io.BytesIO()
    three = [grey_ink_page(120, 200 + 10 * i).convert("RGB") for i in range(3)]
    three[0].save(buffer, "TIFF", save_all=True, append_images=three[1:])
    assert [page.height for page in read_file_pages(buffer.getvalue(), 10**6)] == [200, 210, 220]
    with pytest.raises(PageError, match="too many pages: the TIFF has 3, over 2"):
        read_file_pages(buffer.getvalue(), 10**6, max_pages=2)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    photo = io.BytesIO()
    grey_ink_page(120, 200).transpose(Image.Transpose.ROTATE_90).convert("RGB").save(photo, "JPEG", exif=exif)
    page = np.asarray(read_page(photo.getvalue(), 10**6).convert("L"), dtype=int)
    assert page.shape == (200, 120) and page[15:25, 15:35].mean() < 100


@pytest.mark.parametrize("max_pixels", [None, 1_003_520, 50_176, 3_136])
def test_a_pages_size_is_known_from_its_header_before_it_is_decoded(max_pixels):
    """What a page will cost in image tokens is counted before it is read (padding-free batches by a token budget):
    page_size gives the size read_page gives, through JPEG's draft scale, a phone's EXIF turn and a PDF page."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    pages = []
    for image, options in ((Image.new("RGB", (1700, 2203), "white"), {"format": "JPEG"}),
                           (Image.new("RGB", (2011, 1493), "white"), {"format": "JPEG", "exif": exif}),
                           (Image.new("RGB", (901, 1203), "white"), {"format": "PNG"}),
                           (Image.new("RGB", (620, 877), "white"), {"format": "PDF"})):  # fmt: skip
        buffer = io.BytesIO()
        image.save(buffer, **options)
        pages.append(buffer.getvalue())
    for data in pages:
        assert (
            page_size(data, max_pixels) == (open_page(data) if max_pixels is None else read_page(data, max_pixels)).size
        )
    assert page_size(pages[1]) == (1493, 2011)  # turned upright


def test_partial_labels_that_do_not_add_up_can_be_kept_and_the_card_says_so(pdf_folder, tmp_path):
    crops, notes = pdf_folder
    output = build_into(tmp_path, crops, notes, "--allow-invalid-arithmetic")
    kept = {row["id"] for rows in read_labels(output).values() for row in rows}
    assert kept == {"bill", "long", "split_p1", "split_p2", "note", "short"}  # 4 pages: under the default 8
    assert "1 of 6\nkept documents fail its arithmetic" in (output / "README.md").read_text()


def test_when_every_sample_is_rejected_the_reasons_are_still_written(pdf_folder, tmp_path, capsys):
    crops, notes = pdf_folder
    output = tmp_path / tmp_path.name
    with pytest.raises(SystemExit) as exit_info:
        main(["--crops-dir", str(crops), "--annotations-dir", str(tmp_path), "--output-dir", str(output)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert "all 7 rejected (no annotation ×6, same name ×1)" in err
    assert len((output / "rejects.jsonl").read_text().splitlines()) == 7


DATA = Path(__file__).parent / "data"


def draw_annotations(folder: Path, crops: Path, suffix: str):
    """A JPEG page per annotation in folder, showing the annotation's text."""
    for annotation in sorted(folder.glob(f"*{ANNOTATION_SUFFIXES[suffix][0]}")):
        page(480, textwrap.wrap(annotation.read_text(), 70)).save(crops / f"{annotation.stem}.jpg")


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_sroie_keys_label_what_they_give_and_nothing_more(tmp_path, capsys, suffix):
    """SROIE ships each image beside its key file: one folder is both the crops and the annotations. Its key files
    are published as .txt and, in its most used public copy, as .json: either is read as it is."""
    folder = tmp_path / "sroie"
    shutil.copytree(DATA / "sroie", folder, ignore=shutil.ignore_patterns("README.md"))
    draw_annotations(folder, folder, "sroie")
    for key in folder.glob("*.txt"):
        key.rename(key.with_suffix(suffix))
    output = build_into(tmp_path, folder, folder, "--format", "sroie")
    kept = {row["id"]: row for split in load_dataset(str(output)).values() for row in split}
    assert {i: json.loads(row["ground_truth"]) for i, row in kept.items()} == {
        "X51000000001": {
            "doc_type": "receipt",
            "merchant": {"name": "KEDAI RUNCIT SRI MAJU SDN BHD",
                         "address": "NO. 12, JALAN MAWAR 3, TAMAN BUNGA RAYA, 81100 JOHOR BAHRU, JOHOR."},
            "date": "2018-12-25",
            "total": "9.00",
        },
        "X51000000002": {"doc_type": "receipt", "merchant": {"name": "RESTORAN NASI KANDAR ALI"}, "date": "2018-01-16",
                         "total": "9.00"},
        "X51000000003": {"doc_type": "receipt", "merchant": {"name": "SYARIKAT PERNIAGAAN LIM & ANAK",
                                                             "address": "LOT 7, JALAN PASAR, 30000 IPOH, PERAK."}},
    }  # fmt: skip
    assert all(row["currency"] == "" and row["table_html"] == "" for row in kept.values())
    assert [json.loads(line) for line in (output / "notes.jsonl").read_text().splitlines()] == [
        {"file": "X51000000003.jpg", "sample": "X51000000003",
         "dropped": ["date: '2O/06/2018' is no date",
                     "total: '12.50 (GST incl.)' is no amount"]},
    ]  # fmt: skip
    assert (output / "rejects.jsonl").read_text() == "" and "README.md" not in capsys.readouterr().err
    card = (output / "README.md").read_text()
    assert "The annotations are SROIE key files" in card and "3 of 3 documents are partially labelled" in card
    assert "| `merchant.name` | 3 | 100.0% |" in card and "| `date` | 2 | 66.7% |" in card
    assert "| not labelled | 3 | 100.0% |" in card and "1 kept documents had fields" in card


def test_a_sroie_receipt_with_both_a_txt_and_a_json_key_is_rejected_and_the_others_kept(tmp_path):
    folder = tmp_path / "sroie"
    shutil.copytree(DATA / "sroie", folder, ignore=shutil.ignore_patterns("README.md"))
    draw_annotations(folder, folder, "sroie")
    shutil.copy(folder / "X51000000001.txt", folder / "X51000000001.json")
    (folder / "X51000000002.txt").unlink()
    output = build_into(tmp_path, folder, folder, "--format", "sroie")
    rejects = [json.loads(line) for line in (output / "rejects.jsonl").read_text().splitlines()]
    assert [(r["file"], r["reason"]) for r in rejects] == [
        ("X51000000001.jpg", "two annotations: X51000000001.txt and X51000000001.json: keep one"),
        ("X51000000002.jpg", "no annotation: X51000000002.txt or X51000000002.json not found"),
    ]
    assert [row["id"] for split in load_dataset(str(output)).values() for row in split] == ["X51000000003"]


CORD_TRUTHS = {
    "receipt_00001": (
        {"doc_type": "receipt", "line_items": [{"description": "ES TEH MANIS", "quantity": "2", "unit_price": "8000",
                                                "amount": "16000"}], "total": "16000"},
        ["total.cashprice: no place in the schema", "total.changeprice: no place in the schema"],
    ),
    "receipt_00002": (
        {"doc_type": "receipt", "line_items": [{"description": "PAKET HEMAT 1", "quantity": "1", "amount": "45000"},
                                               {"description": "TAHU ISI", "quantity": "3", "unit_price": "4000",
                                                "amount": "12000"}], "subtotal": "57000", "total": "57000"},
        ["menu.sub: item 1's sub-items (NASI PUTIH, AYAM BAKAR, ES TEH) are left out",
         "total.menuqty_cnt: no place in the schema"],
    ),
    "receipt_00003": (
        {"doc_type": "receipt", "line_items": [{"description": "MIE AYAM BAKSO", "quantity": "2",
                                                "unit_price": "25000", "amount": "50000"},
                                               {"description": "NASI CAMPUR", "quantity": "1", "unit_price": "50000",
                                                "amount": "50000"}],
         "subtotal": "100000", "discount": "10000", "taxes": [{"amount": "9450"}], "total": "103950"},
        ["sub_total.service_price: no place in the schema", "total.creditcardprice: no place in the schema",
         "total.menutype_cnt: no place in the schema", "total.menuqty_cnt: no place in the schema"],
    ),
}  # fmt: skip


def test_cord_ground_truths_label_what_they_give_and_nothing_more(tmp_path, capsys):
    crops = tmp_path / "crops"
    crops.mkdir()
    draw_annotations(DATA / "cord", crops, "cord")
    output = build_into(tmp_path, crops, DATA / "cord", "--format", "cord")
    kept = {row["id"]: row for split in load_dataset(str(output)).values() for row in split}
    assert {i: json.loads(row["ground_truth"]) for i, row in kept.items()} == {k: v[0] for k, v in CORD_TRUTHS.items()}
    assert all(row["table_otsl"] and row["currency"] == "" for row in kept.values())
    notes = {n["sample"]: n["dropped"] for n in map(json.loads, (output / "notes.jsonl").read_text().splitlines())}
    assert notes == {k: v[1] for k, v in CORD_TRUTHS.items()}
    assert "3 kept with fields left unlabelled" in capsys.readouterr().err
    card = (output / "README.md").read_text()
    assert "The annotations are CORD-v2 ground truths" in card and "| `line_items.amount` | 3 | 100.0% |" in card
    assert "| `taxes.amount` | 1 | 33.3% |" in card and "Every label passed the validator" in card


def test_a_cord_line_discount_keeps_the_amount_after_it():
    """menu.price is before the line's discount: the amount is itemsubtotal, or left out when not labelled."""
    item = {"nm": "KOPI SUSU", "cnt": "2", "unitprice": "20.000", "discountprice": "-8.000", "price": "40.000"}
    doc, dropped = from_cord({"gt_parse": {"menu": [{**item, "itemsubtotal": "32.000"}, item]}})
    line = {"description": "KOPI SUSU", "quantity": "2", "unit_price": "20000", "discount": "8000"}
    assert doc["line_items"] == [{**line, "amount": "32000"}, line] and validate(doc) == []
    assert dropped == ["menu.price: item 1: 40000 is not the line's amount after its discount",
                       "menu.price: item 2: 40000 is not the line's amount after its discount"]  # fmt: skip


@pytest.mark.parametrize(
    "printed, iso",
    [("25/12/2018", "2018-12-25"), ("25-12-18", "2018-12-25"), ("2018-12-25", "2018-12-25"),
     ("12/25/2018", "2018-12-25"), ("25 Dec 2018", "2018-12-25"), ("Dec 25, 2018", "2018-12-25"),
     ("06.06.2018", "2018-06-06"), ("05/06/2018", "2018-06-05"), ("2O/06/2018", None), ("31/02/2018", None), ("25/12/2018 10:30", None)],
)  # fmt: skip
def test_a_printed_date_reads_day_first_as_malaysian_receipts_print_it(printed, iso):
    if iso is None:
        with pytest.raises(ValueError, match="is no date"):
            read_date(printed)
    else:
        assert read_date(printed) == iso
