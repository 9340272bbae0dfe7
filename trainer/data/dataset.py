"""Document datasets (Hub id or local folder) → TRL prompt-completion examples, lazily.

Nothing is copied: `with_transform` turns rows into examples when the trainer reads them, so images stay in the
Parquet files until a batch needs them. Each row's task (and region crop) is drawn from (seed, id) alone, so a
resumed or distributed run sees the same examples.
"""

import io
import json
import math
import random
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, load_dataset
from datasets import Image as ImageFeature
from PIL import Image

from trainer.cli import first_line

from .tasks import PROMPTS, TARGETS

MIN_PIXELS = 28 * 28  # one merged 2×2 block of 14-pixel patches: the least PaddleOCR-VL can see
REGIONS = {  # region crop → the top-level keys whose values it shows
    "header": None,  # everything that is neither line items nor totals
    "line_items": ("line_items",),
    "totals": ("subtotal", "discount", "taxes", "shipping", "total"),
}
NEEDED = {"image", "id", *TARGETS.values()}  # what training reads
SCORED = {"id", "image", "ground_truth"}  # what evaluation reads; table_html, when present, adds TEDS


def load_document_dataset(name_or_path: str, split: str, needed: set[str] = NEEDED) -> Dataset:
    """One split of a FinScribe document dataset, checked for the columns a stage needs (training's by default).

    datasets 5.2 caches `load_dataset(folder)` by the folder's name and card, not its files: a regenerated folder
    (or another folder of the same name) loads the old rows. Local FinScribe folders are therefore read through
    their Parquet files by path.
    """
    files = sorted(str(f) for f in Path(name_or_path).glob(f"data/{split}-*.parquet"))
    if files and sum(pq.read_metadata(f).num_rows for f in files) == 0:
        raise ValueError(f"dataset {name_or_path!r} split {split!r} is empty")
    try:
        if files:  # a local FinScribe folder: name its files, so the cache follows their paths and modification times
            dataset = load_dataset("parquet", data_files={split: files}, split=split)
        else:  # a Hub id, or a folder in another layout
            dataset = load_dataset(name_or_path, split=split)
    except (FileNotFoundError, ValueError, ConnectionError) as error:
        hint = "make one locally: python -m trainer.synth --output-dir data/synthetic_invoices"
        raise ValueError(f"cannot load dataset {name_or_path!r} split {split!r}: {first_line(error)}; {hint}") from None
    if missing := sorted(needed - set(dataset.column_names)):
        raise ValueError(f"dataset {name_or_path!r} lacks the columns {missing} (make one with python -m trainer.synth)")
    if len(dataset) == 0:
        raise ValueError(f"dataset {name_or_path!r} split {split!r} is empty")
    return dataset


def load_split(dataset: str, split: str, limit: int | None) -> Dataset:
    """The documents to read, images left undecoded (a page that does not decode is that document's zero, later)."""
    rows = load_document_dataset(dataset, split, needed=SCORED)
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    return rows.cast_column("image", ImageFeature(decode=False))


def parse_task_mix(text: str) -> dict[str, float]:
    """`extract=0.6,table=0.2,ocr=0.2` → weights; unknown tasks and non-positive totals are refused."""
    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        task, _, weight = part.partition("=")
        if task not in PROMPTS:
            raise ValueError(f"unknown task {task!r} in task mix; choose from {', '.join(PROMPTS)}")
        mix[task] = float(weight or 1)
    if not mix or sum(mix.values()) <= 0 or min(mix.values()) < 0:
        raise ValueError(f"task mix {text!r} needs at least one task with a positive weight")
    return mix


def open_page(data: bytes, max_pixels: int | None = None) -> Image.Image:
    """Decode a stored page; with max_pixels, let JPEG decoding skip what downscaling would throw away.

    Pillow's draft mode decodes a JPEG at 1/2, 1/4 or 1/8 scale (never below the size asked for), which costs a
    fraction of a full decode: at the tiny model's 50k-pixel budget, most of the work of reading a 1.4-Mpixel page.
    """
    image = Image.open(io.BytesIO(data))
    if max_pixels is not None and (scale := _shrink(image, max_pixels)) < 1:
        image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    return image.convert("RGB")


def downscale(image: Image.Image, max_pixels: int) -> Image.Image:
    """Shrink (never enlarge) to at most max_pixels, keeping the aspect ratio."""
    if (scale := _shrink(image, max_pixels)) >= 1:
        return image
    return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.Resampling.BICUBIC)


def _shrink(image: Image.Image, max_pixels: int) -> float:
    """The factor that brings an image's area down to max_pixels (1 when it already fits)."""
    return min(1.0, math.sqrt(max_pixels / (image.width * image.height)))


def decode_page(image: dict, max_pixels: int) -> Image.Image:
    """A stored page (bytes, or a path for datasets that keep files), downscaled to at most max_pixels."""
    data = image["bytes"] if image["bytes"] is not None else Path(image["path"]).read_bytes()
    page = downscale(open_page(data, max_pixels), max_pixels)
    if min(page.size) < 28:  # the processor cannot cut one 28-pixel patch block from it
        raise ValueError(f"page is {page.width}×{page.height} pixels, too small to read")
    return page


def crop_region(image: Image.Image, fields: list[dict], doc: dict, region: str, margin: int = 12) -> tuple[Image.Image, dict]:
    """Cut a region out of the page by its fields' boxes; return the crop and the part of the document it shows."""
    keys = REGIONS[region] or tuple(k for k in doc if not any(k in (v or ()) for v in REGIONS.values()))
    boxes = [f["bbox"] for f in fields if f["name"].split(".")[0] in keys]
    x0, y0 = min(b[0] for b in boxes) - margin, min(b[1] for b in boxes) - margin
    x1, y1 = max(b[2] for b in boxes) + margin, max(b[3] for b in boxes) + margin
    crop = image.crop((max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1)))
    return crop, {k: doc[k] for k in doc if k in keys}


def to_prompt_completion(dataset: Dataset, task_mix: dict[str, float], max_pixels: int, seed: int = 0, crop_share: float = 0.0) -> Dataset:
    """The same rows as TRL prompt-completion chat examples with an `images` column, computed on access."""
    if max_pixels < MIN_PIXELS:
        raise ValueError(f"max_pixels {max_pixels} is below one 28×28 patch block ({MIN_PIXELS}); PaddleOCR-VL would see nothing")
    tasks, weights = list(task_mix), list(task_mix.values())

    def example(row: dict) -> dict:
        rng = random.Random(f"{seed}:{row['id']}")
        task = rng.choices(tasks, weights)[0]
        if not row[TARGETS[task]]:  # a user's document has no page text: teach what its label does say
            task = "extract"
        target = row[TARGETS[task]]
        if task == "extract" and row["fields"] and rng.random() < crop_share:  # crops need the recorded boxes
            doc = json.loads(target)
            image, part = crop_region(open_page(row["image"]["bytes"]), row["fields"], doc, rng.choice(list(REGIONS)))
            target = json.dumps(part, ensure_ascii=False, separators=(",", ":"))
        else:
            image = open_page(row["image"]["bytes"], max_pixels)
        return {
            "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPTS[task]}]}],
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": target}]}],
            "images": [downscale(image, max_pixels)],
        }

    def transform(batch: dict) -> dict:
        rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        examples = [example(row) for row in rows]
        return {key: [e[key] for e in examples] for key in ("prompt", "completion", "images")}

    return dataset.cast_column("image", ImageFeature(decode=False)).with_transform(transform)  # decoded in `example`

