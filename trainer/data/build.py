"""python -m trainer.data.build --crops-dir DIR --annotations-dir DIR --output-dir DIR [--allow-invalid-arithmetic]

Turn your own labelled documents into FinScribe's document dataset (the format `trainer.synth` writes, with its
card): images (PNG, JPEG, and each page of a PDF) in --crops-dir, and beside each a JSON annotation in the canonical
schema in --annotations-dir, named after the image (`scan_017.json` for `scan_017.png`; `bill_p2.json` for page 2 of
`bill.pdf`, or `bill.json` for a one-page PDF). A bad sample is skipped and listed with its reason in
`rejects.jsonl`; every valid sample is kept. Pages are written in chunks, so memory holds one chunk at a time.
"""

import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm
from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data import documents
from trainer.data.pages import MAX_PAGE_PIXELS, PageError, is_pdf, open_page, pdf_pages, read_bytes
from trainer.errors import InputError
from trainer.schema import validate

SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".pdf"}


@dataclass
class BuildArguments:
    crops_dir: str = field(metadata={"help": "Folder of document images: PNG, JPEG, WebP, TIFF or PDF."})
    annotations_dir: str = field(metadata={"help": "Folder of JSON annotations in the canonical schema, named after the images."})
    output_dir: str = field(metadata={"help": "Dataset folder to write (must be empty or absent)."})
    allow_invalid_arithmetic: bool = field(default=False, metadata={"help": "Keep documents whose arithmetic does not add up."})
    max_pixels: int = field(default=MAX_PAGE_PIXELS, metadata={"help": "Reject pages larger than this (pixels)."})
    chunk_size: int = field(default=100, metadata={"help": "Pages per Parquet chunk: what memory holds at once."})

    def __post_init__(self):
        for name in ("crops_dir", "annotations_dir"):
            if not Path(getattr(self, name)).is_dir():
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)} is not a folder")
        output = Path(self.output_dir)
        if output.exists() and any(output.iterdir()):
            raise InputError(f"output dir {output} is not empty")
        if self.chunk_size < 1:
            raise InputError(f"--chunk-size must be at least 1, got {self.chunk_size}")


class Reject(Exception):
    """This sample cannot be used; the message says why."""


def samples(path: Path, max_pixels: int) -> Iterator[tuple[str, bytes]]:
    """(sample id, the page's file bytes) for an image, or for each page of a PDF (rendered as PNG)."""
    data = read_bytes(path)
    if not is_pdf(data):
        open_page(data, limit=max_pixels)  # refuses what cannot be read before it is stored
        yield path.stem, data
        return
    pages = list(pdf_pages(data, max_pixels))
    for number, page in enumerate(pages, start=1):
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        yield (f"{path.stem}_p{number}" if len(pages) > 1 else path.stem), buffer.getvalue()


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


def read_file(path: Path, args: BuildArguments, seen: set[str]) -> tuple[list[dict], list[dict]]:
    """One file's rows and rejects (file, sample, reason)."""
    rows, rejects = [], []
    if path.suffix.lower() not in SUFFIXES:
        return [], [{"file": path.name, "reason": f"not a PNG, JPEG, WebP, TIFF or PDF ({path.suffix or 'no suffix'})"}]
    try:
        for sample_id, data in samples(path, args.max_pixels):
            try:
                if sample_id in seen:
                    raise Reject(f"duplicate sample id {sample_id}")
                doc = label(Path(args.annotations_dir) / f"{sample_id}.json", args.allow_invalid_arithmetic)
                rows.append(documents.document_row(sample_id, data, doc))
                seen.add(sample_id)
            except Reject as reason:
                rejects.append({"file": path.name, "sample": sample_id, "reason": str(reason)})
    except PageError as reason:
        rejects.append({"file": path.name, "reason": str(reason)})
    return rows, rejects


def build(args: BuildArguments) -> tuple[int, list[dict]]:
    """Read every file into chunks of at most `chunk_size` pages' files; return the rows kept and the rejects."""
    files = sorted(p for p in Path(args.crops_dir).iterdir() if p.is_file())
    output, kept, rejects, seen = Path(args.output_dir), 0, [], set()
    groups = documents.chunk_ranges(len(files), args.chunk_size)  # a PDF's pages stay in its file's chunk
    for chunk, group in enumerate(tqdm(groups, unit="chunk", desc="Building", disable=len(groups) < 2)):
        rows = []
        for index in group:
            file_rows, file_rejects = read_file(files[index], args, seen)
            rows += file_rows
            rejects += file_rejects
        documents.write_chunk(output, chunk, len(groups), rows)
        kept += len(rows)
    return kept, rejects


def main(argv: list[str] | None = None):
    with one_line_errors():
        (args,) = HfArgumentParser(BuildArguments).parse_args_into_dataclasses(argv)
        output = Path(args.output_dir)
        kept, rejects = build(args)
        if not kept:
            raise InputError(f"no valid sample in {args.crops_dir} ({len(rejects)} rejected; nothing kept)")
        with open(output / "rejects.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(reject, ensure_ascii=False) + "\n" for reject in rejects)
        stats = documents.statistics(documents.read_labels(output))
        documents.contact_sheet(output)
        recipe = {"crops_dir": args.crops_dir, "annotations_dir": args.annotations_dir, "rejected": len(rejects)}
        documents.write_card(output, stats, recipe, None, synthetic=False)
    print(f"Kept {kept} documents in {output}/ ({', '.join(f'{s} {n}' for s, n in stats['splits'].items())})")
    if rejects:
        reasons = Counter(r["reason"].split(":")[0] for r in rejects)
        listed = ", ".join(f"{k} ×{n}" for k, n in reasons.most_common())
        print(f"Rejected {len(rejects)}, listed in {output / 'rejects.jsonl'}: {listed}", file=sys.stderr)


if __name__ == "__main__":
    main()
