"""The document dataset: FinScribe's one format, written by `trainer.synth` and `trainer.data.build`, read by every
other stage. This module owns its columns, its rows, its splits, its Parquet files, its card and its contact sheet.

A dataset is a folder `datasets.load_dataset(folder)` opens (or the same pushed to the Hub): Parquet shards
`data/{split}-{chunk}-of-{chunks}.parquet`, a README.md card whose YAML names the splits and features, and
`contact_sheet.jpg`. Rows are written in chunks, each file written aside and renamed, so a chunk is there whole or
not at all, and memory holds one chunk's pages at a time.
"""

import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, DatasetInfo, Features, Image, List, Value, load_dataset
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from trainer.data.pages import open_page
from trainer.errors import InputError, first_line
from trainer.packaged import card_template
from trainer.quiet import quiet_datasets
from trainer.schema.document import ITEM_KEYS, canonical_json, get_path, scalar_paths
from trainer.tables import grid_to_html, grid_to_otsl

DEFAULT_DATASET = "data/synthetic_documents"  # trainer.synth's default output, and the recipes' dataset
FEATURES = Features(
    {
        "image": Image(),
        "id": Value("string"),
        "doc_type": Value("string"),
        "ground_truth": Value("string"),
        "table_html": Value("string"),
        "table_otsl": Value("string"),
        "text": Value("string"),
        "fields": List(
            {
                "name": Value("string"),
                "value": Value("string"),
                "bbox": List(Value("int32"), length=4),
                "page": Value("int32"),  # the page the box is on: 0 is `image`, 1 the first of `more_pages`
            }
        ),
        "layout": Value("string"),
        "locale": Value("string"),
        "currency": Value("string"),
        "augmentations": List(Value("string")),
        "seed": Value("int64"),
        "more_pages": List(Image()),  # a document's pages after the first (`image`); empty for one page
    }
)
SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
CARD_TEMPLATES = {True: "synthetic_documents.md", False: "user_documents.md"}


def document_row(
    sample_id: str, image: bytes, doc: dict, *, grid: list | None = None, text: str = "", fields: Iterable[dict] = (),
    layout: str = "user", locale: str = "", augmentations: Iterable[str] = (), seed: int = -1,
    more_pages: Iterable[bytes] = (),
) -> dict:  # fmt: skip
    """One row: the first page's file bytes (and any further pages') and its document; what a label alone cannot
    say (page text, boxes) is empty.

    Without the printed grid, the line-item table holds the schema's column names and the labelled values; a
    document with no labelled line items has no table (an empty one would teach "no items").
    """
    if grid is None and doc.get("line_items"):
        grid = items_grid(doc["line_items"])
    return {
        "image": {"bytes": image, "path": None},
        "id": sample_id,
        "doc_type": doc["doc_type"],
        "ground_truth": canonical_json(doc),
        "table_html": grid_to_html(grid) if grid else "",
        "table_otsl": grid_to_otsl(grid) if grid else "",
        "text": text,
        "fields": list(fields),
        "layout": layout,
        "locale": locale,
        "currency": doc.get("currency") or "",
        "augmentations": list(augmentations),
        "seed": seed,
        "more_pages": [{"bytes": page, "path": None} for page in more_pages],
    }


def items_grid(items: list[dict], columns: list[str] | None = None) -> list:
    """Line items as a table grid: a header row of the schema's column names (those the items label, unless given),
    then each item's values, an unprinted one empty."""
    columns = columns or [key for key in ITEM_KEYS if any(key in item for item in items)]
    return [[(key, 1) for key in columns]] + [[(str(item.get(key) or ""), 1) for key in columns] for item in items]


def split_of(sample_id: str) -> str:
    """train / validation / test by a stable hash of the id, so a sample's split never depends on the run."""
    fraction = int(hashlib.sha256(sample_id.encode()).hexdigest()[:12], 16) / 16**12
    for split, share in SPLITS.items():
        if fraction < share:
            return split
        fraction -= share
    return split


def chunk_ranges(num_samples: int, chunk_size: int) -> list[range]:
    return [range(start, min(start + chunk_size, num_samples)) for start in range(0, num_samples, chunk_size)]


def data_files(folder: str | Path, split: str) -> list[Path]:
    """A local dataset's Parquet files of one split, in order."""
    return sorted(Path(folder).glob(f"data/{split}-*.parquet"))


