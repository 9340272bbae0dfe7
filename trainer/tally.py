"""python -m trainer.tally --dataset DATA [--split test] --before runs/a/predictions.jsonl
    --after runs/b/predictions.jsonl --output runs/flywheel/before_after.md

How many documents of a split show each error kind, in two sets of readings of the same documents (before and
after a round of mining and retraining): a Markdown table and the same counts as JSON beside it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import trainer.start  # noqa: F401  (first: silences what optional dependencies print on import)

from transformers import HfArgumentParser

from trainer.cli import one_line_errors
from trainer.errors import InputError
from trainer.eval.run import load_split, read_predictions
from trainer.mining.tally import before_after_rows, tally


@dataclass
class TallyArguments:
    dataset: str = field(metadata={"help": "The document dataset both readings read."})
    before: str = field(metadata={"help": "predictions.jsonl before the round."})
    after: str = field(metadata={"help": "predictions.jsonl after it."})
    output: str = field(metadata={"help": "Markdown table to write (and .json beside it)."})
    split: str = field(default="test", metadata={"help": "Split both read."})


def main(argv: list[str] | None = None):
    with one_line_errors(parsing=True):
        (args,) = HfArgumentParser(TallyArguments).parse_args_into_dataclasses(argv)
    with one_line_errors():
        for path in (args.before, args.after):
            if not Path(path).is_file():
                raise InputError(f"{path} is not a file")
        rows = load_split(args.dataset, args.split, None).remove_columns("image")
        before, after = (tally(rows, read_predictions(Path(path))) for path in (args.before, args.after))
        table = before_after_rows(before, after)
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("\n".join([
            f"# Error kinds before and after: {args.dataset}, split {args.split}",
            "",
            f"Documents of each kind (a document counts once under each kind it shows). Before: `{args.before}`; "
            f"after: `{args.after}`.",
            "",
            *table,
        ]) + "\n")  # fmt: skip
        output.with_suffix(".json").write_text(json.dumps({"before": before, "after": after}, indent=2) + "\n")
        print("\n".join(table))
        print(f"Wrote {output} and {output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
