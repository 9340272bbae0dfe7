"""python -m trainer.data.build --crops-dir DIR --annotations-dir DIR --output-dir DIR [--allow-invalid-arithmetic]
[--resume | --overwrite]

Turn your own labelled documents into FinScribe's document dataset (the format `trainer.synth` writes, with its
card): images (PNG, JPEG, and each page of a PDF) in --crops-dir, and beside each a JSON annotation in the canonical
schema in --annotations-dir, named after the image (`scan_017.json` for `scan_017.png`; `bill_p2.json` for page 2 of
`bill.pdf`, or `bill.json` for a one-page PDF). A bad sample is skipped and listed with its reason in
`rejects.jsonl`; every valid sample is kept. Pages are written in chunks, so memory holds one chunk at a time, and
an interrupted build continues with `--resume`.
"""

import hashlib
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm
from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data import documents
from trainer.data.pages import (
    FORMATS,
    MAX_PAGE_PIXELS,
    READABLE,
    PageError,
    not_a_file,
    open_page,
    open_pdf,
    page_format,
    pdf_page,
    read_bytes,
)
from trainer.errors import InputError, first_line
from trainer.folders import claim
from trainer.schema import validate

SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WebP", ".tif": "TIFF", ".tiff": "TIFF", ".pdf": "PDF"}  # fmt: skip
MAX_ANNOTATION_BYTES = 10_000_000  # a thousand-line invoice is ~200 kB
STATE = ".build"  # resume bookkeeping: the arguments, and per finished chunk its ids and rejects; never uploaded
MAX_PDF_PAGES = 1000  # a file's pages are held until its chunk is written; a 1 kB PDF can claim a million pages


@dataclass
class BuildArguments:
    crops_dir: str = field(metadata={"help": "Folder of document images: PNG, JPEG, WebP, TIFF or PDF."})
    annotations_dir: str = field(metadata={"help": "Folder of JSON annotations in the canonical schema, named after the images."})
    output_dir: str = field(metadata={"help": "Dataset folder to write (new or empty, unless resumed or overwritten)."})
    allow_invalid_arithmetic: bool = field(default=False, metadata={"help": "Keep documents whose arithmetic does not add up."})
    max_pixels: int = field(default=MAX_PAGE_PIXELS, metadata={"help": "Reject pages larger than this (pixels)."})
    chunk_size: int = field(default=100, metadata={"help": "Files per Parquet chunk (the unit of resuming): what memory holds at once."})
    resume: bool = field(default=False, metadata={"help": "Continue an interrupted build in output_dir."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a dataset FinScribe built in output_dir."})

    def __post_init__(self):
        for name in ("crops_dir", "annotations_dir"):
            if not Path(getattr(self, name)).is_dir():
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)} is not a folder")
        if self.chunk_size < 1:
            raise InputError(f"--chunk-size must be at least 1, got {self.chunk_size}")
        if self.resume and self.overwrite:
            raise InputError("--resume and --overwrite exclude each other")


class Reject(Exception):
    """This sample cannot be used; the message says why."""


def samples(path: Path, max_pixels: int) -> Iterator[tuple[str, bytes | PageError]]:
    """(sample id, the page's file bytes) for an image, or for each page of a PDF, rendered as PNG one at a time; a
    page that cannot be rendered comes as its PageError, which rejects that page alone.

    The content decides what a file is: a supported format under another's suffix is read as what it is.
    """
    data = read_bytes(path)
    if (content := page_format(data)) not in FORMATS:
        raise PageError(f"content is {content}, not {SUFFIXES[path.suffix.lower()]}: pages are {READABLE}")
    if content != "PDF":
        open_page(data, limit=max_pixels)  # refuses what cannot be read before it is stored
        yield path.stem, data
        return
    document = open_pdf(data)
    if len(document) > MAX_PDF_PAGES:
        raise PageError(f"PDF has {len(document):,} pages, over {MAX_PDF_PAGES:,}: split it")
    for index in range(len(document)):
        sample_id = f"{path.stem}_p{index + 1}" if len(document) > 1 else path.stem
        try:
            page = pdf_page(document, index, max_pixels)
        except PageError as error:
            yield sample_id, error
            continue
        buffer = io.BytesIO()
        page.save(buffer, format="PNG")
        yield sample_id, buffer.getvalue()


def label(annotation: Path, allow_invalid_arithmetic: bool) -> dict:
    """The annotation as a canonical document, or Reject naming what is wrong with it."""
    if not os.path.lexists(annotation):
        raise Reject(f"no annotation: {annotation.name} not found")
    if (kind := not_a_file(annotation)) is not None:  # never opened: a FIFO would block, /dev/zero never end
        raise Reject(f"annotation is not a file: {annotation.name} is {kind}")
    try:
        with open(annotation, "rb") as f:
            data = f.read(MAX_ANNOTATION_BYTES + 1)
    except OSError as error:
        raise Reject(f"cannot read annotation {annotation.name}: {error.strerror or error}") from None
    if len(data) > MAX_ANNOTATION_BYTES:
        raise Reject(f"annotation too large: {annotation.name} is over {MAX_ANNOTATION_BYTES // 1_000_000} MB")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise Reject(
            f"annotation is not UTF-8 text: {annotation.name} has byte {data[error.start]:#04x} at {error.start}"
        ) from None
    except RecursionError:
        raise Reject(f"invalid JSON: {annotation.name}: nested too deep") from None
    except json.JSONDecodeError as error:
        raise Reject(f"invalid JSON: {annotation.name}: {error}") from None
    except ValueError:  # int() refuses more digits than this, against quadratic-time conversion
        digits = sys.get_int_max_str_digits()
        raise Reject(f"invalid JSON: {annotation.name}: a number of over {digits:,} digits") from None
    try:
        violations = validate(doc)
    except (TypeError, ArithmeticError, RecursionError) as error:  # values the validator did not foresee
        raise Reject(f"annotation could not be validated: {annotation.name}: {first_line(error)}") from None
    schema = [v for v in violations if v.startswith("schema:")]
    if schema or (violations and not allow_invalid_arithmetic):
        raise Reject("; ".join(schema or violations))
    return doc