def write_chunk(output_dir: Path, chunk: int, num_chunks: int, rows: list[dict]):
    """Each split's rows of one chunk to its own Parquet file, written aside and then renamed into place."""
    data = output_dir / "data"
    if rows:
        data.mkdir(parents=True, exist_ok=True)
    with quiet_datasets():
        for split in SPLITS:
            if selected := [row for row in rows if split_of(row["id"]) == split]:
                buffer = io.BytesIO()  # Arrow aborts the process on a full disk; Python's own write raises OSError
                Dataset.from_list(selected, features=FEATURES).to_parquet(buffer)
                write_atomic(data / f"{split}-{chunk:05d}-of-{num_chunks:05d}.parquet", buffer.getvalue())


def write_atomic(path: Path, content: bytes):
    """Write aside and rename into place: the file is there whole or not at all, and no stray .tmp is left."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_bytes(content)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def read_labels(output_dir: Path) -> dict[str, list[dict]]:
    """Every split's label columns (no images), in file order."""
    columns = [name for name in FEATURES if name not in ("image", "more_pages")]
    labels = {}
    for split in SPLITS:
        if rows := [
            row for f in data_files(output_dir, split) for row in pq.read_table(f, columns=columns).to_pylist()
        ]:
            labels[split] = rows
    return labels


def statistics(labels: dict[str, list[dict]]) -> dict:
    """What a card reports of a dataset: counts and shares by type, layout, locale and augmentation; the shares of
    documents with gross prices, a rounded total and line discounts; and for each field, how many documents leave it
    null (not printed) and what share that is of those that have the field (a list's index shown as `*`)."""
    rows = [row for split_rows in labels.values() for row in split_rows]
    docs = [json.loads(row["ground_truth"]) for row in rows]
    items = [len(doc.get("line_items") or ()) for doc in docs]

    def share(counter: Counter) -> list[tuple[str, int, str]]:
        return [(key, count, f"{count / len(rows):.1%}") for key, count in sorted(counter.items())]

    def of_documents(count: int) -> str:
        return f"{count / len(docs):.1%}"

    def field(path: str) -> str:  # line_items.3.discount → line_items.*.discount
        return ".".join("*" if part.isdigit() else part for part in path.split("."))

    labelled, nulls = Counter(), Counter()  # documents with the field, and those where it is null
    for doc in docs:
        paths = scalar_paths(doc)
        labelled.update({field(path) for path in paths})
        nulls.update({field(path) for path in paths if get_path(doc, path) is None})

    return {
        "num_documents": len(rows),
        "splits": {split: len(split_rows) for split, split_rows in labels.items()},
        "doc_types": share(Counter(row["doc_type"] for row in rows)),
        "layouts": share(Counter(row["layout"] for row in rows)),
        "locales": share(Counter(f"{row['locale']} ({row['currency']})" for row in rows)),
        "augmentations": share(Counter(a for row in rows for a in row["augmentations"] or ["none (clean)"])),
        "line_items": {"min": min(items), "mean": f"{sum(items) / len(items):.2f}", "max": max(items)},
        "several_tax_rates": f"{sum(len(doc.get('taxes') or ()) > 1 for doc in docs) / len(docs):.1%}",
        "with_discount": f"{sum(float(doc.get('discount') or 0) > 0 for doc in docs) / len(docs):.1%}",
        "prices_include_tax": of_documents(sum(doc.get("prices_include_tax") is True for doc in docs)),
        "cash_rounded": of_documents(sum(float(doc.get("rounding") or 0) != 0 for doc in docs)),
        "line_discounts": of_documents(
            sum(any(float(item.get("discount") or 0) > 0 for item in doc.get("line_items") or ()) for doc in docs)
        ),
        "not_printed": [(key, count, f"{count / labelled[key]:.1%}") for key, count in sorted(nulls.items())],
        "fields_per_document": f"{sum(len(row['fields']) for row in rows) / len(rows):.1f}",
    }


