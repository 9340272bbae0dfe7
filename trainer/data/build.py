"""python -m trainer.data.build --crops-dir DIR --annotations-dir DIR --output-dir DIR [--allow-invalid-arithmetic]

Turn your own labelled documents into FinScribe's document dataset (the format `trainer.synth` writes, with its
card): images (PNG, JPEG, and each page of a PDF) in --crops-dir, and beside each a JSON annotation in the canonical
schema in --annotations-dir, named after the image (`scan_017.json` for `scan_017.png`; `bill_p2.json` for page 2 of
`bill.pdf`, or `bill.json` for a one-page PDF). A bad sample is skipped and listed with its reason in
`rejects.jsonl`; every valid sample is kept.
"""

import io
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image
from transformers import HfArgumentParser

from trainer.cli import first_line, one_line_errors
from trainer.schema import ITEM_KEYS, canonical_json, validate
from trainer.synth import export
from trainer.tables import grid_to_html, grid_to_otsl

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
PDF_DPI = 150


@dataclass
class BuildArguments:
    crops_dir: str = field(metadata={"help": "Folder of document images: PNG, JPEG or PDF."})
    annotations_dir: str = field(metadata={"help": "Folder of JSON annotations in the canonical schema, named after the images."})
    output_dir: str = field(metadata={"help": "Dataset folder to write (must be empty or absent)."})
    allow_invalid_arithmetic: bool = field(default=False, metadata={"help": "Keep documents whose arithmetic does not add up."})
    max_pixels: int = field(default=50_000_000, metadata={"help": "Reject images larger than this (pixels)."})

    def __post_init__(self):
        for name in ("crops_dir", "annotations_dir"):
            if not Path(getattr(self, name)).is_dir():
                raise ValueError(f"--{name.replace('_', '-')} {getattr(self, name)} is not a folder")
        output = Path(self.output_dir)
        if output.exists() and any(output.iterdir()):
            raise ValueError(f"output dir {output} is not empty")


class Reject(Exception):
    """This sample cannot be used; the message says why."""


def pages(path: Path, max_pixels: int):
    """(sample id, image bytes, PIL image) for an image file, or for each page of a PDF."""
    if path.suffix.lower() == ".pdf":
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as error:
            raise Reject(f"unreadable PDF: {error}") from None
        for number, page in enumerate(document, start=1):
            image = page.render(scale=PDF_DPI / 72).to_pil().convert("RGB")
            _check_size(image, max_pixels)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            yield (f"{path.stem}_p{number}" if len(document) > 1 else path.stem), buffer.getvalue(), image
        return
    data = path.read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as probe:
            _check_size(probe, max_pixels)  # before decoding: a huge image is refused without filling memory
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, Image.DecompressionBombError) as error:
        raise Reject(f"unreadable image: {first_line(error)}") from None
    yield path.stem, data, image


def _check_size(image: Image.Image, max_pixels: int):
    if image.width * image.height > max_pixels:
        raise Reject(f"oversized image: {image.width}×{image.height} is over {max_pixels} pixels")


def label(annotation: Path, allow_invalid_arithmetic: bool) -> dict:
    """The annotation as a canonical document, or Reject naming what is wrong with it."""
    if not annotation.exists():
        raise Reject(f"no annotation {annotation.name}")
    try:
        doc = json.loads(annotation.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise Reject(f"invalid JSON in {annotation.name}: {error}") from None
    violations = validate(doc)
    schema = [v for v in violations if v.startswith("schema:")]
    if schema or (violations and not allow_invalid_arithmetic):
        raise Reject("; ".join(schema or violations))
    return doc


def row(sample_id: str, data: bytes, image: Image.Image, doc: dict) -> dict:
    """A dataset row like the generator's; what a user's label cannot say (page text, boxes) stays empty."""
    grid = [[(key, 1) for key in ITEM_KEYS]] + [[(item[key], 1) for key in ITEM_KEYS] for item in doc["line_items"]]
    return {
        "image": {"bytes": data, "path": None},
        "id": sample_id,
        "doc_type": doc["doc_type"],
        "ground_truth": canonical_json(doc),
        "table_html": grid_to_html(grid),
        "table_otsl": grid_to_otsl(grid),
        "text": "",
        "fields": [],
        "layout": "user",
        "locale": "",
        "currency": doc["currency"],
        "augmentations": [],
        "seed": -1,
    }


def build(args: BuildArguments) -> tuple[list[dict], list[dict]]:
    """Read every file; return the kept rows and the rejects (file, reason)."""
    rows, rejects, seen = [], [], set()
    files = sorted(p for p in Path(args.crops_dir).iterdir() if p.is_file())
    for path in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES | {".pdf"}:
            rejects.append({"file": path.name, "reason": f"not a PNG, JPEG or PDF ({path.suffix or 'no suffix'})"})
            continue
        try:
            for sample_id, data, image in pages(path, args.max_pixels):
                try:
                    if sample_id in seen:
                        raise Reject(f"duplicate sample id {sample_id}")
                    doc = label(Path(args.annotations_dir) / f"{sample_id}.json", args.allow_invalid_arithmetic)
                    rows.append(row(sample_id, data, image, doc))
                    seen.add(sample_id)
                except Reject as reason:
                    rejects.append({"file": path.name, "sample": sample_id, "reason": str(reason)})
        except Reject as reason:
            rejects.append({"file": path.name, "reason": str(reason)})
    return rows, rejects


def main(argv: list[str] | None = None):
    with one_line_errors():
        (args,) = HfArgumentParser(BuildArguments).parse_args_into_dataclasses(argv)
        rows, rejects = build(args)
        if not rows:
            raise ValueError(f"no valid sample in {args.crops_dir} ({len(rejects)} rejected; nothing written)")
        output = Path(args.output_dir)
        (output / export.STATE).mkdir(parents=True, exist_ok=True)
        export.write_chunk(output, 0, 1, rows)
        with open(output / "rejects.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(reject, ensure_ascii=False) + "\n" for reject in rejects)
        stats = export.statistics(export.read_labels(output))
        export.contact_sheet(output)
        recipe = {"crops_dir": args.crops_dir, "annotations_dir": args.annotations_dir, "rejected": len(rejects)}
        export.write_card(output, stats, recipe, None, synthetic=False)
        print(f"Kept {len(rows)} documents in {output}/ ({', '.join(f'{s} {n}' for s, n in stats['splits'].items())})")
        if rejects:
            reasons = Counter(r["reason"].split(":")[0] for r in rejects)
            print(f"Rejected {len(rejects)}, listed in {output / 'rejects.jsonl'}: " + ", ".join(f"{k} ×{n}" for k, n in reasons.most_common()), file=sys.stderr)


if __name__ == "__main__":
    main()
