"""Reading a split with a model and scoring it: what `trainer.evaluate`, `trainer.compare` and the Space call.

`evaluate_split(reading, output_dir, model=..., adapter=...)` reads every document (greedy, left-padded batches),
writes each batch's outputs to predictions.jsonl as it goes (so `resume=True` continues an interrupted run, and
refuses one made with other settings), scores them, and writes metrics.json, report.md and per_field.png.
Failures the caller can fix raise `InputError`.
"""

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from datasets import Dataset, List
from datasets import Image as ImageFeature
from tqdm.auto import tqdm

from trainer.data.document_dataset import load_document_dataset, write_atomic
from trainer.data.pages import PageError, read_pages
from trainer.data.public import load_public
from trainer.data.tasks import fields_of, is_complete, select
from trainer.data.user_files import write_jsonl
from trainer.errors import InputError
from trainer.folders import claim, refuse_other_settings
from trainer.inference import GenerationArguments, batches, load_reader
from trainer.schema.document import read_document

from .fields import parse_prediction
from .report import plot_per_field, write_report
from .scores import aggregate, score_document

logger = logging.getLogger(__name__)
SCORED = {"id", "image", "ground_truth"}  # what evaluation reads; table_html, when present, adds TEDS
SETTINGS_FILE = "settings.json"  # what produced predictions.jsonl: a resumed run must match it


