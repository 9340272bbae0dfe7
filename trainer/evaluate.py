"""python -m trainer.evaluate --model ID_OR_DIR [--adapter DIR] --dataset ID_OR_DIR [--split test] [--limit N] --output-dir DIR

Read every document of a split with a model (base, base + adapter, merged or quantised), greedily and in batches,
and score it: field accuracy, precision/recall/F1, numeric accuracy, TEDS/TEDS-S of the line-item table, validation
and JSON-validity rates. Writes metrics.json, predictions.jsonl (one line per document, written as it goes, so
`--resume` continues an interrupted run made with the same settings), settings.json, report.md and per_field.png.
`--predictions FILE` scores saved outputs (JSON lines with `id` and `output`, optionally `table_output`) instead of
running a model. The work is `trainer.eval.run.evaluate_split`; this module only parses and reports.
"""

from dataclasses import dataclass, field

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.eval.run import ReadingArguments, evaluate_split
from trainer.quiet import known_noise_silenced


@dataclass
class EvaluateArguments:
    output_dir: str = field(metadata={"help": "Folder for metrics.json, predictions.jsonl, report.md and the chart."})
    model: str | None = field(default=None, metadata={"help": "Model: Hub id or folder (base, merged or quantised)."})
    adapter: str | None = field(default=None, metadata={"help": "PEFT adapter folder to load on the model."})
    predictions: str | None = field(default=None, metadata={"help": "Score this predictions JSONL; run no model."})
    resume: bool = field(default=False, metadata={"help": "Keep the documents already in output_dir's predictions."})


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        reading, args = HfArgumentParser((ReadingArguments, EvaluateArguments)).parse_args_into_dataclasses(argv)
    kept = f"finished batches are kept; continue with --resume --output-dir {args.output_dir}"
    with known_noise_silenced(), one_line_errors(interrupted=kept):
        metrics, _ = evaluate_split(reading, args.output_dir, args.model, args.adapter, args.predictions, args.resume)
    shown = (
        "field_accuracy",
        "field_f1",
        "anls",
        "numeric_accuracy",
        "teds",
        "validation_pass_rate",
        "json_valid_rate",
    )
    print(f"\n{metrics['n']} documents: " + ", ".join(f"{k} {metrics[k]:.3f}" for k in shown if metrics[k] is not None))
    print(f"Wrote {args.output_dir}/: metrics.json, predictions.jsonl, report.md, per_field.png")


if __name__ == "__main__":
    main()
