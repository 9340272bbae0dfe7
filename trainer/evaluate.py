"""python -m trainer.evaluate --model ID_OR_DIR [--adapter DIR] --dataset ID_OR_DIR [--split test] [--limit N] --output-dir DIR

Read every document of a split with a model (base, base + adapter, merged or quantised), greedily and in batches,
and score it: field accuracy, precision/recall/F1, numeric accuracy, TEDS/TEDS-S of the line-item table, validation
and JSON-validity rates. Writes metrics.json, predictions.jsonl (one line per document, written as it goes, so
`--resume` continues an interrupted run), report.md and per_field.png. `--predictions FILE` scores saved outputs
(JSON lines with `id` and `output`, optionally `table_output`) instead of running a model.
"""

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset
from PIL import Image
from tqdm.auto import tqdm
from transformers import HfArgumentParser

from trainer.cli import first_line, one_line_errors
from trainer.data.dataset import decode_page, load_split
from trainer.eval import aggregate, score_document
from trainer.eval.fields import parse_prediction
from trainer.eval.report import plot_per_field, write_report
from trainer.inference import batches, generate, load_for_inference


@dataclass
class EvaluateArguments:
    dataset: str = field(metadata={"help": "Document dataset: Hub id or local folder."})
    output_dir: str = field(metadata={"help": "Folder for metrics.json, predictions.jsonl, report.md and the chart."})
    model: str | None = field(default=None, metadata={"help": "Model: Hub id or folder (base, merged or quantised)."})
    adapter: str | None = field(default=None, metadata={"help": "PEFT adapter folder to load on the model."})
    split: str = field(default="test", metadata={"help": "Dataset split to evaluate."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N documents."})
    batch_size: int = field(default=8, metadata={"help": "Documents generated together (left-padded)."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest answer; longer ones are cut (and score so)."})
    max_pixels: int = field(default=1003520, metadata={"help": "Pages are downscaled to at most this many pixels."})
    tables: bool = field(default=True, metadata={"help": "Also ask for the line-item table (OTSL) and score TEDS."})
    predictions: str | None = field(default=None, metadata={"help": "Score this predictions JSONL; run no model."})
    resume: bool = field(default=False, metadata={"help": "Keep the documents already in output_dir's predictions."})

    def __post_init__(self):
        if (self.model is None) == (self.predictions is None):
            raise ValueError("give either --model (to run a model) or --predictions FILE (to score saved outputs)")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be positive, got {self.limit}")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ValueError(
                f"--batch-size and --max-new-tokens must be positive, got {self.batch_size}, {self.max_new_tokens}"
            )
        if self.predictions is not None and not Path(self.predictions).is_file():
            raise ValueError(f"--predictions {self.predictions} is not a file")


def read_predictions(path: Path) -> dict[str, dict]:
    """Saved outputs by id; a line without `id` and `output` is a one-line error naming it."""
    records = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{number} is not a JSON line") from None
            if not isinstance(record, dict) or not {"id", "output"} <= record.keys():
                raise ValueError(f"{path}:{number} lacks the columns id and output")
            records[str(record["id"])] = record
    return records


def run_model(args: EvaluateArguments, rows: Dataset, model, processor, done: dict, sink) -> dict[str, dict]:
    """Generate for every document not yet done, in batches; each record is written to `sink` as soon as it exists."""
    todo = [index for index, doc_id in enumerate(rows["id"]) if doc_id not in done]
    ask_tables = args.tables and "table_html" in rows.column_names  # without a true table there is nothing to score
    records = dict(done)
    with tqdm(total=len(rows), initial=len(rows) - len(todo), unit="doc", desc="evaluating") as bar:
        for indices in batches(todo, args.batch_size):
            batch, pages, failed = list(rows.select(indices)), {}, {}  # pages are read a batch at a time
            for row in batch:
                try:
                    pages[row["id"]] = decode_page(row["image"], args.max_pixels)
                except (OSError, ValueError, Image.DecompressionBombError) as error:
                    failed[row["id"]] = f"unreadable page: {first_line(error)}"
            images = list(pages.values())
            start = time.perf_counter()
            outputs = tables = [None] * len(images)
            if images:
                outputs = generate(model, processor, images, "extract", args.max_new_tokens)  # pages already fit
                if ask_tables:
                    tables = generate(model, processor, images, "table", args.max_new_tokens)
            seconds = (time.perf_counter() - start) / max(1, len(images))
            for doc_id, output, table in zip(pages, outputs, tables, strict=True):
                records[doc_id] = {"id": doc_id, "output": output, "table_output": table, "seconds": seconds}
            for doc_id, error in failed.items():
                records[doc_id] = {"id": doc_id, "output": "", "table_output": None, "error": error}
            for row in batch:
                sink.write(json.dumps(records[row["id"]], ensure_ascii=False) + "\n")
            sink.flush()
            bar.update(len(batch))
    return records


def score(rows: Dataset, records: dict[str, dict], tables: bool) -> tuple[dict[str, dict], list[dict]]:
    """(scores by id, predictions lines) in dataset order; a document without an output scores zero."""
    scores, lines = {}, []
    for row in rows.remove_columns("image"):
        record = records.get(row["id"]) or {"id": row["id"], "output": "", "error": "no prediction for this document"}
        truth = parse_prediction(row["ground_truth"] or "")
        if truth is None:
            lines.append({**record, "error": "ground truth is not a JSON object: not scored"})
            continue
        table_output = record.get("table_output") if tables else None
        result = score_document(record["output"], truth, table_output, row.get("table_html"))
        scores[row["id"]] = result
        lines.append({
            **record,
            "parsed": parse_prediction(record["output"]),
            "verdicts": result["verdicts"],
            "field_accuracy": result["field_accuracy"],
            "teds": result["teds"],
        })  # fmt: skip
    return scores, lines


def evaluate(args: EvaluateArguments) -> tuple[dict, dict[str, dict]]:
    """Run (or read) the predictions, score them and write every output file; returns the metrics and the
    per-document scores by id."""
    output_dir = Path(args.output_dir)
    path = output_dir / "predictions.jsonl"
    with one_line_errors():  # the dataset, predictions file, model and output folder are the user's to fix
        rows = load_split(args.dataset, args.split, args.limit)
        if not any(parse_prediction(truth or "") for truth in rows["ground_truth"]):
            raise ValueError(f"no document of {args.dataset} split {args.split} has a ground truth to score")
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ValueError(f"cannot write to {output_dir}: {first_line(error)}") from None
        if args.predictions is not None:
            records = read_predictions(Path(args.predictions))
        else:
            done = read_predictions(path) if args.resume and path.is_file() else {}
            model, processor = load_for_inference(args.model, args.adapter)
    if args.predictions is None:
        with open(path, "a" if done else "w", encoding="utf-8") as sink:
            records = run_model(args, rows, model, processor, done, sink)
    scores, lines = score(rows, records, args.tables)
    timed = [line["seconds"] for line in lines if "seconds" in line]
    metrics = {
        **aggregate(list(scores.values())),
        "seconds_per_document": sum(timed) / len(timed) if timed else None,
        "errors": sum("error" in line for line in lines),
    }
    temporary = path.with_suffix(".jsonl.tmp")
    with open(temporary, "w", encoding="utf-8") as f:  # complete, in dataset order: replaces the as-it-goes file
        f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    os.replace(temporary, path)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    plot_per_field(
        metrics["per_field"], output_dir / "per_field.png", title=args.adapter or args.model or args.predictions
    )
    write_report(output_dir, metrics, lines, vars(args))
    return metrics, scores


def main(argv: list[str] | None = None):
    with one_line_errors():
        (args,) = HfArgumentParser(EvaluateArguments).parse_args_into_dataclasses(argv)
    try:
        metrics, _ = evaluate(args)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished batches are kept; continue with --resume --output-dir {args.output_dir}",
            file=sys.stderr,
        )
        sys.exit(130)
    shown = ("field_accuracy", "field_f1", "numeric_accuracy", "teds", "validation_pass_rate", "json_valid_rate")
    print(f"\n{metrics['n']} documents: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in shown if metrics[k] is not None))
    print(f"Wrote {args.output_dir}/: metrics.json, predictions.jsonl, report.md, per_field.png")


if __name__ == "__main__":
    main()