@dataclass
class ReadingArguments(GenerationArguments):
    """Which documents are read and how they are scored: shared by evaluate, compare and the quantize gate."""

    # The --eval- names are trainer.quantize's, whose accuracy gate reads a split with these same arguments.
    dataset: str | None = field(
        default=None,
        metadata={"help": "Document dataset: Hub id or local folder.", "aliases": ["--eval-dataset", "--eval_dataset"]},
    )
    split: str = field(
        default="test", metadata={"help": "Dataset split to read.", "aliases": ["--eval-split", "--eval_split"]}
    )
    limit: int | None = field(
        default=None, metadata={"help": "Read only the first N documents.", "aliases": ["--eval-limit", "--eval_limit"]}
    )
    format: Literal["finscribe", "cord", "sroie", "docile"] = field(
        default="finscribe",
        metadata={"help": "The dataset's form: finscribe (trainer.synth's and trainer.data.build's), or a public set as "
                          "published, its labels converted on the fly: cord or sroie (Hub id or folder, Parquet with "
                          "image and ground_truth), docile (DocILE's folder: annotations/, pdfs/, {split}.json).",
                  "aliases": ["--eval-format", "--eval_format"]},
    )  # fmt: skip
    tables: bool = field(default=True, metadata={"help": "Also ask for the line-item table (OTSL) and score TEDS."})
    ocr: bool = field(
        default=True, metadata={"help": "Also ask for the page's text (OCR:) and score it against the dataset's text."}
    )
    fields: str = field(
        default="labelled",
        metadata={
            "help": "What extraction asks for: `labelled` (each document what it labels: all of a complete one), "
            "`all` (the plain prompt), or a comma-separated list such as merchant.name,date,total (scored on those)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be positive, got {self.limit}")
        if self.fields not in ("labelled", "all") and not self.requested():
            raise InputError(f"--fields takes labelled, all or a comma-separated list of fields, got {self.fields!r}")

    def requested(self) -> list[str] | None:
        """The fields named in --fields, or None for `labelled` and `all`."""
        if self.fields in ("labelled", "all"):
            return None
        return [name.strip() for name in self.fields.split(",") if name.strip()]

    def asked(self, truth: dict | None) -> list[str] | None:
        """The fields one document is asked for (None: the plain prompt)."""
        if self.fields == "all" or (self.fields == "labelled" and (truth is None or is_complete(truth))):
            return None
        return fields_of(truth) if self.fields == "labelled" else self.requested()


def load_split(dataset: str, split: str, limit: int | None) -> Dataset:
    """The documents to read, pages left undecoded (a page that does not decode is that document's zero, later)."""
    rows = load_document_dataset(dataset, split, needed=SCORED)
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    rows = rows.cast_column("image", ImageFeature(decode=False))
    if "more_pages" in rows.column_names:  # a multi-page document's further pages (older datasets lack the column)
        rows = rows.cast_column("more_pages", List(ImageFeature(decode=False)))
    return rows


def load_documents(reading: ReadingArguments) -> tuple[Dataset, list[dict]]:
    """The split to read, and for a public set each document's labels as converted (`trainer.data.public`)."""
    if reading.format != "finscribe":
        return load_public(reading.dataset, reading.split, reading.format, reading.limit)
    return load_split(reading.dataset, reading.split, reading.limit), []


def read_predictions(path: Path, resuming: bool = False) -> dict[str, dict]:
    """Saved outputs by id; a line without `id` and `output` is an InputError naming it.

    When `resuming` a run's own file, a last line cut short by a kill is dropped (and cut from the file, so the
    run appends after whole lines). An id given twice keeps its last reading, and says so.
    """
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    records, repeated = {}, []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # ValueError: JSON and UTF-8 alike
            if resuming and number == len(lines):
                logger.warning(
                    "%s: its last line was cut short when the run stopped; that document is read again", path
                )
                with open(path, "r+b") as f:
                    f.truncate(len(data) - len(line))
                break
            raise InputError(f"{path}:{number} is not a JSON line") from None
        if not isinstance(record, dict) or not {"id", "output"} <= record.keys():
            raise InputError(f"{path}:{number} lacks the columns id and output")
        if str(record["id"]) in records:
            repeated.append(str(record["id"]))
        records[str(record["id"])] = record
    if repeated:
        logger.warning(
            "%s gives %d ids more than once (%s): the last reading of each is kept",
            path, len(repeated), ", ".join(sorted(set(repeated))[:5]),
        )  # fmt: skip
    return records


def read_batch(reading: ReadingArguments, batch: list[dict]) -> tuple[dict, dict]:
    """(each document's pages by id, errors by id): a page that cannot be read is that document's error, not the
    batch's."""
    pages, failed = {}, {}
    for row in batch:
        try:
            pages[row["id"]] = read_pages(row, reading.max_pixels)
        except PageError as error:
            failed[row["id"]] = f"unreadable page: {error}"
    return pages, failed


def run_model(reading: ReadingArguments, rows: Dataset, reader, done: dict, sink) -> dict[str, dict]:
    """Generate for every document not yet done, in batches; each record is written to `sink` as soon as it exists."""
    todo = [index for index, doc_id in enumerate(rows["id"]) if doc_id not in done]
    ask_tables = reading.tables and "table_html" in rows.column_names  # without a true table there is nothing to score
    ask_ocr = reading.ocr and "text" in rows.column_names
    records = dict(done)
    with tqdm(total=len(rows), initial=len(rows) - len(todo), unit="doc", desc="Reading") as bar:
        for indices in batches(todo, reading.batch_size):
            batch = list(rows.select(indices))  # pages are read a batch at a time
            pages, failed = read_batch(reading, batch)
            documents = list(pages.values())
            asked = [reading.asked(read_document(row["ground_truth"] or "")) for row in batch if row["id"] in pages]
            # the page text is asked of the documents that have one to score it against
            texts = [row["id"] for row in batch if ask_ocr and row["id"] in pages and row["text"]]
            start = time.perf_counter()
            outputs = tables = [None] * len(documents)
            ocr = {}
            if documents:  # pages already fit
                outputs = reader.read(documents, "extract", reading.max_new_tokens, asked)
                if ask_tables:
                    tables = reader.read(documents, "table", reading.max_new_tokens)
                if texts:
                    ocr = dict(zip(texts, reader.read([pages[i] for i in texts], "ocr", reading.max_new_tokens),
                                   strict=True))  # fmt: skip
            seconds = (time.perf_counter() - start) / max(1, len(documents))
            for doc_id, output, table in zip(pages, outputs, tables, strict=True):
                records[doc_id] = {"id": doc_id, "output": output, "table_output": table, "ocr_output": ocr.get(doc_id),
                                   "seconds": seconds}  # fmt: skip
            for doc_id, error in failed.items():
                records[doc_id] = {"id": doc_id, "output": "", "table_output": None, "error": error}
            for row in batch:
                sink.write(json.dumps(records[row["id"]], ensure_ascii=False) + "\n")
            sink.flush()
            bar.update(len(batch))
    return records


def score(
    rows: Dataset, records: dict[str, dict], tables: bool, fields: list[str] | None = None, ocr: bool = False
) -> tuple[dict[str, dict], list[dict]]:
    """(scores by id, predictions lines) in dataset order; a document without an output scores zero. With `fields`,
    only those fields of the truth are scored (the others count as not labelled). With `ocr`, a document with a
    page text is scored on its OCR reading too (none read: an empty one)."""
    scores, lines = {}, []
    for row in rows.remove_columns("image"):
        record = records.get(row["id"]) or {"id": row["id"], "output": "", "error": "no prediction for this document"}
        truth = read_document(row["ground_truth"] or "")
        if truth is None:
            lines.append({**record, "error": "ground truth is not a JSON object: not scored"})
            continue
        truth = select(truth, fields) if fields else truth
        table_output = record.get("table_output") if tables else None
        # a page that failed reads as no text; saved predictions from before OCR was read leave it unscored
        ocr_output = record.get("ocr_output", "" if "error" in record else None) if ocr and row.get("text") else None
        result = score_document(
            record["output"], truth, table_output, row.get("table_html"), ocr_output, row.get("text")
        )
        scores[row["id"]] = result
        lines.append({
            **record,
            "parsed": parse_prediction(record["output"]),
            "verdicts": result["verdicts"],
            "field_accuracy": result["field_accuracy"],
            "teds": result["teds"],
            "ocr_cer": result["ocr_cer"],
        })  # fmt: skip
    return scores, lines


def check_resumable(output_dir: Path, settings: dict) -> dict[str, dict]:
    """The documents an earlier run with the same settings finished; another model or settings is an InputError."""
    path, recorded = output_dir / "predictions.jsonl", output_dir / SETTINGS_FILE
    if not path.is_file():
        return {}
    if not recorded.is_file():
        raise InputError(f"cannot resume {output_dir}: it does not say which model wrote it (no {SETTINGS_FILE})")
    refuse_other_settings(output_dir, json.loads(recorded.read_text()), settings)
    return read_predictions(path, resuming=True)


def evaluate_split(
    reading: ReadingArguments, output_dir: str | Path, model: str | None = None, adapter: str | None = None,
    predictions: str | None = None, resume: bool = False,
) -> tuple[dict, dict[str, dict]]:  # fmt: skip
    """Read (or take saved `predictions` for) one split, score it and write every output file.

    Returns the metrics (metrics.json's content) and each document's scores by id.
    """
    if reading.dataset is None:
        raise InputError("no dataset given: pass --dataset DIR_OR_ID")
    if (model is None) == (predictions is None):
        raise InputError("give either a model (to read the documents) or a predictions file (to score saved outputs)")
    output_dir = Path(output_dir)
    path = output_dir / "predictions.jsonl"
    rows, labels = load_documents(reading)
    if not any(parse_prediction(truth or "") for truth in rows["ground_truth"]):
        raise InputError(f"no document of {reading.dataset} split {reading.split} has a ground truth to score")
    # What decides the answers (not the batch size: a document reads the same in any batch, nor the limit, nor the
    # engine, which reads the same prompts the same way; report.md records it).
    settings = {"model": model, "adapter": adapter, "predictions": predictions, "dataset": reading.dataset,
                "split": reading.split, "format": reading.format, "max_new_tokens": reading.max_new_tokens, "max_pixels": reading.max_pixels,
                "tables": reading.tables, "ocr": reading.ocr, "fields": reading.fields}  # fmt: skip
    with claim(output_dir, "trainer.evaluate", reuse=True):  # one run writes a folder at a time
        if predictions is not None:
            if not Path(predictions).is_file():
                raise InputError(f"predictions {predictions} is not a file")
            records = read_predictions(Path(predictions))
            if unknown := set(records) - set(rows["id"]):
                logger.warning(
                    "%d of the %d predictions are for documents not in %s split %s: they are left out",
                    len(unknown), len(records), reading.dataset, reading.split,
                )  # fmt: skip
        else:
            done = check_resumable(output_dir, settings) if resume else {}
            reader = load_reader(reading, model, adapter)
            (output_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
            try:
                with open(path, "a" if done else "w", encoding="utf-8") as sink:
                    records = run_model(reading, rows, reader, done, sink)
            finally:
                reader.close()
        scores, lines = score(rows, records, reading.tables, reading.requested(), reading.ocr)
        timed = [line["seconds"] for line in lines if "seconds" in line]
        metrics = {
            **aggregate(list(scores.values())),
            "seconds_per_document": sum(timed) / len(timed) if timed else None,
            "errors": sum("error" in line for line in lines),
        }
        complete = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        write_atomic(path, complete.encode())  # in dataset order, replacing the as-it-goes file only when whole
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        if labels:  # a public set's: what could not be scored, and what each label gave that has no place
            write_jsonl(output_dir / "labels.jsonl", labels)
        plot_per_field(metrics["per_field"], output_dir / "per_field.png", title=adapter or model or predictions)
        write_report(output_dir, metrics, lines, settings | asdict(reading), labels)
        return metrics, scores
