"""Users' own documents read into document rows: page files (PNG, JPEG, WebP, TIFF, PDF) and the annotations named
after them, in the canonical schema or imported from SROIE, CORD or DocILE (`trainer.data.importers`). What `python -m
trainer.data.build` does: `BuildArguments` are its flags, `build` writes the chunks, `card_args` what its card says.

A bad sample is a reject with its reason, never an exception that loses the good ones beside it.
"""

import hashlib
import json
import os
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tqdm.auto import tqdm

from trainer.data import document_dataset
from trainer.data.importers import ANNOTATION_SUFFIXES, IMPORTERS
from trainer.data.pages import (
    FORMATS,
    MAX_PAGE_PIXELS,
    READABLE,
    PageError,
    encode_png,
    not_a_file,
    open_page,
    open_pdf,
    page_count,
    page_format,
    pdf_page,
    stored_page,
)
from trainer.errors import InputError, first_line
from trainer.folders import keep_settings
from trainer.schema.document import DOCUMENT_TYPES, scalar_paths, upgrade, validate

SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WebP", ".tif": "TIFF", ".tiff": "TIFF", ".pdf": "PDF"}  # fmt: skip
MAX_ANNOTATION_BYTES = 10_000_000  # a thousand-line invoice is ~200 kB
STATE = ".build"  # resume bookkeeping: the arguments, and per finished chunk its ids and rejects; never uploaded
MAX_PDF_PAGES = 1000  # a file's pages are held until its chunk is written; a 1 kB PDF can claim a million pages


