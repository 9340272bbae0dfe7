"""python -m trainer.mine --predictions runs/eval/predictions.jsonl --dataset DATA [--split test]
    [--baseline runs/base/predictions.jsonl] --output-dir data/mined [--push-to-hub USER/REPO]
python -m trainer.mine --unlabelled scans/ --model FINE_TUNED [--adapter DIR] --baseline-model BASE --output-dir data/mined

Classify every error of every reading (trainer.mining.classify) and append one record per document with at least
one error to the mined log (trainer.mining.log): the document itself (pages, ground truth, table, layout, locale),
the reading, its errors with their paths, its field accuracy and severity, and where it came from (dataset and
model, each with its revision). The log is a document dataset: `trainer.sft --mined_dataset data/mined` replays it.
Which model wrote the readings, and what it was asked, is read from the settings.json that `trainer.evaluate` writes
beside predictions.jsonl; `--model` and `--adapter` say it where there is none.
"""

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

import pyarrow.parquet as pq
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.data.document_dataset import data_files
from trainer.data.pages import PageError, read_file_pages
from trainer.data.tasks import PROMPTS, extract_prompt, select
from trainer.errors import InputError
from trainer.eval.run import SETTINGS_FILE, ReadingArguments, load_split, read_predictions
from trainer.eval.scores import score_document
from trainer.folders import MARKER, claim
from trainer.inference import GenerationArguments, batches, load_reader
from trainer.mining.classify import classify_errors, severity
from trainer.mining.log import (
    append,
    content_revision,
    file_digest,
    mined_record,
    page_document,
    provenance,
    push_log,
    shard_paths,
    write_card,
)
from trainer.mining.report import write_report
from trainer.mining.unlabelled import PAGE_SUFFIXES, jpeg, page_files, signals, write_label_studio
from trainer.quiet import known_noise_silenced
from trainer.schema.document import read_document, validate

logger = logging.getLogger(__name__)