def read_file(path: Path, args: BuildArguments, seen: set[str]) -> tuple[list[dict], list[dict]]:
    """One file's rows and rejects (file, sample, reason)."""
    rows, rejects = [], []
    name = path.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")  # caf\xe9.png
    if name != path.name:  # Arrow and JSON hold only text: the name's bytes are not UTF-8
        return [], [{"file": name, "reason": "file name is not valid UTF-8: rename it"}]
    if (kind := not_a_file(path)) is not None:
        return [], [{"file": name, "reason": f"not a file: {kind}"}]
    if path.suffix.lower() not in SUFFIXES:
        return [], [{"file": name, "reason": f"not a {READABLE} ({path.suffix or 'no suffix'})"}]
    try:
        for sample_id, data in samples(path, args.max_pixels):
            try:
                if isinstance(data, PageError):
                    raise Reject(str(data))
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


def build(args: BuildArguments, output: Path) -> tuple[int, list[dict]]:
    """Read every file into chunks of at most `chunk_size` files' pages; return the rows kept and the rejects.

    Each finished chunk leaves its record (ids kept, rejects) in STATE, so `--resume` skips it.
    """
    files = sorted(Path(args.crops_dir).iterdir())  # every entry: one that is not a page file is listed as a reject
    kept, rejects, seen = 0, [], set()
    groups = documents.chunk_ranges(len(files), args.chunk_size)  # a PDF's pages stay in its file's chunk
    for chunk, group in enumerate(tqdm(groups, unit="chunk", desc="Building", disable=len(groups) < 2)):
        record = output / STATE / f"chunk-{chunk:05d}.json"
        if not record.exists():
            rows, chunk_rejects = [], []
            for index in group:
                file_rows, file_rejects = read_file(files[index], args, seen)
                rows += file_rows
                chunk_rejects += file_rejects
            documents.write_chunk(output, chunk, len(groups), rows)
            summary = {"ids": [row["id"] for row in rows], "rejects": chunk_rejects}
            documents.write_atomic(record, json.dumps(summary, ensure_ascii=False).encode())
        summary = json.loads(record.read_text(encoding="utf-8"))
        seen.update(summary["ids"])
        kept += len(summary["ids"])
        rejects += summary["rejects"]
    return kept, rejects


def check_state(args: BuildArguments, output: Path):
    """Record what decides the output; a resumed build must read the same files with the same settings."""
    names = sorted(p.name for p in Path(args.crops_dir).iterdir())
    recipe = {
        "crops_dir": str(Path(args.crops_dir).resolve()), "annotations_dir": str(Path(args.annotations_dir).resolve()),
        "allow_invalid_arithmetic": args.allow_invalid_arithmetic, "max_pixels": args.max_pixels,
        "chunk_size": args.chunk_size,
        "files": hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest(),
    }  # fmt: skip
    state = output / STATE / "args.json"
    if args.resume:
        if not state.exists():
            raise InputError(f"{output} holds no build to resume (no {STATE}/args.json)")
        if (previous := json.loads(state.read_text())) != recipe:
            changed = ", ".join(k if k == "files" else f"{k} {previous.get(k)} → {v}" for k, v in recipe.items()
                                if previous.get(k) != v)  # fmt: skip
            raise InputError(f"cannot resume {output}: it was built from other files or settings ({changed})")
    state.parent.mkdir(exist_ok=True)
    state.write_text(json.dumps(recipe, indent=2))


def main(argv: list[str] | None = None):
    with one_line_errors():
        (args,) = HfArgumentParser(BuildArguments).parse_args_into_dataclasses(argv)
    kept = f"finished chunks are kept; continue with --resume --output-dir {args.output_dir}"
    folder = claim(args.output_dir, "trainer.data.build", overwrite=args.overwrite, resume=args.resume)
    with one_line_errors(interrupted=kept), folder as output:
        check_state(args, output)
        kept, rejects = build(args, output)
        if not kept:
            raise InputError(f"no valid sample in {args.crops_dir} ({len(rejects)} rejected; nothing kept)")
        lines = "".join(json.dumps(reject, ensure_ascii=False) + "\n" for reject in rejects)
        documents.write_atomic(output / "rejects.jsonl", lines.encode())
        stats = documents.statistics(documents.read_labels(output))
        documents.contact_sheet(output)
        recipe = {"crops_dir": args.crops_dir, "annotations_dir": args.annotations_dir, "rejected": len(rejects)}
        documents.write_card(output, stats, recipe, None, synthetic=False)
    print(f"Kept {kept} documents in {output}/ ({', '.join(f'{s} {n}' for s, n in stats['splits'].items())})")
    if rejects:
        reasons = Counter(r["reason"].split(":")[0] for r in rejects)  # the kind of reason, before its details
        listed = ", ".join(f"{k} ×{n}" for k, n in reasons.most_common())
        print(f"Rejected {len(rejects)}, listed in {output / 'rejects.jsonl'}: {listed}", file=sys.stderr)


if __name__ == "__main__":
    main()