@dataclass
class BuildArguments:
    crops_dir: str = field(metadata={"help": "Folder of document images: PNG, JPEG, WebP, TIFF or PDF."})
    annotations_dir: str = field(
        metadata={"help": "Folder of annotations, named after the images (it may be the same folder)."}
    )
    output_dir: str = field(metadata={"help": "Dataset folder to write (new or empty, unless resumed or overwritten)."})
    format: Literal["canonical", "sroie", "cord", "docile"] = field(
        default="canonical",
        metadata={"help": "The annotations' format: canonical (FinScribe's schema, .json), sroie (ICDAR 2019 task 3 "
                          "key files, .txt or .json), cord (CORD-v2 ground truth, .json) or docile (DocILE's "
                          "annotations/<id>.json beside pdfs/<id>.pdf)."},
    )  # fmt: skip
    allow_invalid_arithmetic: bool = field(
        default=False, metadata={"help": "Keep documents whose arithmetic does not add up."}
    )
    max_pages: int = field(default=8, metadata={"help": "Reject a PDF annotated as one document that has more pages."})
    max_pixels: int = field(default=MAX_PAGE_PIXELS, metadata={"help": "Reject pages larger than this (pixels)."})
    chunk_size: int = field(
        default=100, metadata={"help": "Files per Parquet chunk (the unit of resuming): what memory holds at once."}
    )
    resume: bool = field(default=False, metadata={"help": "Continue an interrupted build in output_dir."})
    overwrite: bool = field(default=False, metadata={"help": "Replace a dataset FinScribe built in output_dir."})

    def __post_init__(self):
        for name in ("crops_dir", "annotations_dir"):
            if not Path(getattr(self, name)).is_dir():
                raise InputError(f"--{name.replace('_', '-')} {getattr(self, name)} is not a folder")
        for name in ("chunk_size", "max_pages"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.resume and self.overwrite:
            raise InputError("--resume and --overwrite exclude each other")


class Reject(Exception):
    """This sample cannot be used; the message says why, starting with the kind of reason ("no annotation: ...")."""


def label(annotation: Path, args: BuildArguments) -> tuple[dict, list[str]]:
    """The annotation as a canonical document, with what its format labels that has no place in the schema
    (dropped), or Reject naming what is wrong with it."""
    if not os.path.lexists(annotation):
        raise Reject(f"no annotation: {annotation.name} not found")
    if (kind := not_a_file(annotation)) is not None:  # never opened: a FIFO would block, /dev/zero never end
        raise Reject(f"annotation is not a file: {annotation.name} is {kind}")
    try:
        with open(annotation, "rb") as f:
            data = f.read(MAX_ANNOTATION_BYTES + 1)
    except OSError as error:
        raise Reject(f"cannot read annotation: {annotation.name}: {error.strerror or error}") from None
    if len(data) > MAX_ANNOTATION_BYTES:
        raise Reject(f"annotation too large: {annotation.name} is over {MAX_ANNOTATION_BYTES // 1_000_000} MB")
    try:
        value = json.loads(data.decode("utf-8-sig"))
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
    return labelled(value, args.format, annotation.name, args.allow_invalid_arithmetic)


def labelled(value, format: str, name: str, allow_invalid_arithmetic: bool = False) -> tuple[dict, list[str]]:
    """An annotation's JSON value (of `format`) as a valid canonical document and what its format labels that has
    no place in the schema; Reject naming what is wrong (`name`: the annotation's file or row)."""
    doc, dropped = value, []
    if format != "canonical":
        try:
            doc, dropped = IMPORTERS[format](value)
        except InputError as error:
            raise Reject(f"{error} ({name})") from None
        if len(doc) == 1:  # doc_type alone: the document's own fields could not be read
            raise Reject(f"nothing labelled: {name} gives no field FinScribe reads ({'; '.join(dropped)})")
    try:
        doc = upgrade(doc)  # a complete version 1 document says what version 2 spells out
        violations = validate(doc)
    except (TypeError, ArithmeticError, RecursionError) as error:  # values the validator did not foresee
        raise Reject(f"annotation could not be validated: {name}: {first_line(error)}") from None
    schema = [v for v in violations if v.startswith("schema:")]
    if schema or (violations and not allow_invalid_arithmetic):
        raise Reject("; ".join(schema or violations))
    return doc, dropped


def annotations(stem: str, args: BuildArguments) -> list[Path]:
    """The annotation files there are for `stem`, one per suffix its format's files may have."""
    folder = Path(args.annotations_dir)
    return [folder / f"{stem}{s}" for s in ANNOTATION_SUFFIXES[args.format] if os.path.lexists(folder / f"{stem}{s}")]


def annotation_path(stem: str, args: BuildArguments) -> Path:
    """`stem`'s one annotation file; Reject when there is none, or two (`X.txt` and `X.json`: which is meant?)."""
    found = annotations(stem, args)
    if len(found) > 1:
        raise Reject(f"two annotations: {' and '.join(path.name for path in found)}: keep one")
    if not found:
        names = " or ".join(f"{stem}{suffix}" for suffix in ANNOTATION_SUFFIXES[args.format])
        raise Reject(f"no annotation: {names} not found")
    return found[0]


def file_samples(name: str, pages: int, args: BuildArguments) -> list[tuple[str, range]]:
    """(sample id, its page indices) of a file of `pages` pages (a PDF, a multi-page TIFF): one document when
    `bill.json` annotates `bill.pdf`, else each page its own (`bill_p2.json`); Reject when both kinds of annotation
    are there or the document is too long. A one-page file is one sample, named as the file."""
    stem, suffix = Path(name).stem, ANNOTATION_SUFFIXES[args.format][0]
    per_page = [path.name for n in range(1, pages + 1) for path in annotations(f"{stem}_p{n}", args)]
    if annotations(stem, args):
        if per_page:
            pages_named = ", ".join(per_page)
            raise Reject(
                f"two annotations: {stem}{suffix} (the whole of {name}) and {pages_named} (its pages): keep one kind"
            )
        if pages > args.max_pages:
            raise Reject(
                f"too many pages: {name} has {pages} pages, over --max-pages {args.max_pages}: raise it, or annotate "
                f"each page ({stem}_p1{suffix}, ...)"
            )
        return [(stem, range(pages))]
    if pages > 1 and not per_page:
        raise Reject(
            f"no annotation: neither {stem}{suffix} (the whole of {name}) nor {stem}_p1{suffix} to "
            f"{stem}_p{pages}{suffix} (its pages) found"
        )
    return [(f"{stem}_p{n + 1}" if pages > 1 else stem, range(n, n + 1)) for n in range(pages)]


def read_file(path: Path, args: BuildArguments, seen: set[str]) -> tuple[list[dict], list[dict], list[dict]]:
    """One file's rows, rejects (file, sample, reason) and notes (file, sample, dropped).

    The content decides what a file is: a supported format under another's suffix is read as what it is. A PDF's
    pages are rendered one at a time, after its annotation passed, and only their PNG files are held; an image's
    pages are kept as `stored_page` keeps them (upright, 8-bit, one per TIFF page).
    """
    name = shown(path)
    if name != path.name:  # Arrow and JSON hold only text: the name's bytes are not UTF-8
        return [], [{"file": name, "reason": "file name is not valid UTF-8: rename it"}], []
    if (kind := not_a_file(path)) is not None:
        return [], [{"file": name, "reason": f"not a file: {kind}"}], []
    if path.suffix.lower() not in SUFFIXES:
        return [], [{"file": name, "reason": f"not a page file: {path.suffix or 'no suffix'} is not {READABLE}"}], []
    document = None
    try:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise PageError(f"cannot read file: {error.strerror or error}") from None
        if (content := page_format(data)) not in FORMATS:
            expected = SUFFIXES[path.suffix.lower()]
            raise PageError(f"wrong format: content is {content}, not {expected}: pages are {READABLE}")
        if content == "PDF":
            document = open_pdf(data)
            if len(document) > MAX_PDF_PAGES:
                raise PageError(f"too many pages: PDF has {len(document):,} pages, over {MAX_PDF_PAGES:,}: split it")
            samples = file_samples(path.name, len(document), args)
        else:
            open_page(data, limit=args.max_pixels)  # refuses what cannot be read before it is stored
            samples = file_samples(path.name, page_count(data), args)
    except (PageError, Reject) as reason:
        return [], [{"file": name, "reason": str(reason)}], []
    rows, rejects, notes = [], [], []
    for sample_id, indices in samples:
        try:
            if sample_id in seen:
                raise Reject(f"duplicate sample id: {sample_id} is already another file's")
            doc, dropped = label(annotation_path(sample_id, args), args)
            if document is None:
                pages = [stored_page(data, i, args.max_pixels) for i in indices]
            else:
                pages = [encode_png(pdf_page(document, i, args.max_pixels)) for i in indices]
        except (PageError, Reject) as reason:
            rejects.append({"file": name, "sample": sample_id, "reason": str(reason)})
            continue
        rows.append(document_dataset.document_row(sample_id, pages[0], doc, more_pages=pages[1:]))
        seen.add(sample_id)
        if dropped:
            notes.append({"file": name, "sample": sample_id, "dropped": dropped})
    return rows, rejects, notes


def shown(path: Path) -> str:
    """The file's name as text: `caf\\xe9.png` for a name whose bytes are not UTF-8."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def page_files(args: BuildArguments) -> tuple[list[Path], dict[str, list[str]]]:
    """Every entry of the crops folder to read (an annotation in it when it is also the annotations folder is
    none), and the page files that share a name stem: `scan.pdf` and `scan.png` both claim `scan.json`."""
    annotations_here = Path(args.crops_dir).resolve() == Path(args.annotations_dir).resolve()
    suffixes = ANNOTATION_SUFFIXES[args.format]
    files = [
        p for p in sorted(Path(args.crops_dir).iterdir()) if not (annotations_here and p.suffix.lower() in suffixes)
    ]
    stems = defaultdict(list)
    for path in files:
        if path.suffix.lower() in SUFFIXES and shown(path) == path.name and not_a_file(path) is None:
            stems[path.stem].append(path.name)
    return files, {stem: names for stem, names in stems.items() if len(names) > 1}


def build(args: BuildArguments, output: Path) -> dict[str, list]:
    """Read every file into chunks of at most `chunk_size` files' pages; return the ids kept and their page counts,
    the rejects and the notes.

    Each finished chunk leaves its record in STATE, so `--resume` skips it.
    """
    files, clashes = page_files(args)  # every entry: one that is not a page file is listed as a reject
    built, seen = {"ids": [], "pages": [], "rejects": [], "notes": []}, set()
    groups = document_dataset.chunk_ranges(len(files), args.chunk_size)  # a PDF's pages stay in its file's chunk
    for chunk, group in enumerate(tqdm(groups, unit="chunk", desc="Building", disable=len(groups) < 2)):
        record = output / STATE / f"chunk-{chunk:05d}.json"
        if not record.exists():
            rows, rejects, notes = [], [], []
            for path in (files[index] for index in group):
                if names := clashes.get(path.stem):
                    if path.name == names[0]:  # one reject for them all, neither kept: whose label is it?
                        suffix = ANNOTATION_SUFFIXES[args.format][0]
                        reason = f"same name: {' and '.join(names)} would share {path.stem}{suffix}: rename all but one"
                        rejects.append({"file": path.name, "reason": reason})
                    if path.name in names:
                        continue
                file_rows, file_rejects, file_notes = read_file(path, args, seen)
                rows += file_rows
                rejects += file_rejects
                notes += file_notes
            document_dataset.write_chunk(output, chunk, len(groups), rows)
            summary = {"ids": [row["id"] for row in rows], "pages": [1 + len(row["more_pages"]) for row in rows],
                       "rejects": rejects, "notes": notes}  # fmt: skip
            document_dataset.write_atomic(record, json.dumps(summary, ensure_ascii=False).encode())
        summary = json.loads(record.read_text(encoding="utf-8"))
        seen.update(summary["ids"])
        for key, values in built.items():
            values += summary[key]
    return built


def check_state(args: BuildArguments, output: Path):
    """Record what decides the output; a resumed build must read the same files with the same settings."""
    names = sorted(p.name for p in Path(args.crops_dir).iterdir())
    recipe = {
        "crops_dir": str(Path(args.crops_dir).resolve()), "annotations_dir": str(Path(args.annotations_dir).resolve()),
        "format": args.format, "allow_invalid_arithmetic": args.allow_invalid_arithmetic,
        "max_pages": args.max_pages, "max_pixels": args.max_pixels, "chunk_size": args.chunk_size,
        "files": hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest(),
    }  # fmt: skip
    keep_settings(output, f"{STATE}/args.json", recipe, args.resume)


def most_common(kinds: Iterable[str]) -> str:
    """`no annotation ×3, oversized page ×2, total ×1 and 2 other kinds`: what to look at first."""
    counts = Counter(kinds)
    listed = ", ".join(f"{kind} ×{count}" for kind, count in counts.most_common(3))
    others = len(counts) - 3
    return listed + (f" and {others} other kind{'s' if others > 1 else ''}" if others > 0 else "")


def kind(reason: str) -> str:
    """The kind of a reason or a dropped field: the text before its first colon."""
    return reason.split(":")[0]


def labelled_fields(doc: dict) -> set[str]:
    """`merchant.name`, `line_items.amount`, `total`...: the fields a document labels, list positions folded; a
    null (not printed) or an empty list is labelled too."""
    paths = {re.sub(r"\.\d+(?=\.|$)", "", path) for path in scalar_paths(doc)}
    return paths - {"doc_type"} | {key for key, value in doc.items() if value == []}


def card_args(args: BuildArguments, built: dict[str, list], labels: dict[str, list[dict]]) -> dict:
    """What the card says about the labels: their source, what was validated, how complete they are, the pages."""
    docs = [json.loads(row["ground_truth"]) for rows in labels.values() for row in rows]
    fields = Counter(path for doc in docs for path in labelled_fields(doc))
    keys = {name: set(module.Document.model_fields) for name, module in DOCUMENT_TYPES.items()}
    currencies = Counter(
        doc["currency"] or "null (not printed)" if "currency" in doc else "not labelled" for doc in docs
    )
    ranked = sorted(fields.items(), key=lambda item: (-item[1], item[0]))  # the most often labelled first
    pages = built["pages"]
    return {
        "crops_dir": args.crops_dir, "annotations_dir": args.annotations_dir, "format": args.format,
        "rejected": len(built["rejects"]), "reject_kinds": most_common(kind(r["reason"]) for r in built["rejects"]),
        "noted": len(built["notes"]), "dropped": most_common(kind(d) for n in built["notes"] for d in n["dropped"]),
        "allow_invalid_arithmetic": args.allow_invalid_arithmetic,
        "invalid_arithmetic": sum(bool(validate(doc)) for doc in docs),
        "partial": sum(not keys[doc["doc_type"]] <= doc.keys() for doc in docs),
        "fields": [(path, count, f"{count / len(docs):.1%}") for path, count in ranked],
        "currencies": [(currency, count, f"{count / len(docs):.1%}") for currency, count in currencies.most_common()],
        "several_pages": sum(count > 1 for count in pages),
        "pages": {"total": sum(pages), "min": min(pages), "mean": f"{sum(pages) / len(pages):.2f}", "max": max(pages)},
    }  # fmt: skip


def write_jsonl(path: Path, records: list[dict]):
    document_dataset.write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