@dataclass
class MineArguments:
    predictions: str | None = field(default=None, metadata={"help": "predictions.jsonl of trainer.evaluate to mine."})
    dataset: str | None = field(default=None, metadata={"help": "The document dataset they read: Hub id or folder."})
    unlabelled: str | None = field(
        default=None,
        metadata={"help": "Or a folder of unlabelled pages (images, PDFs): read with --model and --baseline-model, "
                  "the telling ones go to the needs_label config and a Label Studio file."},
    )  # fmt: skip
    baseline_model: str | None = field(default=None, metadata={"help": "With --unlabelled: the base model to compare."})
    output_dir: str = field(default="data/mined", metadata={"help": "The mined log (created or appended to)."})
    split: str = field(default="test", metadata={"help": "Split the predictions read."})
    baseline: str | None = field(
        default=None, metadata={"help": "Another model's predictions.jsonl on the same split: adds `regression`."}
    )
    model: str | None = field(default=None, metadata={"help": "The model that read (default: from settings.json)."})
    adapter: str | None = field(default=None, metadata={"help": "Its adapter (default: from settings.json)."})
    push_to_hub: str | None = field(default=None, metadata={"help": "Also push new files to this Hub dataset repo."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self):
        if self.unlabelled is None and (self.predictions is None or self.dataset is None):
            raise InputError("give --predictions and --dataset (labelled readings), or --unlabelled DIR")
        if self.unlabelled is not None and (self.model is None or self.baseline_model is None):
            raise InputError("--unlabelled needs --model (the fine-tuned one) and --baseline-model (its base)")


def dataset_revision(dataset: str, split: str) -> str:
    """The digest of a local dataset's Parquet files of the split, or the Hub commit."""
    files = data_files(dataset, split)
    return file_digest(files) if files else content_revision(dataset, repo_type="dataset")


def reading_settings(args: MineArguments) -> dict:
    """The model, adapter and `fields` setting behind the predictions: settings.json, overridden by the flags."""
    recorded = Path(args.predictions).with_name(SETTINGS_FILE)
    settings = json.loads(recorded.read_text()) if recorded.is_file() else {}
    model, adapter = args.model or settings.get("model"), args.adapter or settings.get("adapter")
    if model is None:
        raise InputError(f"which model wrote {args.predictions}? There is no {SETTINGS_FILE} beside it: pass --model")
    return {"model": model, "adapter": adapter, "fields": settings.get("fields", "labelled")}


def mine(args: MineArguments) -> tuple[list[dict], int]:
    """(the records of documents with errors, how many readings were classified)."""
    for name in ("predictions", "baseline"):
        if getattr(args, name) is not None and not Path(getattr(args, name)).is_file():
            raise InputError(f"--{name} {getattr(args, name)} is not a file")
    settings = reading_settings(args)
    reading_args = ReadingArguments(dataset=args.dataset, split=args.split, fields=settings["fields"])
    readings = read_predictions(Path(args.predictions))
    baseline = read_predictions(Path(args.baseline)) if args.baseline else {}
    rows = load_split(args.dataset, args.split, limit=None)  # pages stay file bytes
    if not set(readings) & set(rows["id"]):
        raise InputError(f"no prediction in {args.predictions} is for a document of {args.dataset} split {args.split}")
    if unknown := sorted(set(readings) - set(rows["id"])):
        logger.warning("%d readings are of documents not in %s split %s and are left out: %s", len(unknown),
                       args.dataset, args.split, ", ".join(unknown[:3]) + (" ..." if len(unknown) > 3 else ""))  # fmt: skip
    run = provenance(args.dataset, dataset_revision(args.dataset, args.split), settings["model"], settings["adapter"])
    records, classified = [], 0
    labels = rows.remove_columns([c for c in ("image", "more_pages") if c in rows.column_names])
    for index, row in enumerate(tqdm(labels, desc="Classifying", unit="doc")):
        reading = readings.get(row["id"])
        truth = read_document(row["ground_truth"] or "")
        if reading is None or truth is None:
            continue
        classified += 1
        asked = reading_args.asked(truth)
        scored = select(truth, reading_args.requested()) if reading_args.requested() else truth
        theirs = baseline.get(row["id"], {})
        other = theirs.get("output") if baseline else None
        errors = classify_errors(
            reading["output"], scored, baseline=other, table_prediction=reading.get("table_output"),
            table_html=row.get("table_html"), baseline_table=theirs.get("table_output"),
            ocr_prediction=reading.get("ocr_output"), text=row.get("text"), baseline_ocr=theirs.get("ocr_output"),
        )  # fmt: skip
        if not errors:
            continue
        document = rows[index]  # the pages too, only for the documents logged
        records.append(mined_record(
            document, run, prompt=extract_prompt(asked) if asked else PROMPTS["extract"],
            reading=reading["output"] if isinstance(reading["output"], str) else json.dumps(reading["output"]),
            baseline_reading=other if isinstance(other, str) else "", errors=[(e.kind, e.paths) for e in errors],
            field_accuracy=float(score_document(reading["output"], scored)["field_accuracy"]),
            severity=severity(errors), label_valid=validate(truth) == [],
        ))  # fmt: skip
    return records, classified


def mine_unlabelled(args: MineArguments, generation: GenerationArguments) -> tuple[list[dict], int]:
    """Read every page file under --unlabelled with both models (`generation` says how): (the records of those with
    label-free signals, how many were read)."""
    folder = Path(args.unlabelled)
    if not folder.is_dir() or not (files := page_files(folder)):
        raise InputError(f"--unlabelled {folder} holds no page files ({', '.join(PAGE_SUFFIXES)})")
    documents, skipped = [], []
    for path in files:
        try:
            documents.append((str(path.relative_to(folder)), read_file_pages(path, generation.max_pixels)))
        except PageError as error:
            skipped.append(f"{path.name}: {error}")
    if skipped:
        logger.warning("%d files are not pages and are left out: %s", len(skipped), "; ".join(skipped[:3]))
    readings = {}
    for name, model in (("tuned", args.model), ("base", args.baseline_model)):
        reader = load_reader(generation, model, args.adapter if name == "tuned" else None)
        try:
            for batch in tqdm(list(batches(documents, generation.batch_size)), desc=f"Reading ({name})", unit="batch"):
                answers = reader.read_scored([pages for _, pages in batch], "extract", generation.max_new_tokens)
                readings.update({(name, doc_id): answer for (doc_id, _), answer in zip(batch, answers, strict=True)})
        finally:
            reader.close()
    run = provenance(str(folder), "", args.model, args.adapter)
    records = []
    for doc_id, pages in documents:
        (reading, logprob), (baseline, _) = readings[("tuned", doc_id)], readings[("base", doc_id)]
        kinds, score = signals(reading, baseline, logprob)
        if not kinds:
            continue
        records.append(mined_record(
            page_document(doc_id, [jpeg(page) for page in pages], "unlabelled"), run, prompt=PROMPTS["extract"],
            reading=reading, baseline_reading=baseline, errors=[(kind, ()) for kind in kinds], field_accuracy=0.0,
            severity=score, label_valid=False,
        ))  # fmt: skip
    return records, len(documents)


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        # --batch-size, --max-new-tokens and --max-pixels: how --unlabelled pages are read, as trainer.evaluate reads.
        args, generation = HfArgumentParser((MineArguments, GenerationArguments)).parse_args_into_dataclasses(argv)
    with known_noise_silenced(), one_line_errors():
        folder = Path(args.output_dir)
        marker = folder / MARKER
        if marker.is_file() and json.loads(marker.read_text()).get("made_by") != "trainer.mine":
            raise InputError(f"{folder} holds another FinScribe dataset, not a mined log: choose another --output-dir")
        if args.unlabelled:
            records, classified = mine_unlabelled(args, generation)
        else:
            records, classified = mine(args)
        with claim(folder, "trainer.mine", resume=True):
            written, skipped = append(folder, records, "needs_label" if args.unlabelled else "all")
            card = write_card(folder, args.push_to_hub)
            report = write_report(folder)
            if args.unlabelled:
                todo = [r for p in shard_paths(folder, "needs_label") for r in pq.read_table(p).to_pylist()]
                tasks = write_label_studio(folder / "needs_label" / "label_studio.json", todo)
                print(f"Label Studio tasks, most useful first: {tasks} ({len(todo)} pages)")
        print(
            f"{classified} readings classified, {len(records)} with errors: {len(records) - skipped} logged, "
            f"{skipped} already in the log. Wrote {', '.join(str(p) for p in written) or 'no new file'}, {card} and "
            f"{report} (with its pictures)"
        )
        if args.push_to_hub:
            print(f"Pushed: {push_log(folder, args.push_to_hub, args.private)}")


if __name__ == "__main__":
    main()
