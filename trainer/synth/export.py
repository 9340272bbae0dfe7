"""Write samples as a Hugging Face dataset folder: Parquet shards, a dataset card and a contact sheet.

Samples are written in chunks of consecutive indices; a chunk's files appear atomically and a marker under
`.synth/` says it is complete, so an interrupted run resumes at the first missing chunk and ends with the
same bytes as an uninterrupted one.
"""

import hashlib
import io
import json
import os
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, DatasetInfo, Features, Image, List, Value, disable_progress_bars
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image as PILImage
from PIL import ImageDraw

from .fonts import font

disable_progress_bars()  # one bar, over documents, is shown by the CLI

FEATURES = Features(
    {
        "image": Image(),
        "id": Value("string"),
        "doc_type": Value("string"),
        "ground_truth": Value("string"),
        "table_html": Value("string"),
        "table_otsl": Value("string"),
        "text": Value("string"),
        "fields": List({"name": Value("string"), "value": Value("string"), "bbox": List(Value("int32"), length=4)}),
        "layout": Value("string"),
        "locale": Value("string"),
        "currency": Value("string"),
        "augmentations": List(Value("string")),
        "seed": Value("int64"),
    }
)
SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}
STATE = ".synth"  # resume bookkeeping; not part of the dataset, never uploaded
CARD_TEMPLATE = Path(__file__).resolve().parents[2] / "dataset_cards" / "synthetic_documents.md"
USER_CARD_TEMPLATE = CARD_TEMPLATE.with_name("user_documents.md")


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


def is_done(output_dir: Path, chunk: int) -> bool:
    return (output_dir / STATE / f"chunk-{chunk:05d}.done").exists()


def write_chunk(output_dir: Path, chunk: int, num_chunks: int, rows: list[dict]):
    """Each split's rows of one chunk to its own Parquet file (written aside, then renamed), then the marker."""
    data = output_dir / "data"
    data.mkdir(exist_ok=True)
    for split in SPLITS:
        selected = [row for row in rows if split_of(row["id"]) == split]
        if selected:
            path = data / f"{split}-{chunk:05d}-of-{num_chunks:05d}.parquet"
            Dataset.from_list(selected, features=FEATURES).to_parquet(str(path) + ".tmp")
            os.replace(str(path) + ".tmp", path)
    (output_dir / STATE / f"chunk-{chunk:05d}.done").touch()


def read_labels(output_dir: Path) -> dict[str, list[dict]]:
    """Every split's label columns (no images), in id order."""
    columns = [name for name in FEATURES if name != "image"]
    labels = {}
    for split in SPLITS:
        files = sorted((output_dir / "data").glob(f"{split}-*.parquet"))
        rows = [row for f in files for row in pq.read_table(f, columns=columns).to_pylist()]
        if rows:
            labels[split] = rows
    return labels


def statistics(labels: dict[str, list[dict]]) -> dict:
    rows = [row for split_rows in labels.values() for row in split_rows]
    docs = [json.loads(row["ground_truth"]) for row in rows]
    items = [len(doc["line_items"]) for doc in docs]

    def share(counter: Counter) -> list[tuple[str, int, str]]:
        return [(key, count, f"{count / len(rows):.1%}") for key, count in sorted(counter.items())]

    return {
        "num_documents": len(rows),
        "splits": {split: len(split_rows) for split, split_rows in labels.items()},
        "doc_types": share(Counter(row["doc_type"] for row in rows)),
        "layouts": share(Counter(row["layout"] for row in rows)),
        "locales": share(Counter(f"{row['locale']} ({row['currency']})" for row in rows)),
        "augmentations": share(Counter(a for row in rows for a in row["augmentations"] or ["none (clean)"])),
        "line_items": {"min": min(items), "mean": f"{sum(items) / len(items):.2f}", "max": max(items)},
        "several_tax_rates": f"{sum(len(doc['taxes']) > 1 for doc in docs) / len(docs):.1%}",
        "with_discount": f"{sum(float(doc['discount']) > 0 for doc in docs) / len(docs):.1%}",
        "fields_per_document": f"{sum(len(row['fields']) for row in rows) / len(rows):.1f}",
    }


def write_card(output_dir: Path, stats: dict, args: dict, repo_id: str | None, synthetic: bool = True):
    """README.md: YAML metadata that `load_dataset` reads (configs, features) and the set's real statistics.

    Synthetic sets are CC-BY-4.0 and say how they were generated; a user's own set (`trainer.data.build`) gets no
    license (it is the owner's to set) and says where its files came from.
    """
    splits = list(stats["splits"])
    n = stats["num_documents"]
    size = "n<1K" if n < 1_000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 else "100K<n<1M"
    card_data = DatasetCardData(
        pretty_name="FinScribe synthetic financial documents" if synthetic else "FinScribe financial documents",
        license="cc-by-4.0" if synthetic else None,
        language=sorted({locale[:2] for locale in args.get("locales", ())}) or None,
        task_categories=["image-to-text", "image-text-to-text"],
        tags=["finscribe", *(["synthetic"] if synthetic else []), "invoices", "receipts", "ocr", "document-ai"],
        size_categories=[size],
        configs=[{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
        dataset_info=DatasetInfo(features=FEATURES)._to_yaml_dict(),
    )
    template = CARD_TEMPLATE if synthetic else USER_CARD_TEMPLATE
    card = DatasetCard.from_template(
        card_data, template_path=str(template), stats=stats, args=args, repo_id=repo_id or "path/to/this/folder"
    )
    card.save(output_dir / "README.md")


def contact_sheet(output_dir: Path, count: int = 12, columns: int = 4, thumb: int = 300) -> Path:
    """A grid of the first pages (by id) with their layout and locale, saved as contact_sheet.jpg."""
    files = sorted((output_dir / "data").glob("*.parquet"))
    first = sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())[:count]
    wanted = {"columns": ["id", "image", "layout", "locale"], "filters": [("id", "in", first)]}  # only those images
    rows = sorted(
        (row for f in files for row in pq.read_table(f, **wanted).to_pylist()),
        key=lambda row: row["id"],
    )
    cell_h = round(thumb * 1.414) + 28
    sheet = PILImage.new(
        "RGB", (columns * (thumb + 12) + 12, -(-len(rows) // columns) * (cell_h + 12) + 12), (228, 228, 228)
    )
    draw, label_font = ImageDraw.Draw(sheet), font("sans", 15)
    for i, row in enumerate(rows):
        page = PILImage.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
        page.thumbnail((thumb, cell_h - 28))
        x, y = 12 + (i % columns) * (thumb + 12), 12 + (i // columns) * (cell_h + 12)
        sheet.paste(page, (x + (thumb - page.width) // 2, y))
        draw.text(
            (x + thumb / 2, y + cell_h - 22),
            f"{row['layout']} · {row['locale']}",
            fill=(30, 30, 30),
            font=label_font,
            anchor="ma",
        )
    path = output_dir / "contact_sheet.jpg"
    sheet.save(path, quality=88)
    return path