def write_card(output_dir: Path, stats: dict, args: dict, repo_id: str | None, synthetic: bool = True) -> Path:
    """README.md: YAML metadata that `load_dataset` reads (configs, features) and the set's real statistics.

    Synthetic sets are CC-BY-4.0 and say how they were generated; a user's own set (`trainer.data.build`) gets no
    license (it is the owner's to set) and says where its files came from.
    """
    n = stats["num_documents"]
    size = "n<1K" if n < 1_000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M"
    card_data = DatasetCardData(
        pretty_name="FinScribe synthetic financial documents" if synthetic else "FinScribe financial documents",
        license="cc-by-4.0" if synthetic else None,
        language=sorted({locale[:2] for locale in args.get("locales", ())}) or None,
        task_categories=["image-to-text", "image-text-to-text"],
        tags=["finscribe", *(["synthetic"] if synthetic else []), "invoices", "receipts", "ocr", "document-ai"],
        size_categories=[size],
        configs=[
            {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in stats["splits"]]}
        ],
    )
    DatasetInfosDict({"default": DatasetInfo(features=FEATURES)}).to_dataset_card_data(card_data)
    card = DatasetCard.from_template(
        card_data,
        template_str=card_template(CARD_TEMPLATES[synthetic]),
        stats=stats,
        args=args,
        repo_id=repo_id or "path/to/this/folder",
    )
    path = output_dir / "README.md"
    card.save(path)
    return path


def contact_sheet(output_dir: Path, count: int = 12, columns: int = 4, thumb: int = 300) -> Path:
    """A grid of the first pages (by id) with their layout and locale, saved as contact_sheet.jpg."""
    files = data_files(output_dir, "*")
    first = sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())[:count]
    wanted = {"columns": ["id", "image", "layout", "locale"], "filters": [("id", "in", first)]}  # only those images
    rows = sorted((row for f in files for row in pq.read_table(f, **wanted).to_pylist()), key=lambda row: row["id"])
    cell_h = round(thumb * 1.414) + 28
    size = (columns * (thumb + 12) + 12, -(-len(rows) // columns) * (cell_h + 12) + 12)
    sheet = PILImage.new("RGB", size, (228, 228, 228))
    draw, label_font = ImageDraw.Draw(sheet), ImageFont.load_default(15)
    for i, row in enumerate(rows):
        page = open_page(row["image"], max_pixels=thumb * cell_h)
        page.thumbnail((thumb, cell_h - 28))
        x, y = 12 + (i % columns) * (thumb + 12), 12 + (i // columns) * (cell_h + 12)
        sheet.paste(page, (x + (thumb - page.width) // 2, y))
        caption = f"{row['layout']} · {row['locale']}" if row["locale"] else row["id"]
        draw.text((x + thumb / 2, y + cell_h - 22), caption, fill=(30, 30, 30), font=label_font, anchor="ma")
    path = output_dir / "contact_sheet.jpg"
    sheet.save(path, quality=88)
    return path


def load_document_dataset(name_or_path: str, split: str, needed: set[str]) -> Dataset:
    """One split of a document dataset (Hub id or local folder), checked for the columns a stage reads.

    datasets 5.2 caches `load_dataset(folder)` by the folder's name and card, not its files: a regenerated folder
    (or another folder of the same name) loads the old rows. Local FinScribe folders are therefore read through
    their Parquet files by path, so the cache follows the files' paths and modification times.
    """
    files = [str(f) for f in data_files(name_or_path, split)]
    if not files and (others := sorted({f.name.split("-")[0] for f in Path(name_or_path).glob("data/*-*.parquet")})):
        raise InputError(f"dataset {name_or_path!r} has no {split!r} split (it has {', '.join(others)})")
    if files and sum(pq.read_metadata(f).num_rows for f in files) == 0:
        raise InputError(f"dataset {name_or_path!r} split {split!r} is empty")
    try:
        if files:
            dataset = load_dataset("parquet", data_files={split: files}, split=split)
        else:  # a Hub id, or a folder in another layout
            dataset = load_dataset(name_or_path, split=split)
    except (FileNotFoundError, ValueError, ConnectionError) as error:
        hint = f"make one locally: python -m trainer.synth --output-dir {DEFAULT_DATASET}"
        raise InputError(f"cannot load dataset {name_or_path!r} split {split!r}: {first_line(error)}; {hint}") from None
    if missing := sorted(needed - set(dataset.column_names)):
        raise InputError(
            f"dataset {name_or_path!r} lacks the columns {missing} (make one with python -m trainer.synth or trainer.data.build)"
        )
    if len(dataset) == 0:
        raise InputError(f"dataset {name_or_path!r} split {split!r} is empty")
    return dataset
